package log

// Producer state (Kafka's ProducerStateManager and ProducerAppendInfo):
// what the log knows about each idempotent or transactional producer that
// wrote to it, so that the leader can check every batch with a producer id
// before it is written.
//
// # Per producer
//
// The producer's epoch, its last coordinator epoch, the sequence ranges and
// offsets of its last five batches (the de-duplication window: the most a
// client has in flight, max.in.flight.requests.per.connection = 5), the
// first offset of its open transaction, the timestamp of its last batch
// (DescribeProducers) and the broker time of its last append (expiry).
//
// # Checks (appends of the leader, in Kafka's order)
//
// A client batch is first compared with the window: the same epoch and the
// exact sequence range of a remembered batch is a retry, answered with the
// original offsets and not written again (Kafka answers NONE, not
// DUPLICATE_SEQUENCE_NUMBER). Then:
//
//   - an epoch below the producer's is INVALID_PRODUCER_EPOCH (since Kafka
//     2.7 also for transactional producers; PRODUCER_FENCED comes from the
//     coordinator);
//   - a new epoch must start at sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER;
//   - within an epoch the batch must continue the last one (sequences wrap
//     from MaxInt32 to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER;
//   - an unknown producer may start at any sequence (KIP-360: its state may
//     have been deleted with its data or expired; brokers since 2.5 never
//     return UNKNOWN_PRODUCER_ID for a produce), except in a log that never
//     held a record, which takes only sequence 0 (KAFKA-15591, Kafka 4.5:
//     otherwise two produces in flight to a new partition could be taken
//     out of order and the earlier one lost without an error);
//   - a non-transactional batch while the producer's transaction is open
//     is INVALID_TXN_STATE.
//
// Coordinator appends (transactional offset commits) get the epoch check
// only; replicated batches, and batches replayed at recovery, get none.
//
// A transactional batch opens a transaction for its producer at its first
// offset; a control batch with a marker closes it, after the marker's
// epoch (not below the producer's) and coordinator epoch (not below the
// last one seen: else TRANSACTION_COORDINATOR_FENCED) are checked.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/strata-db/strata/internal/record"
)

