package integration

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dialServed opens a connection and sends ApiVersions v0 on it; it returns
// the connection if the broker answered, or the error if it closed it.
func dialServed(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	b := []byte{0, 0, 0, 0, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 'q'}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
		return nil, err
	}
	return c, nil
}

// TestConnectionQuotas: under --auth none the default tenant is held to
// its connection count and connection rate; under --auth sasl a tenant's
// connections are closed after authentication, and another tenant's are
// not.
func TestConnectionQuotas(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.KafkaAddr()
	setQuotas(t, b, "lc-default", map[string]any{"connections": 2})
	t.Run("count", func(t *testing.T) {
		c1, err1 := dialServed(t, addr)
		_, err2 := dialServed(t, addr)
		if err1 != nil || err2 != nil {
			t.Fatalf("connections within the quota refused: %v, %v", err1, err2)
		}
		if _, err := dialServed(t, addr); err == nil {
			t.Fatal("third connection served with a quota of 2")
		}
		c1.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := dialServed(t, addr); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a closed connection's place was not freed")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("rate", func(t *testing.T) {
		setQuotas(t, b, "lc-default", map[string]any{"unset": []string{"connections"}, "connectionRate": 3})
		time.Sleep(1100 * time.Millisecond) // forget the connections above
		for i := 0; i < 3; i++ {
			if _, err := dialServed(t, addr); err != nil {
				t.Fatalf("connection %d within the rate refused: %v", i, err)
			}
		}
		if _, err := dialServed(t, addr); err == nil {
			t.Fatal("fourth connection in a second served with a rate of 3/s")
		}
		time.Sleep(1100 * time.Millisecond)
		if _, err := dialServed(t, addr); err != nil {
			t.Fatalf("connection a second later refused: %v", err)
		}
	})

	t.Run("sasl", func(t *testing.T) {
		sb, a, other := twoTenants(t)
		setQuotas(t, sb, a.Tenant, map[string]any{"connections": 0})
		ctx := brokertest.Context(t, 30*time.Second)
		short := brokertest.Context(t, 3*time.Second)
		_, err := kadm.NewClient(brokertest.SASLClient(t, sb.KafkaAddr(), a, kgo.RequestRetries(1))).ListTopics(short)
		if err == nil || errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("tenant over its connection quota: %v, want a closed connection (not an authentication failure)", err)
		}
		if _, err := kadm.NewClient(brokertest.SASLClient(t, sb.KafkaAddr(), other)).ListTopics(ctx); err != nil {
			t.Fatalf("other tenant: %v", err)
		}
		setQuotas(t, sb, a.Tenant, map[string]any{"unset": []string{"connections"}})
		if _, err := kadm.NewClient(brokertest.SASLClient(t, sb.KafkaAddr(), a)).ListTopics(ctx); err != nil {
			t.Fatalf("after the quota was lifted: %v", err)
		}
	})
}

