package meta

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Tenants (logical clusters) and their API key credentials live in the
// metadata log like every other resource:
//
//   - CreateTenant adds a tenant; UpdateTenant renames it.
//   - DeleteTenant removes the tenant, every topic of it, every
//     credential and every ACL of it in one record, so no image ever holds a credential
//     or a topic of a tenant that is gone. Partition data goes with the
//     topics (the replica manager deletes logs of topics not in the image).
//     Groups, offsets and transactional ids live in the coordinators: the
//     image remembers the deleted id (TenantDeleted) and each broker's
//     coordinators purge what they hold of it.
//   - CreateCredential and DeleteCredential add and revoke an API key. A
//     credential holds only salted hashes of the secret; the secret itself
//     is never in the log.
//
// DefaultTenant always exists and cannot be deleted: it is the namespace of
// connections on a listener without authentication. SystemTenant is not a
// tenant a client or the admin API can reach.

// ErrTenantNotFound reports an unknown tenant id. Its message names only the
// id the caller gave.
var ErrTenantNotFound = errors.New("tenant not found")

// ErrCredentialNotFound reports an unknown API key.
var ErrCredentialNotFound = errors.New("API key not found")

// TenantIDPrefix starts every tenant id.
const TenantIDPrefix = "lc-"

// MaxTenantNameLength bounds a tenant's display name, in bytes.
const MaxTenantNameLength = 200

// Tenant is a logical cluster.
type Tenant struct {
	ID   TenantID `json:"id"`
	Name string   `json:"name"`
	// CreatedMs is the proposer's wall clock at creation, Unix ms.
	CreatedMs int64 `json:"createdMs"`
}

// DeleteTenant names the tenant to remove with everything it holds.
type DeleteTenant struct {
	ID TenantID `json:"id"`
}

// SaltedHash is a PBKDF2 hash of a secret: the PLAIN mechanism's verifier.
type SaltedHash struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	Hash       []byte `json:"hash"`
}

// ScramCredential is RFC 5802's server-side credential for one mechanism.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
}

// Credential is an API key of a tenant: the key is the SASL user name, the
// secret (not stored) its password.
type Credential struct {
	Key       string   `json:"key"`
	Tenant    TenantID `json:"tenant"`
	CreatedMs int64    `json:"createdMs"`
	// Role is RoleAdmin (empty: keys from before roles existed) or
	// RoleMember.
	Role Role `json:"role,omitempty"`
	// Plain verifies SASL PLAIN.
	Plain SaltedHash `json:"plain"`
	// Scram verifies SCRAM, by mechanism name ("SCRAM-SHA-256").
	Scram map[string]ScramCredential `json:"scram"`
}

// Role says what an API key may do in its tenant.
type Role string

const (
	// RoleAdmin keys may do everything in their tenant (Kafka's super
	// user, within the tenant).
	RoleAdmin Role = "admin"
	// RoleMember keys may do what the tenant's ACLs allow them.
	RoleMember Role = "member"
)

// ParseRole parses a role name; empty is RoleAdmin.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case "", RoleAdmin:
		return RoleAdmin, nil
	case RoleMember:
		return RoleMember, nil
	}
	return "", fmt.Errorf("%w: role %q is neither %s nor %s", kerr.InvalidRequest, s, RoleAdmin, RoleMember)
}

// IsAdmin reports whether the key may do everything in its tenant.
func (c *Credential) IsAdmin() bool { return c.Role == "" || c.Role == RoleAdmin }

// DeleteCredential revokes an API key.
type DeleteCredential struct {
	Key string `json:"key"`
}

// SetScram sets (Credential not nil) or deletes one SCRAM mechanism's
// verifier of a tenant's API key (AlterUserScramCredentials).
type SetScram struct {
	Key        string           `json:"key"`
	Tenant     TenantID         `json:"tenant"`
	Mechanism  string           `json:"mechanism"`
	Credential *ScramCredential `json:"credential,omitempty"`
}

// TenantRecords are the tenancy fields of Record, embedded so that they
// marshal at its top level.
type TenantRecords struct {
	CreateTenant     *Tenant           `json:"createTenant,omitempty"`
	UpdateTenant     *Tenant           `json:"updateTenant,omitempty"`
	DeleteTenant     *DeleteTenant     `json:"deleteTenant,omitempty"`
	CreateCredential *Credential       `json:"createCredential,omitempty"`
	DeleteCredential *DeleteCredential `json:"deleteCredential,omitempty"`
	SetScram         *SetScram         `json:"setScram,omitempty"`
	// SetQuotas is quotas.go's.
	SetQuotas *SetQuotas `json:"setQuotas,omitempty"`
}

// defaultTenant is what the image reports for DefaultTenant.
var defaultTenant = &Tenant{ID: DefaultTenant, Name: "default"}

