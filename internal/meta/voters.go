package meta

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Voter is a member of the metadata quorum: a node id and the address of
// its controller listener (where raft and the controller RPCs arrive).
type Voter struct {
	ID   int32
	Addr string // host:port
}

// ParseVoters parses the --controllers list: "ID@HOST:PORT,...". Ids must be
// distinct and non-negative, addresses distinct and well formed.
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	ids := map[int32]bool{}
	addrs := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		idStr, addr, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("controllers: %q is not ID@HOST:PORT", item)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controllers: %q: node id %q is not a non-negative integer", item, idStr)
		}
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("controllers: %q: %w", item, err)
		}
		if ids[int32(id)] {
			return nil, fmt.Errorf("controllers: node id %d is listed twice", id)
		}
		if addrs[addr] {
			return nil, fmt.Errorf("controllers: address %s is listed twice", addr)
		}
		ids[int32(id)], addrs[addr] = true, true
		out = append(out, Voter{ID: int32(id), Addr: addr})
	}
	return out, nil
}

// FormatVoters is the inverse of ParseVoters.
func FormatVoters(vs []Voter) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%d@%s", v.ID, v.Addr)
	}
	return strings.Join(parts, ",")
}

// checkHostPort accepts host:port with a host and a port in 1..65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}

func voterByID(vs []Voter, id int32) (Voter, bool) {
	for _, v := range vs {
		if v.ID == id {
			return v, true
		}
	}
	return Voter{}, false
}
