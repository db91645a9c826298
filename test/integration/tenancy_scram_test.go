package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestUserScramCredentials: a tenant's admin key rotates and deletes SCRAM
// passwords of its own keys with kadm (AlterUserScramCredentials) and
// describes them; logins follow; names of another tenant's keys look
// absent; a member key is refused; bad requests get Kafka's per-user
// errors.
func TestUserScramCredentials(t *testing.T) {
	b, credA, credB := twoTenants(t)
	ctx := brokertest.Context(t, 60*time.Second)
	// PLAIN keeps the key's secret whatever happens to its SCRAM ones.
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.SASL(brokertest.Mechanism("PLAIN", credA)))
	adm := kadm.NewClient(cl)
	ping := func(mech func(scram.Auth) kgo.Opt, user, pass string) error {
		cl := brokertest.Client(t, b.KafkaAddr(), mech(scram.Auth{User: user, Pass: pass}))
		return cl.Ping(brokertest.Context(t, 10*time.Second))
	}
	sha256 := func(a scram.Auth) kgo.Opt { return kgo.SASL(a.AsSha256Mechanism()) }
	sha512 := func(a scram.Auth) kgo.Opt { return kgo.SASL(a.AsSha512Mechanism()) }

	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(described) != 1 || len(described[credA.Key].CredInfos) != 2 {
		t.Fatalf("tenant A's users: %+v, want its one key with two mechanisms", described)
	}

	// Rotate SHA-256 of A's key: the new password logs in, the old one
	// no longer with SHA-256 but still with SHA-512.
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: credA.Key, Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "rotated"}})
	if err != nil || altered[credA.Key].Err != nil {
		t.Fatalf("rotate: %v %+v", err, altered)
	}
	brokertest.SyncMetadata(t) // the pings below may reach any node
	if err := ping(sha256, credA.Key, "rotated"); err != nil {
		t.Fatalf("SHA-256 with the new password: %v", err)
	}
	if err := ping(sha256, credA.Key, credA.Secret); err == nil {
		t.Fatal("SHA-256 with the old password still logs in")
	}
	if err := ping(sha512, credA.Key, credA.Secret); err != nil {
		t.Fatalf("SHA-512 with the unchanged password: %v", err)
	}
	described, err = adm.DescribeUserSCRAMs(ctx, credA.Key)
	if err != nil {
		t.Fatal(err)
	}
	if infos := described[credA.Key].CredInfos; len(infos) != 2 || infos[0] != (kadm.CredInfo{Mechanism: kadm.ScramSha256, Iterations: 8192}) {
		t.Fatalf("described after rotation: %+v", described)
	}

	// Delete SHA-512: it no longer logs in.
	altered, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: credA.Key, Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || altered[credA.Key].Err != nil {
		t.Fatalf("delete: %v %+v", err, altered)
	}
	brokertest.SyncMetadata(t)
	if err := ping(sha512, credA.Key, credA.Secret); err == nil {
		t.Fatal("SHA-512 logs in after its deletion")
	}

	// Errors, per user.
	for _, tc := range []struct {
		name   string
		del    []kadm.DeleteSCRAM
		upsert []kadm.UpsertSCRAM
		user   string
		want   error
	}{
		{name: "another tenant's key", user: credB.Key, want: kerr.ResourceNotFound,
			upsert: []kadm.UpsertSCRAM{{User: credB.Key, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}}},
		{name: "unknown user", user: "nobody", want: kerr.ResourceNotFound,
			upsert: []kadm.UpsertSCRAM{{User: "nobody", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}}},
		{name: "deleted twice", user: credA.Key, want: kerr.ResourceNotFound,
			del: []kadm.DeleteSCRAM{{User: credA.Key, Mechanism: kadm.ScramSha512}}},
		{name: "same mechanism twice", user: credA.Key, want: kerr.DuplicateResource,
			del:    []kadm.DeleteSCRAM{{User: credA.Key, Mechanism: kadm.ScramSha256}},
			upsert: []kadm.UpsertSCRAM{{User: credA.Key, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}}},
	} {
		altered, err := adm.AlterUserSCRAMs(ctx, tc.del, tc.upsert)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := altered[tc.user].Err; !errors.Is(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// kadm refuses too few iterations itself; the broker does too.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = credA.Key, 1, 100, []byte("salt"), []byte("salted")
	req.Upsertions = append(req.Upsertions, up)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
		t.Errorf("100 iterations: %v %+v", err, resp)
	}
	brokertest.SyncMetadata(t) // had any refused alteration applied, every node would show it
	if err := ping(sha256, credA.Key, "rotated"); err != nil {
		t.Fatalf("a refused alteration changed the password: %v", err)
	}
	if described, err := adm.DescribeUserSCRAMs(ctx, credB.Key); err != nil || !errors.Is(described[credB.Key].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe another tenant's key: %v %+v", err, described)
	}

	// A member key may not alter or describe users.
	member := brokertest.CreateKeyWithRole(t, b, credA.Tenant, "member")
	madm := kadm.NewClient(brokertest.SASLClient(t, b.KafkaAddr(), member))
	if _, err := madm.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("member describes users: %v", err)
	}
	altered, err = madm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: member.Key, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}})
	if err == nil { // kadm returns an authorization failure as the error
		err = altered[member.Key].Err
	}
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("member alters users: %v %+v", err, altered)
	}
}