// TestPartitionAndStorageQuotas: topics and partitions past the partition
// quota fail with POLICY_VIOLATION, whole topics at a time; creations past
// the partition creation rate fail with THROTTLING_QUOTA_EXCEEDED and a
// throttle (KIP-599, CreateTopics v6+ and CreatePartitions v3+) while older
// versions go through throttled; produce past the storage quota fails
// with POLICY_VIOLATION.
func TestPartitionAndStorageQuotas(t *testing.T) {
	b := brokertest.Start(t)
	ctx := brokertest.Context(t, 60*time.Second)
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.RequestRetries(0))
	adm := kadm.NewClient(cl)
	// Each request goes over a new connection, at exactly the version
	// given: a throttled connection is held back, so a request on it only
	// arrives once the tenant may mutate again.
	create := func(name string, parts int32, version int16) *kmsg.CreateTopicsResponse {
		t.Helper()
		c, err := net.Dial("tcp", b.KafkaAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		raw := &rawBroker{t: t, addr: b.KafkaAddr(), conn: c}
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, 1
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		return raw.requestAt(req, version).(*kmsg.CreateTopicsResponse)
	}
	code := func(resp *kmsg.CreateTopicsResponse) error { return kerr.ErrorForCode(resp.Topics[0].ErrorCode) }

	t.Run("count", func(t *testing.T) {
		setQuotas(t, b, "lc-default", map[string]any{"partitions": 5})
		for _, tc := range []struct {
			topic string
			parts int32
			want  error
		}{
			{"p1", 3, nil},
			{"p2", 3, kerr.PolicyViolation}, // all or nothing: not 2 of 3
			{"p3", 2, nil},
			{"p4", 1, kerr.PolicyViolation},
		} {
			if err := code(create(tc.topic, tc.parts, 7)); !errors.Is(err, tc.want) && err != tc.want {
				t.Fatalf("create %s with %d partitions: %v, want %v", tc.topic, tc.parts, err, tc.want)
			}
		}
		res, err := adm.CreatePartitions(ctx, 4, "p1")
		if err != nil || !errors.Is(res["p1"].Err, kerr.PolicyViolation) {
			t.Fatalf("grow past the quota: %v %v", err, res["p1"].Err)
		}
		if td, _ := adm.ListTopics(ctx, "p2", "p4"); len(td) != 0 && (td.Has("p2") || td.Has("p4")) {
			t.Fatalf("refused topics exist: %v", td.Names())
		}
		setQuotas(t, b, "lc-default", map[string]any{"unset": []string{"partitions"}})
		if res, err := adm.CreatePartitions(ctx, 4, "p1"); err != nil || res["p1"].Err != nil {
			t.Fatalf("grow with the quota lifted: %v %v", err, res["p1"].Err)
		}
	})

	t.Run("creation rate", func(t *testing.T) {
		// 1 partition/s with Kafka's burst of 11 s: 10 + 5 go through
		// (the second takes the bucket below zero), then nothing until it
		// refills.
		setQuotas(t, b, "lc-default", map[string]any{"partitionCreationRate": 1})
		defer setQuotas(t, b, "lc-default", map[string]any{"unset": []string{"partitionCreationRate"}})
		if err := code(create("r1", 10, 7)); err != nil {
			t.Fatal(err)
		}
		if err := code(create("r2", 5, 7)); err != nil {
			t.Fatal(err)
		}
		resp := create("r3", 1, 7)
		if err := code(resp); !errors.Is(err, kerr.ThrottlingQuotaExceeded) || resp.ThrottleMillis < 3000 {
			t.Fatalf("past the rate: %v, throttle %d ms; want THROTTLING_QUOTA_EXCEEDED and about 4 s", err, resp.ThrottleMillis)
		}
		// Before v6 the client cannot handle the error: created, throttled.
		if resp := create("r4", 1, 5); code(resp) != nil || resp.ThrottleMillis < 3000 {
			t.Fatalf("v5 past the rate: %v, throttle %d ms", code(resp), resp.ThrottleMillis)
		}
		cl := brokertest.Client(t, b.KafkaAddr(), kgo.RequestRetries(0))
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "r1", 11
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10000
		cp, err := req.RequestWith(ctx, cl.Broker(1)) // the rate is per broker: node 1's, which created the topics above
		if err != nil || !errors.Is(kerr.ErrorForCode(cp.Topics[0].ErrorCode), kerr.ThrottlingQuotaExceeded) || cp.ThrottleMillis <= 0 {
			t.Fatalf("CreatePartitions past the rate: %v %+v", err, cp)
		}
	})

	t.Run("storage", func(t *testing.T) {
		setQuotas(t, b, "lc-default", map[string]any{"storageBytes": 1000})
		brokertest.CreateTopic(t, adm, "s", 1, nil)
		pcl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("s"), kgo.RecordRetries(0))
		value := make([]byte, 2000)
		crand.Read(value) // not compressible
		if err := pcl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatalf("first produce under the quota: %v", err)
		}
		time.Sleep(1100 * time.Millisecond) // the measurement is reused for a second
		err := pcl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.PolicyViolation) {
			t.Fatalf("produce past the storage quota: %v, want POLICY_VIOLATION", err)
		}
	})
}

