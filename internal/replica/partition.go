// Package replica owns the partitions this node hosts: each wraps a log with
// its high watermark and leader epoch, checks produced batches before they
// reach the log, and wakes fetchers waiting for data.
package replica

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Key names a partition on this node.
type Key struct {
	Topic     meta.TopicID
	Partition int32
}

func (k Key) String() string { return fmt.Sprintf("%s-%d", k.Topic, k.Partition) }

// Partition is one hosted partition.
//
// Concurrency: appends (data and transaction markers) are serialised by
// mu; reads run concurrently with appends (the log allows it) and read the
// high watermark atomically. The high watermark only moves forward while a
// leader epoch lasts.
type Partition struct {
	key   Key
	log   *log.Log
	now   func() time.Time
	cfg   atomic.Pointer[config.Topic]
	epoch atomic.Int32
	hw    atomic.Int64

	mu sync.Mutex // serialises appends and guards the replication state
	// verifying holds the KIP-890 guard of each producer whose
	// transactional write is being verified with the coordinator (txn.go);
	// guarded by mu.
	verifying map[int64]*TxnVerification

	// Replication state (replication.go), guarded by mu: this node, the
	// partition's state in the image, the leader's view of its followers
	// (nil unless this node leads), and a channel closed and replaced
	// whenever the HW or the role changes.
	node    int32
	state   meta.Partition
	leading *leaderState
	hwMoved chan struct{}
	// sendISR sends a leader's ISR changes to the controller; nil in
	// tests without a controller (the ISR then never changes).
	sendISR ISRSender
	// isrEligible reports whether a broker may join the ISR on fetches at
	// broker epoch epoch, as far as this node's image knows: not fenced,
	// not shutting down (KIP-841) and registered at that epoch (KIP-903).
	// The controller refuses such an expansion anyway; asking would only
	// fill the metadata log with refused entries at every fetch of a
	// fenced but live follower. nil: every broker may.
	isrEligible func(id int32, epoch int64) bool

	wmu     sync.Mutex
	waiters map[*Waiter]struct{}
}

// newPartition returns a partition of one replica, this node (id 0),
// leading at epoch; the manager then applies the image's state.
func newPartition(key Key, l *log.Log, cfg config.Topic, epoch int32, now func() time.Time) *Partition {
	p := &Partition{key: key, log: l, now: now, waiters: map[*Waiter]struct{}{}, verifying: map[int64]*TxnVerification{},
		hwMoved: make(chan struct{})}
	p.cfg.Store(&cfg)
	// The HW is not persisted: it starts at the log start and the leader
	// moves it up as soon as it knows its ISR's offsets (at once for a
	// single replica).
	p.hw.Store(l.LogStartOffset())
	p.applyState(0, meta.Partition{Replicas: []int32{0}, ISR: []int32{0}, Leader: 0, LeaderEpoch: epoch})
	return p
}

func (p *Partition) Key() Key              { return p.key }
func (p *Partition) Config() *config.Topic { return p.cfg.Load() }
func (p *Partition) LeaderEpoch() int32    { return p.epoch.Load() }
func (p *Partition) HighWatermark() int64  { return p.hw.Load() }
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }
func (p *Partition) LogEndOffset() int64   { return p.log.LogEndOffset() }
func (p *Partition) Size() int64           { return p.log.Size() }
func (p *Partition) Log() *log.Log         { return p.log }

func (p *Partition) setConfig(c config.Topic) error {
	p.cfg.Store(&c)
	return p.log.SetConfig(LogConfig(c))
}

// maxDecompressedBatch bounds the memory one batch may decompress to when
// the broker must look inside it.
const maxDecompressedBatch = 128 << 20

