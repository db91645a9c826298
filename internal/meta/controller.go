package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxPartitionsPerTopic bounds one topic's partition count, so that a single
// request cannot make the node allocate without limit.
const MaxPartitionsPerTopic = 10000

// TopicSpec is a request to create a topic. NumPartitions and
// ReplicationFactor are already resolved from broker defaults by the caller
// unless Assignments is set, which then decides both.
type TopicSpec struct {
	Name              string
	NumPartitions     int32
	ReplicationFactor int16
	Assignments       [][]int32 // replicas per partition, optional
	Configs           map[string]string
	// Internal marks a topic of Strata's own (in SystemTenant).
	Internal bool
}

// CreateResult is the outcome of one TopicSpec.
type CreateResult struct {
	Topic *Topic // the topic as created (or as it would be, with validateOnly)
	Err   error
}

// CreateTopics validates the specs against the current image, places their
// replicas and, unless validateOnly, commits them in one entry. Specs are
// independent: one failing does not stop the others.
func (s *Store) CreateTopics(ctx context.Context, tenant TenantID, specs []TopicSpec, validateOnly bool) []CreateResult {
	im := s.Image()
	out := make([]CreateResult, len(specs))
	var recs []Record
	var idx []int
	for i, spec := range specs {
		t, err := buildTopic(im, tenant, spec)
		out[i] = CreateResult{Topic: t, Err: err}
		if err == nil && !validateOnly {
			recs = append(recs, Record{CreateTopic: t})
			idx = append(idx, i)
		}
	}
	if len(recs) == 0 {
		return out
	}
	errs, err := s.Propose(ctx, recs...)
	for j, i := range idx {
		if err != nil {
			out[i].Err = err
		} else {
			out[i].Err = errs[j]
		}
	}
	return out
}

func buildTopic(im *Image, tenant TenantID, spec TopicSpec) (*Topic, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return nil, err
	}
	if _, ok := im.TopicByName(tenant, spec.Name); ok {
		return nil, fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, spec.Name)
	}
	if other := im.collidingTopic(tenant, spec.Name); other != "" {
		return nil, fmt.Errorf("%w: topic %q collides with existing topic %q", kerr.InvalidTopicException, spec.Name, other)
	}
	if err := validateTopicConfigs(spec.Configs); err != nil {
		return nil, err
	}
	var parts []Partition
	var err error
	if len(spec.Assignments) > 0 {
		if spec.NumPartitions != -1 || spec.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both a replica assignment and a partition count or replication factor were given", kerr.InvalidRequest)
		}
		parts, err = explicitPartitions(im, spec.Assignments)
	} else {
		parts, err = placePartitions(im, spec.NumPartitions, spec.ReplicationFactor, 0)
	}
	if err != nil {
		return nil, err
	}
	if err := im.checkPartitionQuota(tenant, len(parts)); err != nil {
		return nil, err
	}
	return &Topic{ID: NewTopicID(), Tenant: tenant, Name: spec.Name, Partitions: parts, Configs: spec.Configs, Internal: spec.Internal}, nil
}

func explicitPartitions(im *Image, assignments [][]int32) ([]Partition, error) {
	if len(assignments) > MaxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: %d partitions exceed the limit of %d per topic", kerr.InvalidPartitions, len(assignments), MaxPartitionsPerTopic)
	}
	parts := make([]Partition, len(assignments))
	for p, replicas := range assignments {
		if len(replicas) == 0 || len(replicas) != len(assignments[0]) {
			return nil, fmt.Errorf("%w: partition %d has %d replicas, want the same non-zero count for every partition", kerr.InvalidReplicaAssignment, p, len(replicas))
		}
		for i, id := range replicas {
			if _, ok := im.Broker(id); !ok {
				return nil, fmt.Errorf("%w: partition %d names unknown broker %d", kerr.InvalidReplicaAssignment, p, id)
			}
			if slices.Contains(replicas[:i], id) {
				return nil, fmt.Errorf("%w: partition %d lists broker %d twice", kerr.InvalidReplicaAssignment, p, id)
			}
		}
		parts[p] = newPartition(slices.Clone(replicas))
	}
	return parts, nil
}

func newPartition(replicas []int32) Partition {
	return Partition{Replicas: replicas, ISR: slices.Clone(replicas), Leader: replicas[0]}
}

