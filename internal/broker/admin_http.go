package broker

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/tenant"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The admin API: JSON over the HTTP listener.
//
//	POST   /v1/tenants              {"name"}  -> 201 tenant
//	GET    /v1/tenants                        -> {"tenants": [tenant]}
//	GET    /v1/tenants/{id}                   -> tenant with its keys and quotas
//	PATCH  /v1/tenants/{id}         {"name"}  -> tenant
//	DELETE /v1/tenants/{id}                   -> 204
//	POST   /v1/tenants/{id}/keys    {"role"}  -> 201 {"key", "secret", "tenant", "role"}
//	                                             (role admin, the default, or member; body optional)
//	GET    /v1/tenants/{id}/keys              -> {"keys": [key]}
//	DELETE /v1/keys/{key}                     -> 204
//	GET    /v1/tenants/{id}/quotas            -> quotas
//	PUT    /v1/tenants/{id}/quotas  quotas    -> quotas (replaces them all; absent: unlimited)
//	PATCH  /v1/tenants/{id}/quotas  quotas + {"unset": [name]}
//	                                          -> quotas (changes those given, unsets those named)
//
// Quotas are {"produceBytesRate", "fetchBytesRate", "requestPercentage",
// "connections", "connectionRate", "partitions", "partitionCreationRate",
// "storageBytes"}, each a non-negative integer or absent (unlimited); see
// meta.Quotas.
//
// Errors are {"error": "..."} with 400 (bad input), 404 (unknown tenant or
// key), 503 (starting, no metadata quorum) or 500.
//
// With Config.AdminToken the API requires the operator token; with
// Config.HTTPTLSCert the whole HTTP listener is HTTPS only. Without the
// token the API is open to whoever reaches the HTTP address (loopback by
// default): do not bind --http to a public address then.

// maxAdminBody bounds a request body.
const maxAdminBody = 64 << 10

// adminTimeout bounds one admin call's metadata commits.
const adminTimeout = 30 * time.Second

// tenantJSON is a tenant as the admin API shows it.
type tenantJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedMs int64     `json:"createdMs,omitempty"`
	Topics    *int      `json:"topics,omitempty"`
	Keys      []keyJSON `json:"keys,omitempty"`
	// Quotas are shown by describe when any is set.
	Quotas *meta.Quotas `json:"quotas,omitempty"`
}

// keyJSON is an API key; Secret is set only in the answer to its creation.
type keyJSON struct {
	Key       string `json:"key"`
	Secret    string `json:"secret,omitempty"`
	Tenant    string `json:"tenant"`
	Role      string `json:"role"`
	CreatedMs int64  `json:"createdMs,omitempty"`
}

type roleBody struct {
	Role string `json:"role"`
}

type nameBody struct {
	Name string `json:"name"`
}

func (b *Broker) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/tenants", b.admin(b.createTenant))
	mux.HandleFunc("GET /v1/tenants", b.admin(b.listTenants))
	mux.HandleFunc("GET /v1/tenants/{id}", b.admin(b.describeTenant))
	mux.HandleFunc("PATCH /v1/tenants/{id}", b.admin(b.renameTenant))
	mux.HandleFunc("DELETE /v1/tenants/{id}", b.admin(b.deleteTenant))
	mux.HandleFunc("POST /v1/tenants/{id}/keys", b.admin(b.createKey))
	mux.HandleFunc("GET /v1/tenants/{id}/keys", b.admin(b.listKeys))
	mux.HandleFunc("DELETE /v1/keys/{key}", b.admin(b.revokeKey))
	mux.HandleFunc("GET /v1/tenants/{id}/quotas", b.admin(b.getQuotas))
	mux.HandleFunc("PUT /v1/tenants/{id}/quotas", b.admin(b.setQuotas))
	mux.HandleFunc("PATCH /v1/tenants/{id}/quotas", b.admin(b.setQuotas))
	mux.HandleFunc("GET /v1/tenants/{id}/usage", b.admin(b.getUsage))
}

// quotaPatch is the body of PATCH .../quotas.
type quotaPatch struct {
	meta.Quotas
	Unset []string `json:"unset,omitempty"`
}

func (b *Broker) getQuotas(_ context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	q, err := s.Quotas(meta.TenantID(r.PathValue("id")))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, q, nil
}

// getUsage answers a tenant's usage on this node (metering.go); a
// controller-only node, which serves no Kafka, has none.
func (b *Broker) getUsage(_ context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	t, err := tenantArg(s, r)
	if err != nil {
		return 0, nil, err
	}
	if q := b.quotas.Load(); q != nil {
		if u, ok := b.usage(q)[t.ID]; ok {
			return http.StatusOK, u, nil
		}
	}
	u := &TenantUsage{Tenant: t.ID, Throttle: map[string]float64{}}
	for _, tp := range b.meta.Image().Topics(t.ID) {
		u.Partitions += len(tp.Partitions)
	}
	return http.StatusOK, u, nil
}