// AppendResult is what a producer is told about an append.
type AppendResult struct {
	BaseOffset int64
	// LastOffset and LeaderEpoch say what acks=all waits for
	// (WaitReplicated(LastOffset+1, LeaderEpoch)).
	LastOffset     int64
	LeaderEpoch    int32
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// AppendOptions says how records reach the partition.
type AppendOptions struct {
	// Origin is log.OriginClient (the zero value: a producer's batch, its
	// sequence checked) or log.OriginCoordinator (a coordinator writing on
	// a producer's behalf, e.g. transactional offset commits: only the
	// epoch is checked).
	Origin log.AppendOrigin
	// Verify requires a transactional batch that does not continue a
	// transaction open on this partition to hold Verification, still
	// current (KIP-890; see StartTxnVerification).
	Verify       bool
	Verification *TxnVerification
}

// Append validates one produce request's records for this partition and
// appends them as a producer's (AppendWith with the zero options).
func (p *Partition) Append(records []byte) (AppendResult, error) {
	return p.AppendWith(records, AppendOptions{})
}

// AppendWith validates one request's records for this partition and
// appends them. records is modified in place (offsets, epoch, timestamps).
// A batch that repeats one of its producer's last five is not written
// again: the result holds the original's offsets. Errors carry the Kafka
// error code the producer must see.
func (p *Partition) AppendWith(records []byte, opts AppendOptions) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	cfg := p.Config()
	now := p.now()
	if err := validateProduce(records, cfg, now, opts.Origin); err != nil {
		return res, err
	}
	// A topic may force a codec (compression.type other than "producer").
	if target, ok := record.CompressionByName(cfg.CompressionType); ok {
		var err error
		if records, err = record.Recompress(records, target, maxDecompressedBatch); err != nil {
			return res, batchError(err)
		}
	}
	appendTime := int64(-1)
	if cfg.TimestampLogAppend {
		appendTime = now.UnixMilli()
	}
	p.mu.Lock()
	info, err := p.appendLocked(records, opts, appendTime)
	p.mu.Unlock()
	if err != nil {
		return res, appendError(err)
	}
	res = AppendResult{BaseOffset: info.FirstOffset, LastOffset: info.LastOffset, LeaderEpoch: info.epoch,
		LogAppendTime: appendTime, LogStartOffset: info.LogStartOffset}
	if info.Duplicate {
		res.LogAppendTime = info.LogAppendTimeMs
		return res, nil
	}
	p.notify() // followers fetch up to the log end
	return res, nil
}

// leaderAppend is a log append with the leader epoch it was made at.
type leaderAppend struct {
	log.AppendInfo
	epoch int32
}

// appendLocked checks leadership and the KIP-890 guard and appends;
// caller holds mu.
func (p *Partition) appendLocked(records []byte, opts AppendOptions, appendTime int64) (leaderAppend, error) {
	if p.leading == nil {
		return leaderAppend{}, fmt.Errorf("%w: node %d does not lead %s", kerr.NotLeaderForPartition, p.node, p.key)
	}
	h, _ := record.ParseHeader(records) // validated
	if opts.Verify && h.Transactional() {
		if err := p.checkVerificationLocked(h.ProducerID, h.ProducerEpoch, opts.Verification); err != nil {
			return leaderAppend{}, err
		}
	}
	epoch := p.epoch.Load()
	info, err := p.log.AppendAs(opts.Origin, records, epoch, appendTime)
	if err != nil {
		return leaderAppend{}, err
	}
	if opts.Verification != nil && p.verifying[h.ProducerID] == opts.Verification {
		delete(p.verifying, h.ProducerID) // the transaction is open here now
	}
	if !info.Duplicate {
		p.maybeAdvanceHWLocked()
	}
	return leaderAppend{info, epoch}, nil
}

// appendError maps a log error to the Kafka error the writer must see.
func appendError(err error) error {
	var code error
	switch {
	case errors.Is(err, log.ErrStorage):
		code = kerr.KafkaStorageError
	case errors.Is(err, log.ErrOutOfOrderSequence):
		code = kerr.OutOfOrderSequenceNumber
	case errors.Is(err, log.ErrInvalidProducerEpoch):
		code = kerr.InvalidProducerEpoch
	case errors.Is(err, log.ErrInvalidTxnState):
		code = kerr.InvalidTxnState
	case errors.Is(err, log.ErrCoordinatorFenced):
		code = kerr.TransactionCoordinatorFenced
	case errors.Is(err, record.ErrInvalid):
		code = kerr.InvalidRecord
	default:
		return err
	}
	if errors.Is(err, code) {
		return err
	}
	return fmt.Errorf("%w: %w", code, err)
}

