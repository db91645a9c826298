package api

// IncrementalAlterConfigs, v0-v1: SET, DELETE, APPEND and SUBTRACT on single
// configs of a topic or broker resource (KIP-339).

import (
	"context"
	"fmt"
	"strconv"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, (*Handlers).incrementalAlterConfigs) }

func (h *Handlers) incrementalAlterConfigs(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []meta.ConfigChange
		for _, c := range rr.Configs {
			changes = append(changes, meta.ConfigChange{Name: c.Name, Op: meta.ConfigOp(c.Op), Value: c.Value})
		}
		err := h.alterResource(ctx, r, rr.ResourceType, rr.ResourceName, changes, true, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// alterResource applies config changes to a topic, this broker, or the
// cluster-wide broker default (resource name "").
func (h *Handlers) alterResource(ctx context.Context, r *wire.Request, typ kmsg.ConfigResourceType, name string, changes []meta.ConfigChange, incremental, validateOnly bool) error {
	if err := h.authorizeConfigs(r, typ, name, kmsg.ACLOperationAlterConfigs); err != nil {
		return err
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return h.cfg.Meta.AlterTopicConfigs(ctx, tenantOf(r), name, changes, incremental, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		id := meta.ClusterConfigKey
		if name != "" {
			n, err := strconv.ParseInt(name, 10, 32)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: broker resource name %q is not a broker id", kerr.InvalidRequest, name)
			}
			id = int32(n)
		}
		return h.cfg.Meta.AlterBrokerConfigs(ctx, id, changes, incremental, validateOnly)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return fmt.Errorf("%w: broker loggers are not configurable", kerr.InvalidRequest)
	}
	return fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, typ)
}
