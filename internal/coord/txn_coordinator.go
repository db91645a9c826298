package coord

// The transaction coordinator (KIP-98): producer ids, transactional ids
// and their transactions, kept in the partitions of the transaction state
// topic this node leads and replayed from them when they load.
//
// Concurrency: as the group coordinator, a TxnCoordinator holds shards,
// one per loaded partition; a shard's mu guards its map of transactional
// ids and each id's lockedTxn.mu guards its metadata. A request locks one
// id at a time, and writes the id's record while holding its lock, so the
// records of an id are in the order its state changed. Lock order: an
// id's lock may be held while taking its shard's lock, never the other
// way round. Markers are written without any lock, by one completion
// goroutine per transaction in PrepareCommit or PrepareAbort
// (txn_end.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ProducerIDSource hands out blocks of producer ids that no other block,
// of this or any broker, before or after a restart, ever holds.
type ProducerIDSource interface {
	AllocateProducerIDs(ctx context.Context, size int64) (first int64, err error)
}

// MarkerWriter writes transaction markers (Kafka's WriteTxnMarkers): a
// control batch ending producerID's transaction on one partition of the
// tenant's (or, for an Offsets partition, of the offsets topic, whose
// group coordinator then applies or drops the pending offsets). An error
// wrapping UNKNOWN_TOPIC_OR_PARTITION means the partition is gone and
// needs no marker; any other error is retried.
type MarkerWriter interface {
	WriteTxnMarker(ctx context.Context, tenant string, p TxnPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error
}

// TxnConfig holds the transaction coordinator's settings, with Kafka's
// names in comments.
type TxnConfig struct {
	// Partitions is transaction.state.log.num.partitions.
	Partitions              int32
	MaxTimeout              time.Duration // transaction.max.timeout.ms
	AbortCheckInterval      time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	IDExpiration            time.Duration // transactional.id.expiration.ms
	ExpirationCheckInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	// OffsetsPartitions is offsets.topic.num.partitions: AddOffsetsToTxn
	// adds the group's partition of the offsets topic.
	OffsetsPartitions int32
	// ProducerIDBlock is how many producer ids are taken from the source
	// at a time.
	ProducerIDBlock int64
	// MaxPartitions bounds the partitions of one transaction, so that its
	// record stays far below the state topic's max.message.bytes.
	MaxPartitions int
	// EndTxnWait is how long EndTxn waits for its markers before it
	// answers anyway (the outcome is decided once PrepareCommit or
	// PrepareAbort is written); MarkerRetry is the pause between attempts
	// of a marker that failed.
	EndTxnWait  time.Duration
	MarkerRetry time.Duration

	ProducerIDs ProducerIDSource
	Markers     MarkerWriter
	Now         func() time.Time
	Logger      *slog.Logger
}

// DefaultTxnConfig returns Kafka's defaults.
func DefaultTxnConfig() TxnConfig {
	return TxnConfig{
		Partitions:              50,
		MaxTimeout:              15 * time.Minute,
		AbortCheckInterval:      10 * time.Second,
		IDExpiration:            7 * 24 * time.Hour,
		ExpirationCheckInterval: time.Hour,
		OffsetsPartitions:       50,
		ProducerIDBlock:         1000,
		MaxPartitions:           10000,
		EndTxnWait:              10 * time.Second,
		MarkerRetry:             100 * time.Millisecond,
	}
}

// Validate checks the settings.
func (c *TxnConfig) Validate() error {
	switch {
	case c.Partitions < 1 || c.OffsetsPartitions < 1:
		return fmt.Errorf("coord: %d transaction state partitions, %d offsets partitions", c.Partitions, c.OffsetsPartitions)
	case c.MaxTimeout <= 0 || c.AbortCheckInterval <= 0 || c.IDExpiration <= 0 || c.ExpirationCheckInterval <= 0:
		return errors.New("coord: transaction timeouts and intervals must be positive")
	case c.ProducerIDBlock < 1 || c.MaxPartitions < 1 || c.MarkerRetry <= 0 || c.EndTxnWait < 0:
		return errors.New("coord: bad producer id block, partition limit or marker timing")
	case c.ProducerIDs == nil || c.Markers == nil:
		return errors.New("coord: transaction coordinator needs a producer id source and a marker writer")
	}
	return nil
}

// TxnCoordinator serves the transactional ids of the transaction state
// partitions loaded into it, and producer ids to anyone.
type TxnCoordinator struct {
	cfg TxnConfig
	log *slog.Logger
	ids producerIDs

	// ctx ends when the coordinator closes; completions stop with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	shards map[int32]*txnShard
}

// txnShard is one loaded partition of the transaction state topic.
type txnShard struct {
	id  int32
	log Log
	// epoch is the coordinator epoch markers carry: the partition's leader
	// epoch when it loaded here.
	epoch int32
	// gone is closed when the shard unloads.
	gone chan struct{}

	mu   sync.Mutex
	txns map[TxnKey]*lockedTxn
}

type lockedTxn struct {
	mu sync.Mutex
	// key is the id's key, which never changes: readable without mu
	// (the metadata's own copy is rewritten with every state change).
	key TxnKey
	*txnMetadata
}

// NewTxn returns a coordinator with no partitions loaded.
func NewTxn(cfg TxnConfig) (*TxnCoordinator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &TxnCoordinator{
		cfg: cfg, log: cfg.Logger, ids: producerIDs{src: cfg.ProducerIDs, block: cfg.ProducerIDBlock},
		ctx: ctx, cancel: cancel, shards: map[int32]*txnShard{},
	}, nil
}

// PartitionFor is the transaction state partition of a transactional id.
func (c *TxnCoordinator) PartitionFor(k TxnKey) int32 { return TxnPartitionFor(k, c.cfg.Partitions) }

// Loaded reports whether a partition is loaded.
func (c *TxnCoordinator) Loaded(id int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.shards[id]
	return ok
}

// Load replays partition id of the transaction state topic, led here at
// leader epoch epoch, and starts serving its transactional ids.
// Transactions found in PrepareCommit or PrepareAbort get their markers
// written again. Loading an already loaded partition does nothing.
func (c *TxnCoordinator) Load(id int32, l Log, epoch int32) error {
	if c.Loaded(id) {
		return nil
	}
	txns, err := replayTxns(l)
	if err != nil {
		return err
	}
	s := &txnShard{id: id, log: l, epoch: epoch, gone: make(chan struct{}), txns: make(map[TxnKey]*lockedTxn, len(txns))}
	for k, t := range txns {
		s.txns[k] = &lockedTxn{key: k, txnMetadata: t}
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return errors.New("coord: transaction coordinator is closed")
	}
	c.shards[id] = s
	c.mu.Unlock()
	resumed := 0
	for _, t := range s.snapshot() {
		t.mu.Lock()
		if t.inPrepare() {
			c.startCompletion(s, t)
			resumed++
		}
		t.mu.Unlock()
	}
	level := slog.LevelDebug // most of the fifty partitions are empty
	if len(txns) > 0 {
		level = slog.LevelInfo
	}
	c.log.Log(context.Background(), level, "loaded transaction coordinator partition", "partition", id, "transactional_ids", len(txns), "completing", resumed)
	return nil
}

// Unload stops serving a partition; its completions stop.
func (c *TxnCoordinator) Unload(id int32) {
	c.mu.Lock()
	s := c.shards[id]
	delete(c.shards, id)
	c.mu.Unlock()
	if s != nil {
		close(s.gone)
	}
}

// Close unloads every partition and waits for the completion goroutines.
func (c *TxnCoordinator) Close() {
	c.mu.Lock()
	c.cancel()
	for id, s := range c.shards {
		close(s.gone)
		delete(c.shards, id)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (s *txnShard) snapshot() []*lockedTxn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*lockedTxn, 0, len(s.txns))
	for _, t := range s.txns {
		out = append(out, t)
	}
	return out
}

func (s *txnShard) unloaded() bool {
	select {
	case <-s.gone:
		return true
	default:
		return false
	}
}

// shard returns the loaded shard of a transactional id, or
// NOT_COORDINATOR.
func (c *TxnCoordinator) shard(k TxnKey) (*txnShard, error) {
	if k.ID == "" {
		return nil, fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	}
	c.mu.RLock()
	s := c.shards[c.PartitionFor(k)]
	c.mu.RUnlock()
	if s == nil {
		return nil, kerr.NotCoordinator
	}
	return s, nil
}

// lock finds a transactional id and locks it; it returns nil without
// error when the id has no state. The caller unlocks t.mu.
func (c *TxnCoordinator) lock(k TxnKey) (*txnShard, *lockedTxn, error) {
	s, err := c.shard(k)
	if err != nil {
		return nil, nil, err
	}
	for {
		s.mu.Lock()
		t := s.txns[k]
		s.mu.Unlock()
		if t == nil {
			return s, nil, nil
		}
		t.mu.Lock()
		if t.state != TxnDead {
			return s, t, nil
		}
		t.mu.Unlock() // expired meanwhile: look again
	}
}

// lockOrCreate is lock, creating the id's state (Empty, a new producer
// id, no epoch yet, not written until its first transition) if it has
// none.
func (c *TxnCoordinator) lockOrCreate(ctx context.Context, k TxnKey, timeout time.Duration) (*txnShard, *lockedTxn, error) {
	s, t, err := c.lock(k)
	if err != nil || t != nil {
		return s, t, err
	}
	pid, err := c.ids.take(ctx)
	if err != nil {
		return nil, nil, err
	}
	fresh := &lockedTxn{key: k, txnMetadata: &txnMetadata{
		key: k, producerID: pid, prevProducerID: noProducerID, epoch: noEpoch, lastEpoch: noEpoch,
		timeout: timeout, state: TxnEmpty, partitions: map[TxnPartition]struct{}{}, startMs: -1, updateMs: c.cfg.Now().UnixMilli(),
	}}
	s.mu.Lock()
	if s.txns[k] == nil {
		s.txns[k] = fresh
	}
	s.mu.Unlock()
	// Another request may have created it first (its producer id wins, as
	// Kafka's putTransactionStateIfNotExists); lock whichever is there.
	s, t, err = c.lock(k)
	if err == nil && t == nil {
		return nil, nil, fmt.Errorf("%w: transactional id %s expired while it was created", kerr.ConcurrentTransactions, k)
	}
	return s, t, err
}

// write appends a transactional id's next state (a tombstone if nil) to
// its shard's log. A failure is COORDINATOR_NOT_AVAILABLE, which clients
// retry.
func (c *TxnCoordinator) write(s *txnShard, k TxnKey, next *txnMetadata) error {
	if s.unloaded() {
		return kerr.NotCoordinator
	}
	r := record.Record{Key: txnKeyBytes(k)}
	if next != nil {
		r.Value = next.value()
	}
	batch := record.Encode(c.cfg.Now().UnixMilli(), []record.Record{r})
	if len(batch) > compressAbove {
		compressed, err := record.Recompress(batch, record.CompressionZstd, 64<<20)
		if err != nil {
			panic(fmt.Sprintf("coord: compress a batch of our own: %v", err))
		}
		batch = compressed
	}
	if _, err := s.log.Append(batch); err != nil {
		c.log.Error("cannot write transaction state", "partition", s.id, "transactional_id", k.String(), "err", err)
		return fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
	}
	return nil
}

// transition writes next and, once written, makes it t's state.
func (c *TxnCoordinator) transition(s *txnShard, t *lockedTxn, next *txnMetadata) error {
	if err := c.write(s, t.key, next); err != nil {
		return err
	}
	t.apply(next)
	return nil
}

// replayTxns reads a whole transaction state partition and keeps the
// latest state of each transactional id.
func replayTxns(l Log) (map[TxnKey]*txnMetadata, error) {
	out := map[TxnKey]*txnMetadata{}
	off, end := l.StartOffset(), l.EndOffset()
	for off < end {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("coord: replay transactions at offset %d: %w", off, err)
		}
		if len(b) == 0 {
			break
		}
		_, err = record.Split(b, func(batch []byte, h *record.Header) error {
			off = h.NextOffset()
			if h.Control() {
				return nil
			}
			var rerr error
			err := record.ForEachStoredRecord(batch, 64<<20, func(r *record.Record) bool {
				rerr = applyTxnRecord(out, r.Key, r.Value)
				return rerr == nil
			})
			if err != nil {
				return err
			}
			return rerr
		})
		if err != nil {
			return nil, fmt.Errorf("coord: replay transactions at offset %d: %w", off, err)
		}
	}
	return out, nil
}

