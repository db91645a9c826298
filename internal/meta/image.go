package meta

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"sort"
	"strconv"
)

// TenantID names a logical cluster ("lc-..."). Every name a client can use
// lives inside one tenant's namespace.
type TenantID string

// DefaultTenant is the tenant of connections on a listener without
// authentication.
const DefaultTenant TenantID = "lc-default"

// SystemTenant owns Strata's internal topics (group and transaction
// state). No connection is ever mapped to it, so tenants can neither see
// nor name its topics.
const SystemTenant TenantID = "_system"

// TopicID is a topic's UUID (KIP-516). It never changes for the life of the
// topic and is never reused, so it names the topic's logs on disk.
type TopicID [16]byte

// String renders the id as Kafka does: URL-safe base64 without padding.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (id TopicID) IsZero() bool { return id == TopicID{} }

func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

func (id *TopicID) UnmarshalText(b []byte) error {
	n, err := base64.RawURLEncoding.Decode(id[:], b)
	if err != nil || n != 16 {
		return fmt.Errorf("meta: bad topic id %q", b)
	}
	return nil
}

// NewTopicID returns a random id. Kafka reserves the all-zero id and the id
// 0x...01 (the metadata topic); random ids hit neither in practice but are
// checked anyway.
func NewTopicID() TopicID {
	for {
		var id TopicID
		if _, err := rand.Read(id[:]); err != nil {
			panic(fmt.Sprintf("meta: crypto/rand: %v", err))
		}
		if id != (TopicID{}) && id != (TopicID{15: 1}) {
			return id
		}
	}
}

// TopicKey is the identity of a topic name: names are unique per tenant.
type TopicKey struct {
	Tenant TenantID
	Name   string
}

// Partition is the replica state of one partition.
type Partition struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KIP-455, reassign.go): Replicas holds the target replicas
	// followed by the removing ones; the adding ones are in the target.
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
}

