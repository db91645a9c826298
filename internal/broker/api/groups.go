package api

import (
	"net"
	"strings"
	"time"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
)

// groupKey scopes a group id to the connection's tenant.
func groupKey(r *wire.Request, group string) coord.GroupKey {
	return coord.GroupKey{Tenant: r.Conn.Tenant, Group: group}
}

// clientHost is how Kafka reports a member's host: "/" and its address.
func clientHost(r *wire.Request) string {
	host, _, err := net.SplitHostPort(r.Conn.Remote)
	if err != nil {
		host = r.Conn.Remote
	}
	return "/" + host
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func stringPtr(s string) *string { return &s }

// matchesFilter reports whether v is in filter, ignoring case; an empty
// filter matches everything.
func matchesFilter(filter []string, v string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.EqualFold(f, v) {
			return true
		}
	}
	return false
}