// validateProduce applies Kafka's checks for produce v3+: exactly one v2
// batch, intact (CRC), not a control batch, within max.message.bytes, with
// consistent record counts and timestamps in the allowed window, and
// producer fields that make sense (a transactional batch has a producer
// id; a client's batch with a producer id has an epoch and a sequence).
// Uncompressed batches have every record checked; compressed ones are
// trusted beyond their CRC (see the README's design notes).
func validateProduce(records []byte, cfg *config.Topic, now time.Time, origin log.AppendOrigin) error {
	if len(records) == 0 {
		return fmt.Errorf("%w: empty record set", kerr.InvalidRecord)
	}
	size, err := record.BatchSize(records)
	if err != nil {
		return batchError(err)
	}
	if size > len(records) {
		return fmt.Errorf("%w: batch of %d bytes truncated to %d", kerr.CorruptMessage, size, len(records))
	}
	if size < len(records) {
		return fmt.Errorf("%w: produce requests must hold exactly one record batch (got %d bytes, first batch %d)", kerr.InvalidRecord, len(records), size)
	}
	if size > int(cfg.MaxMessageBytes) {
		return fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, size, cfg.MaxMessageBytes)
	}
	h, err := record.Verify(records)
	if err != nil {
		return batchError(err)
	}
	switch {
	case h.Control():
		return fmt.Errorf("%w: clients may not produce control batches", kerr.InvalidRecord)
	case h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1:
		return fmt.Errorf("%w: batch has %d records but last offset delta %d", kerr.InvalidRecord, h.NumRecords, h.LastOffsetDelta)
	case h.Transactional() && !h.HasProducerID():
		return fmt.Errorf("%w: transactional batch without a producer id", kerr.InvalidRecord)
	case h.HasProducerID() && h.ProducerEpoch < 0:
		return fmt.Errorf("%w: producer id %d with epoch %d", kerr.InvalidRecord, h.ProducerID, h.ProducerEpoch)
	case h.HasProducerID() && h.BaseSequence < 0 && origin == log.OriginClient:
		return fmt.Errorf("%w: invalid sequence number %d in a batch of producer %d", kerr.InvalidRecord, h.BaseSequence, h.ProducerID)
	}
	if h.Compression() == record.CompressionNone {
		if err := record.ValidateRecords(records, maxDecompressedBatch); err != nil {
			return fmt.Errorf("%w: %w", kerr.InvalidRecord, err)
		}
	}
	if cfg.CleanupPolicyCompact {
		if err := requireKeys(records); err != nil {
			return err
		}
	}
	if !cfg.TimestampLogAppend {
		nowMs := now.UnixMilli()
		if cfg.TimestampBeforeMax >= 0 && h.BaseTimestamp < nowMs-cfg.TimestampBeforeMax.Milliseconds() {
			return fmt.Errorf("%w: timestamp %d is more than message.timestamp.before.max.ms in the past", kerr.InvalidTimestamp, h.BaseTimestamp)
		}
		if cfg.TimestampAfterMax >= 0 && h.MaxTimestamp > nowMs+cfg.TimestampAfterMax.Milliseconds() {
			return fmt.Errorf("%w: timestamp %d is more than message.timestamp.after.max.ms in the future", kerr.InvalidTimestamp, h.MaxTimestamp)
		}
	}
	return nil
}

// requireKeys rejects a batch with a record without a key, as Kafka does
// for compacted topics (the cleaner would drop such records). Compressed
// batches are decompressed for it, within maxDecompressedBatch.
func requireKeys(batch []byte) error {
	missing := -1
	i := 0
	err := record.ForEachRecord(batch, maxDecompressedBatch, func(r *record.Record) bool {
		if r.Key == nil {
			missing = i
			return false
		}
		i++
		return true
	})
	if err != nil {
		return batchError(err)
	}
	if missing >= 0 {
		return fmt.Errorf("%w: compacted topic cannot accept a record without a key (record %d)", kerr.InvalidRecord, missing)
	}
	return nil
}

func batchError(err error) error {
	switch {
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTruncated):
		return fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	default:
		return fmt.Errorf("%w: %w", kerr.InvalidRecord, err)
	}
}

// Fetched is the result of a read.
type Fetched struct {
	Records        []byte
	HighWatermark  int64
	LastStable     int64
	LogStartOffset int64
	// Aborted lists, for a read_committed read, the aborted transactions
	// overlapping the records returned.
	Aborted []log.AbortedTxn
}

