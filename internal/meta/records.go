package meta

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Record is one change to the metadata. Exactly one field is set. A raft
// entry holds a JSON array of records applied in order; each succeeds or
// fails on its own against the image it meets, so that checks done before
// proposing (against an older image) are re-done deterministically here.
type Record struct {
	InitCluster      *InitCluster      `json:"initCluster,omitempty"`
	RegisterBroker   *Broker           `json:"registerBroker,omitempty"`
	CreateTopic      *Topic            `json:"createTopic,omitempty"`
	DeleteTopic      *DeleteTopic      `json:"deleteTopic,omitempty"`
	CreatePartitions *CreatePartitions `json:"createPartitions,omitempty"`
	SetTopicConfigs  *SetTopicConfigs  `json:"setTopicConfigs,omitempty"`
	SetBrokerConfigs *SetBrokerConfigs `json:"setBrokerConfigs,omitempty"`
	// AllocateProducerIDs is in producer_ids.go.
	AllocateProducerIDs *AllocateProducerIDs `json:"allocateProducerIds,omitempty"`
	// Broker lifecycle (lifecycle.go): written by the active controller.
	FenceBroker        *BrokerRef `json:"fenceBroker,omitempty"`
	UnfenceBroker      *BrokerRef `json:"unfenceBroker,omitempty"`
	ControlledShutdown *BrokerRef `json:"controlledShutdown,omitempty"`
	// Leaders and ISRs (partition_change.go).
	PartitionChange *PartitionChange `json:"partitionChange,omitempty"`
	AlterPartition  *AlterPartition  `json:"alterPartition,omitempty"`
	// Tenants and credentials (tenants.go).
	TenantRecords
	// ACLs (acls.go).
	ACLRecords
}

// BrokerRef names one registration of a broker: a record naming an epoch
// that is no longer the broker's fails with STALE_BROKER_EPOCH.
type BrokerRef struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// InitCluster is the first record of a new cluster's log.
type InitCluster struct {
	ClusterID string `json:"clusterId"`
}

type DeleteTopic struct {
	ID TopicID `json:"id"`
}

// CreatePartitions appends partitions to a topic.
type CreatePartitions struct {
	ID  TopicID     `json:"id"`
	Add []Partition `json:"add"`
}

// SetTopicConfigs changes a topic's overrides: with Replace the overrides
// become exactly Set; otherwise Set is merged and Delete removed.
type SetTopicConfigs struct {
	ID      TopicID           `json:"id"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
	Replace bool              `json:"replace,omitempty"`
}

// SetBrokerConfigs changes dynamic broker configs of one broker, or of the
// cluster default when Broker is ClusterConfigKey.
type SetBrokerConfigs struct {
	Broker  int32             `json:"broker"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
	Replace bool              `json:"replace,omitempty"`
}

func encodeRecords(recs []Record) ([]byte, error) { return json.Marshal(recs) }

func decodeRecords(b []byte) ([]Record, error) {
	var recs []Record
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("meta: decode records: %w", err)
	}
	return recs, nil
}

// apply applies one record to im (a private clone), returning the error the
// proposer sees. A failed record leaves im unchanged.
func (im *Image) apply(r *Record) error {
	switch {
	case r.InitCluster != nil:
		if im.ClusterID == "" {
			im.ClusterID = r.InitCluster.ClusterID
		}
		return nil
	case r.RegisterBroker != nil:
		b := *r.RegisterBroker
		b.Epoch = int64(im.Index)
		im.brokers = copyMap(im.brokers, 1)
		im.brokers[b.ID] = &b
		return nil
	case r.FenceBroker != nil:
		return im.changeBroker(r.FenceBroker, func(b *Broker) { b.Fenced = true })
	case r.UnfenceBroker != nil:
		return im.changeBroker(r.UnfenceBroker, func(b *Broker) { b.Fenced = false })
	case r.ControlledShutdown != nil:
		return im.changeBroker(r.ControlledShutdown, func(b *Broker) { b.InControlledShutdown = true })
	case r.CreateTopic != nil:
		return im.applyCreateTopic(r.CreateTopic)
	case r.DeleteTopic != nil:
		return im.applyDeleteTopic(r.DeleteTopic.ID)
	case r.CreatePartitions != nil:
		return im.applyCreatePartitions(r.CreatePartitions)
	case r.SetTopicConfigs != nil:
		return im.applySetTopicConfigs(r.SetTopicConfigs)
	case r.SetBrokerConfigs != nil:
		c := r.SetBrokerConfigs
		im.brokerConfigs = copyMap(im.brokerConfigs, 1)
		im.brokerConfigs[c.Broker] = mergeConfigs(im.brokerConfigs[c.Broker], c.Set, c.Delete, c.Replace)
		return nil
	case r.AllocateProducerIDs != nil:
		return im.applyAllocateProducerIDs(r.AllocateProducerIDs)
	case r.PartitionChange != nil:
		return im.applyPartitionChange(r.PartitionChange)
	case r.AlterPartition != nil:
		return im.applyAlterPartition(r.AlterPartition)
	}
	if handled, err := im.applyTenantRecord(r); handled {
		return err
	}
	if handled, err := im.applyACLRecord(r); handled {
		return err
	}
	return fmt.Errorf("meta: empty record")
}

