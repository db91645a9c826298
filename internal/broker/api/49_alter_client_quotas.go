package api

// AlterClientQuotas, v0-v1. A tenant's quotas are the operator's: they are
// set through the admin API (strata admin quota set), never by a client,
// so every entry answers CLUSTER_AUTHORIZATION_FAILED, on any listener.

import (
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterClientQuotas, 0, 1, (*Handlers).alterClientQuotas) }

func (h *Handlers) alterClientQuotas(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	msg := "quotas are set by the operator through the admin API"
	for _, e := range req.Entries {
		se := kmsg.NewAlterClientQuotasResponseEntry()
		se.ErrorCode, se.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, kmsg.StringPtr(msg)
		for _, c := range e.Entity {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.Type, c.Name
			se.Entity = append(se.Entity, ent)
		}
		resp.Entries = append(resp.Entries, se)
	}
	return resp, nil
}
