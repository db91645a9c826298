package integration

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// binding is an ACL of the member key under test.
type binding struct {
	rt       kmsg.ACLResourceType
	name     string
	op       kmsg.ACLOperation
	prefixed bool
}

var (
	topicRT = kmsg.ACLResourceTypeTopic
	groupRT = kmsg.ACLResourceTypeGroup
	txnRT   = kmsg.ACLResourceTypeTransactionalId
)

func (b binding) creation(principal string, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
	c := aclCreation(principal, b.name, kmsg.ACLResourcePatternTypeLiteral, b.op, perm)
	c.ResourceType = b.rt
	if b.prefixed {
		c.ResourcePatternType = kmsg.ACLResourcePatternTypePrefixed
	}
	return c
}

// codeErr is the first non-zero error code as an error.
func codeErr(codes ...int16) error {
	for _, c := range codes {
		if c != 0 {
			return kerr.ErrorForCode(c)
		}
	}
	return nil
}

// authOnly keeps only authorization errors: for requests that a lone
// client cannot complete (no member, no producer), an answer past the
// authorization check is success here.
func authOnly(err error) error {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed, kerr.ClusterAuthorizationFailed} {
		if errors.Is(err, e) {
			return err
		}
	}
	return nil
}

// TestACLEnforcement: a member key is held to its tenant's ACLs on every
// data API. For each API, without ACLs it is refused with Kafka's error
// code; with the ALLOW bindings Kafka requires it succeeds; a DENY takes
// it back. Then listings (ListGroups, ListTransactions, OffsetFetch of
// all topics) leave out what the key may not DESCRIBE.
func TestACLEnforcement(t *testing.T) {
	b, admin, _ := twoTenants(t)
	ctx := brokertest.Context(t, 120*time.Second)
	member := brokertest.CreateKeyWithRole(t, b, admin.Tenant, "member")
	user := "User:" + member.Key
	ac := brokertest.SASLClient(t, b.KafkaAddr(), admin)
	adm := kadm.NewClient(ac)
	brokertest.CreateTopicLedByNode1(t, ac, "t", 1, nil) // send's partition requests reach its leader
	for _, name := range []string{"u", "gone"} {
		brokertest.CreateTopic(t, adm, name, 1, nil)
	}
	details, err := adm.ListTopics(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	topicID := details["t"].ID
	newMember := func(opts ...kgo.Opt) *kgo.Client {
		return brokertest.SASLClient(t, b.KafkaAddr(), member, append([]kgo.Opt{kgo.RequestRetries(0)}, opts...)...)
	}
	m := newMember()
	sendTo := func(node int, req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := m.Broker(node).Request(ctx, req)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		return resp
	}
	// send goes to node 1, which leads t; sendGroup and sendTxn to the
	// coordinator of a group or transactional id (the admin key looks
	// it up: the member may not be allowed to).
	send := func(req kmsg.Request) kmsg.Response { t.Helper(); return sendTo(1, req) }
	coordinator := func(found kadm.FindCoordinatorResponses, key string) int {
		t.Helper()
		c, ok := found[key]
		if !ok || c.Err != nil {
			t.Fatalf("coordinator of %s: %+v", key, found)
		}
		return int(c.NodeID)
	}
	sendGroup := func(group string, req kmsg.Request) kmsg.Response {
		t.Helper()
		return sendTo(coordinator(adm.FindGroupCoordinators(ctx, group), group), req)
	}
	sendTxn := func(txnID string, req kmsg.Request) kmsg.Response {
		t.Helper()
		return sendTo(coordinator(adm.FindTxnCoordinators(ctx, txnID), txnID), req)
	}
	toGroup := func(group string) func(kmsg.Request) kmsg.Response {
		return func(req kmsg.Request) kmsg.Response { t.Helper(); return sendGroup(group, req) }
	}
	record := &kgo.Record{Topic: "t", Value: []byte("v")}

	cases := []struct {
		name             string
		allow            []binding
		deny             binding
		want, wantDenied error // wantDenied nil: want
		do               func() error
	}{
		{
			name: "produce", allow: []binding{{topicRT, "t", kmsg.ACLOperationWrite, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationWrite, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error { return newMember(kgo.DisableIdempotentWrite()).ProduceSync(ctx, record).FirstErr() },
		},
		{
			// KIP-679: WRITE on any topic allows an idempotent producer.
			name: "idempotent producer id", allow: []binding{{topicRT, "t", kmsg.ACLOperationWrite, true}},
			deny: binding{topicRT, "*", kmsg.ACLOperationWrite, false}, want: kerr.ClusterAuthorizationFailed,
			do: func() error {
				return codeErr(send(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse).ErrorCode)
			},
		},
		{
			name: "transaction", allow: []binding{{txnRT, "tx", kmsg.ACLOperationWrite, false}, {topicRT, "t", kmsg.ACLOperationWrite, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationWrite, false}, want: kerr.TransactionalIDAuthorizationFailed, wantDenied: kerr.TopicAuthorizationFailed,
			do: func() error {
				cl := newMember(kgo.TransactionalID("tx"))
				if err := cl.BeginTransaction(); err != nil {
					return err
				}
				err := cl.ProduceSync(ctx, record).FirstErr()
				commit := kgo.TransactionEndTry(err == nil)
				if endErr := cl.EndTransaction(ctx, commit); err == nil {
					err = endErr
				}
				return err
			},
		},
		{
			name: "fetch", allow: []binding{{topicRT, "t", kmsg.ACLOperationRead, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationRead, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrFetchRequest()
				req.MaxWaitMillis, req.MaxBytes = 0, 1<<20
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = "t", topicID
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := send(req).(*kmsg.FetchResponse)
				return codeErr(resp.ErrorCode, resp.Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "list offsets", allow: []binding{{topicRT, "t", kmsg.ACLOperationDescribe, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationDescribe, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrListOffsetsRequest()
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return codeErr(send(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "offset for leader epoch", allow: []binding{{topicRT, "t", kmsg.ACLOperationRead, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationDescribe, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrOffsetForLeaderEpochRequest()
				rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				return codeErr(send(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "describe producers", allow: []binding{{topicRT, "t", kmsg.ACLOperationRead, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationAll, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrDescribeProducersRequest()
				req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
				return codeErr(send(req).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "delete records", allow: []binding{{topicRT, "t", kmsg.ACLOperationDelete, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationDelete, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrDeleteRecordsRequest()
				req.TimeoutMillis = 5000
				req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "t", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}}}
				return codeErr(send(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "create partitions", allow: []binding{{topicRT, "t", kmsg.ACLOperationAlter, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationAlter, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrCreatePartitionsRequest()
				req.TimeoutMillis, req.ValidateOnly = 5000, true
				req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 2}}
				return codeErr(send(req).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode)
			},
		},
		{
			// Once deleted, the DENY answers as before: existence does not leak.
			name: "delete topics", allow: []binding{{topicRT, "gone", kmsg.ACLOperationDelete, false}},
			deny: binding{topicRT, "gone", kmsg.ACLOperationDelete, false}, want: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrDeleteTopicsRequest()
				req.TimeoutMillis = 5000
				req.TopicNames = []string{"gone"}
				req.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("gone")}}
				return codeErr(send(req).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode)
			},
		},
		{
			name: "find group coordinator", allow: []binding{{groupRT, "g", kmsg.ACLOperationRead, false}},
			deny: binding{groupRT, "g", kmsg.ACLOperationDescribe, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error { return findCoordinator(send, 0, "g") },
		},
		{
			name: "find transaction coordinator", allow: []binding{{txnRT, "tx", kmsg.ACLOperationDescribe, false}},
			deny: binding{txnRT, "tx", kmsg.ACLOperationDescribe, false}, want: kerr.TransactionalIDAuthorizationFailed,
			do: func() error { return findCoordinator(send, 1, "tx") },
		},
		{
			name: "join group", allow: []binding{{groupRT, "gj", kmsg.ACLOperationRead, false}},
			deny: binding{groupRT, "gj", kmsg.ACLOperationRead, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "gj", 30000, 30000, "consumer"
				req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
				err := codeErr(sendGroup("gj", req).(*kmsg.JoinGroupResponse).ErrorCode)
				if errors.Is(err, kerr.MemberIDRequired) { // KIP-394's first answer
					return nil
				}
				return err
			},
		},
		{
			name: "sync group", allow: []binding{{groupRT, "gj", kmsg.ACLOperationRead, false}},
			deny: binding{groupRT, "gj", kmsg.ACLOperationRead, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.Generation, req.MemberID = "gj", 1, "nobody"
				return authOnly(codeErr(sendGroup("gj", req).(*kmsg.SyncGroupResponse).ErrorCode))
			},
		},
		{
			name: "heartbeat", allow: []binding{{groupRT, "gj", kmsg.ACLOperationRead, false}},
			deny: binding{groupRT, "gj", kmsg.ACLOperationRead, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.Generation, req.MemberID = "gj", 1, "nobody"
				return authOnly(codeErr(sendGroup("gj", req).(*kmsg.HeartbeatResponse).ErrorCode))
			},
		},
		{
			name: "leave group", allow: []binding{{groupRT, "gj", kmsg.ACLOperationRead, false}},
			deny: binding{groupRT, "gj", kmsg.ACLOperationRead, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group, req.MemberID = "gj", "nobody"
				req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "nobody"}}
				return authOnly(codeErr(sendGroup("gj", req).(*kmsg.LeaveGroupResponse).ErrorCode))
			},
		},
		{
			name: "offset commit", allow: []binding{{groupRT, "g", kmsg.ACLOperationRead, false}, {topicRT, "t", kmsg.ACLOperationRead, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationRead, false}, want: kerr.GroupAuthorizationFailed, wantDenied: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation = "g", -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic, rt.TopicID = "t", topicID
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				return codeErr(sendGroup("g", req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "offset fetch", allow: []binding{{groupRT, "g", kmsg.ACLOperationDescribe, false}, {topicRT, "t", kmsg.ACLOperationDescribe, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationDescribe, false}, want: kerr.GroupAuthorizationFailed, wantDenied: kerr.TopicAuthorizationFailed,
			do: func() error {
				topics, err := offsetFetch(toGroup("g"), "g", topicID, true)
				if err != nil || len(topics) != 1 {
					return err
				}
				return codeErr(topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "offset delete", allow: []binding{{groupRT, "g", kmsg.ACLOperationDelete, false}, {topicRT, "t", kmsg.ACLOperationRead, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationRead, false}, want: kerr.GroupAuthorizationFailed, wantDenied: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = "g"
				req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
				resp := sendGroup("g", req).(*kmsg.OffsetDeleteResponse)
				if resp.ErrorCode != 0 {
					return codeErr(resp.ErrorCode)
				}
				return codeErr(resp.Topics[0].Partitions[0].ErrorCode)
			},
		},
		{
			name: "describe groups", allow: []binding{{groupRT, "g", kmsg.ACLOperationDescribe, false}},
			deny: binding{groupRT, "g", kmsg.ACLOperationDescribe, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"g"}
				return codeErr(sendGroup("g", req).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode)
			},
		},
		{
			name: "delete groups", allow: []binding{{groupRT, "gd", kmsg.ACLOperationDelete, false}},
			deny: binding{groupRT, "gd", kmsg.ACLOperationDelete, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"gd"}
				err := codeErr(sendGroup("gd", req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode)
				if errors.Is(err, kerr.GroupIDNotFound) {
					return nil
				}
				return err
			},
		},
		{
			name: "consumer group heartbeat", allow: []binding{{groupRT, "gc", kmsg.ACLOperationRead, false}, {topicRT, "t", kmsg.ACLOperationDescribe, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationDescribe, false}, want: kerr.GroupAuthorizationFailed, wantDenied: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Group, req.MemberID, req.RebalanceTimeoutMillis = "gc", "acl-test-member", 30000
				req.SubscribedTopicNames, req.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				return codeErr(sendGroup("gc", req).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode)
			},
		},
		{
			name: "consumer group describe", allow: []binding{{groupRT, "gc", kmsg.ACLOperationDescribe, false}},
			deny: binding{groupRT, "gc", kmsg.ACLOperationDescribe, false}, want: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{"gc"}
				return codeErr(sendGroup("gc", req).(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode)
			},
		},
		{
			name: "add offsets to transaction", allow: []binding{{txnRT, "tx", kmsg.ACLOperationWrite, false}, {groupRT, "g", kmsg.ACLOperationRead, false}},
			deny: binding{groupRT, "g", kmsg.ACLOperationRead, false}, want: kerr.TransactionalIDAuthorizationFailed, wantDenied: kerr.GroupAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrAddOffsetsToTxnRequest()
				req.TransactionalID, req.Group, req.ProducerID = "tx", "g", 1<<40
				return authOnly(codeErr(sendTxn("tx", req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode))
			},
		},
		{
			name: "transactional offset commit", allow: []binding{{txnRT, "tx", kmsg.ACLOperationWrite, false}, {groupRT, "g", kmsg.ACLOperationRead, false}, {topicRT, "t", kmsg.ACLOperationRead, false}},
			deny: binding{topicRT, "t", kmsg.ACLOperationRead, false}, want: kerr.TransactionalIDAuthorizationFailed, wantDenied: kerr.TopicAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrTxnOffsetCommitRequest()
				req.TransactionalID, req.Group, req.ProducerID, req.Generation = "tx", "g", 1<<40, -1
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				return authOnly(codeErr(sendGroup("g", req).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode))
			},
		},
		{
			name: "end transaction", allow: []binding{{txnRT, "tx", kmsg.ACLOperationWrite, false}},
			deny: binding{txnRT, "tx", kmsg.ACLOperationWrite, false}, want: kerr.TransactionalIDAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrEndTxnRequest()
				req.TransactionalID, req.ProducerID = "tx", 1<<40
				return authOnly(codeErr(sendTxn("tx", req).(*kmsg.EndTxnResponse).ErrorCode))
			},
		},
		{
			name: "describe transactions", allow: []binding{{txnRT, "tx", kmsg.ACLOperationDescribe, false}},
			deny: binding{txnRT, "tx", kmsg.ACLOperationDescribe, false}, want: kerr.TransactionalIDAuthorizationFailed,
			do: func() error {
				req := kmsg.NewPtrDescribeTransactionsRequest()
				req.TransactionalIDs = []string{"tx"}
				return codeErr(sendTxn("tx", req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer clearACLs(t, ctx, ac)
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("without ACLs: %v, want %v", err, tc.want)
			}
			var allows []kmsg.CreateACLsRequestCreation
			for _, a := range tc.allow {
				allows = append(allows, a.creation(user, kmsg.ACLPermissionTypeAllow))
			}
			mustCreateACLs(t, ctx, ac, allows...)
			if err := tc.do(); err != nil {
				t.Fatalf("allowed: %v", err)
			}
			mustCreateACLs(t, ctx, ac, tc.deny.creation(user, kmsg.ACLPermissionTypeDeny))
			want := tc.wantDenied
			if want == nil {
				want = tc.want
			}
			if err := tc.do(); !errors.Is(err, want) {
				t.Fatalf("denied: %v, want %v", err, want)
			}
		})
	}

	// Transactional records need WRITE on the transactional id at Produce
	// too: a DENY added mid-transaction refuses the next batch to a
	// partition already in the transaction.
	mustCreateACLs(t, ctx, ac,
		binding{txnRT, "tx", kmsg.ACLOperationWrite, false}.creation(user, kmsg.ACLPermissionTypeAllow),
		binding{topicRT, "t", kmsg.ACLOperationWrite, false}.creation(user, kmsg.ACLPermissionTypeAllow))
	mt := newMember(kgo.TransactionalID("tx"))
	if err := mt.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := mt.ProduceSync(ctx, record).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, ctx, ac, binding{txnRT, "tx", kmsg.ACLOperationWrite, false}.creation(user, kmsg.ACLPermissionTypeDeny))
	if err := mt.ProduceSync(ctx, record).FirstErr(); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("transactional produce after a DENY of the transactional id: %v", err)
	}
	mt.EndTransaction(ctx, kgo.TryAbort)
	clearACLs(t, ctx, ac)

	// Listings: the admin key makes a group, a transactional id and a
	// committed offset the member may not DESCRIBE.
	at := brokertest.SASLClient(t, b.KafkaAddr(), admin, kgo.TransactionalID("other-tx"))
	if err := at.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := at.ProduceSync(ctx, record).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := at.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g", "other"} {
		if _, err := adm.CommitOffsets(ctx, g, kadm.OffsetsFromRecords(kgo.Record{Topic: "t"}, kgo.Record{Topic: "u"})); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateACLs(t, ctx, ac,
		binding{groupRT, "g", kmsg.ACLOperationRead, false}.creation(user, kmsg.ACLPermissionTypeAllow),
		binding{topicRT, "t", kmsg.ACLOperationRead, false}.creation(user, kmsg.ACLPermissionTypeAllow),
		binding{txnRT, "tx", kmsg.ACLOperationWrite, false}.creation(user, kmsg.ACLPermissionTypeAllow))
	groups, err := kadm.NewClient(m).ListGroups(ctx)
	if err != nil || !slices.Equal(groups.Groups(), []string{"g"}) {
		t.Errorf("member lists groups: %v %v", groups.Groups(), err)
	}
	all, err := adm.ListGroups(ctx)
	if err != nil || !slices.Contains(all.Groups(), "other") {
		t.Errorf("admin lists groups: %v %v", all.Groups(), err)
	}
	var ids []string // from every node, as each lists the ids it coordinates
	for node := range brokertest.ClusterSize() {
		for _, s := range sendTo(node+1, kmsg.NewPtrListTransactionsRequest()).(*kmsg.ListTransactionsResponse).TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
	}
	if !slices.Equal(ids, []string{"tx"}) {
		t.Errorf("member lists transactions: %v", ids)
	}
	topics, err := offsetFetch(toGroup("g"), "g", topicID, false)
	if err != nil || len(topics) != 1 || topics[0].TopicID != topicID { // v10 names topics by id
		t.Errorf("member fetches all offsets of g: %+v %v", topics, err)
	}
}

func findCoordinator(send func(kmsg.Request) kmsg.Response, typ int8, key string) error {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = typ, key, []string{key}
	return codeErr(send(req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode)
}

// offsetFetch fetches a group's offsets of partition 0 of t (whose id is
// topicID), or with named false every committed offset.
func offsetFetch(send func(kmsg.Request) kmsg.Response, group string, topicID [16]byte, named bool) ([]kmsg.OffsetFetchResponseGroupTopic, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	if named {
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: topicID, Partitions: []int32{0}}}
	}
	req.Groups = append(req.Groups, rg)
	g := send(req).(*kmsg.OffsetFetchResponse).Groups[0]
	return g.Topics, codeErr(g.ErrorCode)
}

func mustCreateACLs(t *testing.T, ctx context.Context, cl *kgo.Client, cs ...kmsg.CreateACLsRequestCreation) {
	t.Helper()
	for _, err := range createACLs(t, ctx, cl, cs...) {
		if err != nil {
			t.Fatalf("create ACLs: %v", err)
		}
	}
}

// clearACLs deletes every binding of the client's tenant.
func clearACLs(t *testing.T, ctx context.Context, cl *kgo.Client) {
	req := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	req.Filters = append(req.Filters, f)
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("clear ACLs: %v %+v", err, resp)
	}
	brokertest.SyncMetadata(t)
}
