package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// kafkaDefaults is a topic with every config at Kafka 4.2's default.
var kafkaDefaults = Topic{
	CleanupPolicyDelete:  true,
	CompressionType:      "producer",
	CompressionGzipLevel: -1,
	CompressionLz4Level:  9,
	CompressionZstdLevel: 3,

	DeleteRetention:  24 * time.Hour,
	FileDeleteDelay:  time.Minute,
	FlushInterval:    math.MaxInt64, // Long.MAX ms, clamped
	SegmentDuration:  7 * 24 * time.Hour,
	SegmentJitter:    0,
	MinCompactionLag: 0,
	MaxCompactionLag: math.MaxInt64,

	Retention:           7 * 24 * time.Hour,
	RetentionBytes:      -1,
	LocalRetention:      7 * 24 * time.Hour, // -2: same as retention
	LocalRetentionBytes: -1,

	FlushMessages:      math.MaxInt64,
	IndexIntervalBytes: 4096,
	SegmentIndexBytes:  10485760,
	MaxMessageBytes:    1048588,
	SegmentBytes:       1073741824,

	TimestampBeforeMax: math.MaxInt64,
	TimestampAfterMax:  time.Hour,

	MinCleanableDirtyRatio: 0.5,
	MinInsyncReplicas:      1,
}

func TestEffectiveTopicDefaults(t *testing.T) {
	got, err := EffectiveTopic(Layers{})
	if err != nil {
		t.Fatal(err)
	}
	if got != kafkaDefaults {
		t.Errorf("EffectiveTopic(empty)\n got %+v\nwant %+v", got, kafkaDefaults)
	}
}

