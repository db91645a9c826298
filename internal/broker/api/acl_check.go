package api

// Authorization of requests. A connection without a principal (a listener
// without authentication, --auth none) may do everything in the default
// tenant. A connection authenticated with an API key is checked against
// its tenant's ACLs by the Authorizer (an admin key passes every check),
// and may never use the cluster-level APIs that would reach past its
// tenant: broker configs, log directories, replica fetches and the like
// answer CLUSTER_AUTHORIZATION_FAILED, whatever the key.

import (
	"net"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorizer decides whether an API key may do an operation on a
// resource of its tenant (tenant.Authorizer).
type Authorizer interface {
	Authorize(tenant, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool
}

// authenticated reports whether the connection has a principal, and so
// is a tenant's and subject to ACLs.
func authenticated(r *wire.Request) bool { return r.Conn.Principal != "" }

// allowed reports whether the request's principal may do op on the named
// resource of its tenant.
func (h *Handlers) allowed(r *wire.Request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if !authenticated(r) || h.cfg.Authorizer == nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.Conn.Remote)
	if err != nil {
		host = r.Conn.Remote
	}
	return h.cfg.Authorizer.Authorize(r.Conn.Tenant, r.Conn.Principal, host, op, rt, name)
}

// allowedTopic is allowed for a topic.
func (h *Handlers) allowedTopic(r *wire.Request, op kmsg.ACLOperation, topic string) bool {
	return h.allowed(r, op, kmsg.ACLResourceTypeTopic, topic)
}

// allowedGroup is allowed for a group.
func (h *Handlers) allowedGroup(r *wire.Request, op kmsg.ACLOperation, group string) bool {
	return h.allowed(r, op, kmsg.ACLResourceTypeGroup, group)
}

// allowedTxnID is allowed for a transactional id.
func (h *Handlers) allowedTxnID(r *wire.Request, op kmsg.ACLOperation, id string) bool {
	return h.allowed(r, op, kmsg.ACLResourceTypeTransactionalId, id)
}

// allowedCluster is allowed for the tenant's cluster resource.
func (h *Handlers) allowedCluster(r *wire.Request, op kmsg.ACLOperation) bool {
	return h.allowed(r, op, kmsg.ACLResourceTypeCluster, meta.ClusterResourceName)
}

// clusterOnly reports whether the request must be refused with
// CLUSTER_AUTHORIZATION_FAILED: it comes from a tenant's connection and
// reaches past the tenant (brokers, their configs and disks, replicas).
func clusterOnly(r *wire.Request) bool { return authenticated(r) }

// authorizeConfigs checks a DescribeConfigs or AlterConfigs of a
// resource: a topic needs op on it; a broker's (or the cluster default's)
// configs and loggers are never a tenant's.
func (h *Handlers) authorizeConfigs(r *wire.Request, typ kmsg.ConfigResourceType, name string, op kmsg.ACLOperation) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !h.allowedTopic(r, op, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if clusterOnly(r) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

// mayCreateTopic: CREATE on the cluster or on the topic.
func (h *Handlers) mayCreateTopic(r *wire.Request, name string) bool {
	return h.allowedCluster(r, kmsg.ACLOperationCreate) || h.allowedTopic(r, kmsg.ACLOperationCreate, name)
}

// topicName is the name of a resolved topic, or the name a request gave.
func topicName(t *meta.Topic, ref meta.TopicRef) string {
	if t != nil {
		return t.Name
	}
	return ref.Name
}