// LastStableOffset is the first offset of the earliest transaction not
// yet ended (with its marker below the high watermark), or the high
// watermark: read_committed readers stop there.
func (p *Partition) LastStableOffset() int64 {
	hw := p.hw.Load()
	return min(p.log.FirstUnstableOffset(), hw)
}

// Read returns whole batches from offset up to the high watermark, within
// maxBytes unless minOne lets the first batch exceed it (read_uncommitted).
func (p *Partition) Read(offset int64, maxBytes int, minOne bool) (Fetched, error) {
	return p.ReadIsolated(nil, offset, maxBytes, minOne, false)
}

// ReadIsolated is Read into buffers from alloc (log.Log.ReadWith); with
// committed (read_committed) it stops at the last stable offset and lists
// the aborted transactions overlapping what it returns, so that the
// reader can drop their records.
func (p *Partition) ReadIsolated(alloc log.Alloc, offset int64, maxBytes int, minOne, committed bool) (Fetched, error) {
	hw := p.hw.Load()
	lso := min(p.log.FirstUnstableOffset(), hw)
	f := Fetched{HighWatermark: hw, LastStable: lso, LogStartOffset: p.log.LogStartOffset()}
	upper := hw
	if committed {
		upper = lso
	}
	if offset == upper {
		return f, nil // caught up: the common case of a long poll, no log read
	}
	if offset > upper && offset <= p.log.LogEndOffset() {
		return f, nil // above the watermark but not out of range: nothing visible yet
	}
	recs, err := p.log.ReadWith(alloc, offset, maxBytes, upper, minOne)
	if err != nil {
		return f, readError(err, offset, f.LogStartOffset, hw)
	}
	f.Records = recs
	if committed && len(recs) > 0 {
		f.Aborted = p.log.AbortedTxns(offset, nextOffsetAfter(recs))
	}
	return f, nil
}

// ReadUncommitted reads whole batches from offset up to the log end, above
// the HW too: a coordinator that becomes leader replays everything its
// log holds, which the followers then copy.
func (p *Partition) ReadUncommitted(offset int64, maxBytes int) ([]byte, error) {
	end := p.log.LogEndOffset()
	if offset >= end {
		return nil, nil
	}
	recs, err := p.log.Read(offset, maxBytes, end, true)
	if err != nil {
		return nil, readError(err, offset, p.log.LogStartOffset(), end)
	}
	return recs, nil
}

// readError maps a log read error to the Kafka error a reader sees.
func readError(err error, offset, start, end int64) error {
	switch {
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return fmt.Errorf("%w: offset %d outside [%d, %d]", kerr.OffsetOutOfRange, offset, start, end)
	case errors.Is(err, log.ErrCorruptData), errors.Is(err, log.ErrStorage):
		return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	return err
}

// nextOffsetAfter is the offset after the last of whole batches b.
func nextOffsetAfter(b []byte) int64 {
	next := int64(-1)
	for pos := 0; pos+record.HeaderSize <= len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil {
			break
		}
		next = h.NextOffset()
		pos += h.Size()
	}
	return next
}

// DeleteRecordsBefore advances the log start offset (DeleteRecords);
// offset -1 means the high watermark.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: offset %d is not in [0, %d]", kerr.OffsetOutOfRange, offset, hw)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	start, err := p.log.DeleteRecordsBefore(offset)
	if err != nil {
		if errors.Is(err, log.ErrStorage) {
			return -1, fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
		}
		return -1, err
	}
	return start, nil
}

// Waiter is a fetcher waiting for new data on any of several partitions.
type Waiter struct{ C chan struct{} }

func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

// Watch registers w to be signalled on the next append; Unwatch removes it.
func (p *Partition) Watch(w *Waiter) {
	p.wmu.Lock()
	p.waiters[w] = struct{}{}
	p.wmu.Unlock()
}

func (p *Partition) Unwatch(w *Waiter) {
	p.wmu.Lock()
	delete(p.waiters, w)
	p.wmu.Unlock()
}

func (p *Partition) notify() {
	p.wmu.Lock()
	for w := range p.waiters {
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
	p.wmu.Unlock()
}
