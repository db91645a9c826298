package compat

// kcat in the group scenarios: `kcat -G <group> <topic> -J -u` is a
// balanced consumer (librdkafka's KafkaConsumer with its default
// partition.assignment.strategy "range,roundrobin"), printing each message
// as a JSON line, unbuffered, as soon as it polls it. SIGTERM makes it close
// the consumer (final commit, LeaveGroup) and exit; the killed member gets
// SIGKILL. kcat drops a message that its poll returns after SIGTERM (its
// consume_cb returns early once the signal handler cleared conf.run), yet
// librdkafka stored that message's offset when the poll returned it and
// the close commits it: a member stopped while records arrive can skip one
// for the group (it did, against Strata). So the driver stops kcat only
// once it has caught up (quietStop); Kafka would see the same.
//
// kcat cannot commit by itself: it commits with librdkafka's auto-commit,
// so "commit after processing" means what auto-commit gives. librdkafka
// stores a message's offset when the poll hands it to kcat, which prints it
// at once; the stored offsets are committed every auto.commit.interval.ms
// (1 s here), for partitions being revoked before they go, and when the
// consumer closes. A processed record's commit is thus late, never early,
// except in the instant between the poll and the print: a member killed
// there loses (for the group) the one record it polled but did not print,
// if a periodic commit fell in that instant too. kcat does not say when it
// commits, so the driver watches the group's committed offsets with kadm
// (watchCommits). It cannot describe or list groups.

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
)

func kcatGroups() groupClient {
	return groupClient{
		name:         "kcat",
		start:        kcatMember,
		watchCommits: true,
		quietStop:    true,
		missing:      map[string]string{scDescribeGroups: "kcat cannot describe or list groups"},
	}
}

// kcatMember starts one `kcat -G`. spec.Commit changes nothing: kcat
// always auto-commits.
func kcatMember(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
	t.Helper()
	args := []string{"-b", hostPort(addr), "-G", spec.Group, spec.Topic, "-J", "-u",
		"-X", "client.id=" + spec.ClientID,
		"-X", "auto.offset.reset=earliest",
		"-X", "enable.auto.commit=true",
		"-X", "auto.commit.interval.ms=1000",
		"-X", fmt.Sprintf("session.timeout.ms=%d", spec.SessionTimeoutMs),
		"-X", fmt.Sprintf("heartbeat.interval.ms=%d", spec.SessionTimeoutMs/6),
		"-X", fmt.Sprintf("max.poll.interval.ms=%d", spec.RebalanceTimeoutMs),
		"-X", "fetch.wait.max.ms=200",
	}
	args = append(args, kcatSecurity(addr)...)
	if debugLogs() {
		args = append(args, "-d", "cgrp,protocol,fetch")
	}
	// Not kcatCommand, which kills kcat after a minute: startProcMember
	// kills a member that outlives the test.
	cmd := exec.Command("kcat", args...)
	return startProcMember(t, spec, cmd, log, kcatGroupLine)
}

// kcatGroupLine turns a `kcat -J` line into a record event. A line that is
// not JSON is not an event: the last line of a killed kcat may be cut.
func kcatGroupLine(member string, line []byte, log *groupLog) bool {
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	var m kcatMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return false
	}
	log.record(member, m.Partition, m.Offset, strBytes(m.Key))
	return true
}
