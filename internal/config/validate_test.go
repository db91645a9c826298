package config

import (
	"errors"
	"testing"
)

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		name, value string
		wantErr     string // "" = valid
	}{
		// LONG
		{"retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "1.5", "Invalid value 1.5 for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "9223372036854775808", "Invalid value 9223372036854775808 for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", "-1", ""},
		{"retention.ms", " 3600000 ", ""},
		{"retention.ms", "+5", ""},
		{"retention.ms", "9223372036854775807", ""},
		{"retention.bytes", "-12345", ""}, // no lower bound in Kafka
		{"segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1"},
		{"local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"},
		{"local.retention.ms", "-2", ""},
		{"flush.messages", "0", "Invalid value 0 for configuration flush.messages: Value must be at least 1"},
		{"max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
		{"retention.ms", "", "Invalid value  for configuration retention.ms: Not a number of type LONG"},
		// INT
		{"segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT"},
		{"segment.bytes", "1048575", "Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576"},
		{"segment.bytes", "1048576", ""},
		{"segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"max.message.bytes", "x1", "Invalid value x1 for configuration max.message.bytes: Not a number of type INT"},
		{"compression.gzip.level", "-1", ""},
		{"compression.gzip.level", "9", ""},
		{"compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.gzip.level", "10", "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"},
		{"compression.zstd.level", "-131072", ""},
		{"compression.zstd.level", "-131073", "Invalid value -131073 for configuration compression.zstd.level: Value must be at least -131072"},
		// DOUBLE
		{"min.cleanable.dirty.ratio", "abc", "Invalid value abc for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{"min.cleanable.dirty.ratio", "NaN", "Invalid value NaN for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{"min.cleanable.dirty.ratio", "1.01", "Invalid value 1.01 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"min.cleanable.dirty.ratio", "-0.1", "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
		{"min.cleanable.dirty.ratio", "0", ""},
		{"min.cleanable.dirty.ratio", "1", ""},
		// BOOLEAN
		{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{"preallocate", "TRUE", ""},
		{"preallocate", " false ", ""},
		{"unclean.leader.election.enable", "1", "Invalid value 1 for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		// STRING enums (case-sensitive, as Kafka's ValidString)
		{"compression.type", "zstd", ""},
		{"compression.type", "ZSTD", "Invalid value ZSTD for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"message.timestamp.type", "LogAppendTime", ""},
		{"message.timestamp.type", "logappendtime", "Invalid value logappendtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		// LIST
		{"cleanup.policy", "compact", ""},
		{"cleanup.policy", "compact, delete", ""},
		{"cleanup.policy", "", ""}, // the empty list: keep forever
		{"cleanup.policy", "compact,,delete", "Invalid value compact,,delete for configuration cleanup.policy: values must not be empty"},
		{"cleanup.policy", "delete,delete", "Invalid value delete,delete for configuration cleanup.policy: values must not be duplicated"},
		{"cleanup.policy", "delete,archive", "Invalid value delete,archive for configuration cleanup.policy: String must be one of: compact, delete"},
		{"leader.replication.throttled.replicas", "", ""},
		{"leader.replication.throttled.replicas", "*", ""},
		{"leader.replication.throttled.replicas", "0:1, 1:2", ""},
		{"leader.replication.throttled.replicas", "0:1,*", "Invalid value 0:1,* for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{"follower.replication.throttled.replicas", "0-1", "Invalid value 0-1 for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
	}
	for _, tc := range tests {
		err := ValidateTopic(tc.name, tc.value)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateTopic(%s, %q) = %v, want nil", tc.name, tc.value, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.wantErr {
			t.Errorf("ValidateTopic(%s, %q) = %v\nwant %s", tc.name, tc.value, err, tc.wantErr)
			continue
		}
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknown) {
			t.Errorf("ValidateTopic(%s, %q) error %v does not wrap only ErrInvalid", tc.name, tc.value, err)
		}
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Name != tc.name || ve.Value != tc.value {
			t.Errorf("ValidateTopic(%s, %q) error is %#v", tc.name, tc.value, err)
		}
	}
}

func TestValidateBroker(t *testing.T) {
	tests := []struct {
		name, value string
		wantErr     string
	}{
		{"log.retention.hours", "-1", ""},
		{"log.retention.hours", "2147483648", "Invalid value 2147483648 for configuration log.retention.hours: Not a number of type INT"},
		{"log.roll.hours", "0", "Invalid value 0 for configuration log.roll.hours: Value must be at least 1"},
		{"log.retention.ms", "-5", ""}, // no validator in Kafka; folded to -1 for topics
		{"num.partitions", "0", "Invalid value 0 for configuration num.partitions: Value must be at least 1"},
		{"auto.create.topics.enable", "nope", "Invalid value nope for configuration auto.create.topics.enable: Expected value to be either true or false"},
		{"log.dirs", "/a,/b", ""},
		{"log.dirs", "", "Invalid value  for configuration log.dirs: must not be empty"},
		{"log.dirs", "/a,/a", "Invalid value /a,/a for configuration log.dirs: values must not be duplicated"},
		{"listeners", "PLAINTEXT://:9092,SSL://:9093", ""},
		{"log.cleaner.min.cleanable.ratio", "2", "Invalid value 2 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1"},
		{"message.max.bytes", "-1", "Invalid value -1 for configuration message.max.bytes: Value must be at least 0"},
	}
	for _, tc := range tests {
		err := ValidateBroker(tc.name, tc.value)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ValidateBroker(%s, %q) = %v does not wrap ErrInvalid", tc.name, tc.value, err)
			}
		}
		if got != tc.wantErr {
			t.Errorf("ValidateBroker(%s, %q) = %q, want %q", tc.name, tc.value, got, tc.wantErr)
		}
	}
}

func TestValidateUnknown(t *testing.T) {
	err := ValidateTopic("retention.hours", "1")
	if !errors.Is(err, ErrUnknown) || errors.Is(err, ErrInvalid) {
		t.Fatalf("ValidateTopic(unknown) = %v, want ErrUnknown", err)
	}
	if want := `unknown topic config "retention.hours"`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// Broker names are not topic names and the other way round.
	if err := ValidateTopic("log.retention.hours", "1"); !errors.Is(err, ErrUnknown) {
		t.Errorf("ValidateTopic(broker name) = %v", err)
	}
	err = ValidateBroker("retention.ms", "1")
	if !errors.Is(err, ErrUnknown) || err.Error() != `unknown broker config "retention.ms"` {
		t.Errorf("ValidateBroker(topic name) = %v", err)
	}
}

// TestTypeCheck covers every Type on a synthetic def, including the types no
// catalog entry uses.
func TestTypeCheck(t *testing.T) {
	tests := []struct {
		typ   Type
		value string
		ok    bool
	}{
		{Boolean, "True", true}, {Boolean, "t", false},
		{String, "", true}, {String, "anything", true},
		{Int, "-2147483648", true}, {Int, "2147483648", false}, {Int, "0x10", false},
		{Short, "32767", true}, {Short, "32768", false},
		{Long, "-9223372036854775808", true}, {Long, "1e3", false},
		{Double, "1e-3", true}, {Double, "1.5", true}, {Double, "one", false}, {Double, "NaN", false},
		{List, "", true}, {List, "a, b ,c", true},
		{Class, "org.example.Policy", true},
		{Password, "secret", true},
	}
	for _, tc := range tests {
		d := &Def{Name: "x", Type: tc.typ}
		if err := d.Check(tc.value); (err == nil) != tc.ok {
			t.Errorf("%v %q: err = %v, want ok=%v", tc.typ, tc.value, err, tc.ok)
		}
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"a", []string{"a"}},
		{" a , b,c ", []string{"a", "b", "c"}},
		{"a,,b", []string{"a", "", "b"}},
		{"a,", []string{"a", ""}},
	}
	for _, tc := range tests {
		got := splitList(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("splitList(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("splitList(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