// Reassigning reports whether a reassignment of the partition is in
// progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// Topic is one topic of one tenant. Configs holds only the overrides set on
// the topic; effective values are resolved against broker configs.
type Topic struct {
	ID         TopicID           `json:"id"`
	Tenant     TenantID          `json:"tenant"`
	Name       string            `json:"name"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

func (t *Topic) Key() TopicKey { return TopicKey{t.Tenant, t.Name} }

// Broker is a registered broker (KIP-631's broker registration).
type Broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
	Cell string `json:"cell,omitempty"`
	// InternalAddr is where other brokers send their requests (replica
	// fetches, transaction markers and checks), when it is not the Kafka
	// listener: an unauthenticated listener on the cluster's private
	// network (--internal-listen), so that brokers replicate whatever
	// authentication the Kafka listener asks of clients.
	InternalAddr string `json:"internalAddr,omitempty"`
	// Incarnation is random per process start: a registration with
	// another incarnation is another process.
	Incarnation string `json:"incarnation,omitempty"`
	// Epoch is the raft index of the registration's entry (Kafka's broker
	// epoch): it grows with every registration, and fencing records name
	// it so that they cannot hit a later registration.
	Epoch int64 `json:"epoch,omitempty"`
	// Fenced brokers are registered but not alive as far as the active
	// controller knows: they are left out of Metadata and get no new
	// replicas or leaderships. A broker registers fenced and is unfenced
	// once it heartbeats with its metadata caught up.
	Fenced bool `json:"fenced,omitempty"`
	// InControlledShutdown: the broker said it is going (SIGTERM).
	InControlledShutdown bool `json:"inControlledShutdown,omitempty"`
}

// PeerAddr is where other brokers reach this one.
func (b *Broker) PeerAddr() string {
	if b.InternalAddr != "" {
		return b.InternalAddr
	}
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}

// Alive reports whether the broker may serve and be given replicas and
// leaderships.
func (b *Broker) Alive() bool { return !b.Fenced && !b.InControlledShutdown }

// ClusterConfigKey is the key in Image.BrokerConfigs of the dynamic default
// shared by all brokers (Kafka's empty broker resource name).
const ClusterConfigKey int32 = -1

// Image is an immutable view of the cluster metadata at one point of the
// metadata log. Readers hold a pointer and never take a lock; the state
// machine builds a new Image for every applied entry and shares whatever did
// not change. Nothing reachable from a published Image is ever mutated.
type Image struct {
	// Index is the raft index of the last entry applied to this image.
	Index     uint64
	ClusterID string
	brokers   map[int32]*Broker
	byKey     map[TopicKey]*Topic
	byID      map[TopicID]*Topic
	// collide maps a topic key with '.' replaced by '_' to the real name.
	collide map[TopicKey]string
	// brokerConfigs holds dynamic broker configs by broker id, with
	// ClusterConfigKey for the cluster-wide default.
	brokerConfigs map[int32]map[string]string
	// nextProducerID is the first producer id no broker was given a block
	// of (producer_ids.go).
	nextProducerID int64
	// tenants and credentials (by API key) are tenants.go's; nil until the
	// first is created.
	tenants     map[TenantID]*Tenant
	credentials map[string]*Credential
	// deletedTenants holds every tenant id ever deleted (ids are random and
	// never reused), so that a coordinator that loads state written before
	// a deletion knows to purge it (tenants.go).
	deletedTenants map[TenantID]struct{}
	// acls holds each tenant's ACL bindings (acls.go).
	acls map[TenantID][]ACL
	// quotas holds each tenant's quotas that are not all unlimited
	// (quotas.go).
	quotas map[TenantID]*Quotas
}

func emptyImage() *Image {
	return &Image{
		brokers:       map[int32]*Broker{},
		byKey:         map[TopicKey]*Topic{},
		byID:          map[TopicID]*Topic{},
		collide:       map[TopicKey]string{},
		brokerConfigs: map[int32]map[string]string{},
	}
}

// TopicByName returns the tenant's topic of that name.
func (im *Image) TopicByName(tenant TenantID, name string) (*Topic, bool) {
	t, ok := im.byKey[TopicKey{tenant, name}]
	return t, ok
}

// TopicByID returns the topic with that id, whatever its tenant; callers
// check the tenant.
func (im *Image) TopicByID(id TopicID) (*Topic, bool) {
	t, ok := im.byID[id]
	return t, ok
}

// Topics returns the tenant's topics sorted by name.
func (im *Image) Topics(tenant TenantID) []*Topic {
	var out []*Topic
	for k, t := range im.byKey {
		if k.Tenant == tenant {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AllTopics returns every topic of every tenant, in no particular order.
func (im *Image) AllTopics() []*Topic {
	out := make([]*Topic, 0, len(im.byID))
	for _, t := range im.byID {
		out = append(out, t)
	}
	return out
}

// Broker returns a registered broker.
func (im *Image) Broker(id int32) (*Broker, bool) {
	b, ok := im.brokers[id]
	return b, ok
}

// Brokers returns the registered brokers sorted by id.
func (im *Image) Brokers() []*Broker {
	out := make([]*Broker, 0, len(im.brokers))
	for _, b := range im.brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LiveBrokers returns the brokers that are Alive, sorted by id.
func (im *Image) LiveBrokers() []*Broker {
	var out []*Broker
	for _, b := range im.Brokers() {
		if b.Alive() {
			out = append(out, b)
		}
	}
	return out
}

// BrokerConfigs returns the dynamic configs of a broker id, or of the
// cluster default for ClusterConfigKey. The map must not be modified.
func (im *Image) BrokerConfigs(id int32) map[string]string { return im.brokerConfigs[id] }

// clone returns a shallow copy whose maps may be replaced (never written in
// place) by the state machine.
func (im *Image) clone() *Image {
	c := *im
	return &c
}

func copyMap[K comparable, V any](m map[K]V, extra int) map[K]V {
	c := make(map[K]V, len(m)+extra)
	for k, v := range m {
		c[k] = v
	}
	return c
}