func (b *Broker) setQuotas(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	t, err := tenantArg(s, r)
	if err != nil {
		return 0, nil, err
	}
	c := &meta.SetQuotas{Tenant: t.ID, Replace: r.Method == http.MethodPut}
	if c.Replace {
		err = decodeBody(r, &c.Set)
	} else {
		var p quotaPatch
		err = decodeBody(r, &p)
		c.Set, c.Unset = p.Quotas, p.Unset
	}
	if err != nil {
		return 0, nil, err
	}
	q, err := s.SetQuotas(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	b.log.Info("set tenant quotas", "tenant", t.ID, "replace", c.Replace)
	return http.StatusOK, q, nil
}

// adminFunc serves one admin call: it returns the status and the value to
// encode (nil for no body), or an error.
type adminFunc func(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error)

func (b *Broker) admin(f adminFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if t := b.cfg.AdminToken; t != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(t)) != 1 {
				b.log.Warn("admin API: request without the operator token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the admin API needs the operator token (Authorization: Bearer TOKEN)"})
				return
			}
		}
		s := b.tenants.Load()
		if s == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "starting"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		status, v, err := f(ctx, s, r)
		if err != nil {
			status = adminStatus(err)
			if status == http.StatusInternalServerError {
				b.log.Warn("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	}
}

// errBadRequest marks input the admin API refuses.
var errBadRequest = errors.New("bad request")

func adminStatus(err error) int {
	switch {
	case errors.Is(err, meta.ErrTenantNotFound), errors.Is(err, meta.ErrCredentialNotFound):
		return http.StatusNotFound
	case errors.Is(err, errBadRequest), errors.Is(err, kerr.InvalidRequest):
		return http.StatusBadRequest
	case errors.Is(err, meta.ErrNotReady), errors.Is(err, kerr.NotController), errors.Is(err, kerr.RequestTimedOut):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: body: more than one JSON value", errBadRequest)
	}
	return nil
}

func toTenantJSON(t *meta.Tenant) tenantJSON {
	return tenantJSON{ID: string(t.ID), Name: t.Name, CreatedMs: t.CreatedMs}
}

// tenantArg is the {id} of the path, which must name an existing tenant.
func tenantArg(s *tenant.Service, r *http.Request) (*meta.Tenant, error) {
	id := meta.TenantID(r.PathValue("id"))
	t, ok := s.Tenant(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", meta.ErrTenantNotFound, id)
	}
	return t, nil
}

func (b *Broker) createTenant(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	var body nameBody
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	t, err := s.CreateTenant(ctx, body.Name)
	if err != nil {
		return 0, nil, err
	}
	b.log.Info("created tenant", "tenant", t.ID)
	return http.StatusCreated, toTenantJSON(t), nil
}

func (b *Broker) listTenants(_ context.Context, s *tenant.Service, _ *http.Request) (int, any, error) {
	out := []tenantJSON{}
	for _, t := range s.Tenants() {
		out = append(out, toTenantJSON(t))
	}
	return http.StatusOK, map[string]any{"tenants": out}, nil
}

func (b *Broker) describeTenant(_ context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	t, err := tenantArg(s, r)
	if err != nil {
		return 0, nil, err
	}
	out := toTenantJSON(t)
	n := len(b.meta.Image().Topics(t.ID))
	out.Topics = &n
	out.Keys = keysJSON(s.Keys(t.ID))
	if q, err := s.Quotas(t.ID); err == nil && !q.IsZero() {
		out.Quotas = &q
	}
	return http.StatusOK, out, nil
}

func keysJSON(creds []*meta.Credential) []keyJSON {
	out := []keyJSON{}
	for _, c := range creds {
		role := meta.RoleAdmin
		if !c.IsAdmin() {
			role = meta.RoleMember
		}
		out = append(out, keyJSON{Key: c.Key, Tenant: string(c.Tenant), Role: string(role), CreatedMs: c.CreatedMs})
	}
	return out
}

func (b *Broker) renameTenant(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	var body nameBody
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	t, err := s.RenameTenant(ctx, meta.TenantID(r.PathValue("id")), body.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toTenantJSON(t), nil
}

func (b *Broker) deleteTenant(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	id := meta.TenantID(r.PathValue("id"))
	if err := s.DeleteTenant(ctx, id); err != nil {
		return 0, nil, err
	}
	b.log.Info("deleted tenant", "tenant", id)
	return http.StatusNoContent, nil, nil
}

func (b *Broker) createKey(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	t, err := tenantArg(s, r)
	if err != nil {
		return 0, nil, err
	}
	var body roleBody
	if r.ContentLength != 0 {
		if err := decodeBody(r, &body); err != nil {
			return 0, nil, err
		}
	}
	role, err := meta.ParseRole(body.Role)
	if err != nil {
		return 0, nil, err
	}
	k, err := s.CreateKey(ctx, t.ID, role)
	if err != nil {
		return 0, nil, err
	}
	b.log.Info("created API key", "tenant", t.ID, "key", k.Key, "role", role)
	return http.StatusCreated, keyJSON{Key: k.Key, Secret: k.Secret, Tenant: string(k.Tenant), Role: string(role)}, nil
}

func (b *Broker) listKeys(_ context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	t, err := tenantArg(s, r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"keys": keysJSON(s.Keys(t.ID))}, nil
}

func (b *Broker) revokeKey(ctx context.Context, s *tenant.Service, r *http.Request) (int, any, error) {
	key := r.PathValue("key")
	if err := s.RevokeKey(ctx, key); err != nil {
		return 0, nil, err
	}
	b.log.Info("revoked API key", "key", key)
	return http.StatusNoContent, nil, nil
}
