package api

// AlterConfigs, v0-v2: replaces all dynamic configs of a topic or broker
// resource with the given set. Superseded by IncrementalAlterConfigs but
// still sent by older admin clients.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterConfigs, 0, 2, (*Handlers).alterConfigs) }

func (h *Handlers) alterConfigs(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []meta.ConfigChange
		for _, c := range rr.Configs {
			changes = append(changes, meta.ConfigChange{Name: c.Name, Op: meta.OpSet, Value: c.Value})
		}
		err := h.alterResource(ctx, r, rr.ResourceType, rr.ResourceName, changes, false, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
