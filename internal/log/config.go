package log

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// Config holds the per-topic settings of a log, named after the Kafka topic
// configs they implement. SetConfig changes them on a live log.
type Config struct {
	// SegmentBytes (segment.bytes): roll when the active segment would grow
	// beyond it. At most math.MaxInt32, so file positions fit the uint32 of
	// the offset index even with one oversized append on top.
	SegmentBytes int64
	// SegmentMs (segment.ms): roll when the first batch of the active
	// segment was appended longer ago than this (wall clock of the broker).
	SegmentMs time.Duration
	// SegmentIndexBytes (segment.index.bytes): the most bytes the offset
	// index and the time index of one segment may hold; roll when full.
	// It bounds the index memory of a segment.
	SegmentIndexBytes int
	// IndexIntervalBytes (index.interval.bytes): bytes of log between two
	// entries of the offset index.
	IndexIntervalBytes int
	// RetentionBytes (retention.bytes): delete the oldest segments while the
	// log stays at least this big without them; < 0 is unlimited.
	RetentionBytes int64
	// RetentionMs (retention.ms): delete segments whose newest timestamp is
	// older than this; < 0 is unlimited.
	RetentionMs time.Duration
	// FlushMessages (flush.messages): fsync after this many messages;
	// math.MaxInt64 is never (durability comes from replication).
	FlushMessages int64
	// FlushMs (flush.ms): fsync when the oldest unflushed data is older than
	// this, checked by FlushIfDue; math.MaxInt64 is never.
	FlushMs time.Duration
	// FileDeleteDelay (file.delete.delay.ms): files of deleted segments stay
	// open this long (and longer while a read still uses them) before they
	// are closed and removed.
	FileDeleteDelay time.Duration

	// Compact (cleanup.policy contains compact): the cleaner keeps only the
	// latest record of each key (see cleaner.go). Retention applies as well
	// unless the caller disables it (cleanup.policy=compact alone).
	Compact bool
	// DeleteRetention (delete.retention.ms): how long tombstones stay after
	// the cleaner first saw them (their batch's delete horizon).
	DeleteRetention time.Duration
	// MinCompactionLag (min.compaction.lag.ms): a segment holding a record
	// newer than this is not cleaned, nor anything after it.
	MinCompactionLag time.Duration
	// MaxCompactionLag (max.compaction.lag.ms): clean regardless of the
	// dirty ratio once the oldest dirty data is older than this.
	MaxCompactionLag time.Duration
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio): clean when the
	// bytes not yet cleaned are at least this share of the cleanable bytes.
	MinCleanableDirtyRatio float64
	// MaxMessageBytes (max.message.bytes): the cleaner merges small batches
	// into batches of at most about this size.
	MaxMessageBytes int
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionBytes:     -1,
		RetentionMs:        7 * 24 * time.Hour,
		FlushMessages:      math.MaxInt64,
		FlushMs:            time.Duration(math.MaxInt64),
		FileDeleteDelay:    60 * time.Second,

		DeleteRetention:        24 * time.Hour,
		MaxCompactionLag:       time.Duration(math.MaxInt64),
		MinCleanableDirtyRatio: 0.5,
		MaxMessageBytes:        1048588,
	}
}

// minSegmentIndexBytes lets the time index hold at least one regular entry
// plus the final entry written when a segment is closed.
const minSegmentIndexBytes = 2 * timeEntrySize

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < record.HeaderSize || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("log: segment.bytes %d not in [%d, %d]", c.SegmentBytes, record.HeaderSize, math.MaxInt32)
	case c.SegmentMs <= 0:
		return fmt.Errorf("log: segment.ms %v must be positive", c.SegmentMs)
	case c.SegmentIndexBytes < minSegmentIndexBytes || c.SegmentIndexBytes > math.MaxInt32:
		return fmt.Errorf("log: segment.index.bytes %d not in [%d, %d]", c.SegmentIndexBytes, minSegmentIndexBytes, math.MaxInt32)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("log: index.interval.bytes %d is negative", c.IndexIntervalBytes)
	case c.FlushMessages < 1:
		return fmt.Errorf("log: flush.messages %d must be at least 1", c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("log: flush.ms %v is negative", c.FlushMs)
	case c.FileDeleteDelay < 0:
		return fmt.Errorf("log: file.delete.delay.ms %v is negative", c.FileDeleteDelay)
	case c.DeleteRetention < 0:
		return fmt.Errorf("log: delete.retention.ms %v is negative", c.DeleteRetention)
	case c.MinCompactionLag < 0:
		return fmt.Errorf("log: min.compaction.lag.ms %v is negative", c.MinCompactionLag)
	case c.MaxCompactionLag <= 0:
		return fmt.Errorf("log: max.compaction.lag.ms %v must be positive", c.MaxCompactionLag)
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return fmt.Errorf("log: min.cleanable.dirty.ratio %v not in [0, 1]", c.MinCleanableDirtyRatio)
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("log: max.message.bytes %d is negative", c.MaxMessageBytes)
	}
	return nil
}

// offsetIndexCap is the number of offset index entries a segment may hold.
func (c Config) offsetIndexCap() int { return c.SegmentIndexBytes / offsetEntrySize }

// timeIndexCap is the number of regular time index entries a segment may
// hold; one more slot stays free for the entry written when it is closed.
func (c Config) timeIndexCap() int { return c.SegmentIndexBytes/timeEntrySize - 1 }

// Options are the dependencies of a log, fixed for its lifetime.
type Options struct {
	FS     FS               // nil: OSFS()
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// CleanShutdown says the log was closed by Close before: trust the files
	// (with quick sanity checks). Otherwise every segment from the recovery
	// point on, and at least the active one, is scanned and truncated at the
	// first bad batch.
	CleanShutdown bool
	// MaxDecompressedBytes bounds the decompressed size of one batch when
	// records are iterated (timestamp lookups). 0: DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int
}

// DefaultMaxDecompressedBytes is the default Options.MaxDecompressedBytes.
const DefaultMaxDecompressedBytes = 64 << 20

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = OSFS()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxDecompressedBytes <= 0 {
		o.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	return o
}

// Errors of this package; match them with errors.Is.
var (
	// ErrStorage wraps every failure of the file system (write, fsync,
	// truncate, read). The caller takes the log directory offline.
	ErrStorage = errors.New("log: storage error")
	// ErrOffsetOutOfRange: a read below the log start or above the log end.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrCorruptData: stored bytes failed their checksum or do not parse.
	ErrCorruptData = errors.New("log: corrupt data")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log: closed")
)

func storageErr(op string, err error) error { return fmt.Errorf("%w: %s: %w", ErrStorage, op, err) }