// Errors of producer checks; the partition maps them to Kafka codes.
var (
	ErrOutOfOrderSequence   = errors.New("log: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("log: invalid producer epoch")
	ErrInvalidTxnState      = errors.New("log: invalid transaction state")
	ErrCoordinatorFenced    = errors.New("log: transaction coordinator fenced")
)

// AppendOrigin says who writes a batch, which decides the producer checks
// (Kafka's AppendOrigin).
type AppendOrigin int8

const (
	// OriginClient: a producer's batch, fully checked and de-duplicated.
	OriginClient AppendOrigin = iota
	// OriginCoordinator: a coordinator writes on behalf of a producer
	// (transactional offset commits, transaction markers): epochs are
	// checked, sequences are not.
	OriginCoordinator
	// OriginReplication: a follower copies the leader's batches, and
	// recovery replays the log: nothing is checked.
	OriginReplication
)

// producerBatchesKept is the de-duplication window (Kafka's
// NUM_BATCHES_TO_RETAIN).
const producerBatchesKept = 5

// batchMeta is a remembered batch of a producer.
type batchMeta struct {
	lastSeq     int32
	offsetDelta int32 // lastOffset - first offset; the sequence range is as wide
	lastOffset  int64
	timestamp   int64 // the batch's max timestamp (its append time for LogAppendTime)
}

func (b *batchMeta) firstSeq() int32    { return decrementSeq(b.lastSeq, b.offsetDelta) }
func (b *batchMeta) firstOffset() int64 { return b.lastOffset - int64(b.offsetDelta) }

// producerEntry is the state of one producer. It is a value: an append
// works on a copy and stores it back only once the batches are written.
type producerEntry struct {
	epoch        int16 // -1 until the first batch or marker
	coordEpoch   int32 // -1 until the first marker
	lastTs       int64 // max timestamp of the last batch, or the last marker's timestamp; -1 if none
	lastAppendMs int64 // broker clock at the last append or replay: expiry counts from it
	txnFirst     int64 // first offset of the open transaction; -1 if none
	// markerOffset is the offset of the last marker if the producer wrote
	// nothing after it (else -1), markerCommit its type: a coordinator
	// retrying that marker is answered without a second one.
	markerOffset int64
	markerCommit bool
	n            int8 // batches held
	batches      [producerBatchesKept]batchMeta
}

func newProducerEntry() producerEntry {
	return producerEntry{epoch: -1, coordEpoch: -1, lastTs: -1, txnFirst: -1, markerOffset: -1}
}

// lastSeq is the last sequence of the newest batch, -1 if none.
func (e *producerEntry) lastSeq() int32 {
	if e.n == 0 {
		return -1
	}
	return e.batches[e.n-1].lastSeq
}

// duplicateOf returns the remembered batch with exactly the sequence range
// [first, last] at epoch, if any.
func (e *producerEntry) duplicateOf(epoch int16, first, last int32) (batchMeta, bool) {
	if epoch != e.epoch {
		return batchMeta{}, false
	}
	for i := range e.n {
		b := &e.batches[i]
		if b.lastSeq == last && b.firstSeq() == first {
			return *b, true
		}
	}
	return batchMeta{}, false
}

// setEpoch moves to epoch; a new epoch forgets the batches of the old one.
func (e *producerEntry) setEpoch(epoch int16) {
	if e.epoch != epoch {
		e.epoch, e.n = epoch, 0
	}
}

func (e *producerEntry) addBatch(b batchMeta) {
	if int(e.n) == producerBatchesKept {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
}

// incrementSeq and decrementSeq move a sequence number, wrapping between
// MaxInt32 and 0 as Kafka's DefaultRecordBatch does.
func incrementSeq(seq, by int32) int32 {
	if seq > math.MaxInt32-by {
		return by - (math.MaxInt32 - seq) - 1
	}
	return seq + by
}

func decrementSeq(seq, by int32) int32 {
	if seq < by {
		return math.MaxInt32 - (by - seq) + 1
	}
	return seq - by
}

// inSequence reports whether next continues last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// completedTxn is a transaction ended by a marker.
type completedTxn struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64 // the marker's offset
	aborted     bool
}

// txnMarker is the decoded record of a control batch.
type txnMarker struct {
	commit           bool
	coordinatorEpoch int32
	timestamp        int64
}

// Control record layout: key = int16 version (0), int16 type (0 abort,
// 1 commit); value = int16 version (0), int32 coordinator epoch.
const (
	controlAbort  = 0
	controlCommit = 1
)

// parseMarker decodes the first record of the control batch b (header h).
// ok is false for a control batch without records (the cleaner may empty
// one); other control types than abort and commit are an error.
func parseMarker(b []byte, h *record.Header, maxDecompressed int) (m txnMarker, ok bool, err error) {
	var perr error
	err = record.ForEachStoredRecord(b, maxDecompressed, func(r *record.Record) bool {
		ok = true
		m.timestamp = record.RecordTimestamp(h, r)
		if len(r.Key) < 4 || binary.BigEndian.Uint16(r.Key) != 0 {
			perr = fmt.Errorf("control record key %x", r.Key)
			return false
		}
		switch binary.BigEndian.Uint16(r.Key[2:]) {
		case controlAbort:
		case controlCommit:
			m.commit = true
		default:
			perr = fmt.Errorf("control record type %d is not a transaction marker", binary.BigEndian.Uint16(r.Key[2:]))
			return false
		}
		if len(r.Value) < 6 {
			perr = fmt.Errorf("transaction marker value of %d bytes", len(r.Value))
			return false
		}
		m.coordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
		return false
	})
	return m, ok, errors.Join(err, perr)
}

// buildMarker returns a control batch holding one transaction marker of
// producerID at epoch, stamped with timestampMs; offsets and the leader
// epoch are assigned by the append.
func buildMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, timestampMs int64) []byte {
	typ := uint16(controlAbort)
	if commit {
		typ = controlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	rec := record.AppendRecord(nil, &record.Record{Key: key, Value: val}, 0, 0)
	b, err := record.BuildBatch(record.BatchSpec{
		Attributes:    attrTransactional | attrControl,
		BaseTimestamp: timestampMs, MaxTimestamp: timestampMs,
		ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1,
	}, 1, rec)
	if err != nil {
		panic(fmt.Sprintf("log: build transaction marker: %v", err)) // fixed, valid input
	}
	return b
}

// Batch attribute bits the log sets itself.
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// batchUpdate is what one batch does to its producer.
type batchUpdate struct {
	entry     producerEntry
	completed *completedTxn
}

// applyData checks a data batch (header h, first offset first) of a
// producer in state e and applies it to e. known says whether the log had
// state for the producer before this append; neverWritten that the log
// never held a record.
func (e *producerEntry) applyData(h *record.Header, first int64, origin AppendOrigin, known, neverWritten bool, ts, nowMs int64) error {
	if err := e.checkEpoch(h.ProducerEpoch, first, origin); err != nil {
		return err
	}
	if origin == OriginClient {
		if err := e.checkSequence(h, first, known, neverWritten); err != nil {
			return err
		}
	}
	delta := h.LastOffsetDelta
	e.setEpoch(h.ProducerEpoch)
	e.addBatch(batchMeta{lastSeq: incrementSeq(h.BaseSequence, delta), offsetDelta: delta, lastOffset: first + int64(delta), timestamp: ts})
	switch {
	case e.txnFirst >= 0 && !h.Transactional():
		return fmt.Errorf("%w: non-transactional batch of producer %d at offset %d while its transaction from offset %d is open",
			ErrInvalidTxnState, h.ProducerID, first, e.txnFirst)
	case e.txnFirst < 0 && h.Transactional():
		e.txnFirst = first
	}
	e.lastTs, e.lastAppendMs, e.markerOffset = ts, nowMs, -1
	return nil
}

func (e *producerEntry) checkEpoch(epoch int16, offset int64, origin AppendOrigin) error {
	if epoch < e.epoch && origin != OriginReplication {
		return fmt.Errorf("%w: epoch %d at offset %d is below the producer's epoch %d", ErrInvalidProducerEpoch, epoch, offset, e.epoch)
	}
	return nil
}

func (e *producerEntry) checkSequence(h *record.Header, offset int64, known, neverWritten bool) error {
	seq := h.BaseSequence
	switch {
	case !known:
		if seq != 0 && neverWritten {
			return fmt.Errorf("%w: producer %d starts at sequence %d in a partition that never held a record",
				ErrOutOfOrderSequence, h.ProducerID, seq)
		}
	case h.ProducerEpoch != e.epoch:
		if seq != 0 && e.epoch != -1 {
			return fmt.Errorf("%w: new epoch %d of producer %d at offset %d starts at sequence %d (epoch was %d)",
				ErrOutOfOrderSequence, h.ProducerEpoch, h.ProducerID, offset, seq, e.epoch)
		}
	case e.epoch != -1 && !inSequence(e.lastSeq(), seq):
		return fmt.Errorf("%w: producer %d at offset %d: sequence %d after %d",
			ErrOutOfOrderSequence, h.ProducerID, offset, seq, e.lastSeq())
	}
	return nil
}

// applyMarker checks a transaction marker at offset and applies it; it
// returns the transaction it ends, or nil if the producer had none open.
func (e *producerEntry) applyMarker(producerID int64, epoch int16, m txnMarker, offset int64, origin AppendOrigin, nowMs int64) (*completedTxn, error) {
	if err := e.checkEpoch(epoch, offset, origin); err != nil {
		return nil, err
	}
	if e.coordEpoch > m.coordinatorEpoch && origin != OriginReplication {
		return nil, fmt.Errorf("%w: marker of producer %d at offset %d has coordinator epoch %d, below %d",
			ErrCoordinatorFenced, producerID, offset, m.coordinatorEpoch, e.coordEpoch)
	}
	var done *completedTxn
	if e.txnFirst >= 0 {
		done = &completedTxn{producerID: producerID, firstOffset: e.txnFirst, lastOffset: offset, aborted: !m.commit}
	}
	e.setEpoch(epoch)
	e.coordEpoch, e.lastTs, e.lastAppendMs, e.txnFirst = m.coordinatorEpoch, m.timestamp, nowMs, -1
	e.markerOffset, e.markerCommit = offset, m.commit
	return done, nil
}

// ProducerInfo describes an active producer (DescribeProducers).
type ProducerInfo struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32 // -1 if none
	LastTimestamp    int64 // -1 if none
	CoordinatorEpoch int32 // -1 if none
	TxnStartOffset   int64 // first offset of the open transaction; -1 if none
}

func (e *producerEntry) info(id int64) ProducerInfo {
	return ProducerInfo{
		ProducerID: id, Epoch: e.epoch, LastSequence: e.lastSeq(), LastTimestamp: e.lastTs,
		CoordinatorEpoch: e.coordEpoch, TxnStartOffset: e.txnFirst,
	}
}
