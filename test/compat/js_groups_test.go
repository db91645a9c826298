package compat

// The group scenarios of the JavaScript clients: members are kafkajs.mjs
// or ckjs.mjs group-consume processes, and describe and list are their
// describe-groups and list-groups (kafkajs: admin.describeGroups and
// listGroups; confluent-kafka-javascript: AdminClient.describeGroups and
// listGroups). kafkajs uses its default round-robin assigner,
// confluent-kafka-javascript librdkafka's range then roundrobin, both
// with eager rebalances.

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func (c jsClient) groups() groupClient {
	return groupClient{
		name:  c.name,
		start: c.startMember,
		describe: func(t *testing.T, addr, group, topic string) describedGroup {
			lines := c.run(t, time.Minute, "describe-groups", addr, topic, "--group", group)
			return oneLine[driverGroups](t, c.name, "describe-groups", lines).described(t, c.name, group)
		},
		list: func(t *testing.T, addr string) map[string]string {
			return oneLine[driverGroups](t, c.name, "list-groups", c.run(t, time.Minute, "list-groups", addr, "-")).listed()
		},
		missing: c.missing,
	}
}

// startMember runs the driver's group-consume under node.
func (c jsClient) startMember(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
	args := append([]string{filepath.Join(jsDir, c.script), "group-consume"}, groupConsumeArgs(addr, spec)...)
	if spec.Commit {
		args = append(args, "--commit", "true")
	}
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	return startDriverMember(t, spec, cmd, log)
}
