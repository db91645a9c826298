package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Topic is the effective, typed configuration of one topic, as the storage
// layer uses it. Every field is resolved through the layers (topic override,
// broker synonyms, defaults). Millisecond values too large for a
// time.Duration (Kafka's Long.MAX_VALUE "never") are clamped to
// math.MaxInt64 nanoseconds.
type Topic struct {
	// CleanupPolicyDelete and CleanupPolicyCompact are the items of
	// cleanup.policy; both false (the empty list) means keep forever.
	CleanupPolicyDelete, CleanupPolicyCompact bool
	CompressionType                           string // one of compression.type's values; "producer" keeps the producer's codec
	CompressionGzipLevel                      int32  // -1 is the codec default
	CompressionLz4Level                       int32
	CompressionZstdLevel                      int32

	DeleteRetention  time.Duration // delete.retention.ms
	FileDeleteDelay  time.Duration // file.delete.delay.ms
	FlushInterval    time.Duration // flush.ms
	SegmentDuration  time.Duration // segment.ms
	SegmentJitter    time.Duration // segment.jitter.ms
	MinCompactionLag time.Duration // min.compaction.lag.ms
	MaxCompactionLag time.Duration // max.compaction.lag.ms

	Retention      time.Duration // retention.ms; negative = unlimited
	RetentionBytes int64         // retention.bytes; negative = unlimited
	// LocalRetention and LocalRetentionBytes are local.retention.ms/bytes
	// with Kafka's -2 ("same as retention") already applied; negative =
	// unlimited.
	LocalRetention      time.Duration
	LocalRetentionBytes int64

	FlushMessages      int64 // flush.messages
	IndexIntervalBytes int32 // index.interval.bytes
	SegmentIndexBytes  int32 // segment.index.bytes
	MaxMessageBytes    int32 // max.message.bytes
	SegmentBytes       int32 // segment.bytes

	TimestampLogAppend bool          // message.timestamp.type=LogAppendTime
	TimestampBeforeMax time.Duration // message.timestamp.before.max.ms
	TimestampAfterMax  time.Duration // message.timestamp.after.max.ms

	MinCleanableDirtyRatio float64
	MinInsyncReplicas      int32
	Preallocate            bool
	UncleanLeaderElection  bool

	RemoteStorage            bool // remote.storage.enable
	RemoteLogCopyDisable     bool // remote.log.copy.disable
	RemoteLogDeleteOnDisable bool // remote.log.delete.on.disable
}

// EffectiveTopic resolves every topic config through the layers and parses
// it. It fails only if a value in force is invalid; it does not check
// combinations (see ValidateTopicConfigs), so a topic whose configs were
// accepted always loads.
func EffectiveTopic(l Layers) (Topic, error) {
	t, _, err := effectiveTopic(l)
	return t, err
}

// rawValues are values ValidateTopicConfigs compares exactly as Kafka does:
// in milliseconds before clamping, and local retention before -2 is
// replaced.
type rawValues struct {
	minLagMs, maxLagMs, retentionMs int64
	localMs, localBytes             int64
}

