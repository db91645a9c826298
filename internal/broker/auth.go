package broker

import (
	"github.com/strata-db/strata/internal/tenant"
	"github.com/strata-db/strata/internal/wire"
)

// wireAuth presents the tenant authenticator to the wire layer, which
// declares the interface it needs and imports neither tenant nor meta.
type wireAuth struct{ a *tenant.Authenticator }

func (w wireAuth) Mechanisms() []string { return w.a.Mechanisms() }

func (w wireAuth) Start(mechanism string) (wire.Exchange, bool) {
	e, ok := w.a.Start(mechanism)
	if !ok {
		return nil, false
	}
	return e, true
}

// Valid reports whether the key still exists and belongs to the tenant.
func (w wireAuth) Valid(id wire.Identity) bool { return w.a.Valid(id.Principal, id.Tenant) }
