package wire

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeQuotas refuses connections when refuse is set and throttles every
// request by perRequest.
type fakeQuotas struct {
	refuse     bool
	perRequest time.Duration
}

func (f *fakeQuotas) AdmitConnection(string) (func(), error) {
	if f.refuse {
		return nil, errors.New("over quota")
	}
	return func() {}, nil
}

func (f *fakeQuotas) RequestTime(string, time.Duration) time.Duration { return f.perRequest }

// throttleServer serves Metadata, throttling the request with correlation
// id 1 by throttle.
func throttleServer(t *testing.T, q Quotas, throttle time.Duration) string {
	t.Helper()
	mux := NewMux()
	mux.Register(API{Key: 3, MinVersion: 0, MaxVersion: 13, Handle: func(_ context.Context, r *Request) (kmsg.Response, error) {
		if r.CorrelationID == 1 {
			r.Throttle = throttle
		}
		return r.Body.(*kmsg.MetadataRequest).ResponseKind(), nil
	}})
	cfg := DefaultConfig()
	cfg.DefaultTenant, cfg.Quotas = "lc-default", q
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
	return ln.Addr().String()
}

// TestThrottleHoldsConnection: a throttled response carries the throttle;
// from KIP-219's versions on it goes out at once and the next request
// waits, before them the response itself waits.
func TestThrottleHoldsConnection(t *testing.T) {
	const throttle = 300 * time.Millisecond
	for _, tc := range []struct {
		version         int16
		firstLate       bool // the first response itself waits
		secondAfterWait bool
	}{
		{9, false, true}, // Metadata v6+: the client backs off itself
		{5, true, false},
	} {
		addr := throttleServer(t, &fakeQuotas{}, throttle)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.Write(append(frame(kmsg.NewPtrMetadataRequest(), tc.version, 1), frame(kmsg.NewPtrMetadataRequest(), tc.version, 2)...))
		first := readFrame(t, c)
		firstAt := time.Since(start)
		readFrame(t, c)
		secondAt := time.Since(start)
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = tc.version
		body := first[4:]
		if resp.IsFlexible() {
			body = body[1:] // the response header's tagged fields
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if resp.ThrottleMillis != int32(throttle.Milliseconds()) {
			t.Fatalf("v%d: throttle_time_ms %d", tc.version, resp.ThrottleMillis)
		}
		if late := firstAt >= throttle; late != tc.firstLate {
			t.Fatalf("v%d: first response after %v", tc.version, firstAt)
		}
		if secondAt < throttle {
			t.Fatalf("v%d: second response after %v, before the throttle ended", tc.version, secondAt)
		}
	}
}

// TestQuotaRefusesConnection: a connection the quotas refuse is closed
// before any request is served.
func TestQuotaRefusesConnection(t *testing.T) {
	addr := throttleServer(t, &fakeQuotas{refuse: true}, 0)
	c := dial(t, addr)
	c.Write(frame(kmsg.NewPtrMetadataRequest(), 9, 1))
	expectClosed(t, c)
}