// NewTenantID returns "lc-" and 8 random lowercase letters and digits.
func NewTenantID() TenantID {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("meta: crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return TenantID(TenantIDPrefix + string(b[:]))
}

// ValidateTenantName checks a display name: non-empty printable UTF-8 of
// bounded length.
func ValidateTenantName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: tenant name is empty", kerr.InvalidRequest)
	case len(name) > MaxTenantNameLength:
		return fmt.Errorf("%w: tenant name is longer than %d bytes", kerr.InvalidRequest, MaxTenantNameLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: tenant name is not UTF-8", kerr.InvalidRequest)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: tenant name contains a control character", kerr.InvalidRequest)
		}
	}
	return nil
}

// Tenant returns a tenant; DefaultTenant always exists.
func (im *Image) Tenant(id TenantID) (*Tenant, bool) {
	if id == DefaultTenant {
		return defaultTenant, true
	}
	t, ok := im.tenants[id]
	return t, ok
}

// Tenants returns every tenant, the default tenant first, the others by id.
func (im *Image) Tenants() []*Tenant {
	out := make([]*Tenant, 0, len(im.tenants)+1)
	for _, t := range im.tenants {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return append([]*Tenant{defaultTenant}, out...)
}

// TenantDeleted reports whether a tenant was deleted. A tenant id the
// image has never seen is not deleted: it may be created by a record this
// image has not applied yet.
func (im *Image) TenantDeleted(id TenantID) bool {
	_, ok := im.deletedTenants[id]
	return ok
}

// DeletedTenantCount is how many tenants were ever deleted; it grows with
// each deletion, so a change tells a watcher to look again.
func (im *Image) DeletedTenantCount() int { return len(im.deletedTenants) }

// Credential returns the credential of an API key.
func (im *Image) Credential(key string) (*Credential, bool) {
	c, ok := im.credentials[key]
	return c, ok
}

// Credentials returns a tenant's credentials sorted by key.
func (im *Image) Credentials(tenant TenantID) []*Credential {
	var out []*Credential
	for _, c := range im.credentials {
		if c.Tenant == tenant {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// checkTenant fails for a tenant that does not exist: a connection of a
// deleted tenant must not recreate resources in its namespace.
func (im *Image) checkTenant(id TenantID) error {
	if id == SystemTenant {
		return nil
	}
	if _, ok := im.Tenant(id); !ok {
		return fmt.Errorf("%w: %w", kerr.UnknownServerError, ErrTenantNotFound)
	}
	return nil
}

// applyTenantRecord applies r if it is a tenancy record; handled is false
// for any other record.
func (im *Image) applyTenantRecord(r *Record) (handled bool, err error) {
	switch {
	case r.CreateTenant != nil:
		return true, im.applyCreateTenant(r.CreateTenant)
	case r.UpdateTenant != nil:
		return true, im.applyUpdateTenant(r.UpdateTenant)
	case r.DeleteTenant != nil:
		return true, im.applyDeleteTenant(r.DeleteTenant.ID)
	case r.CreateCredential != nil:
		return true, im.applyCreateCredential(r.CreateCredential)
	case r.DeleteCredential != nil:
		return true, im.applyDeleteCredential(r.DeleteCredential.Key)
	case r.SetScram != nil:
		return true, im.applySetScram(r.SetScram)
	case r.SetQuotas != nil:
		return true, im.applySetQuotas(r.SetQuotas)
	}
	return false, nil
}

func (im *Image) applyCreateTenant(t *Tenant) error {
	if !strings.HasPrefix(string(t.ID), TenantIDPrefix) || t.ID == DefaultTenant {
		return fmt.Errorf("%w: bad tenant id %q", kerr.InvalidRequest, t.ID)
	}
	if _, ok := im.Tenant(t.ID); ok {
		return fmt.Errorf("%w: tenant %s already exists", kerr.InvalidRequest, t.ID)
	}
	if err := ValidateTenantName(t.Name); err != nil {
		return err
	}
	c := *t
	im.tenants = copyMap(im.tenants, 1)
	im.tenants[c.ID] = &c
	return nil
}

func (im *Image) applyUpdateTenant(t *Tenant) error {
	old, ok := im.tenants[t.ID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrTenantNotFound, t.ID)
	}
	if err := ValidateTenantName(t.Name); err != nil {
		return err
	}
	c := *old
	c.Name = t.Name
	im.tenants = copyMap(im.tenants, 0)
	im.tenants[c.ID] = &c
	return nil
}

func (im *Image) applyDeleteTenant(id TenantID) error {
	if id == DefaultTenant {
		return fmt.Errorf("%w: the default tenant cannot be deleted", kerr.InvalidRequest)
	}
	if _, ok := im.tenants[id]; !ok {
		return fmt.Errorf("%w: %s", ErrTenantNotFound, id)
	}
	for _, t := range im.Topics(id) {
		if err := im.applyDeleteTopic(t.ID); err != nil {
			return err // cannot happen: the topic is in the image
		}
	}
	im.credentials = copyMap(im.credentials, 0)
	for k, c := range im.credentials {
		if c.Tenant == id {
			delete(im.credentials, k)
		}
	}
	im.tenants = copyMap(im.tenants, 0)
	delete(im.tenants, id)
	im.deletedTenants = copyMap(im.deletedTenants, 1)
	im.deletedTenants[id] = struct{}{}
	if _, ok := im.acls[id]; ok {
		im.acls = copyMap(im.acls, 0)
		delete(im.acls, id)
	}
	if _, ok := im.quotas[id]; ok {
		im.quotas = copyMap(im.quotas, 0)
		delete(im.quotas, id)
	}
	return nil
}

func (im *Image) applyCreateCredential(c *Credential) error {
	if c.Key == "" {
		return fmt.Errorf("%w: empty API key", kerr.InvalidRequest)
	}
	if _, ok := im.Tenant(c.Tenant); !ok {
		return fmt.Errorf("%w: %s", ErrTenantNotFound, c.Tenant)
	}
	if _, ok := im.credentials[c.Key]; ok {
		return fmt.Errorf("%w: API key already exists", kerr.InvalidRequest)
	}
	if _, err := ParseRole(string(c.Role)); err != nil {
		return err
	}
	cc := *c
	im.credentials = copyMap(im.credentials, 1)
	im.credentials[cc.Key] = &cc
	return nil
}

func (im *Image) applyDeleteCredential(key string) error {
	if _, ok := im.credentials[key]; !ok {
		return ErrCredentialNotFound
	}
	im.credentials = copyMap(im.credentials, 0)
	delete(im.credentials, key)
	return nil
}

// applySetScram changes one mechanism of a key; a key of another tenant
// is not found, as if it did not exist.
func (im *Image) applySetScram(sc *SetScram) error {
	c, ok := im.credentials[sc.Key]
	if !ok || c.Tenant != sc.Tenant {
		return ErrCredentialNotFound
	}
	if _, had := c.Scram[sc.Mechanism]; !had && sc.Credential == nil {
		return ErrCredentialNotFound
	}
	cc := *c
	cc.Scram = maps.Clone(c.Scram)
	if cc.Scram == nil {
		cc.Scram = map[string]ScramCredential{}
	}
	if sc.Credential == nil {
		delete(cc.Scram, sc.Mechanism)
	} else {
		cc.Scram[sc.Mechanism] = *sc.Credential
	}
	im.credentials = copyMap(im.credentials, 0)
	im.credentials[cc.Key] = &cc
	return nil
}

// SetScram commits SCRAM changes in one entry and returns each one's
// outcome (nil or ErrCredentialNotFound).
func (s *Store) SetScram(ctx context.Context, changes []SetScram) ([]error, error) {
	recs := make([]Record, len(changes))
	for i := range changes {
		recs[i] = Record{TenantRecords: TenantRecords{SetScram: &changes[i]}}
	}
	return s.Propose(ctx, recs...)
}

// CreateTenant commits a new tenant with a fresh id.
func (s *Store) CreateTenant(ctx context.Context, name string, nowMs int64) (*Tenant, error) {
	if err := ValidateTenantName(name); err != nil {
		return nil, err
	}
	t := &Tenant{ID: NewTenantID(), Name: name, CreatedMs: nowMs}
	if err := s.proposeOne(ctx, Record{TenantRecords: TenantRecords{CreateTenant: t}}); err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTenant renames a tenant.
func (s *Store) UpdateTenant(ctx context.Context, id TenantID, name string) (*Tenant, error) {
	if err := s.proposeOne(ctx, Record{TenantRecords: TenantRecords{UpdateTenant: &Tenant{ID: id, Name: name}}}); err != nil {
		return nil, err
	}
	t, _ := s.Image().Tenant(id)
	return t, nil
}

// DeleteTenant removes a tenant, its topics and its credentials.
func (s *Store) DeleteTenant(ctx context.Context, id TenantID) error {
	return s.proposeOne(ctx, Record{TenantRecords: TenantRecords{DeleteTenant: &DeleteTenant{ID: id}}})
}

// CreateCredential commits an API key's credential.
func (s *Store) CreateCredential(ctx context.Context, c *Credential) error {
	return s.proposeOne(ctx, Record{TenantRecords: TenantRecords{CreateCredential: c}})
}

// DeleteCredential revokes an API key.
func (s *Store) DeleteCredential(ctx context.Context, key string) error {
	return s.proposeOne(ctx, Record{TenantRecords: TenantRecords{DeleteCredential: &DeleteCredential{Key: key}}})
}

func init() {
	// Callers match these across nodes (rpc.go).
	sentinels["tenant-not-found"] = ErrTenantNotFound
	sentinels["credential-not-found"] = ErrCredentialNotFound
}
