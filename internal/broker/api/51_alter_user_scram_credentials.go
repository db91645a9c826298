package api

// AlterUserScramCredentials, v0: sets or deletes the SCRAM verifiers of the
// connection's tenant's users, which are its API keys. Kafka creates a
// user on its first upsertion; here users are created only as API keys
// (`strata admin key create`), so an upsertion rotates one mechanism's
// password of an existing key and a name that is no key of the tenant is
// RESOURCE_NOT_FOUND, whether or not another tenant has it. PLAIN keeps
// the key's original secret. Needs ALTER on the cluster (an admin key has
// it). Per user, as Kafka checks: an empty name or a mechanism given twice
// for it is DUPLICATE_RESOURCE or UNACCEPTABLE_CREDENTIAL, an unknown
// mechanism UNSUPPORTED_SASL_MECHANISM, iterations outside 4096-16384 or an
// empty salt UNACCEPTABLE_CREDENTIAL, deleting a mechanism the user does
// not have RESOURCE_NOT_FOUND; the valid users' changes commit together.

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/sasl"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.AlterUserSCRAMCredentials, 0, 0, (*Handlers).alterUserScram)
}

func (h *Handlers) alterUserScram(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	tenant := tenantOf(r)
	authorized := h.allowedCluster(r, kmsg.ACLOperationAlter)

	// Each user's changes, in request order, and the first error of each.
	var users []string
	changes := map[string][]meta.SetScram{}
	errs := map[string]error{}
	mechs := map[string]map[string]bool{}
	note := func(user string, err error) {
		if _, ok := changes[user]; !ok && errs[user] == nil {
			users = append(users, user)
			changes[user] = nil
		}
		if err != nil && errs[user] == nil {
			errs[user] = err
		}
	}
	add := func(user string, mech int8, cred func(mechanism string) (*meta.ScramCredential, error)) {
		name, known := scramMechanisms[mech]
		switch {
		case !authorized:
			note(user, kerr.ClusterAuthorizationFailed)
		case user == "":
			note(user, fmt.Errorf("%w: the user name is empty", kerr.UnacceptableCredential))
		case !known:
			note(user, fmt.Errorf("%w: mechanism %d", kerr.UnsupportedSaslMechanism, mech))
		case mechs[user][name]:
			note(user, fmt.Errorf("%w: %s is altered twice for the user", kerr.DuplicateResource, name))
		default:
			if mechs[user] == nil {
				mechs[user] = map[string]bool{}
			}
			mechs[user][name] = true
			c, err := cred(name)
			if err != nil {
				note(user, err)
				return
			}
			note(user, nil)
			changes[user] = append(changes[user], meta.SetScram{Key: user, Tenant: tenant, Mechanism: name, Credential: c})
		}
	}
	for _, d := range req.Deletions {
		add(d.Name, d.Mechanism, func(string) (*meta.ScramCredential, error) { return nil, nil })
	}
	for _, u := range req.Upsertions {
		add(u.Name, u.Mechanism, func(name string) (*meta.ScramCredential, error) {
			sc, err := sasl.ScramFromSalted(name, u.Salt, u.SaltedPassword, int(u.Iterations))
			if err != nil {
				return nil, fmt.Errorf("%w: %w", kerr.UnacceptableCredential, err)
			}
			return &meta.ScramCredential{Salt: sc.Salt, Iterations: sc.Iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
		})
	}

	var batch []meta.SetScram
	var owner []string // the user of each change in batch
	im := h.cfg.Meta.Image()
	for _, u := range users {
		if errs[u] != nil {
			continue
		}
		c, ok := im.Credential(u)
		if !ok || c.Tenant != tenant {
			errs[u] = fmt.Errorf("%w: no API key %q in this tenant (users are API keys; create one with strata admin key create)", kerr.ResourceNotFound, u)
			continue
		}
		for _, ch := range changes[u] {
			if _, has := c.Scram[ch.Mechanism]; !has && ch.Credential == nil {
				errs[u] = fmt.Errorf("%w: %s has no %s credential", kerr.ResourceNotFound, u, ch.Mechanism)
			}
		}
		if errs[u] != nil {
			continue
		}
		batch = append(batch, changes[u]...)
		for range changes[u] {
			owner = append(owner, u)
		}
	}
	if len(batch) > 0 {
		out, err := h.cfg.Meta.SetScram(ctx, batch)
		for i, u := range owner {
			e := err
			if e == nil {
				e = out[i]
			}
			if errors.Is(e, meta.ErrCredentialNotFound) {
				e = fmt.Errorf("%w: %s has no %s credential", kerr.ResourceNotFound, u, batch[i].Mechanism)
			}
			if e != nil && errs[u] == nil {
				errs[u] = e
			}
		}
	}
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		res.ErrorCode, res.ErrorMessage = errorCode(errs[u]), errorMessage(errs[u])
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