// TestDescribeClientQuotas: a tenant describes its own quotas with Kafka's
// keys as the entity user=<tenant id>, through Kafka's filters; another
// tenant sees none of them; altering quotas over Kafka is refused.
func TestDescribeClientQuotas(t *testing.T) {
	b, a, other := twoTenants(t)
	setQuotas(t, b, a.Tenant, map[string]any{"produceBytesRate": 1000, "fetchBytesRate": 2000, "partitionCreationRate": 3, "storageBytes": 4})
	ctx := brokertest.Context(t, 30*time.Second)
	adm := kadm.NewClient(brokertest.SASLClient(t, b.KafkaAddr(), a))
	str := kmsg.StringPtr
	cases := []struct {
		name   string
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   bool
	}{
		{"everything", false, nil, true},
		{"strict, nothing named", true, nil, false},
		{"user by name", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0, MatchName: str(a.Tenant)}}, true},
		{"another user", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0, MatchName: str(other.Tenant)}}, false},
		{"any user, strict", true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}}, true},
		{"default user", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 1}}, false},
		{"any client id", false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := adm.DescribeClientQuotas(ctx, tc.strict, tc.comps)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("got %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 || len(got[0].Entity) != 1 || got[0].Entity[0].Type != "user" || *got[0].Entity[0].Name != a.Tenant {
				t.Fatalf("got %+v, want one entity user=%s", got, a.Tenant)
			}
			vals := map[string]float64{}
			for _, v := range got[0].Values {
				vals[v.Key] = v.Value
			}
			want := map[string]float64{"producer_byte_rate": 1000, "consumer_byte_rate": 2000, "controller_mutation_rate": 3, "strata.storage.bytes": 4}
			if len(vals) != len(want) {
				t.Fatalf("values %v, want %v", vals, want)
			}
			for k, v := range want {
				if vals[k] != v {
					t.Fatalf("values %v, want %v", vals, want)
				}
			}
		})
	}
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "bogus", MatchType: 2}}); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("unknown entity type: %v", err)
	}
	if got, err := kadm.NewClient(brokertest.SASLClient(t, b.KafkaAddr(), other)).DescribeClientQuotas(ctx, false, nil); err != nil || len(got) != 0 {
		t.Fatalf("other tenant sees %v, %v", got, err)
	}
	altered, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: str(a.Tenant)}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1e9}},
	}})
	if err != nil || len(altered) != 1 || !errors.Is(altered[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alter: %+v %v", altered, err)
	}
}

// TestRequestTimeQuota: the default tenant sending Metadata requests for
// a topic of 200 partitions in a loop gets far fewer through once its
// request time share is 1% (10 ms of handling per second), and the
// responses tell it to back off.
func TestRequestTimeQuota(t *testing.T) {
	r := newRaw(t)
	brokertest.CreateTopic(t, r.adm, "wide", 200, nil)
	loop := func(d time.Duration) (n int, throttled int) {
		for start := time.Now(); time.Since(start) < d; n++ {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("wide")
			req.Topics = append(req.Topics, rt)
			if resp := r.requestAt(req, 12).(*kmsg.MetadataResponse); resp.ThrottleMillis > 0 {
				throttled++
			}
		}
		return n, throttled
	}
	free, _ := loop(time.Second)
	setQuotas(t, r.b, "lc-default", map[string]any{"requestPercentage": 1})
	held, throttled := loop(2 * time.Second)
	t.Logf("Metadata requests per second: %d without a quota, %d with a 1%% share (%d throttled)", free, held/2, throttled)
	if throttled == 0 || held/2 > free/2 {
		t.Fatalf("not held back: %d/s free, %d/s with the quota, %d throttled", free, held/2, throttled)
	}
}