// changeBroker applies change to a copy of the registration ref names.
func (im *Image) changeBroker(ref *BrokerRef, change func(*Broker)) error {
	b, ok := im.brokers[ref.ID]
	if !ok {
		return fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, ref.ID)
	}
	if b.Epoch != ref.Epoch {
		return fmt.Errorf("%w: broker %d is at epoch %d, not %d", kerr.StaleBrokerEpoch, ref.ID, b.Epoch, ref.Epoch)
	}
	c := *b
	change(&c)
	im.brokers = copyMap(im.brokers, 0)
	im.brokers[c.ID] = &c
	return nil
}

func (im *Image) applyCreateTopic(t *Topic) error {
	if err := im.checkTenant(t.Tenant); err != nil {
		return err
	}
	if _, ok := im.byKey[t.Key()]; ok {
		return fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, t.Name)
	}
	if other := im.collidingTopic(t.Tenant, t.Name); other != "" {
		return fmt.Errorf("%w: topic %q collides with existing topic %q", kerr.InvalidTopicException, t.Name, other)
	}
	if _, ok := im.byID[t.ID]; ok || t.ID.IsZero() {
		return fmt.Errorf("%w: topic id %s is taken or invalid", kerr.InvalidTopicException, t.ID)
	}
	if err := im.checkPartitionQuota(t.Tenant, len(t.Partitions)); err != nil {
		return err
	}
	c := *t
	im.byKey = copyMap(im.byKey, 1)
	im.byID = copyMap(im.byID, 1)
	im.collide = copyMap(im.collide, 1)
	im.byKey[c.Key()] = &c
	im.byID[c.ID] = &c
	im.collide[collisionKey(c.Key())] = c.Name
	return nil
}

func (im *Image) applyDeleteTopic(id TopicID) error {
	t, ok := im.byID[id]
	if !ok {
		return fmt.Errorf("%w: topic id %s", kerr.UnknownTopicID, id)
	}
	im.byKey = copyMap(im.byKey, 0)
	im.byID = copyMap(im.byID, 0)
	im.collide = copyMap(im.collide, 0)
	delete(im.byKey, t.Key())
	delete(im.byID, id)
	delete(im.collide, collisionKey(t.Key()))
	return nil
}

func (im *Image) applyCreatePartitions(c *CreatePartitions) error {
	t, ok := im.byID[c.ID]
	if !ok {
		return fmt.Errorf("%w: topic id %s", kerr.UnknownTopicID, c.ID)
	}
	if err := im.checkPartitionQuota(t.Tenant, len(c.Add)); err != nil {
		return err
	}
	n := *t
	n.Partitions = append(append([]Partition(nil), t.Partitions...), c.Add...)
	im.replaceTopic(&n)
	return nil
}

func (im *Image) applySetTopicConfigs(c *SetTopicConfigs) error {
	t, ok := im.byID[c.ID]
	if !ok {
		return fmt.Errorf("%w: topic id %s", kerr.UnknownTopicID, c.ID)
	}
	n := *t
	n.Configs = mergeConfigs(t.Configs, c.Set, c.Delete, c.Replace)
	im.replaceTopic(&n)
	return nil
}

func (im *Image) replaceTopic(t *Topic) {
	im.byKey = copyMap(im.byKey, 0)
	im.byID = copyMap(im.byID, 0)
	im.byKey[t.Key()] = t
	im.byID[t.ID] = t
}

// collidingTopic returns an existing topic of the tenant whose name equals
// name once '.' and '_' are treated alike (Kafka forbids such pairs because
// metric names cannot tell them apart), or "".
func (im *Image) collidingTopic(tenant TenantID, name string) string {
	if other, ok := im.collide[collisionKey(TopicKey{tenant, name})]; ok && other != name {
		return other
	}
	return ""
}

func collisionKey(k TopicKey) TopicKey {
	return TopicKey{k.Tenant, strings.ReplaceAll(k.Name, ".", "_")}
}
func mergeConfigs(old, set map[string]string, del []string, replace bool) map[string]string {
	out := map[string]string{}
	if !replace {
		for k, v := range old {
			out[k] = v
		}
	}
	for k, v := range set {
		out[k] = v
	}
	for _, k := range del {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
