package broker

import (
	"time"

	"github.com/strata-db/strata/internal/meta"
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

// certAuth names connections under --auth mtls: a client certificate's
// subject common name is an API key, and the connection is that key's,
// in its tenant with its role. The certificate was verified against
// --tls-client-ca by then; a name that is no live key is refused.
type certAuth struct{ image func() *meta.Image }

func (a certAuth) Identify(commonName string) (wire.Identity, bool) {
	c, ok := a.image().Credential(commonName)
	if !ok {
		return wire.Identity{}, false
	}
	return wire.Identity{Tenant: string(c.Tenant), Principal: commonName}, true
}

// listenerScheme is the Kafka security protocol of the listener, as
// listeners and advertised.listeners show it.
func listenerScheme(cfg Config) string {
	switch {
	case cfg.TLSCert != "" && cfg.Auth == AuthSASL:
		return "SASL_SSL://"
	case cfg.TLSCert != "":
		return "SSL://"
	case cfg.Auth == AuthSASL:
		return "SASL_PLAINTEXT://"
	}
	return "PLAINTEXT://"
}

// wireQuotas presents the quota manager to the wire layer.
type wireQuotas struct{ q *tenant.QuotaManager }

func (w wireQuotas) AdmitConnection(t string) (func(), error) {
	return w.q.AdmitConnection(meta.TenantID(t))
}

func (w wireQuotas) RequestTime(t string, d time.Duration) time.Duration {
	return w.q.RequestTime(meta.TenantID(t), d)
}

// tenantStorage sums the sizes of a tenant's partition logs on this node.
func (b *Broker) tenantStorage(t meta.TenantID) int64 {
	im := b.meta.Image()
	n := int64(0)
	for _, p := range b.replicas.Partitions() {
		if tp, ok := im.TopicByID(p.Key().Topic); ok && tp.Tenant == t {
			n += p.Size()
		}
	}
	return n
}
