package api

// Metadata, v0-v13. Topics are named by name, or from v10 by id. A null
// topic list (from v1; an empty one in v0) asks for every topic of the
// tenant. Unknown topics are created when both the request (v4+; always
// before) and auto.create.topics.enable allow it.

import (
	"context"
	"strconv"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Metadata, 0, 13, (*Handlers).metadata) }

// authorizedOperationsUnset is what Kafka sends when the client did not ask
// for authorized operations.
const authorizedOperationsUnset = -2147483648

func (h *Handlers) metadata(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	tenant := tenantOf(r)
	im := h.cfg.Meta.Image()

	all := req.Topics == nil || (r.Version == 0 && len(req.Topics) == 0)
	if !all {
		im = h.autoCreate(ctx, r, req, im)
	}
	// Fenced brokers are left out, as Kafka does: clients must not be
	// sent to a broker the controller does not consider alive.
	for _, b := range im.LiveBrokers() {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	clusterID := im.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = h.cfg.NodeID
	resp.AuthorizedOperations = authorizedOperationsUnset

	if all {
		for _, t := range im.Topics(tenant) {
			if h.allowedTopic(r, kmsg.ACLOperationDescribe, t.Name) {
				resp.Topics = append(resp.Topics, metadataTopic(t, r.Version))
			}
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		ref := meta.TopicRef{ID: meta.TopicID(rt.TopicID)}
		if rt.Topic != nil {
			ref = meta.TopicRef{Name: *rt.Topic}
		}
		t, err := h.resolveTopicFor(r, im, kmsg.ACLOperationDescribe, ref)
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = errorCode(err)
			if ref.Name != "" && meta.ValidateTopicName(ref.Name) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			}
			mt.AuthorizedOperations = authorizedOperationsUnset
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(t, r.Version))
	}
	return resp, nil
}

// autoCreate creates the unknown topics the request names, if allowed, and
// returns an image that holds them.
func (h *Handlers) autoCreate(ctx context.Context, r *wire.Request, req *kmsg.MetadataRequest, im *meta.Image) *meta.Image {
	if r.Version >= 4 && !req.AllowAutoTopicCreation {
		return im
	}
	if !h.brokerBool(im, "auto.create.topics.enable") {
		return im
	}
	tenant := tenantOf(r)
	var specs []meta.TopicSpec
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			continue
		}
		if _, ok := im.TopicByName(tenant, *rt.Topic); ok || meta.ValidateTopicName(*rt.Topic) != nil {
			continue
		}
		if !h.mayCreateTopic(r, *rt.Topic) || !h.allowedTopic(r, kmsg.ACLOperationDescribe, *rt.Topic) {
			continue
		}
		specs = append(specs, h.defaultTopicSpec(im, *rt.Topic))
	}
	if len(specs) == 0 {
		return im
	}
	for i, res := range h.cfg.Meta.CreateTopics(ctx, tenant, specs, false) {
		if res.Err != nil && errorCode(res.Err) != kerr.TopicAlreadyExists.Code {
			h.log.Warn("auto-create failed", "topic", specs[i].Name, "err", res.Err)
		}
	}
	h.waitPartitions(ctx)
	return h.cfg.Meta.Image()
}

// defaultTopicSpec is a topic with the broker's num.partitions and
// default.replication.factor.
func (h *Handlers) defaultTopicSpec(im *meta.Image, name string) meta.TopicSpec {
	return meta.TopicSpec{
		Name:              name,
		NumPartitions:     int32(h.brokerInt(im, "num.partitions")),
		ReplicationFactor: int16(h.brokerInt(im, "default.replication.factor")),
	}
}

func metadataTopic(t *meta.Topic, version int16) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = authorizedOperationsUnset
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func nodeName(id int32) string { return strconv.Itoa(int(id)) }
