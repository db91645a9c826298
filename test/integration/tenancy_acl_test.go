package integration

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/api"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func aclCreation(principal, name string, pattern kmsg.ACLResourcePatternType, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, name, pattern
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, perm
	return c
}

// createACLs sends CreateAcls and returns each creation's error; the ACLs
// created hold at every node when it returns.
func createACLs(t *testing.T, ctx context.Context, cl *kgo.Client, cs ...kmsg.CreateACLsRequestCreation) []error {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = cs
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.SyncMetadata(t)
	var out []error
	for _, r := range resp.Results {
		err := kerr.ErrorForCode(r.ErrorCode)
		if err != nil && r.ErrorMessage != nil {
			err = errors.Join(err, errors.New(*r.ErrorMessage))
		}
		out = append(out, err)
	}
	return out
}

// describeACLs lists every binding the connection's tenant has.
func describeACLs(t *testing.T, ctx context.Context, cl *kgo.Client) ([]string, error) {
	t.Helper()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out = append(out, r.ResourcePatternType.String()+":"+r.ResourceName+":"+a.Principal+":"+a.Operation.String()+":"+a.PermissionType.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

// TestACLs: a tenant's admin key manages the tenant's ACLs; a member key
// is held to them (deny wins, prefixed patterns, Metadata leaves out what
// it cannot describe, creation needs CREATE); principals of another tenant
// are refused like unknown ones; the other tenant sees none of it; every
// tenant key is refused the cluster-level APIs.
func TestACLs(t *testing.T) {
	b, credA, credB := twoTenants(t)
	ctx := brokertest.Context(t, 60*time.Second)
	member := brokertest.CreateKeyWithRole(t, b, credA.Tenant, "member")
	admin := brokertest.SASLClient(t, b.KafkaAddr(), credA)
	adm := kadm.NewClient(admin)
	for _, name := range []string{"pub-a", "pub-secret", "private"} {
		brokertest.CreateTopic(t, adm, name, 1, nil)
	}
	user := "User:" + member.Key
	errs := createACLs(t, ctx, admin,
		aclCreation(user, "pub-", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow),
		aclCreation(user, "pub-secret", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationDescribe, kmsg.ACLPermissionTypeDeny),
		aclCreation("User:"+credB.Key, "pub-", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow),
		aclCreation("User:NOSUCHKEY", "pub-", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow),
	)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("create: %v", errs)
	}
	for i, err := range errs[2:] {
		if !errors.Is(err, kerr.InvalidRequest) || strings.Contains(err.Error(), credB.Tenant) {
			t.Fatalf("principal %d of no key of the tenant: %v", i, err)
		}
	}
	if strings.ReplaceAll(errs[2].Error(), credB.Key, "NOSUCHKEY") != errs[3].Error() {
		t.Fatalf("a key of another tenant answers unlike an unknown key: %v / %v", errs[2], errs[3])
	}
	got, err := describeACLs(t, ctx, admin)
	want := []string{"LITERAL:pub-secret:" + user + ":DESCRIBE:DENY", "PREFIXED:pub-:" + user + ":READ:ALLOW"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("describe as admin: %v %v", got, err)
	}
	if got, err := describeACLs(t, ctx, brokertest.SASLClient(t, b.KafkaAddr(), credB)); err != nil || len(got) != 0 {
		t.Fatalf("the other tenant sees ACLs: %v %v", got, err)
	}

	m := brokertest.SASLClient(t, b.KafkaAddr(), member, kgo.RequestRetries(0))
	madm := kadm.NewClient(m)
	if _, err := describeACLs(t, ctx, m); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("member describes ACLs: %v", err)
	}
	if errs := createACLs(t, ctx, m, aclCreation(user, "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow)); !errors.Is(errs[0], kerr.ClusterAuthorizationFailed) {
		t.Fatalf("member creates ACLs: %v", errs)
	}
	topics, err := madm.ListTopics(ctx)
	if err != nil || !slices.Equal(topics.Names(), []string{"pub-a"}) {
		t.Fatalf("member lists topics: %v %v", topics.Names(), err)
	}
	md := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"pub-a", "private", "pub-secret", "no-such-topic"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		md.Topics = append(md.Topics, rt)
	}
	mresp, err := md.RequestWith(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mresp.Topics {
		wantCode := kerr.TopicAuthorizationFailed.Code
		if *mt.Topic == "pub-a" {
			wantCode = 0
		}
		if mt.ErrorCode != wantCode || (wantCode != 0 && len(mt.Partitions) != 0) {
			t.Errorf("member metadata of %s: code %d, %d partitions", *mt.Topic, mt.ErrorCode, len(mt.Partitions))
		}
	}
	if res, _ := madm.CreateTopics(ctx, 1, 1, nil, "pub-new"); !errors.Is(res["pub-new"].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("member creates a topic: %v", res["pub-new"].Err)
	}

	// Cluster-level APIs: refused to every tenant key, admin or not.
	for _, raw := range []*kgo.Client{admin, m} {
		cl := kadm.NewClient(raw)
		if _, err := cl.DescribeBrokerConfigs(ctx, 1); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("describe broker configs: %v", err)
		}
		for _, brokers := range [][]int32{{1}, nil} { // a broker, the cluster default
			res, err := cl.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kmsg.StringPtr("1")}}, brokers...)
			if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
				t.Errorf("alter broker configs %v: %v %+v", brokers, err, res)
			}
		}
		dirs := kmsg.NewPtrDescribeLogDirsRequest()
		if resp, err := raw.Broker(1).Request(ctx, dirs); err != nil || resp.(*kmsg.DescribeLogDirsResponse).ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("describe log dirs: %v %+v", err, resp)
		}
		fetch := kmsg.NewPtrFetchRequest()
		fetch.ReplicaID, fetch.ReplicaState.ID = 1, 1 // before and from v15
		if resp, err := raw.Broker(1).Request(ctx, fetch); err != nil || resp.(*kmsg.FetchResponse).ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("replica fetch: %v %+v", err, resp)
		}
		epochs := kmsg.NewPtrOffsetForLeaderEpochRequest()
		epochs.ReplicaID = 1 // a follower's request
		epochs.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "pub-a", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0}}}}
		if resp, err := raw.Broker(1).Request(ctx, epochs); err != nil ||
			resp.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("follower's offset for leader epoch: %v %+v", err, resp)
		}
		elect := kmsg.NewPtrElectLeadersRequest()
		if resp, err := raw.Broker(1).Request(ctx, elect); err != nil || resp.(*kmsg.ElectLeadersResponse).ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("elect leaders: %v %+v", err, resp)
		}
		alter := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		if resp, err := raw.Broker(1).Request(ctx, alter); err != nil || resp.(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("alter partition reassignments: %v %+v", err, resp)
		}
		list := kmsg.NewPtrListPartitionReassignmentsRequest()
		if resp, err := raw.Broker(1).Request(ctx, list); err != nil || resp.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("list partition reassignments: %v %+v", err, resp)
		}
		markers := kmsg.NewPtrWriteTxnMarkersRequest()
		marker := kmsg.NewWriteTxnMarkersRequestMarker()
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = "pub-secret", []int32{0}
		marker.Topics = append(marker.Topics, mt)
		marker.UnknownTags.Set(api.TenantTag, []byte("lc-other")) // naming another tenant changes nothing
		markers.Markers = append(markers.Markers, marker)
		if resp, err := raw.Broker(1).Request(ctx, markers); err != nil ||
			resp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("write txn markers: %v %+v", err, resp)
		}
	}

	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeMatch
	f.ResourceName = kmsg.StringPtr("pub-secret") // matches both bindings
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	dresp, err := del.RequestWith(ctx, admin)
	if err != nil || dresp.Results[0].ErrorCode != 0 || len(dresp.Results[0].MatchingACLs) != 2 {
		t.Fatalf("delete: %v %+v", err, dresp)
	}
	brokertest.SyncMetadata(t)
	if got, err := describeACLs(t, ctx, admin); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %v %v", got, err)
	}
	if resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, m); err != nil || len(resp.Topics) != 0 {
		t.Fatalf("member lists topics without ACLs: %v %+v", err, resp)
	}
}
