package meta

import (
	"slices"
	"testing"
)

// FuzzAlterPartitionRecord decodes arbitrary metadata-log entries and
// applies their AlterPartition records (with or without KIP-903's epochs)
// to an image with a re-registered broker: decoding and applying never
// panic, a refused record leaves the partition alone, and an applied one
// adds a replica only at its broker's current registration when it
// carries epochs.
func FuzzAlterPartitionRecord(f *testing.F) {
	f.Add([]byte(`[{"alterPartition":{"partition":0,"leader":1,"brokerEpoch":10,"leaderEpoch":4,"partitionEpoch":7,"isr":[1,2,3]}}]`))
	f.Add([]byte(`[{"alterPartition":{"partition":0,"leader":1,"brokerEpoch":10,"leaderEpoch":4,"partitionEpoch":7,"isr":[1,2,3],"added":[{"id":3,"epoch":10}]}}]`))
	f.Add([]byte(`[{"alterPartition":{"partition":0,"leader":1,"brokerEpoch":10,"leaderEpoch":4,"partitionEpoch":7,"isr":[1,2,3],"added":[{"id":3,"epoch":20}]}}]`))
	f.Add([]byte(`[{"alterPartition":{"partition":0,"leader":1,"brokerEpoch":10,"leaderEpoch":4,"partitionEpoch":7,"isr":[1],"added":null}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeRecords(data)
		if err != nil {
			return
		}
		im := emptyImage()
		for id, epoch := range map[int32]int64{1: 10, 2: 10, 3: 20} {
			im.brokers[id] = &Broker{ID: id, Epoch: epoch}
		}
		tp := &Topic{ID: NewTopicID(), Tenant: DefaultTenant, Name: "t",
			Partitions: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7}}}
		if err := im.applyCreateTopic(tp); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			a := r.AlterPartition
			if a == nil {
				continue
			}
			a.Topic = tp.ID
			before := im.byID[tp.ID].Partitions[0]
			err := im.apply(&Record{AlterPartition: a})
			after := im.byID[tp.ID].Partitions[0]
			if err != nil {
				if after.PartitionEpoch != before.PartitionEpoch || !slices.Equal(after.ISR, before.ISR) {
					t.Fatalf("refused record changed the partition: %v: %+v -> %+v", err, before, after)
				}
				continue
			}
			for _, id := range after.ISR {
				if slices.Contains(before.ISR, id) || a.Added == nil {
					continue
				}
				i := slices.IndexFunc(a.Added, func(b BrokerRef) bool { return b.ID == id })
				if i < 0 || a.Added[i].Epoch != im.brokers[id].Epoch {
					t.Fatalf("broker %d added at %+v, registered at %d", id, a.Added, im.brokers[id].Epoch)
				}
			}
		}
	})
}
