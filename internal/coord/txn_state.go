package coord

// Transaction metadata, Kafka's TransactionMetadata, and its record in the
// transaction state topic.
//
// State machine (TV1, the protocol before KIP-890 part 2):
//
//	Empty ──AddPartitions──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//	  ▲                        │    └──EndTxn/timeout──▶ PrepareAbort ──markers──▶ CompleteAbort
//	  └──InitProducerID── Complete*, Empty            Complete* ──AddPartitions──▶ Ongoing
//
// InitProducerID bumps the epoch from Empty and Complete*; on Ongoing it
// fences: the transaction goes to PrepareAbort under epoch+1 (Kafka's
// PrepareEpochFence is that transition before its record is written, so
// it never appears in the log or to clients here) and the caller retries.
// Dead is an expired transactional id, removed from the coordinator once
// its tombstone is written.

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"
)

// TransactionStateTopic is the internal topic (of meta.SystemTenant) that
// holds transaction state, named as in Kafka.
const TransactionStateTopic = "__transaction_state"

// TxnState is a transaction's state, named as Kafka's TransactionState.
type TxnState int8

const (
	TxnEmpty TxnState = iota
	TxnOngoing
	TxnPrepareCommit
	TxnPrepareAbort
	TxnCompleteCommit
	TxnCompleteAbort
	TxnDead
	TxnPrepareEpochFence
)

var txnStateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s TxnState) String() string {
	if int(s) < len(txnStateNames) {
		return txnStateNames[s]
	}
	return fmt.Sprintf("TxnState(%d)", int8(s))
}

// ParseTxnState maps Kafka's name of a state (case-sensitive, as Kafka's
// ListTransactions filter) to the state.
func ParseTxnState(name string) (TxnState, bool) {
	for i, n := range txnStateNames {
		if n == name {
			return TxnState(i), true
		}
	}
	return 0, false
}

// TxnKey names a transactional id: ids are unique per tenant.
type TxnKey struct {
	Tenant string
	ID     string
}

func (k TxnKey) String() string { return k.Tenant + "/" + k.ID }

// TxnPartitionFor is the transaction state partition, out of n, that holds
// a transactional id's state; its leader coordinates the id.
func TxnPartitionFor(k TxnKey, n int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(k.Tenant))
	h.Write([]byte{0})
	h.Write([]byte(k.ID))
	return int32(h.Sum32() % uint32(n))
}

// TxnPartition is a partition in a transaction: one of the tenant's topic
// partitions, or, with Offsets, a partition of the offsets topic holding
// the transaction's offset commits (AddOffsetsToTxn).
type TxnPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offsets   bool   `json:"offsets,omitempty"`
}

// Producer epochs: -1 is none; an id whose epoch reaches the exhausted
// mark gets a new producer id at the next InitProducerID (Kafka's
// isEpochExhausted), which leaves one more bump for fencing.
const (
	noEpoch        int16 = -1
	noProducerID   int64 = -1
	exhaustedEpoch int16 = 1<<15 - 2
)

// txnMetadata is one transactional id's state. Guarded by its
// lockedTxn's mu.
type txnMetadata struct {
	key TxnKey
	// producerID and epoch are the id's current producer; prevProducerID
	// is the one before the last id rotation, so that a retried
	// InitProducerID of the old producer is recognised (KIP-360).
	producerID     int64
	prevProducerID int64
	epoch          int16
	// lastEpoch is the epoch before the last bump of an InitProducerID
	// that named its producer (KIP-360), for that request's retries; -1
	// once another producer initialised or the epoch was fenced.
	lastEpoch  int16
	timeout    time.Duration
	state      TxnState
	partitions map[TxnPartition]struct{}
	startMs    int64 // when the ongoing transaction began, -1 if none
	updateMs   int64 // last state change

	// completion is set while a goroutine writes the transaction's markers
	// (state PrepareCommit or PrepareAbort); it is closed when the
	// transaction is complete or the coordinator gives it up.
	completion chan struct{}
}

