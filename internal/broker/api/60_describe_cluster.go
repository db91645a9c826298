package api

// DescribeCluster, v0-v2. Endpoint type 1 (brokers) only: controllers are
// not reachable by clients. Fenced brokers are listed (with IsFenced) only
// when v2's IncludeFencedBrokers asks for them.

import (
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, (*Handlers).describeCluster) }

const endpointTypeBrokers = 1

func (h *Handlers) describeCluster(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if r.Version >= 1 && req.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "only broker endpoints are served to clients"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	im := h.cfg.Meta.Image()
	resp.EndpointType = endpointTypeBrokers
	resp.ClusterID = im.ClusterID
	resp.ControllerID = h.cfg.NodeID
	resp.ClusterAuthorizedOperations = authorizedOperationsUnset
	brokers := im.LiveBrokers()
	if req.IncludeFencedBrokers {
		brokers = im.Brokers()
	}
	for _, b := range brokers {
		sb := kmsg.NewDescribeClusterResponseBroker()
		sb.NodeID, sb.Host, sb.Port = b.ID, b.Host, b.Port
		sb.IsFenced = !b.Alive()
		if b.Rack != "" {
			rack := b.Rack
			sb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, sb)
	}
	return resp, nil
}
