package api

// FindCoordinator, v0-v6. A group is coordinated by the leader of its
// partition of the offsets topic, a transactional id by the leader of its
// partition of the transaction state topic; while that leader is this
// node and the partition is still loading, the answer is
// COORDINATOR_LOAD_IN_PROGRESS. Batched keys arrive from v4. librdkafka
// also requires v0 to be listed before it enables lz4.

import (
	"context"
	"fmt"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.FindCoordinator, 0, 6, (*Handlers).findCoordinator) }

const (
	coordinatorKeyGroup       = 0
	coordinatorKeyTransaction = 1
)

func (h *Handlers) findCoordinator(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if r.Version < 4 {
		c := h.coordinator(r, req.CoordinatorType, req.CoordinatorKey)
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, h.coordinator(r, req.CoordinatorType, key))
	}
	return resp, nil
}

func (h *Handlers) coordinator(r *wire.Request, typ int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	tenant := r.Conn.Tenant
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	var err error
	switch {
	case typ != coordinatorKeyGroup && typ != coordinatorKeyTransaction:
		err = fmt.Errorf("%w: coordinator type %d is not supported", kerr.InvalidRequest, typ)
	case typ == coordinatorKeyGroup && key == "":
		err = fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
	case typ == coordinatorKeyTransaction && key == "":
		err = fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	case typ == coordinatorKeyGroup:
		err = h.authorizeGroup(r, kmsg.ACLOperationDescribe, key)
	default:
		err = h.authorizeTxnID(r, kmsg.ACLOperationDescribe, key)
	}
	if err != nil {
		c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		return c
	}
	im := h.cfg.Meta.Image()
	node := h.cfg.NodeID
	if typ == coordinatorKeyGroup {
		node, err = h.groupCoordinator(im, coord.GroupKey{Tenant: tenant, Group: key})
	} else {
		node, err = h.txnCoordinator(im, coord.TxnKey{Tenant: tenant, ID: key})
	}
	if err != nil {
		c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		return c
	}
	b, ok := im.Broker(node)
	if !ok {
		c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return c
	}
	c.NodeID, c.Host, c.Port = b.ID, b.Host, b.Port
	return c
}

// groupCoordinator is the node leading the group's offsets partition.
func (h *Handlers) groupCoordinator(im *meta.Image, k coord.GroupKey) (int32, error) {
	t, ok := im.TopicByName(meta.SystemTenant, coord.OffsetsTopic)
	if !ok {
		return -1, kerr.CoordinatorNotAvailable
	}
	p := coord.PartitionFor(k, int32(len(t.Partitions)))
	leader := t.Partitions[p].Leader
	if leader == h.cfg.NodeID && !h.cfg.Groups.Loaded(p) {
		return -1, kerr.CoordinatorLoadInProgress
	}
	return leader, nil
}

// txnCoordinator is the node leading the transactional id's partition of
// the transaction state topic.
func (h *Handlers) txnCoordinator(im *meta.Image, k coord.TxnKey) (int32, error) {
	t, ok := im.TopicByName(meta.SystemTenant, coord.TransactionStateTopic)
	if !ok {
		return -1, kerr.CoordinatorNotAvailable
	}
	p := coord.TxnPartitionFor(k, int32(len(t.Partitions)))
	leader := t.Partitions[p].Leader
	if leader == h.cfg.NodeID && !h.cfg.Transactions.Loaded(p) {
		return -1, kerr.CoordinatorLoadInProgress
	}
	return leader, nil
}
