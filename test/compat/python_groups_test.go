package compat

// The group scenarios of the Python clients: members are ck.py or kp.py
// group-consume processes, and describe and list are their describe-groups
// and list-groups (confluent-kafka-python 1.7: AdminClient.list_groups;
// kafka-python: KafkaAdminClient's list_consumer_groups and
// describe_consumer_groups). Both clients use their default assignors,
// range then roundrobin, with eager rebalances.

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func (c pyClient) groups() groupClient {
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
	}
}

// startMember runs the driver's group-consume under Debian's Python.
func (c pyClient) startMember(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
	args := append([]string{c.script, "group-consume"}, groupConsumeArgs(addr, spec)...)
	if spec.Commit {
		args = append(args, "--commit")
	}
	cmd := exec.Command(pyInterpreter, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return startDriverMember(t, spec, cmd, log)
}
