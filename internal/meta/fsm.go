package meta

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsm is the raft state machine: it applies committed entries to the image
// and publishes each new image. raft calls Apply, Snapshot and Restore from
// one goroutine; Image may be called from anywhere.
type fsm struct {
	image atomic.Pointer[Image]

	mu   sync.Mutex
	subs []chan struct{}
}

func newFSM() *fsm {
	f := &fsm{}
	f.image.Store(emptyImage())
	return f
}

// applyResult is what Apply returns through raft's future: one error (or
// nil) per record of the entry.
type applyResult struct {
	errs []error
	err  error // the entry as a whole could not be decoded
}

func (f *fsm) Apply(l *raft.Log) any {
	recs, err := decodeRecords(l.Data)
	if err != nil {
		// A committed entry we cannot read is a bug or corruption; skip it
		// but keep the index moving so the node stays live.
		f.publish(f.withIndex(f.image.Load(), l.Index))
		return applyResult{err: err}
	}
	im := f.image.Load().clone()
	// Records see the index of their entry (a registration's epoch).
	im.Index = l.Index
	errs := make([]error, len(recs))
	for i := range recs {
		errs[i] = im.apply(&recs[i])
	}
	f.publish(im)
	return applyResult{errs: errs}
}

func (f *fsm) withIndex(im *Image, idx uint64) *Image {
	c := im.clone()
	c.Index = idx
	return c
}

func (f *fsm) publish(im *Image) {
	f.image.Store(im)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default: // a notification is already pending; the reader sees the latest image
		}
	}
}

func (f *fsm) subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch
}

// snapshotImage is the serialised form of an image.
type snapshotImage struct {
	Index          uint64                      `json:"index"`
	ClusterID      string                      `json:"clusterId"`
	Brokers        []*Broker                   `json:"brokers"`
	Topics         []*Topic                    `json:"topics"`
	BrokerConfigs  map[int32]map[string]string `json:"brokerConfigs,omitempty"`
	NextProducerID int64                       `json:"nextProducerId,omitempty"`
	Tenants        map[TenantID]*Tenant        `json:"tenants,omitempty"`
	Credentials    map[string]*Credential      `json:"credentials,omitempty"`
	DeletedTenants []TenantID                  `json:"deletedTenants,omitempty"`
	ACLs           map[TenantID][]ACL          `json:"acls,omitempty"`
	Quotas         map[TenantID]*Quotas        `json:"quotas,omitempty"`
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	im := f.image.Load()
	return &fsmSnapshot{im: im}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotImage
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("meta: restore snapshot: %w", err)
	}
	im := emptyImage()
	im.Index = s.Index
	im.ClusterID = s.ClusterID
	for _, b := range s.Brokers {
		im.brokers[b.ID] = b
	}
	for _, t := range s.Topics {
		im.byKey[t.Key()] = t
		im.byID[t.ID] = t
		im.collide[collisionKey(t.Key())] = t.Name
	}
	if s.BrokerConfigs != nil {
		im.brokerConfigs = s.BrokerConfigs
	}
	im.nextProducerID = s.NextProducerID
	im.tenants, im.credentials, im.acls, im.quotas = s.Tenants, s.Credentials, s.ACLs, s.Quotas
	if len(s.DeletedTenants) > 0 {
		im.deletedTenants = make(map[TenantID]struct{}, len(s.DeletedTenants))
		for _, id := range s.DeletedTenants {
			im.deletedTenants[id] = struct{}{}
		}
	}
	f.publish(im)
	return nil
}

type fsmSnapshot struct{ im *Image }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	im := s.im
	out := snapshotImage{
		Index:          im.Index,
		ClusterID:      im.ClusterID,
		Brokers:        im.Brokers(),
		Topics:         im.AllTopics(),
		BrokerConfigs:  im.brokerConfigs,
		NextProducerID: im.nextProducerID,
		Tenants:        im.tenants,
		Credentials:    im.credentials,
		DeletedTenants: slices.Sorted(maps.Keys(im.deletedTenants)),
		ACLs:           im.acls,
		Quotas:         im.quotas,
	}
	if err := json.NewEncoder(sink).Encode(&out); err != nil {
		sink.Cancel()
		return fmt.Errorf("meta: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