func applyTxnRecord(out map[TxnKey]*txnMetadata, key, value []byte) error {
	var rk txnRecordKey
	if err := json.Unmarshal(key, &rk); err != nil {
		return fmt.Errorf("bad key %q: %w", key, err)
	}
	if rk.Type != keyTypeTxn {
		return nil
	}
	k := TxnKey{rk.Tenant, rk.ID}
	if value == nil {
		delete(out, k)
		return nil
	}
	t, err := txnFromValue(k, value)
	if err != nil {
		return err
	}
	out[k] = t
	return nil
}

// producerIDs hands out producer ids from blocks of the source.
type producerIDs struct {
	src   ProducerIDSource
	block int64

	mu         sync.Mutex
	first, end int64 // the block's unused ids
}

// take returns an unused producer id. A block that cannot be allocated is
// COORDINATOR_LOAD_IN_PROGRESS, which clients retry, as Kafka answers
// while its block is not there yet.
func (p *producerIDs) take(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first >= p.end {
		first, err := p.src.AllocateProducerIDs(ctx, p.block)
		if err != nil {
			return noProducerID, fmt.Errorf("%w: allocate producer ids: %w", kerr.CoordinatorLoadInProgress, err)
		}
		if first < 0 {
			panic(fmt.Sprintf("coord: producer id block starts at %d", first))
		}
		p.first, p.end = first, first+p.block
	}
	id := p.first
	p.first++
	return id, nil
}
