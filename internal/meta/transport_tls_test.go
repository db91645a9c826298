package meta

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// A peer retrying a refused handshake leaves one line per reason, not one
// per attempt; another host, or another reason, is logged at once.
func TestRefusalLogLimitsRepeats(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	var r refusalLog
	addr := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	notTLS := errors.New("tls: first record does not look like a TLS handshake")
	for port := range 20 {
		r.refuse(log, addr(fmt.Sprintf("10.0.0.1:%d", 1000+port)), notTLS)
	}
	r.refuse(log, addr("10.0.0.2:4000"), notTLS)
	r.refuse(log, addr("10.0.0.1:5000"), errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	for i, want := range []string{"10.0.0.1:1000", "10.0.0.2:4000", "unknown authority"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "refusing controller-listener connection") {
			t.Errorf("line %d: %s, want %q", i, lines[i], want)
		}
	}
}
