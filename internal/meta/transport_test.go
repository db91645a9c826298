package meta

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A raft connection from a node of another cluster is dropped; one from a
// node of this cluster, or from a node that knows no cluster yet, is
// handed to raft.
func TestRaftPreambleChecksClusterID(t *testing.T) {
	ours, err := listenMux("127.0.0.1:0", "", func() string { return "cluster-a" }, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ours.serveRPC = func(c net.Conn) { c.Close() }
	ours.serve()
	defer func() { ours.Close(); ours.wait() }()
	addr := raft.ServerAddress(ours.Addr().String())

	for _, tc := range []struct {
		theirs   string
		accepted bool
	}{{"cluster-b", false}, {"cluster-a", true}, {"", true}} {
		dialer := &muxListener{clusterID: func() string { return tc.theirs }}
		c, err := dialer.Dial(addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan bool, 1)
		go func() {
			a, err := ours.Accept()
			if err == nil {
				a.Close()
			}
			accepted <- err == nil
		}()
		if tc.accepted {
			if !<-accepted {
				t.Fatalf("connection from %q not accepted", tc.theirs)
			}
		} else {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("connection from %q not dropped: %v", tc.theirs, err)
			}
			select {
			case <-accepted:
				t.Fatalf("connection from %q reached raft", tc.theirs)
			case <-time.After(100 * time.Millisecond):
			}
			// Drain the pending Accept with a good connection.
			good := &muxListener{clusterID: func() string { return "" }}
			g, _ := good.Dial(addr, time.Second)
			<-accepted
			g.Close()
		}
		c.Close()
	}
}

func TestWireErrorKeepsMessageAndCode(t *testing.T) {
	for _, err := range []error{
		fmtErr(kerr.TopicAlreadyExists, `topic "x" already exists`),
		errProducerIDConflict,
		fmtErr(kerr.InvalidReplicationFactor, "too large"),
	} {
		got := encodeError(err).decode()
		if got.Error() != err.Error() {
			t.Fatalf("message %q became %q", err, got)
		}
		var want *kerr.Error
		if errors.As(err, &want) && !errors.Is(got, want) {
			t.Fatalf("%v lost its code", err)
		}
		if errors.Is(err, errProducerIDConflict) != errors.Is(got, errProducerIDConflict) {
			t.Fatalf("%v lost its sentinel", err)
		}
	}
	if encodeError(nil).decode() != nil {
		t.Fatal("nil error came back non-nil")
	}
}

func fmtErr(code *kerr.Error, msg string) error { return errors.Join(code, errors.New(msg)) }
