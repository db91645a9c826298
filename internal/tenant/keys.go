// Package tenant manages tenants (logical clusters) and their API keys on
// top of the metadata log, and checks SASL credentials against the keys.
// It also checks ACLs (acl.go) and enforces quotas (quota.go, rate.go).
package tenant

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/sasl"
)

// Service creates, changes and deletes tenants and API keys. Its methods
// may be called concurrently.
type Service struct {
	meta *meta.Store
	now  func() time.Time
}

// NewService returns a service over the metadata store.
func NewService(m *meta.Store) *Service { return &Service{meta: m, now: time.Now} }

// Key is a new API key with its secret. The secret exists only in this
// value: the metadata log holds salted hashes of it.
type Key struct {
	Key    string
	Secret string
	Tenant meta.TenantID
}

// CreateTenant creates a tenant with a fresh id.
func (s *Service) CreateTenant(ctx context.Context, name string) (*meta.Tenant, error) {
	return s.meta.CreateTenant(ctx, name, s.now().UnixMilli())
}

// Tenant describes a tenant.
func (s *Service) Tenant(id meta.TenantID) (*meta.Tenant, bool) { return s.meta.Image().Tenant(id) }

// Tenants lists every tenant.
func (s *Service) Tenants() []*meta.Tenant { return s.meta.Image().Tenants() }

// RenameTenant changes a tenant's display name.
func (s *Service) RenameTenant(ctx context.Context, id meta.TenantID, name string) (*meta.Tenant, error) {
	return s.meta.UpdateTenant(ctx, id, name)
}

// DeleteTenant deletes a tenant with its topics and keys. Each broker then
// closes the tenant's connections and purges its groups, committed offsets
// and transactional ids from its coordinators (broker/tenancy.go).
func (s *Service) DeleteTenant(ctx context.Context, id meta.TenantID) error {
	return s.meta.DeleteTenant(ctx, id)
}

// Keys lists a tenant's API keys (never their secrets).
func (s *Service) Keys(id meta.TenantID) []*meta.Credential { return s.meta.Image().Credentials(id) }

// CreateKey creates an API key for a tenant with a role (RoleAdmin may do
// everything in the tenant, RoleMember what the tenant's ACLs allow). The
// key is 16 characters of base32 (safe as a SASL user name: no ',' or
// '='), the secret 32 random bytes in URL-safe base64.
func (s *Service) CreateKey(ctx context.Context, id meta.TenantID, role meta.Role) (*Key, error) {
	if _, ok := s.meta.Image().Tenant(id); !ok {
		return nil, fmt.Errorf("%w: %s", meta.ErrTenantNotFound, id)
	}
	k := &Key{
		Key:    base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(random(10)),
		Secret: base64.RawURLEncoding.EncodeToString(random(32)),
		Tenant: id,
	}
	c, err := NewCredential(k.Key, k.Secret, id)
	if err != nil {
		return nil, err
	}
	c.CreatedMs, c.Role = s.now().UnixMilli(), role
	if err := s.meta.CreateCredential(ctx, c); err != nil {
		return nil, err
	}
	return k, nil
}

// RevokeKey deletes an API key. Each broker closes the connections
// authenticated with it as soon as it sees the revocation.
func (s *Service) RevokeKey(ctx context.Context, key string) error {
	return s.meta.DeleteCredential(ctx, key)
}

// NewCredential derives the stored verifiers of a secret for every
// mechanism.
func NewCredential(key, secret string, tenant meta.TenantID) (*meta.Credential, error) {
	plain, err := sasl.NewPlainCredential(secret, sasl.DefaultIterations)
	if err != nil {
		return nil, err
	}
	c := &meta.Credential{
		Key: key, Tenant: tenant,
		Plain: meta.SaltedHash{Salt: plain.Salt, Iterations: plain.Iterations, Hash: plain.Hash},
		Scram: map[string]meta.ScramCredential{},
	}
	for _, mech := range []string{sasl.ScramSHA256, sasl.ScramSHA512} {
		sc, err := sasl.NewScramCredential(mech, secret, sasl.DefaultIterations)
		if err != nil {
			return nil, err
		}
		c.Scram[mech] = meta.ScramCredential{Salt: sc.Salt, Iterations: sc.Iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
	}
	return c, nil
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("tenant: crypto/rand: %v", err))
	}
	return b
}

// Quotas returns a tenant's quotas.
func (s *Service) Quotas(id meta.TenantID) (meta.Quotas, error) {
	im := s.meta.Image()
	if _, ok := im.Tenant(id); !ok {
		return meta.Quotas{}, fmt.Errorf("%w: %s", meta.ErrTenantNotFound, id)
	}
	return im.Quotas(id), nil
}

// SetQuotas changes a tenant's quotas (meta.SetQuotas) and returns them.
func (s *Service) SetQuotas(ctx context.Context, c *meta.SetQuotas) (meta.Quotas, error) {
	return s.meta.SetQuotas(ctx, c)
}