// txnValue is txnMetadata's record value in the transaction state topic:
//
//	key   {"v":1,"type":"txn","tenant":T,"id":X}
//	value txnValue as JSON; a null value (tombstone) is an expired id
type txnValue struct {
	ProducerID     int64          `json:"producerId"`
	PrevProducerID int64          `json:"prevProducerId"`
	Epoch          int16          `json:"epoch"`
	LastEpoch      int16          `json:"lastEpoch"`
	TimeoutMs      int64          `json:"timeoutMs"`
	State          string         `json:"state"`
	Partitions     []TxnPartition `json:"partitions,omitempty"`
	StartMs        int64          `json:"startMs"`
	UpdateMs       int64          `json:"updateMs"`
}

type txnRecordKey struct {
	V      int    `json:"v"`
	Type   string `json:"type"`
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
}

const keyTypeTxn = "txn"

func txnKeyBytes(k TxnKey) []byte {
	return mustJSON(txnRecordKey{V: 1, Type: keyTypeTxn, Tenant: k.Tenant, ID: k.ID})
}

func (t *txnMetadata) value() []byte {
	v := txnValue{
		ProducerID: t.producerID, PrevProducerID: t.prevProducerID, Epoch: t.epoch, LastEpoch: t.lastEpoch,
		TimeoutMs: t.timeout.Milliseconds(), State: t.state.String(), Partitions: t.sortedPartitions(),
		StartMs: t.startMs, UpdateMs: t.updateMs,
	}
	return mustJSON(v)
}

func txnFromValue(k TxnKey, b []byte) (*txnMetadata, error) {
	var v txnValue
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("bad transaction value for %s: %w", k, err)
	}
	st, ok := ParseTxnState(v.State)
	if !ok || st == TxnDead || st == TxnPrepareEpochFence {
		return nil, fmt.Errorf("transaction %s has state %q, which is never written", k, v.State)
	}
	t := &txnMetadata{
		key: k, producerID: v.ProducerID, prevProducerID: v.PrevProducerID, epoch: v.Epoch, lastEpoch: v.LastEpoch,
		timeout: time.Duration(v.TimeoutMs) * time.Millisecond, state: st, partitions: map[TxnPartition]struct{}{},
		startMs: v.StartMs, updateMs: v.UpdateMs,
	}
	for _, p := range v.Partitions {
		t.partitions[p] = struct{}{}
	}
	return t, nil
}

// sortedPartitions lists the partitions in a stable order, so that a
// record's bytes depend only on the state.
func (t *txnMetadata) sortedPartitions() []TxnPartition {
	out := slices.Collect(maps.Keys(t.partitions))
	slices.SortFunc(out, func(a, b TxnPartition) int {
		switch {
		case a.Offsets != b.Offsets:
			if a.Offsets {
				return 1
			}
			return -1
		case a.Topic != b.Topic:
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// next is a copy of t to change and then write; t itself changes only once
// the record is written (Kafka's TxnTransitMetadata).
func (t *txnMetadata) next(nowMs int64) *txnMetadata {
	n := *t
	n.partitions = maps.Clone(t.partitions)
	if n.partitions == nil {
		n.partitions = map[TxnPartition]struct{}{}
	}
	n.updateMs = nowMs
	n.completion = nil
	return &n
}

// apply takes on a written next state, keeping t's runtime fields.
func (t *txnMetadata) apply(n *txnMetadata) {
	completion := t.completion
	*t = *n
	t.completion = completion
}

// epochExhausted reports whether the producer id has no epochs left for
// another InitProducerID.
func (t *txnMetadata) epochExhausted() bool { return t.epoch >= exhaustedEpoch }

// inPrepare reports whether the transaction waits for its markers.
func (t *txnMetadata) inPrepare() bool {
	return t.state == TxnPrepareCommit || t.state == TxnPrepareAbort
}