func effectiveTopic(l Layers) (Topic, rawValues, error) {
	p := topicParser{l: l}
	var t Topic
	policy := p.list("cleanup.policy")
	t.CleanupPolicyDelete = slices.Contains(policy, "delete")
	t.CleanupPolicyCompact = slices.Contains(policy, "compact")
	t.CompressionType = p.str("compression.type")
	t.CompressionGzipLevel = p.int32("compression.gzip.level")
	t.CompressionLz4Level = p.int32("compression.lz4.level")
	t.CompressionZstdLevel = p.int32("compression.zstd.level")

	t.DeleteRetention = p.duration("delete.retention.ms")
	t.FileDeleteDelay = p.duration("file.delete.delay.ms")
	t.FlushInterval = p.duration("flush.ms")
	t.SegmentDuration = p.duration("segment.ms")
	t.SegmentJitter = p.duration("segment.jitter.ms")
	raw := rawValues{
		minLagMs:    p.int64("min.compaction.lag.ms"),
		maxLagMs:    p.int64("max.compaction.lag.ms"),
		retentionMs: p.int64("retention.ms"),
		localMs:     p.int64("local.retention.ms"),
		localBytes:  p.int64("local.retention.bytes"),
	}
	t.MinCompactionLag = msDuration(raw.minLagMs)
	t.MaxCompactionLag = msDuration(raw.maxLagMs)

	t.Retention = msDuration(raw.retentionMs)
	t.RetentionBytes = p.int64("retention.bytes")
	t.LocalRetention = msDuration(orRetention(raw.localMs, raw.retentionMs))
	t.LocalRetentionBytes = orRetention(raw.localBytes, t.RetentionBytes)

	t.FlushMessages = p.int64("flush.messages")
	t.IndexIntervalBytes = p.int32("index.interval.bytes")
	t.SegmentIndexBytes = p.int32("segment.index.bytes")
	t.MaxMessageBytes = p.int32("max.message.bytes")
	t.SegmentBytes = p.int32("segment.bytes")

	t.TimestampLogAppend = p.str("message.timestamp.type") == "LogAppendTime"
	t.TimestampBeforeMax = p.duration("message.timestamp.before.max.ms")
	t.TimestampAfterMax = p.duration("message.timestamp.after.max.ms")

	t.MinCleanableDirtyRatio = p.float64("min.cleanable.dirty.ratio")
	t.MinInsyncReplicas = p.int32("min.insync.replicas")
	t.Preallocate = p.bool("preallocate")
	t.UncleanLeaderElection = p.bool("unclean.leader.election.enable")

	t.RemoteStorage = p.bool("remote.storage.enable")
	t.RemoteLogCopyDisable = p.bool("remote.log.copy.disable")
	t.RemoteLogDeleteOnDisable = p.bool("remote.log.delete.on.disable")
	if p.err != nil {
		return Topic{}, rawValues{}, p.err
	}
	return t, raw, nil
}

// orRetention applies Kafka's local retention rule: -2 means "use the
// topic-wide retention".
func orRetention(local, retention int64) int64 {
	if local == -2 {
		return retention
	}
	return local
}

// msDuration converts milliseconds to a Duration, clamping values beyond
// the Duration range (Long.MAX_VALUE ms is Kafka's "never").
func msDuration(ms int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// topicParser resolves and parses topic configs, keeping the first error so
// EffectiveTopic reads as a list of fields.
type topicParser struct {
	l   Layers
	err error
}

// value returns the checked value in force for name, or "" after an error.
func (p *topicParser) value(name string) string {
	e, ok := ResolveTopic(name, p.l)
	if !ok {
		panic(fmt.Sprintf("config: EffectiveTopic reads unknown topic config %s", name))
	}
	if e.Value == nil {
		panic(fmt.Sprintf("config: topic config %s resolved to null", name))
	}
	d := topicByName[name]
	if err := d.Check(*e.Value); err != nil {
		if p.err == nil {
			from := "default"
			if len(e.Synonyms) > 0 {
				from = e.Synonyms[0].Name + " " + e.Synonyms[0].Source.String()
			}
			p.err = fmt.Errorf("config: topic config %s (from %s): %w", name, from, err)
		}
		return ""
	}
	return *e.Value
}

func (p *topicParser) str(name string) string { return p.value(name) }

func (p *topicParser) list(name string) []string { return splitList(p.value(name)) }

func (p *topicParser) bool(name string) bool { return p.value(name) == "true" }

func (p *topicParser) int64(name string) int64 {
	n, _ := strconv.ParseInt(p.value(name), 10, 64)
	return n
}

// int32 is for INT configs, whose values Check has bounded to 32 bits.
func (p *topicParser) int32(name string) int32 {
	n, _ := strconv.ParseInt(p.value(name), 10, 32)
	return int32(n)
}

func (p *topicParser) float64(name string) float64 {
	f, _ := strconv.ParseFloat(p.value(name), 64)
	return f
}

func (p *topicParser) duration(name string) time.Duration { return msDuration(p.int64(name)) }
