package api

// CreateTopics, v2-v7 (v0-v1 were dropped in Kafka 4.0). -1 partitions or
// replication factor (v4+) take the broker's num.partitions and
// default.replication.factor. From v5 the response echoes the topic's
// configs; from v7 its id. The response waits until this node has opened the
// new partitions, so a client can produce at once.
//
// Quotas: a topic that would pass the tenant's partition quota fails with
// POLICY_VIOLATION (checked again when its record is applied, so the
// request is all or nothing per topic). The partitions created count
// against the partition creation rate (KIP-599): from v6 a topic asked for
// while the tenant's rate is used up fails with THROTTLING_QUOTA_EXCEEDED;
// before v6 it is created. Either way the response carries the throttle.

import (
	"context"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateTopics, 2, 7, (*Handlers).createTopics) }

func (h *Handlers) createTopics(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	im := h.cfg.Meta.Image()
	counts := map[string]int{}
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	var specs []meta.TopicSpec
	var at []int // response index of each spec
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		resp.Topics = append(resp.Topics, st)
		if counts[rt.Topic] > 1 {
			setCreateError(&resp.Topics[len(resp.Topics)-1], kerr.InvalidRequest, "topic appears more than once in the request")
			continue
		}
		if !h.mayCreateTopic(r, rt.Topic) {
			setCreateError(&resp.Topics[len(resp.Topics)-1], kerr.TopicAuthorizationFailed, "not authorized to create the topic")
			continue
		}
		spec := h.topicSpec(im, &rt)
		if !req.ValidateOnly {
			n := int(max(spec.NumPartitions, 0))
			if len(spec.Assignments) > 0 {
				n = len(spec.Assignments)
			}
			if err := h.mutationQuota(r, n, r.Version >= 6); err != nil {
				st := &resp.Topics[len(resp.Topics)-1]
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
				continue
			}
		}
		specs = append(specs, spec)
		at = append(at, len(resp.Topics)-1)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout(req.TimeoutMillis))
	defer cancel()
	results := h.cfg.Meta.CreateTopics(ctx, tenantOf(r), specs, req.ValidateOnly)
	if !req.ValidateOnly {
		h.waitPartitions(ctx)
	}
	im = h.cfg.Meta.Image()
	for i, res := range results {
		st := &resp.Topics[at[i]]
		if res.Err != nil {
			st.ErrorCode = errorCode(res.Err)
			st.ErrorMessage = errorMessage(res.Err)
			continue
		}
		t := res.Topic
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		st.Configs = h.createdTopicConfigs(im, t)
	}
	return resp, nil
}

func (h *Handlers) topicSpec(im *meta.Image, rt *kmsg.CreateTopicsRequestTopic) meta.TopicSpec {
	spec := meta.TopicSpec{Name: rt.Topic, NumPartitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor}
	if len(rt.ReplicaAssignment) > 0 {
		spec.Assignments = make([][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition >= 0 && int(a.Partition) < len(spec.Assignments) {
				spec.Assignments[a.Partition] = a.Replicas
			}
		}
	} else {
		def := h.defaultTopicSpec(im, rt.Topic)
		if spec.NumPartitions == -1 {
			spec.NumPartitions = def.NumPartitions
		}
		if spec.ReplicationFactor == -1 {
			spec.ReplicationFactor = def.ReplicationFactor
		}
	}
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		if spec.Configs == nil {
			spec.Configs = map[string]string{}
		}
		spec.Configs[c.Name] = *c.Value
	}
	return spec
}

func (h *Handlers) createdTopicConfigs(im *meta.Image, t *meta.Topic) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range config.ResolveTopics(h.cfg.Replicas.Layers(im, t.Configs)) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
		out = append(out, c)
	}
	return out
}

func setCreateError(st *kmsg.CreateTopicsResponseTopic, err *kerr.Error, msg string) {
	st.ErrorCode = err.Code
	st.ErrorMessage = &msg
}