func TestEffectiveTopic(t *testing.T) {
	tests := []struct {
		desc   string
		l      Layers
		modify func(*Topic)
	}{
		{
			desc: "topic overrides",
			l: Layers{Topic: map[string]string{
				"cleanup.policy": "compact", "compression.type": "zstd", "compression.zstd.level": "-5",
				"retention.ms": "-1", "retention.bytes": "1000", "segment.bytes": "1048576",
				"message.timestamp.type": "LogAppendTime", "min.cleanable.dirty.ratio": "0.25",
				"min.insync.replicas": "2", "preallocate": "true", "unclean.leader.election.enable": "TRUE",
				"flush.messages": "1", "flush.ms": "1000", "max.message.bytes": "100",
				"local.retention.ms": "60000", "remote.storage.enable": "true",
			}},
			modify: func(t *Topic) {
				t.CleanupPolicyDelete, t.CleanupPolicyCompact = false, true
				t.CompressionType, t.CompressionZstdLevel = "zstd", -5
				t.Retention, t.RetentionBytes = -time.Millisecond, 1000
				t.LocalRetention, t.LocalRetentionBytes = time.Minute, 1000
				t.SegmentBytes = 1 << 20
				t.TimestampLogAppend = true
				t.MinCleanableDirtyRatio = 0.25
				t.MinInsyncReplicas = 2
				t.Preallocate, t.UncleanLeaderElection = true, true
				t.FlushMessages, t.FlushInterval = 1, time.Second
				t.MaxMessageBytes = 100
				t.RemoteStorage = true
			},
		},
		{
			desc: "broker synonyms with units",
			l: Layers{
				Static:         map[string]string{"log.retention.hours": "1", "log.roll.hours": "2", "log.roll.jitter.hours": "1"},
				ClusterDefault: map[string]string{"log.cleanup.policy": "compact,delete", "message.max.bytes": "2000000"},
			},
			modify: func(t *Topic) {
				t.Retention, t.LocalRetention = time.Hour, time.Hour
				t.SegmentDuration, t.SegmentJitter = 2*time.Hour, time.Hour
				t.CleanupPolicyCompact = true
				t.MaxMessageBytes = 2000000
			},
		},
		{
			desc: "empty cleanup policy keeps forever",
			l:    Layers{Topic: map[string]string{"cleanup.policy": ""}},
			modify: func(t *Topic) {
				t.CleanupPolicyDelete = false
			},
		},
		{
			desc: "unlimited local retention",
			l:    Layers{Topic: map[string]string{"local.retention.ms": "-1", "local.retention.bytes": "-1", "retention.bytes": "5"}},
			modify: func(t *Topic) {
				t.LocalRetention, t.LocalRetentionBytes, t.RetentionBytes = -time.Millisecond, -1, 5
			},
		},
		{
			desc: "long max ms clamps",
			l:    Layers{Topic: map[string]string{"retention.ms": longMax, "delete.retention.ms": "9223372036854775"}},
			modify: func(t *Topic) {
				t.Retention, t.LocalRetention, t.DeleteRetention = math.MaxInt64, math.MaxInt64, math.MaxInt64
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			want := kafkaDefaults
			tc.modify(&want)
			got, err := EffectiveTopic(tc.l)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEffectiveTopicInvalid(t *testing.T) {
	tests := []struct {
		desc string
		l    Layers
		want string
	}{
		{
			desc: "bad override",
			l:    Layers{Topic: map[string]string{"retention.ms": "soon"}},
			want: "config: topic config retention.ms (from retention.ms DYNAMIC_TOPIC_CONFIG): Invalid value soon for configuration retention.ms: Not a number of type LONG",
		},
		{
			desc: "bad static synonym",
			l:    Layers{Static: map[string]string{"log.segment.bytes": "100"}},
			want: "config: topic config segment.bytes (from log.segment.bytes STATIC_BROKER_CONFIG): Invalid value 100 for configuration segment.bytes: Value must be at least 1048576",
		},
	}
	for _, tc := range tests {
		_, err := EffectiveTopic(tc.l)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v\nwant %s", tc.desc, err, tc.want)
		}
	}
}

func TestMsDuration(t *testing.T) {
	tests := []struct {
		ms   int64
		want time.Duration
	}{
		{0, 0},
		{-1, -time.Millisecond},
		{1500, 1500 * time.Millisecond},
		{math.MaxInt64 / 1_000_000, time.Duration(math.MaxInt64/1_000_000) * time.Millisecond},
		{math.MaxInt64/1_000_000 + 1, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64},
		{math.MinInt64, math.MinInt64},
	}
	for _, tc := range tests {
		if got := msDuration(tc.ms); got != tc.want {
			t.Errorf("msDuration(%d) = %d, want %d", tc.ms, got, tc.want)
		}
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	tests := []struct {
		desc    string
		topic   map[string]string
		wantErr string // substring; "" = valid
	}{
		{"defaults", nil, ""},
		{"lag conflict", map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{"lag equal", map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}, ""},
		{"bad value", map[string]string{"segment.ms": "0"}, "Value must be at least 1"},
		{"remote with delete", map[string]string{"remote.storage.enable": "true"}, ""},
		{"remote with empty policy", map[string]string{"remote.storage.enable": "true", "cleanup.policy": ""}, ""},
		{"remote with compact", map[string]string{"remote.storage.enable": "true", "cleanup.policy": "delete,compact"},
			"Remote log storage only supports topics with cleanup.policy=delete"},
		{"compact without remote", map[string]string{"cleanup.policy": "compact"}, ""},
		{"local bytes above total", map[string]string{"remote.storage.enable": "true", "retention.bytes": "100", "local.retention.bytes": "200"},
			"Invalid value 200 for configuration local.retention.bytes: Value must not be more than retention.bytes property value: 100"},
		{"local bytes unlimited under limited total", map[string]string{"remote.storage.enable": "true", "retention.bytes": "100", "local.retention.bytes": "-1"},
			"Invalid value -1 for configuration local.retention.bytes: Value must not be -1 as retention.bytes value is set as 100."},
		{"local ms above total", map[string]string{"remote.storage.enable": "true", "retention.ms": "1000", "local.retention.ms": "2000"},
			"Value must not be more than retention.ms property value: 1000"},
		{"local ms with unlimited total", map[string]string{"remote.storage.enable": "true", "retention.ms": "-1", "local.retention.ms": "2000"}, ""},
		{"copy disabled, local differs", map[string]string{"remote.storage.enable": "true", "remote.log.copy.disable": "true", "local.retention.ms": "1000"},
			"`local.retention.ms` and `retention.ms` must be set to the identical value"},
		{"copy disabled, local default", map[string]string{"remote.storage.enable": "true", "remote.log.copy.disable": "true"}, ""},
	}
	for _, tc := range tests {
		err := ValidateTopicConfigs(Layers{Topic: tc.topic})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.desc, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: err = %v, want %q", tc.desc, err, tc.wantErr)
		case err != nil && !errors.Is(err, ErrInvalid):
			t.Errorf("%s: %v does not wrap ErrInvalid", tc.desc, err)
		}
	}
}
