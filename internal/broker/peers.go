package broker

// Requests this node sends to other brokers on behalf of its transaction
// coordinator (markers) and of its produce path (KIP-890 verification),
// over the peer connection pool. The tenant travels in a tagged field
// (api/interbroker.go).

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/broker/api"
	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/peer"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// peerMaxIdle bounds the idle connections kept to each broker.
	peerMaxIdle = 4
	// markerRequestTimeout bounds a WriteTxnMarkers round trip: the
	// receiver waits up to coordinatorWriteTimeout for replication.
	markerRequestTimeout = coordinatorWriteTimeout + 2*time.Second
	// verifyRequestTimeout bounds an AddPartitionsToTxn verification.
	verifyRequestTimeout = 5 * time.Second
)

// peers sends inter-broker requests.
type peers struct {
	pool *peer.Pool
}

// newPeers sends over TLS with tc (peer TLS's dialer config) if not nil.
func newPeers(node int32, tc *tls.Config) *peers {
	return &peers{pool: peer.NewPool(fmt.Sprintf("strata-broker-%d", node), peerMaxIdle, verifyRequestTimeout, tc)}
}

// brokerAddr is where broker id takes requests from other brokers.
func brokerAddr(im *meta.Image, id int32) (string, error) {
	b, ok := im.Broker(id)
	if !ok {
		return "", fmt.Errorf("%w: broker %d is not registered", kerr.BrokerNotAvailable, id)
	}
	return b.PeerAddr(), nil
}

// writeTxnMarker sends one partition's marker to its leader. Any error
// but UNKNOWN_TOPIC_OR_PARTITION is retried by the coordinator.
func (ps *peers) writeTxnMarker(ctx context.Context, im *meta.Image, leader int32, owner meta.TenantID, topic string, partition int32,
	producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	addr, err := brokerAddr(im, leader)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = producerID, epoch, commit, coordinatorEpoch
	m.UnknownTags = api.TenantTags(owner)
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	rctx, cancel := context.WithTimeout(ctx, markerRequestTimeout)
	defer cancel()
	resp, err := ps.pool.Do(rctx, addr, req)
	if err != nil {
		return fmt.Errorf("%w: marker for %s-%d to node %d: %v", kerr.NetworkException, topic, partition, leader, err)
	}
	r := resp.(*kmsg.WriteTxnMarkersResponse)
	if len(r.Markers) != 1 || len(r.Markers[0].Topics) != 1 || len(r.Markers[0].Topics[0].Partitions) != 1 {
		return fmt.Errorf("%w: malformed WriteTxnMarkers response from node %d", kerr.UnknownServerError, leader)
	}
	if err := kerr.ErrorForCode(r.Markers[0].Topics[0].Partitions[0].ErrorCode); err != nil {
		return fmt.Errorf("%w: marker for %s-%d at node %d", err, topic, partition, leader)
	}
	return nil
}

// verifyTxn asks the transaction coordinator at node coordinator whether
// parts are in the transaction (AddPartitionsToTxn v5, VerifyOnly) and
// returns its answers as TxnCoordinator.VerifyPartitions would.
func (ps *peers) verifyTxn(ctx context.Context, im *meta.Image, coordinator int32, tenant meta.TenantID, transactionalID string,
	producerID int64, producerEpoch int16, parts []coord.TxnPartition) ([]error, error) {
	addr, err := brokerAddr(im, coordinator)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = transactionalID, producerID, producerEpoch, true
	tx.UnknownTags = api.TenantTags(tenant)
	for _, p := range parts {
		// An offsets partition is named by the offsets topic (interbroker.go).
		if len(tx.Topics) == 0 || tx.Topics[len(tx.Topics)-1].Topic != p.Topic {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic = p.Topic
			tx.Topics = append(tx.Topics, rt)
		}
		rt := &tx.Topics[len(tx.Topics)-1]
		rt.Partitions = append(rt.Partitions, p.Partition)
	}
	req.Transactions = append(req.Transactions, tx)
	rctx, cancel := context.WithTimeout(ctx, verifyRequestTimeout)
	defer cancel()
	resp, err := ps.pool.Do(rctx, addr, req)
	if err != nil {
		return nil, fmt.Errorf("%w: verifying at node %d: %v", kerr.CoordinatorNotAvailable, coordinator, err)
	}
	r := resp.(*kmsg.AddPartitionsToTxnResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	got := map[coord.TxnPartition]error{}
	for _, t := range r.Transactions {
		for _, rt := range t.Topics {
			for _, rp := range rt.Partitions {
				got[coord.TxnPartition{Topic: rt.Topic, Partition: rp.Partition}] = verifyAnswer(rp.ErrorCode)
			}
		}
	}
	errs := make([]error, len(parts))
	for i, p := range parts {
		err, ok := got[coord.TxnPartition{Topic: p.Topic, Partition: p.Partition}]
		if !ok {
			return nil, fmt.Errorf("%w: node %d did not answer for %s-%d", kerr.UnknownServerError, coordinator, p.Topic, p.Partition)
		}
		errs[i] = err
	}
	return errs, nil
}

// verifyAnswer turns a coordinator's per-partition code back into the
// error TxnCoordinator.VerifyPartitions gives.
func verifyAnswer(code int16) error {
	err := kerr.ErrorForCode(code)
	if err == kerr.TransactionAbortable {
		return fmt.Errorf("%w: %w", kerr.TransactionAbortable, coord.ErrNotInTransaction)
	}
	return err
}
