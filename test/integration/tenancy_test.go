package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// twoTenants starts a broker with --auth sasl and two tenants with a key
// each.
func twoTenants(t *testing.T, mutate ...func(*broker.Config)) (*broker.Broker, brokertest.Credential, brokertest.Credential) {
	t.Helper()
	b := brokertest.Start(t, append([]func(*broker.Config){brokertest.WithSASL}, mutate...)...)
	a := brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant A"))
	c := brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant B"))
	return b, a, c
}

// TestTenantsShareNames: two tenants create the same topic and group, over
// every mechanism, and each reads only its own records and offsets.
func TestTenantsShareNames(t *testing.T) {
	b, credA, credB := twoTenants(t)
	ctx := brokertest.Context(t, 60*time.Second)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			topic := "orders-" + mech
			for _, cred := range []brokertest.Credential{credA, credB} {
				cl := brokertest.Client(t, b.KafkaAddr(), kgo.SASL(brokertest.Mechanism(mech, cred)))
				brokertest.CreateTopic(t, kadm.NewClient(cl), topic, 2, nil)
				for i := 0; i < 5; i++ {
					if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(cred.Tenant)}).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, cred := range []brokertest.Credential{credA, credB} {
				cl := brokertest.Client(t, b.KafkaAddr(), kgo.SASL(brokertest.Mechanism(mech, cred)),
					kgo.ConsumeTopics(topic), kgo.ConsumerGroup("g-"+mech), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				got := 0
				for got < 5 {
					fs := cl.PollFetches(ctx)
					if err := fs.Err0(); err != nil {
						t.Fatal(err)
					}
					fs.EachRecord(func(r *kgo.Record) {
						if string(r.Value) != cred.Tenant {
							t.Fatalf("tenant %s read a record of %s", cred.Tenant, r.Value)
						}
						got++
					})
				}
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Fatal(err)
				}
				adm := kadm.NewClient(cl)
				offs, err := adm.FetchOffsets(ctx, "g-"+mech)
				if err != nil {
					t.Fatal(err)
				}
				total := int64(0)
				offs.Each(func(o kadm.OffsetResponse) { total += o.At })
				if total != 5 {
					t.Fatalf("tenant %s committed %d, want 5 (its own records only)", cred.Tenant, total)
				}
			}
		})
	}
}

// TestSASLFailures: wrong secret, unknown key, a key of a deleted tenant
// and a mechanism not enabled fail as Kafka fails them.
func TestSASLFailures(t *testing.T) {
	b, cred, _ := twoTenants(t, func(c *broker.Config) { c.Static["sasl.enabled.mechanisms"] = "SCRAM-SHA-256,SCRAM-SHA-512" })
	ctx := brokertest.Context(t, 30*time.Second)
	bad := []struct {
		name string
		mech string
		cred brokertest.Credential
		want error
	}{
		{"wrong secret", "SCRAM-SHA-256", brokertest.Credential{Key: cred.Key, Secret: "nope"}, kerr.SaslAuthenticationFailed},
		{"unknown key", "SCRAM-SHA-512", brokertest.Credential{Key: "NOSUCHKEY", Secret: cred.Secret}, kerr.SaslAuthenticationFailed},
		{"mechanism not enabled", "PLAIN", cred, kerr.UnsupportedSaslMechanism},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cl := brokertest.Client(t, b.KafkaAddr(), kgo.SASL(brokertest.Mechanism(tc.mech, tc.cred)), kgo.RequestRetries(0))
			_, err := kadm.NewClient(cl).ListTopics(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Without SASL at all the connection closes at the first request.
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.RequestRetries(0))
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err == nil {
		t.Fatal("unauthenticated request served")
	}
}
