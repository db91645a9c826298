package api

// DeleteTopics, v1-v6 (v0 was dropped in Kafka 4.0). Before v6 topics are
// named in TopicNames; from v6 in Topics, by name or by id.

import (
	"context"
	"errors"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteTopics, 1, 6, (*Handlers).deleteTopics) }

func (h *Handlers) deleteTopics(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	var refs []meta.TopicRef
	if r.Version >= 6 {
		for _, t := range req.Topics {
			ref := meta.TopicRef{ID: meta.TopicID(t.TopicID)}
			if t.Topic != nil {
				ref.Name = *t.Topic
			}
			refs = append(refs, ref)
		}
	} else {
		for _, name := range req.TopicNames {
			refs = append(refs, meta.TopicRef{Name: name})
		}
	}
	if !h.brokerBool(h.cfg.Meta.Image(), "delete.topic.enable") {
		for _, ref := range refs {
			resp.Topics = append(resp.Topics, deleteTopicResult(ref, nil, kerr.TopicDeletionDisabled))
		}
		return resp, nil
	}
	// As Kafka: a topic the principal may not DELETE is
	// TOPIC_AUTHORIZATION_FAILED whether it exists or not, and one named
	// by id is not named back. KIP-599: the partitions of deleted topics
	// count against the tenant's mutation rate; from v5 a topic asked for
	// while the rate is used up is refused with THROTTLING_QUOTA_EXCEEDED.
	im := h.cfg.Meta.Image()
	var allowed []meta.TopicRef
	refused := map[int]error{}
	for i, ref := range refs {
		t, err := h.resolveTopicFor(r, im, kmsg.ACLOperationDelete, ref)
		if errors.Is(err, kerr.TopicAuthorizationFailed) {
			refused[i] = err
			continue
		}
		if err == nil {
			if err := h.mutationQuota(r, len(t.Partitions), r.Version >= 5); err != nil {
				refused[i] = err
				continue
			}
		}
		allowed = append(allowed, ref)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout(req.TimeoutMillis))
	defer cancel()
	results := h.cfg.Meta.DeleteTopics(ctx, tenantOf(r), allowed)
	for i, ref := range refs {
		if err, ok := refused[i]; ok {
			resp.Topics = append(resp.Topics, deleteTopicResult(ref, nil, err))
			continue
		}
		res := results[0]
		results = results[1:]
		resp.Topics = append(resp.Topics, deleteTopicResult(ref, res.Topic, res.Err))
	}
	h.waitPartitions(ctx)
	return resp, nil
}

func deleteTopicResult(ref meta.TopicRef, t *meta.Topic, err error) kmsg.DeleteTopicsResponseTopic {
	st := kmsg.NewDeleteTopicsResponseTopic()
	if ref.Name != "" {
		name := ref.Name
		st.Topic = &name
	}
	st.TopicID = ref.ID
	if t != nil {
		name := t.Name
		st.Topic, st.TopicID = &name, t.ID
	}
	st.ErrorCode = errorCode(err)
	st.ErrorMessage = errorMessage(err)
	return st
}
