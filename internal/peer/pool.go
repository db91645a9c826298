package peer

import (
	"context"
	"crypto/tls"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Pool sends requests to other brokers over pooled connections: a request
// takes an idle connection to its address or dials one, and gives it back
// after a clean response. At most MaxIdle connections per address are
// kept; any number may be in use at once (callers bound their own
// concurrency). Safe for concurrent use.
type Pool struct {
	clientID string
	tls      *tls.Config
	maxIdle  int
	timeout  time.Duration

	mu     sync.Mutex
	idle   map[string][]*Conn
	closed bool
}

// NewPool returns a pool whose connections identify as clientID, over TLS
// with tc (TLS.Dialer) if not nil. A request whose context has no
// deadline gets timeout.
func NewPool(clientID string, maxIdle int, timeout time.Duration, tc *tls.Config) *Pool {
	return &Pool{clientID: clientID, tls: tc, maxIdle: maxIdle, timeout: timeout, idle: map[string][]*Conn{}}
}

// Do sends req to the broker listening at addr and returns its response.
// An error is a connection failure or a timeout; Kafka errors are in the
// response. A request that fails on an idle connection (the peer may have
// closed it meanwhile) is sent once more on a new one, so requests sent
// through a pool must be safe to repeat.
func (p *Pool) Do(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(p.timeout)
	}
	c := p.take(addr)
	if c != nil {
		resp, err := c.Do(req, deadline)
		if err == nil {
			p.put(addr, c)
			return resp, nil
		}
		c.Close()
	}
	c, err := Dial(ctx, addr, p.clientID, p.tls)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req, deadline)
	if err != nil {
		c.Close()
		return nil, err
	}
	p.put(addr, c)
	return resp, nil
}

// take returns an idle connection to addr, or nil.
func (p *Pool) take(addr string) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := p.idle[addr]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	p.idle[addr] = cs[:len(cs)-1]
	return c
}

func (p *Pool) put(addr string, c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[addr]) >= p.maxIdle {
		c.Close()
		return
	}
	p.idle[addr] = append(p.idle[addr], c)
}

// Close closes the idle connections; connections in use close when their
// request ends.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for addr, cs := range p.idle {
		for _, c := range cs {
			c.Close()
		}
		delete(p.idle, addr)
	}
}
