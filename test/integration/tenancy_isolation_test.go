package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTenantIsolationSweep: tenant A owns a topic, a group with offsets, a
// transactional id and producers; tenant B walks every listing and
// describe API, names A's topic by id and tries crafted and internal
// names. B sees none of A's resources, changes nothing of A's, and no
// answer names A's tenant or carries A's data.
func TestTenantIsolationSweep(t *testing.T) {
	b, credA, credB := twoTenants(t)
	ctx := brokertest.Context(t, 60*time.Second)

	// Tenant A: a topic with data, a group with a committed offset, a
	// transactional producer.
	const topic, group, txnID, payload = "secret-a", "grp-a", "tx-a", "payload-of-A"
	clA := brokertest.SASLClient(t, b.KafkaAddr(), credA, kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic))
	admA := kadm.NewClient(clA)
	brokertest.CreateTopic(t, admA, topic, 1, nil)
	if err := clA.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := clA.ProduceSync(ctx, &kgo.Record{Value: []byte(payload)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := clA.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1})
	if _, err := admA.CommitOffsets(ctx, group, os); err != nil {
		t.Fatal(err)
	}
	topics, err := admA.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	idA := topics[topic].ID

	clB := brokertest.SASLClient(t, b.KafkaAddr(), credB, kgo.RequestRetries(0))
	admB := kadm.NewClient(clB)
	var answers []kmsg.Response
	askAt := func(node int, req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := clB.Broker(node).Request(ctx, req) // straight to the node: no client-side routing
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		answers = append(answers, resp)
		return resp
	}
	ask := func(req kmsg.Request) kmsg.Response { t.Helper(); return askAt(1, req) }
	// Listings go to every node: each lists the groups and transactions
	// it coordinates.
	askAll := func(req kmsg.Request) []kmsg.Response {
		t.Helper()
		var out []kmsg.Response
		for node := range brokertest.ClusterSize() {
			out = append(out, askAt(node+1, req))
		}
		return out
	}
	// A group's or transactional id's requests go to B's coordinator of
	// that name, which answers for B's namespace.
	askCoordinator := func(found kadm.FindCoordinatorResponses, key string, req kmsg.Request) kmsg.Response {
		t.Helper()
		c, ok := found[key]
		if !ok || c.Err != nil {
			t.Fatalf("B's coordinator of %s: %+v", key, found)
		}
		return askAt(int(c.NodeID), req)
	}
	groupCoordinator := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		return askCoordinator(admB.FindGroupCoordinators(ctx, group), group, req)
	}

	crafted := []string{topic, credA.Tenant + "." + topic, credA.Tenant + "_" + topic, "__consumer_offsets", "__transaction_state", "_system." + topic}
	// Metadata: all topics, then each crafted name, then A's topic id.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	all := ask(md).(*kmsg.MetadataResponse)
	if len(all.Topics) != 0 {
		t.Fatalf("B lists topics: %+v", all.Topics)
	}
	md = kmsg.NewPtrMetadataRequest()
	md.Version = 12
	for _, name := range crafted {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		md.Topics = append(md.Topics, mt)
	}
	for _, rt := range ask(md).(*kmsg.MetadataResponse).Topics {
		if rt.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(rt.Partitions) != 0 {
			t.Errorf("metadata %v: error %d, %d partitions", rt.Topic, rt.ErrorCode, len(rt.Partitions))
		}
	}
	md = kmsg.NewPtrMetadataRequest()
	md.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.TopicID = idA
	md.Topics = append(md.Topics, mt)
	if rt := ask(md).(*kmsg.MetadataResponse).Topics; len(rt) != 1 || rt[0].ErrorCode != kerr.UnknownTopicID.Code || rt[0].Topic != nil {
		t.Errorf("metadata by A's id: %+v", rt)
	}

	// Fetch by A's topic id.
	fr := kmsg.NewPtrFetchRequest()
	fr.Version, fr.MaxWaitMillis, fr.MaxBytes = 13, 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.TopicID = idA
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	for _, rt := range ask(fr).(*kmsg.FetchResponse).Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != kerr.UnknownTopicID.Code || len(p.RecordBatches) != 0 {
				t.Errorf("fetch by A's id: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
			}
		}
	}

	// Groups and offsets.
	for _, lg := range askAll(kmsg.NewPtrListGroupsRequest()) {
		if lg := lg.(*kmsg.ListGroupsResponse); len(lg.Groups) != 0 {
			t.Errorf("B lists groups: %+v", lg.Groups)
		}
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	if g := groupCoordinator(dg).(*kmsg.DescribeGroupsResponse).Groups[0]; g.State != "Dead" && g.ErrorCode == 0 {
		t.Errorf("describe A's group: %+v", g)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	if r := groupCoordinator(of).(*kmsg.OffsetFetchResponse); len(r.Topics) != 0 {
		t.Errorf("offset fetch of A's group: %+v", r.Topics)
	}
	fetched, err := kadm.NewClient(clB).FetchOffsets(ctx, group)
	if err == nil && len(fetched) != 0 {
		t.Errorf("kadm fetch offsets of A's group: %+v", fetched)
	}

	// Configs, producers, transactions.
	dc := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range crafted {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, name
		dc.Resources = append(dc.Resources, r)
	}
	for _, r := range ask(dc).(*kmsg.DescribeConfigsResponse).Resources {
		if r.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(r.Configs) != 0 {
			t.Errorf("describe configs %s: error %d, %d configs", r.ResourceName, r.ErrorCode, len(r.Configs))
		}
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	for _, name := range crafted {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = name, []int32{0}
		dp.Topics = append(dp.Topics, rt)
	}
	for _, rt := range ask(dp).(*kmsg.DescribeProducersResponse).Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode == 0 || len(p.ActiveProducers) != 0 {
				t.Errorf("describe producers %s: %+v", rt.Topic, p)
			}
		}
	}
	for _, lt := range askAll(kmsg.NewPtrListTransactionsRequest()) {
		if lt := lt.(*kmsg.ListTransactionsResponse); len(lt.TransactionStates) != 0 {
			t.Errorf("B lists transactions: %+v", lt.TransactionStates)
		}
	}
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{txnID}
	if s := askCoordinator(admB.FindTxnCoordinators(ctx, txnID), txnID, dt).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]; s.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Errorf("describe A's transaction: %+v", s)
	}

	// Changes: deleting A's topic by name or id, deleting A's group.
	dtr := kmsg.NewPtrDeleteTopicsRequest()
	dtr.Version = 6
	for _, ref := range []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr(topic)}, {TopicID: idA}} {
		dtr.Topics = append(dtr.Topics, ref)
	}
	for _, rt := range ask(dtr).(*kmsg.DeleteTopicsResponse).Topics {
		if rt.ErrorCode == 0 {
			t.Errorf("B deleted %v/%v", rt.Topic, rt.TopicID)
		}
	}
	dgr := kmsg.NewPtrDeleteGroupsRequest()
	dgr.Groups = []string{group}
	if g := groupCoordinator(dgr).(*kmsg.DeleteGroupsResponse).Groups[0]; g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("delete A's group from B: %+v", g)
	}

	// B may create the same names for itself.
	brokertest.CreateTopic(t, kadm.NewClient(clB), topic, 3, nil)

	// No answer names A's tenant or carries A's data, apart from echoing
	// the names B sent.
	for _, resp := range answers {
		js, _ := json.Marshal(resp)
		s := string(js)
		for _, name := range slices.SortedFunc(slices.Values(crafted), func(a, b string) int { return len(b) - len(a) }) {
			s = strings.ReplaceAll(s, name, "") // longest first
		}
		if strings.Contains(s, credA.Tenant) || strings.Contains(s, credA.Key) || strings.Contains(s, "cGF5bG9hZC1vZi1B") {
			t.Errorf("%T leaks tenant A: %s", resp, s)
		}
	}

	// A still has everything.
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if topics, err := admA.ListTopics(checkCtx); err != nil || topics[topic].Partitions.NumReplicas() != brokertest.ClusterSize() || len(topics) != 1 {
		t.Fatalf("A's topics after B's attempts: %v %v", topics, err)
	}
	if offs, err := admA.FetchOffsets(checkCtx, group); err != nil || offs[topic][0].At != 1 {
		t.Fatalf("A's offsets after B's attempts: %v %v", offs, err)
	}
}
