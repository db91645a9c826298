package integration

import (
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/api"
	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/record/recordtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInterBrokerTxnRequests drives the requests one Strata broker sends
// another for transactions (api/interbroker.go): AddPartitionsToTxn v5
// verify-only with the tenant tagged, naming a group's offsets partition,
// and WriteTxnMarkers with its error paths.
func TestInterBrokerTxnRequests(t *testing.T) {
	const topic = "ib"
	r := newRaw(t)
	r.createTopic(topic, 2, nil)
	// The transaction's requests go to its coordinator; the verification
	// too, as a partition leader sends it there.
	tc := r.coordinator(1, "ib-tx")

	ireq := kmsg.NewPtrInitProducerIDRequest()
	ireq.TransactionalID = kmsg.StringPtr("ib-tx")
	ireq.TransactionTimeoutMillis = 60_000
	ip := tc.requestAt(ireq, 4).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 {
		t.Fatalf("init: %+v", ip)
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "ib-tx", pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = topic, []int32{0}
	add.Topics = append(add.Topics, at)
	if code := tc.requestAt(add, 3).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("add: %d", code)
	}
	aot := kmsg.NewPtrAddOffsetsToTxnRequest()
	aot.TransactionalID, aot.ProducerID, aot.ProducerEpoch, aot.Group = "ib-tx", pid, epoch, "ib-group"
	if code := tc.requestAt(aot, 3).(*kmsg.AddOffsetsToTxnResponse).ErrorCode; code != 0 {
		t.Fatalf("add offsets: %d", code)
	}
	pr := kmsg.NewPtrProduceRequest()
	pr.TransactionID = kmsg.StringPtr("ib-tx")
	pr.Acks, pr.TimeoutMillis = -1, 5000
	prt := kmsg.NewProduceRequestTopic()
	prt.Topic = topic
	prp := kmsg.NewProduceRequestTopicPartition()
	prp.Records = recordtest.BuildWith(recordtest.BatchOptions{
		Producer: &recordtest.Producer{ID: pid, Epoch: epoch}, Transactional: true,
	}, recordtest.Rec{Value: []byte("ib"), TimestampMs: time.Now().UnixMilli()})
	prt.Partitions = append(prt.Partitions, prp)
	pr.Topics = append(pr.Topics, prt)
	if code := r.requestAt(pr, 11).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce: %d", code)
	}

	// Verification as a broker asks it: the tenant tagged, the group's
	// offsets partition named by the offsets topic.
	offsets := coord.PartitionFor(coord.GroupKey{Tenant: string(meta.DefaultTenant), Group: "ib-group"}, 50)
	verify := func(tenant meta.TenantID, txnID string, topics map[string][]int32) map[string]map[int32]int16 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, true
		tx.UnknownTags = api.TenantTags(tenant)
		for name, ps := range topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = name, ps
			tx.Topics = append(tx.Topics, rt)
		}
		req.Transactions = append(req.Transactions, tx)
		out := map[string]map[int32]int16{}
		for _, rt := range tc.requestAt(req, 5).(*kmsg.AddPartitionsToTxnResponse).Transactions[0].Topics {
			out[rt.Topic] = map[int32]int16{}
			for _, rp := range rt.Partitions {
				out[rt.Topic][rp.Partition] = rp.ErrorCode
			}
		}
		return out
	}
	got := verify(meta.DefaultTenant, "ib-tx", map[string][]int32{topic: {0, 1}, coord.OffsetsTopic: {offsets, (offsets + 1) % 50}})
	if got[topic][0] != 0 || got[topic][1] != kerr.TransactionAbortable.Code ||
		got[coord.OffsetsTopic][offsets] != 0 || got[coord.OffsetsTopic][(offsets+1)%50] != kerr.TransactionAbortable.Code {
		t.Fatalf("tagged verification: %v", got)
	}
	// Another tenant has neither the topic nor the transactional id.
	if got := verify("lc-other", "ib-tx", map[string][]int32{topic: {0}}); got[topic][0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("verification in another tenant: %v", got)
	}

	// Markers go to the partition's leader: node 1 for the topic, the
	// group's coordinator for its offsets partition.
	markers := func(tenant meta.TenantID, topic string, partition int32, coordinatorEpoch int32) int16 {
		leader := r
		if topic == coord.OffsetsTopic && partition == offsets {
			leader = r.coordinator(0, "ib-group")
		}
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, true, coordinatorEpoch
		m.UnknownTags = api.TenantTags(tenant)
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{partition}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		return leader.requestAt(req, 1).(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	for _, c := range []struct {
		what      string
		tenant    meta.TenantID
		topic     string
		partition int32
		want      int16
	}{
		{"an unknown topic", meta.DefaultTenant, "nope", 0, kerr.UnknownTopicOrPartition.Code},
		{"a partition out of range", meta.DefaultTenant, topic, 7, kerr.UnknownTopicOrPartition.Code},
		{"a system topic other than the offsets topic", meta.SystemTenant, coord.TransactionStateTopic, 0, kerr.UnknownTopicOrPartition.Code},
		{"another tenant's view", "lc-other", topic, 0, kerr.UnknownTopicOrPartition.Code},
		{"the open transaction", meta.DefaultTenant, topic, 0, 0},
		{"a retry", meta.DefaultTenant, topic, 0, 0},
		{"the group's offsets partition", meta.SystemTenant, coord.OffsetsTopic, offsets, 0},
	} {
		if code := markers(c.tenant, c.topic, c.partition, 5); code != c.want {
			t.Errorf("marker on %s: error %v, want %v", c.what, kerr.ErrorForCode(code), kerr.ErrorForCode(c.want))
		}
	}
	// A coordinator epoch older than the last marker's is fenced.
	if code := markers(meta.DefaultTenant, topic, 0, 4); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("marker from an older coordinator epoch: %v", kerr.ErrorForCode(code))
	}
	// The marker committed the transaction on the partition: the last
	// stable offset passed it.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.IsolationLevel = 1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	if got := r.requestAt(lo, 7).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; got.ErrorCode != 0 || got.Offset != 2 {
		t.Fatalf("last stable offset after the marker: %+v", got)
	}
}
