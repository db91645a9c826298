package wire

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzConn decodes frames the way a connection does, with every API key
// kmsg knows registered at every version.
func fuzzConn(t testing.TB) *conn {
	mux := NewMux()
	for key := int16(0); key < 100; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		mux.Register(API{Key: key, MaxVersion: req.MaxVersion(), Handle: func(context.Context, *Request) (kmsg.Response, error) { return nil, nil }})
	}
	s, err := NewServer(DefaultConfig(), mux)
	if err != nil {
		t.Fatal(err)
	}
	return &conn{srv: s, info: &Conn{}, log: slog.New(slog.DiscardHandler)}
}

// FuzzDecodeRequest feeds arbitrary frames to the request decoder: it must
// return a request or an error, never panic or allocate without bound.
func FuzzDecodeRequest(f *testing.F) {
	for key := int16(0); key < 70; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		for _, v := range []int16{0, req.MaxVersion()} {
			fr := frame(req, v, 1)
			f.Add(fr[4:])
		}
	}
	c := fuzzConn(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := c.decode(b)
		if err == nil && p.req == nil && p.frame == nil {
			t.Fatal("no request and no error")
		}
	})
}
