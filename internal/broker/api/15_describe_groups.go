package api

// DescribeGroups, v0-v6. A group that does not exist is reported Dead;
// from v6 with GROUP_ID_NOT_FOUND. So is a consumer group (KIP-848), as
// Kafka 4 reports one; ConsumerGroupDescribe describes those.

import (
	"context"
	"errors"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups, 0, 6, (*Handlers).describeGroups) }

func (h *Handlers) describeGroups(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group, g.AuthorizedOperations = name, authorizedOperationsUnset
		if err := h.authorizeGroup(r, kmsg.ACLOperationDescribe, name); err != nil {
			g.ErrorCode = errorCode(err)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, err := h.cfg.Groups.DescribeGroup(groupKey(r, name))
		g.State, g.ProtocolType, g.Protocol = string(d.State), d.ProtocolType, d.Protocol
		if err != nil && (r.Version >= 6 || !errors.Is(err, kerr.GroupIDNotFound)) {
			g.ErrorCode, g.ErrorMessage = errorCode(err), errorMessage(err)
		}
		for _, m := range d.Members {
			gm := kmsg.NewDescribeGroupsResponseGroupMember()
			gm.MemberID, gm.ClientID, gm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
			gm.ProtocolMetadata, gm.MemberAssignment = m.Metadata, m.Assignment
			if gm.MemberAssignment == nil {
				gm.MemberAssignment = []byte{}
			}
			if m.InstanceID != "" {
				gm.InstanceID = stringPtr(m.InstanceID)
			}
			g.Members = append(g.Members, gm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
