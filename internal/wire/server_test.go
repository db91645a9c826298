package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testServer serves ApiVersions and a Metadata handler that can be slowed
// down, on a loopback port.
func testServer(t *testing.T, mutate func(*Config), slow time.Duration) (*Server, string) {
	t.Helper()
	mux := NewMux()
	mux.Register(API{Key: 18, MinVersion: 0, MaxVersion: 4, Handle: func(_ context.Context, r *Request) (kmsg.Response, error) {
		resp := r.Body.(*kmsg.ApiVersionsRequest).ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = mux.Versions()
		return resp, nil
	}})
	mux.Register(API{Key: 3, MinVersion: 0, MaxVersion: 13, Handle: func(ctx context.Context, r *Request) (kmsg.Response, error) {
		if slow > 0 {
			time.Sleep(slow)
		}
		resp := r.Body.(*kmsg.MetadataRequest).ResponseKind().(*kmsg.MetadataResponse)
		resp.ControllerID = r.CorrelationID
		return resp, nil
	}})
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewServer(cfg, mux)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, ln.Addr().String()
}

// frame encodes a request with a v1 or v2 header.
func frame(req kmsg.Request, version int16, correlationID int32) []byte {
	req.SetVersion(version)
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func readFrame(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return b
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClosed waits for the server to close c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestPipelinedResponsesInOrder(t *testing.T) {
	_, addr := testServer(t, nil, 0)
	c := dial(t, addr)
	const n = 200
	var out []byte
	for i := range int32(n) {
		out = append(out, frame(kmsg.NewPtrMetadataRequest(), int16(i%14), i)...)
	}
	go c.Write(out)
	br := bufio.NewReader(c)
	for i := range int32(n) {
		f := readFrame(t, br)
		if got := int32(binary.BigEndian.Uint32(f)); got != i {
			t.Fatalf("response %d has correlation id %d", i, got)
		}
		version := int16(i % 14)
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(version)
		body := f[4:]
		if resp.IsFlexible() {
			body = body[1:]
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("response %d (v%d): %v", i, version, err)
		}
		if version >= 1 && resp.ControllerID != i {
			t.Fatalf("response %d answers request %d", i, resp.ControllerID)
		}
	}
}

func TestApiVersionsUnsupportedVersion(t *testing.T) {
	_, addr := testServer(t, nil, 0)
	c := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "t", "1"
	c.Write(frame(req, 5, 7))
	f := readFrame(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(f[4:]); err != nil {
		t.Fatal(err)
	}
	// The test's two APIs, and SaslHandshake and SaslAuthenticate, which
	// every server lists.
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 4 {
		t.Fatalf("got error %d and %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestOversizedRequestClosesConnection(t *testing.T) {
	_, addr := testServer(t, func(c *Config) { c.MaxRequestBytes = 4096 }, 0)
	c := dial(t, addr)
	c.Write([]byte{0, 0, 0x10, 0x01}) // 4097 bytes announced
	expectClosed(t, c)
	// The server is still up.
	c2 := dial(t, addr)
	c2.Write(frame(kmsg.NewPtrMetadataRequest(), 1, 1))
	readFrame(t, c2)
}

func TestIdleConnectionClosed(t *testing.T) {
	_, addr := testServer(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond }, 0)
	expectClosed(t, dial(t, addr))
}

func TestShutdownAnswersInFlight(t *testing.T) {
	s, addr := testServer(t, nil, 300*time.Millisecond)
	c := dial(t, addr)
	c.Write(frame(kmsg.NewPtrMetadataRequest(), 1, 42))
	time.Sleep(50 * time.Millisecond) // let the request be read
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	f := readFrame(t, c)
	if binary.BigEndian.Uint32(f) != 42 {
		t.Fatal("wrong response")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
}

// TestMalformedFrameCorpus replays every frame in testdata/malformed: each
// must close its connection without taking the server down.
func TestMalformedFrameCorpus(t *testing.T) {
	_, addr := testServer(t, nil, 0)
	files, err := filepath.Glob("testdata/malformed/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := dial(t, addr)
			c.Write(b)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseWrite() // a truncated frame ends in EOF
			}
			expectClosed(t, c)
		})
	}
	c := dial(t, addr)
	c.Write(frame(kmsg.NewPtrMetadataRequest(), 1, 1))
	readFrame(t, c)
}
