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
	// AuthorizeAny reports whether the key may do op on some resource of
	// the type (Kafka's authorizeByResourceType).
	AuthorizeAny(tenant, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool
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
	return h.cfg.Authorizer.Authorize(r.Conn.Tenant, r.Conn.Principal, remoteHost(r), op, rt, name)
}

func remoteHost(r *wire.Request) string {
	host, _, err := net.SplitHostPort(r.Conn.Remote)
	if err != nil {
		return r.Conn.Remote
	}
	return host
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

// mayWriteIdempotently is KIP-679's rule for an InitProducerId without a
// transactional id: IDEMPOTENT_WRITE on the cluster, or WRITE on any
// topic.
func (h *Handlers) mayWriteIdempotently(r *wire.Request) bool {
	if !authenticated(r) || h.cfg.Authorizer == nil || h.allowedCluster(r, kmsg.ACLOperationIdempotentWrite) {
		return true
	}
	return h.cfg.Authorizer.AuthorizeAny(r.Conn.Tenant, r.Conn.Principal, remoteHost(r), kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic)
}

// authorizeTopic, authorizeGroup and authorizeTxnID are allowed as the
// error Kafka answers when it is not: nil, or the resource type's
// *_AUTHORIZATION_FAILED.
func (h *Handlers) authorizeTopic(r *wire.Request, op kmsg.ACLOperation, topic string) error {
	if !h.allowedTopic(r, op, topic) {
		return kerr.TopicAuthorizationFailed
	}
	return nil
}

func (h *Handlers) authorizeGroup(r *wire.Request, op kmsg.ACLOperation, group string) error {
	if !h.allowedGroup(r, op, group) {
		return kerr.GroupAuthorizationFailed
	}
	return nil
}

func (h *Handlers) authorizeTxnID(r *wire.Request, op kmsg.ACLOperation, id string) error {
	if !h.allowedTxnID(r, op, id) {
		return kerr.TransactionalIDAuthorizationFailed
	}
	return nil
}

// resolveTopicFor resolves a topic a request names and checks op on it.
// As in Kafka, a topic named by name that the principal may not op is
// TOPIC_AUTHORIZATION_FAILED whether it exists or not, so that the answer
// tells nothing; an unknown id stays UNKNOWN_TOPIC_ID (ids are not
// guessable).
func (h *Handlers) resolveTopicFor(r *wire.Request, im *meta.Image, op kmsg.ACLOperation, ref meta.TopicRef) (*meta.Topic, error) {
	t, err := im.ResolveTopic(tenantOf(r), ref)
	if (err == nil || ref.Name != "") && !h.allowedTopic(r, op, topicName(t, ref)) {
		return nil, kerr.TopicAuthorizationFailed
	}
	return t, err
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
