package api

// DescribeUserScramCredentials, v0: the SCRAM mechanisms and iteration
// counts of the connection's tenant's users. A tenant's users are its API
// keys (created with `strata admin key create`); a name that is no key of
// the tenant is RESOURCE_NOT_FOUND, whether or not another tenant has it.
// Needs DESCRIBE on the cluster (an admin key has it).

import (
	"context"
	"slices"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/sasl"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.DescribeUserSCRAMCredentials, 0, 0, (*Handlers).describeUserScram)
}

// scramMechanisms are the protocol's mechanism numbers (ScramMechanism).
var scramMechanisms = map[int8]string{1: sasl.ScramSHA256, 2: sasl.ScramSHA512}

func scramMechanismNumber(name string) int8 {
	for n, m := range scramMechanisms {
		if m == name {
			return n
		}
	}
	return 0
}

func (h *Handlers) describeUserScram(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !h.allowedCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	if req.Users == nil { // all users
		for _, c := range im.Credentials(tenant) {
			resp.Results = append(resp.Results, scramResult(c.Key, c, nil))
		}
		return resp, nil
	}
	seen := map[string]int{}
	for _, u := range req.Users {
		seen[u.Name]++
	}
	for _, u := range req.Users {
		if seen[u.Name] == 0 {
			continue // answered already
		}
		var err error
		c, ok := im.Credential(u.Name)
		switch {
		case seen[u.Name] > 1:
			err = kerr.DuplicateResource
		case !ok || c.Tenant != tenant || len(c.Scram) == 0:
			err = kerr.ResourceNotFound
		}
		seen[u.Name] = 0
		resp.Results = append(resp.Results, scramResult(u.Name, c, err))
	}
	return resp, nil
}

func scramResult(user string, c *meta.Credential, err error) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User = user
	if err != nil {
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		return res
	}
	for name, sc := range c.Scram {
		ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		ci.Mechanism, ci.Iterations = scramMechanismNumber(name), int32(sc.Iterations)
		res.CredentialInfos = append(res.CredentialInfos, ci)
	}
	slices.SortFunc(res.CredentialInfos, func(a, b kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo) int {
		return int(a.Mechanism) - int(b.Mechanism)
	})
	return res
}
