// Package api holds the Kafka API handlers, one file per API key named
// NN_name.go. Each file states the versions it serves and registers itself;
// ApiVersions is derived from the registrations. Handlers translate between
// the wire and the components below them and keep no state of their own,
// apart from the fetch session cache that KIP-227 defines per broker.
package api

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config holds what the handlers need.
type Config struct {
	NodeID   int32
	Meta     *meta.Store
	Replicas *replica.Manager
	Groups   *coord.Coordinator
	// Transactions is the transaction coordinator: producer ids, and the
	// transactional ids of the transaction state partitions led here.
	Transactions *coord.TxnCoordinator
	// Static holds broker configs from the server's config file.
	Static map[string]string
	// DataDir is reported by DescribeLogDirs.
	DataDir string
	Logger  *slog.Logger
	Now     func() time.Time
	// FetchSessionSlots is max.incremental.fetch.session.cache.slots.
	FetchSessionSlots int
	// Txns checks transactional produce requests and offset commits
	// (KIP-890): a partition must have been added to the producer's
	// ongoing transaction. Nil until the transaction coordinator exists.
	Txns TxnVerifier
	// Markers writes the transaction markers other nodes' coordinators
	// send (WriteTxnMarkers).
	Markers MarkerWriter
	// Authorizer checks authenticated connections' requests against
	// their tenant's ACLs (acl_check.go); nil allows everything.
	Authorizer Authorizer
	// Registerer takes the handlers' metrics (metrics.go); nil: none.
	Registerer prometheus.Registerer
	// Quotas enforces the tenants' rate and storage quotas (quotas.go);
	// nil: none.
	Quotas Quotas
}

// TxnVerifier asks the transaction coordinator of a transactional id,
// on this node or another (as Kafka's brokers ask with
// AddPartitionsToTxn v4 and VerifyOnly), whether partitions are in the
// ongoing transaction of producerID at producerEpoch. Its answers are the
// coordinator's, as TxnCoordinator.VerifyPartitions gives them: per
// partition nil or TRANSACTION_ABORTABLE wrapping coord.ErrNotInTransaction,
// or one error for all (PRODUCER_FENCED, INVALID_PRODUCER_ID_MAPPING,
// CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
// ...).
type TxnVerifier interface {
	VerifyPartitions(ctx context.Context, tenant meta.TenantID, transactionalID string, producerID int64, producerEpoch int16, parts []coord.TxnPartition) ([]error, error)
}

// Handlers serves the Kafka APIs.
type Handlers struct {
	cfg      Config
	log      *slog.Logger
	mux      *wire.Mux
	sessions *fetchSessions
	metrics  *fetchMetrics
}

type handlerFunc func(h *Handlers, ctx context.Context, r *wire.Request) (kmsg.Response, error)

type registration struct {
	key      kmsg.Key
	min, max int16
	fromZero bool // see wire.API.AdvertiseFromZero
	fn       handlerFunc
}

// registry is filled by the init functions of the NN_name.go files.
var registry []registration

func register(key kmsg.Key, min, max int16, fn handlerFunc) {
	registry = append(registry, registration{key: key, min: min, max: max, fn: fn})
}

// registerAdvertisedFromZero registers an API whose ApiVersions entry
// starts at version 0 though only min and above are served.
func registerAdvertisedFromZero(key kmsg.Key, min, max int16, fn handlerFunc) {
	registry = append(registry, registration{key: key, min: min, max: max, fromZero: true, fn: fn})
}

// New returns the handlers and the mux that routes to them.
func New(cfg Config) *Handlers {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Quotas == nil {
		cfg.Quotas = noQuotas{}
	}
	if cfg.FetchSessionSlots == 0 {
		cfg.FetchSessionSlots = 1000
	}
	h := &Handlers{cfg: cfg, log: cfg.Logger, mux: wire.NewMux(), sessions: newFetchSessions(cfg.FetchSessionSlots, cfg.Now),
		metrics: newFetchMetrics(cfg.Registerer)}
	for _, reg := range registry {
		fn := reg.fn
		handle := func(ctx context.Context, r *wire.Request) (kmsg.Response, error) { return fn(h, ctx, r) }
		if waitingAPIs[reg.key] {
			handle = func(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
				start := time.Now()
				defer func() { r.Waited = time.Since(start) }()
				return fn(h, ctx, r)
			}
		}
		h.mux.Register(wire.API{
			Key: int16(reg.key), MinVersion: reg.min, MaxVersion: reg.max, AdvertiseFromZero: reg.fromZero,
			Handle: handle,
		})
	}
	return h
}

// Mux returns the routing table for the wire server.
func (h *Handlers) Mux() *wire.Mux { return h.mux }

func tenantOf(r *wire.Request) meta.TenantID { return meta.TenantID(r.Conn.Tenant) }

// errorCode maps an error to its Kafka code: errors that wrap a kerr.Error
// carry their code; anything else is a server error.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the message sent with an error code, where the protocol
// has room for one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// partitionFor finds the open partition a request names, or the error a
// client should see: unknown topic or partition, or a storage error when the
// partition is assigned here but its log could not be opened.
func (h *Handlers) partitionFor(t *meta.Topic, partition int32) (*replica.Partition, error) {
	return h.localPartition(t, partition, false)
}

// localPartition is partitionFor; with anyReplica a follower hosted here
// serves too (consumers' fetches, KIP-392), else only the leader.
func (h *Handlers) localPartition(t *meta.Topic, partition int32, anyReplica bool) (*replica.Partition, error) {
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	st := t.Partitions[partition]
	if st.Leader != h.cfg.NodeID && !(anyReplica && slices.Contains(st.Replicas, h.cfg.NodeID)) {
		return nil, kerr.NotLeaderForPartition
	}
	k := replica.Key{Topic: t.ID, Partition: partition}
	if p, ok := h.cfg.Replicas.Get(k); ok {
		return p, nil
	}
	if err := h.cfg.Replicas.OfflineError(k); err != nil {
		return nil, kerr.KafkaStorageError
	}
	// Assigned here but not opened yet: the metadata is newer than the
	// partition manager; the client retries.
	return nil, kerr.LeaderNotAvailable
}

// checkLeaderEpoch applies KIP-320's fencing: a client that knows an older
// epoch is fenced, one that knows a newer epoch is ahead of us.
func checkLeaderEpoch(p *replica.Partition, current int32) error {
	if current < 0 {
		return nil
	}
	switch ours := p.LeaderEpoch(); {
	case current < ours:
		return kerr.FencedLeaderEpoch
	case current > ours:
		return kerr.UnknownLeaderEpoch
	}
	return nil
}

// leaderHint is KIP-951's current leader of a partition, for a client
// refused with NOT_LEADER_OR_FOLLOWER: the leader and epoch this node's
// image holds, and the leader's broker, if it is alive.
func leaderHint(im *meta.Image, t *meta.Topic, partition int32) (leader, epoch int32, b *meta.Broker, ok bool) {
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1, -1, nil, false
	}
	p := t.Partitions[partition]
	b, ok = im.Broker(p.Leader)
	if !ok || !b.Alive() {
		return -1, -1, nil, false
	}
	return p.Leader, p.LeaderEpoch, b, true
}
