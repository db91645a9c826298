package compat

// kcat beyond the codecs: `-P -p 0` writes single records, `-Q` looks up
// offsets by timestamp (and, with the special timestamps -2 and -1, the
// earliest and latest offsets), `-C -o <offset> -c 1` reads from an offset.
// kcat cannot set a record's timestamp, so kgo writes the timed records;
// it has no admin requests at all.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func kcatScenarios(c client) scenarioClient {
	noAdmin := "kcat has no admin requests (CreateTopics, DeleteTopics, DescribeConfigs, AlterConfigs)"
	return scenarioClient{
		client:    c,
		produceP0: kcatProduceP0,
		// A delivery report (so the broker answered) with librdkafka's
		// text for MSG_SIZE_TOO_LARGE.
		tooLarge: func(err error) bool {
			return strings.Contains(err.Error(), "% Delivery failed") &&
				strings.Contains(err.Error(), "Broker: Message size too large")
		},
		offsetForTime: func(t *testing.T, addr, topic string, ts time.Time) int64 {
			return kcatQuery(t, addr, topic, 0, ts.UnixMilli())
		},
		readAt: kcatReadAt,
		listOffsets: func(t *testing.T, addr, topic string, p int32) (int64, int64) {
			// ListOffsets' special timestamps: -2 earliest, -1 latest.
			return kcatQuery(t, addr, topic, p, -2), kcatQuery(t, addr, topic, p, -1)
		},
		// admin/describe-groups is kcatGroups' to register.
		missing: map[string]string{
			scTopics:  noAdmin,
			scConfigs: noAdmin,
		},
	}
}

// kcatProduceP0 writes records that share one header set to partition 0
// with one kcat. librdkafka's own message.max.bytes is raised above the
// broker's limit so that the broker is the one to refuse a record that is
// too large.
func kcatProduceP0(t *testing.T, addr, topic string, recs []record) error {
	t.Helper()
	args := append(kcatArgs("-P", addr, topic), "-p", "0", "-K", `\t`,
		"-X", "acks=all", "-X", "enable.idempotence=false", "-X", "message.max.bytes=4000000")
	for _, h := range recs[0].Headers {
		args = append(args, "-H", h.Key+"="+string(h.Value))
	}
	var in bytes.Buffer
	for i, r := range recs {
		if r.Key == nil || r.Value == nil || bytes.ContainsAny(r.Key, "\t\n") || bytes.ContainsAny(r.Value, "\t\n") ||
			!sameHeaders(r.Headers, recs[0].Headers) {
			t.Fatalf("record %d cannot be written by one kcat: %s", i, show(r.Key))
		}
		in.Write(r.Key)
		in.WriteByte('\t')
		in.Write(r.Value)
		in.WriteByte('\n')
	}
	cmd := kcatCommand(t, args...)
	cmd.Stdin = &in
	_, err := execKcat(t, cmd)
	return err
}

// kcatQuery runs `kcat -Q -t topic:partition:ts`, which prints
// "<topic> [<partition>] offset <offset>".
func kcatQuery(t *testing.T, addr, topic string, p int32, ts int64) int64 {
	t.Helper()
	out := runKcat(t, kcatCommand(t, "-Q", "-b", addr, "-t", fmt.Sprintf("%s:%d:%d", topic, p, ts)))
	want := fmt.Sprintf("%s [%d] offset ", topic, p)
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, want); ok {
			return atoi64(t, strings.TrimSpace(rest))
		}
	}
	t.Fatalf("kcat -Q %s:%d:%d printed no offset: %q", topic, p, ts, out)
	return 0
}

// kcatReadAt reads the first record of partition 0 from offset.
func kcatReadAt(t *testing.T, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	out := runKcat(t, kcatCommand(t, append(kcatArgs("-C", addr, topic),
		"-p", "0", "-o", fmt.Sprint(offset), "-c", "1", "-e", "-J")...))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 4<<20)
	if !sc.Scan() {
		t.Fatalf("kcat read %s/0 from %d: no output (%v)", topic, offset, sc.Err())
	}
	var m kcatMessage
	if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
		t.Fatalf("kcat output line %q: %v", sc.Bytes(), err)
	}
	return m.Offset, record{Key: strBytes(m.Key), Value: strBytes(m.Payload)}
}