// TopicRef names a topic by name or, when ID is set, by id.
type TopicRef struct {
	Name string
	ID   TopicID
}

// ResolveTopic finds the tenant's topic a ref names.
func (im *Image) ResolveTopic(tenant TenantID, ref TopicRef) (*Topic, error) {
	if !ref.ID.IsZero() {
		t, ok := im.TopicByID(ref.ID)
		if !ok || t.Tenant != tenant {
			return nil, fmt.Errorf("%w: %s", kerr.UnknownTopicID, ref.ID)
		}
		return t, nil
	}
	t, ok := im.TopicByName(tenant, ref.Name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, ref.Name)
	}
	return t, nil
}

// DeleteTopics deletes the tenant's topics; the result for each ref is the
// deleted topic or an error.
func (s *Store) DeleteTopics(ctx context.Context, tenant TenantID, refs []TopicRef) []CreateResult {
	im := s.Image()
	out := make([]CreateResult, len(refs))
	var recs []Record
	var idx []int
	for i, ref := range refs {
		t, err := im.ResolveTopic(tenant, ref)
		if err == nil && t.Internal {
			err = fmt.Errorf("%w: internal topic %q cannot be deleted", kerr.TopicAuthorizationFailed, t.Name)
		}
		out[i] = CreateResult{Topic: t, Err: err}
		if err == nil {
			recs = append(recs, Record{DeleteTopic: &DeleteTopic{ID: t.ID}})
			idx = append(idx, i)
		}
	}
	s.commit(ctx, recs, idx, out)
	return out
}

func (s *Store) commit(ctx context.Context, recs []Record, idx []int, out []CreateResult) {
	if len(recs) == 0 {
		return
	}
	errs, err := s.Propose(ctx, recs...)
	for j, i := range idx {
		if err != nil {
			out[i].Err = err
		} else {
			out[i].Err = errs[j]
		}
	}
}

// PartitionIncrease asks for a topic to grow to Count partitions.
type PartitionIncrease struct {
	Name        string
	Count       int32
	Assignments [][]int32 // for the new partitions only, optional
}

// CreatePartitions grows topics. Partition counts never shrink.
func (s *Store) CreatePartitions(ctx context.Context, tenant TenantID, incs []PartitionIncrease, validateOnly bool) []CreateResult {
	im := s.Image()
	out := make([]CreateResult, len(incs))
	var recs []Record
	var idx []int
	for i, inc := range incs {
		t, add, err := planIncrease(im, tenant, inc)
		out[i] = CreateResult{Topic: t, Err: err}
		if err == nil && !validateOnly {
			recs = append(recs, Record{CreatePartitions: &CreatePartitions{ID: t.ID, Add: add}})
			idx = append(idx, i)
		}
	}
	s.commit(ctx, recs, idx, out)
	return out
}

func planIncrease(im *Image, tenant TenantID, inc PartitionIncrease) (*Topic, []Partition, error) {
	t, ok := im.TopicByName(tenant, inc.Name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, inc.Name)
	}
	have := int32(len(t.Partitions))
	if inc.Count <= have {
		return t, nil, fmt.Errorf("%w: topic currently has %d partitions, which is higher than or equal to the requested %d", kerr.InvalidPartitions, have, inc.Count)
	}
	if err := im.checkPartitionQuota(tenant, int(inc.Count-have)); err != nil {
		return t, nil, err
	}
	if len(inc.Assignments) > 0 {
		if int32(len(inc.Assignments)) != inc.Count-have {
			return t, nil, fmt.Errorf("%w: %d assignments given for %d new partitions", kerr.InvalidReplicaAssignment, len(inc.Assignments), inc.Count-have)
		}
		add, err := explicitPartitions(im, inc.Assignments)
		if err == nil && len(add[0].Replicas) != len(t.Partitions[0].Replicas) {
			err = fmt.Errorf("%w: new partitions must have %d replicas like the existing ones", kerr.InvalidReplicaAssignment, len(t.Partitions[0].Replicas))
		}
		return t, add, err
	}
	add, err := placePartitions(im, inc.Count-have, int16(len(t.Partitions[0].Replicas)), have)
	return t, add, err
}

// IsKafkaError reports whether err carries a Kafka error code.
func IsKafkaError(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke)
}
