package compat

// The group scenarios for the clients driven by a script (drivers/python
// and drivers/js): each member is a driver's group-consume process, and
// describe-groups and list-groups print the same JSON in every driver
// (drivers/python/common.py, drivers/js/common.mjs).

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// groupConsumeArgs are a member's driver arguments after the subcommand,
// except --commit, which the drivers spell differently.
func groupConsumeArgs(addr string, spec memberSpec) []string {
	return []string{"--bootstrap", addr, "--topic", spec.Topic, "--group", spec.Group, "--client-id", spec.ClientID,
		"--session-timeout-ms", strconv.Itoa(spec.SessionTimeoutMs),
		"--rebalance-timeout-ms", strconv.Itoa(spec.RebalanceTimeoutMs)}
}

// startDriverMember starts a driver's group-consume as a member; the
// driver prints the line protocol of groups_test.go.
func startDriverMember(t *testing.T, spec memberSpec, cmd *exec.Cmd, log *groupLog) groupMember {
	t.Helper()
	t.Logf("member %s: %s", spec.Name, strings.Join(cmd.Args, " "))
	return startProcMember(t, spec, cmd, log, nil)
}

// driverGroups is what describe-groups and list-groups print.
type driverGroups struct {
	Groups []struct {
		Group        string `json:"group"`
		State        string `json:"state"`
		ProtocolType string `json:"protocol_type"`
		Protocol     string `json:"protocol"`
		Error        *struct {
			Code    int16  `json:"code"`
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
		Members []struct {
			MemberID   string  `json:"member_id"`
			ClientID   string  `json:"client_id"`
			ClientHost string  `json:"client_host"`
			Partitions []int32 `json:"partitions"`
		} `json:"members"`
	} `json:"groups"`
}

// described is the one group of a describe-groups answer.
func (d driverGroups) described(t *testing.T, client, group string) describedGroup {
	t.Helper()
	if len(d.Groups) != 1 || d.Groups[0].Group != group {
		t.Fatalf("%s describe-groups %s: %+v, want that group only", client, group, d.Groups)
	}
	g := d.Groups[0]
	if g.Error != nil {
		t.Fatalf("%s describe-groups %s: error %s (%d): %s", client, group, g.Error.Name, g.Error.Code, g.Error.Message)
	}
	out := describedGroup{State: kafkaStateName(g.State), ProtocolType: g.ProtocolType, Protocol: g.Protocol}
	for _, m := range g.Members {
		ps := m.Partitions
		if ps == nil {
			ps = []int32{}
		}
		out.Members = append(out.Members, describedMember{
			MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: ps,
		})
	}
	return out
}

// listed is list-groups' answer as group id to state ("" if not shown).
func (d driverGroups) listed() map[string]string {
	out := make(map[string]string, len(d.Groups))
	for _, g := range d.Groups {
		out[g.Group] = kafkaStateName(g.State)
	}
	return out
}

// kafkaStateName turns a client's group state name into Kafka's:
// librdkafka's enum names (STABLE, PREPARING_REBALANCE) become Stable and
// PreparingRebalance; Kafka's names stay as they are.
func kafkaStateName(s string) string {
	if s != strings.ToUpper(s) {
		return s
	}
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(s), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// oneLine decodes the single JSON line a describe or list subcommand
// printed.
func oneLine[T any](t *testing.T, client, command string, lines [][]byte) T {
	t.Helper()
	out := pyDecode[T](t, lines)
	if len(out) != 1 {
		t.Fatalf("%s %s printed %d lines, want 1", client, command, len(out))
	}
	return out[0]
}
