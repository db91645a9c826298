package tenant

import (
	"fmt"
	"slices"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/sasl"
)

// Authenticator checks SASL exchanges against the API keys in the current
// metadata image: a key revoked or a tenant deleted fails the next
// exchange, including a re-authentication. Safe for concurrent use.
type Authenticator struct {
	image      func() *meta.Image
	mechanisms []string
	decoyKey   []byte
}

// NewAuthenticator serves the given mechanisms (all of sasl.Mechanisms
// when empty); an unknown name is an error.
func NewAuthenticator(image func() *meta.Image, mechanisms []string) (*Authenticator, error) {
	if len(mechanisms) == 0 {
		mechanisms = sasl.Mechanisms
	}
	for _, m := range mechanisms {
		if !slices.Contains(sasl.Mechanisms, m) {
			return nil, fmt.Errorf("tenant: unknown SASL mechanism %q (known: %v)", m, sasl.Mechanisms)
		}
	}
	return &Authenticator{image: image, mechanisms: slices.Clone(mechanisms), decoyKey: sasl.DecoyKey()}, nil
}

// Mechanisms lists the enabled mechanisms.
func (a *Authenticator) Mechanisms() []string { return slices.Clone(a.mechanisms) }

// Exchange is one authentication in progress.
type Exchange struct {
	srv    sasl.Server
	tenant meta.TenantID // of the credential the exchange looked up
}

// Start begins an exchange; false if the mechanism is not enabled.
func (a *Authenticator) Start(mechanism string) (*Exchange, bool) {
	if !slices.Contains(a.mechanisms, mechanism) {
		return nil, false
	}
	e := &Exchange{}
	switch mechanism {
	case sasl.Plain:
		e.srv = sasl.NewPlainServer(func(user string) (sasl.PlainCredential, bool) {
			c, ok := a.lookup(user, e)
			if !ok {
				return sasl.PlainCredential{}, false
			}
			return sasl.PlainCredential{Salt: c.Plain.Salt, Iterations: c.Plain.Iterations, Hash: c.Plain.Hash}, true
		})
	default:
		srv, err := sasl.NewScramServer(mechanism, func(user string) (sasl.ScramCredential, bool) {
			c, ok := a.lookup(user, e)
			if !ok {
				return sasl.ScramCredential{}, false
			}
			sc, ok := c.Scram[mechanism]
			return sasl.ScramCredential{Salt: sc.Salt, Iterations: sc.Iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, ok
		}, a.decoyKey)
		if err != nil {
			return nil, false // not a SCRAM mechanism: cannot be enabled
		}
		e.srv = srv
	}
	return e, true
}

// lookup finds a key's credential and notes its tenant in e.
func (a *Authenticator) lookup(user string, e *Exchange) (*meta.Credential, bool) {
	c, ok := a.image().Credential(user)
	if !ok {
		return nil, false
	}
	e.tenant = c.Tenant
	return c, true
}

// Step consumes a client message; see sasl.Server.
func (e *Exchange) Step(msg []byte) ([]byte, bool, error) { return e.srv.Step(msg) }

// Identity is the authenticated API key and its tenant, once Step reported
// done.
func (e *Exchange) Identity() (principal, tenant string) {
	if e.srv.User() == "" {
		return "", ""
	}
	return e.srv.User(), string(e.tenant)
}

// Valid reports whether an API key still exists in the current image and
// belongs to tenant: false once it is revoked or its tenant deleted.
func (a *Authenticator) Valid(key, tenant string) bool {
	c, ok := a.image().Credential(key)
	return ok && string(c.Tenant) == tenant
}
