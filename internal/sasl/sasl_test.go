package sasl

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// creds is a user table for tests.
type creds struct {
	scram map[string]ScramCredential
	plain map[string]PlainCredential
}

func newCreds(t *testing.T, mechanism, user, password string) creds {
	t.Helper()
	sc, err := NewScramCredential(mechanism, password, DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := NewPlainCredential(password, DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	return creds{scram: map[string]ScramCredential{user: sc}, plain: map[string]PlainCredential{user: pc}}
}

func (c creds) scramLookup(u string) (ScramCredential, bool) { v, ok := c.scram[u]; return v, ok }
func (c creds) plainLookup(u string) (PlainCredential, bool) { v, ok := c.plain[u]; return v, ok }

// runFranz runs franz-go's SCRAM client against a server.
func runFranz(t *testing.T, mechanism string, srv Server, user, pass string) error {
	t.Helper()
	auth := scram.Auth{User: user, Pass: pass}
	m := auth.AsSha256Mechanism()
	if mechanism == ScramSHA512 {
		m = auth.AsSha512Mechanism()
	}
	sess, msg, err := m.Authenticate(context.Background(), "host")
	if err != nil {
		t.Fatal(err)
	}
	for {
		reply, done, err := srv.Step(msg)
		if err != nil {
			return err
		}
		cdone, next, err := sess.Challenge(reply)
		if err != nil {
			t.Fatalf("client rejected the server: %v", err)
		}
		if done != cdone {
			t.Fatalf("server done=%v, client done=%v", done, cdone)
		}
		if done {
			return nil
		}
		msg = next
	}
}

func TestScramWithFranzClient(t *testing.T) {
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := newCreds(t, mech, "KEY1", "s3cret")
			key := DecoyKey()
			srv, _ := NewScramServer(mech, c.scramLookup, key)
			if err := runFranz(t, mech, srv, "KEY1", "s3cret"); err != nil {
				t.Fatalf("good password: %v", err)
			}
			if srv.User() != "KEY1" {
				t.Fatalf("user %q", srv.User())
			}
			for _, tc := range []struct{ user, pass string }{{"KEY1", "wrong"}, {"NOPE", "s3cret"}} {
				srv, _ := NewScramServer(mech, c.scramLookup, key)
				err := runFranz(t, mech, srv, tc.user, tc.pass)
				if !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("%s/%s: err %v", tc.user, tc.pass, err)
				}
				if strings.Contains(err.Error(), tc.pass) || srv.User() != "" {
					t.Fatalf("error leaks the password or user is set: %v", err)
				}
			}
		})
	}
}

func TestScramWithOwnClient(t *testing.T) {
	c := newCreds(t, ScramSHA512, "u=1,x", "pw")
	srv, _ := NewScramServer(ScramSHA512, c.scramLookup, DecoyKey())
	cl, _ := NewScramClient(ScramSHA512)
	cl.Begin("u=1,x", "pw", "")
	msg, _ := cl.Step("")
	for !cl.Done() {
		reply, _, err := srv.Step([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if msg, err = cl.Step(string(reply)); err != nil {
			t.Fatal(err)
		}
	}
	if srv.User() != "u=1,x" {
		t.Fatalf("user %q (escaping)", srv.User())
	}
	// A forged server-final fails at the client.
	cl.Begin("u=1,x", "pw", "")
	msg, _ = cl.Step("")
	srv, _ = NewScramServer(ScramSHA512, c.scramLookup, DecoyKey())
	reply, _, _ := srv.Step([]byte(msg))
	cl.Step(string(reply))
	if _, err := cl.Step("v=AAAA"); err == nil || cl.Done() {
		t.Fatal("forged server signature accepted")
	}
}

// TestUnknownUserLooksKnown: the server-first message of an unknown user
// has the shape of a real one, and its salt is stable per user.
func TestUnknownUserLooksKnown(t *testing.T) {
	c := newCreds(t, ScramSHA256, "KEY1", "pw")
	key := DecoyKey()
	salt := func(user string) string {
		srv, _ := NewScramServer(ScramSHA256, c.scramLookup, key)
		reply, _, err := srv.Step([]byte("n,,n=" + user + ",r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := parseAttrs(string(reply))
		if a.get("i") != "4096" || !strings.HasPrefix(a.get("r"), "abc") {
			t.Fatalf("reply %q", reply)
		}
		return a.get("s")
	}
	if salt("ghost") != salt("ghost") || salt("ghost") == salt("ghost2") {
		t.Fatal("decoy salts are not stable per user")
	}
	if len(salt("ghost")) != len(salt("KEY1")) {
		t.Fatal("decoy salt has another length")
	}
}

func TestScramBadMessages(t *testing.T) {
	c := newCreds(t, ScramSHA256, "KEY1", "pw")
	gs2 := base64.StdEncoding.EncodeToString([]byte("n,,"))
	for _, tc := range []struct {
		name          string
		first, second string
	}{
		{"empty", "", ""},
		{"no gs2", "n=KEY1,r=abc", ""},
		{"channel binding", "p=tls-unique,,n=KEY1,r=abc", ""},
		{"authzid other", "n,a=OTHER,n=KEY1,r=abc", ""},
		{"tokenauth", "n,,n=KEY1,r=abc,tokenauth=true", ""},
		{"mandatory ext", "n,,n=KEY1,r=abc,m=x", ""},
		{"no user", "n,,r=abc", ""},
		{"bad escape", "n,,n=K=ZZ,r=abc", ""},
		{"no nonce", "n,,n=KEY1", ""},
		{"dup attr", "n,,n=KEY1,n=KEY2,r=abc", ""},
		{"no proof", "n,,n=KEY1,r=abc", "c=" + gs2 + ",r=abc"},
		{"wrong nonce", "n,,n=KEY1,r=abc", "c=" + gs2 + ",r=NONCEX,p=AAAA"},
		{"wrong binding", "n,,n=KEY1,r=abc", "c=eSws,r=NONCE,p=AAAA"},
		{"short proof", "n,,n=KEY1,r=abc", "c=" + gs2 + ",r=NONCE,p=AAAA"},
		{"huge", strings.Repeat("x", maxMessageBytes+1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := NewScramServer(ScramSHA256, c.scramLookup, DecoyKey())
			reply, _, err := srv.Step([]byte(tc.first))
			if tc.second != "" && err == nil {
				a, _ := parseAttrs(string(reply))
				_, _, err = srv.Step([]byte(strings.ReplaceAll(tc.second, "NONCE", a.get("r"))))
			}
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("err %v", err)
			}
		})
	}
	srv, _ := NewScramServer(ScramSHA256, c.scramLookup, DecoyKey())
	if _, _, err := srv.Step(nil); err == nil {
		t.Fatal("empty message accepted")
	}
	if _, _, err := srv.Step(nil); err == nil {
		t.Fatal("third step accepted")
	}
	if _, err := NewScramServer("SCRAM-MD5", c.scramLookup, nil); err == nil {
		t.Fatal("unknown mechanism accepted")
	}
	if _, err := NewScramCredential(ScramSHA256, "pw", 10); err == nil {
		t.Fatal("10 iterations accepted")
	}
}

func TestPlain(t *testing.T) {
	c := newCreds(t, ScramSHA256, "KEY1", "pw")
	for _, tc := range []struct {
		msg  string
		ok   bool
		user string
	}{
		{"\x00KEY1\x00pw", true, "KEY1"},
		{"KEY1\x00KEY1\x00pw", true, "KEY1"},
		{"OTHER\x00KEY1\x00pw", false, ""},
		{"\x00KEY1\x00wrong", false, ""},
		{"\x00NOPE\x00pw", false, ""},
		{"\x00\x00pw", false, ""},
		{"KEY1pw", false, ""},
		{"\x00KEY1\x00pw\x00", false, ""},
	} {
		srv := NewPlainServer(c.plainLookup)
		_, done, err := srv.Step([]byte(tc.msg))
		if done != tc.ok || (err == nil) != tc.ok || srv.User() != tc.user {
			t.Errorf("%q: done %v err %v user %q", tc.msg, done, err, srv.User())
		}
		if err != nil && (!errors.Is(err, ErrAuthFailed) || strings.Contains(err.Error(), "pw")) {
			t.Errorf("%q: error %v", tc.msg, err)
		}
		if _, _, err := srv.Step([]byte(tc.msg)); err == nil {
			t.Errorf("%q: second step accepted", tc.msg)
		}
	}
	if (PlainCredential{}).Verify("") {
		t.Fatal("empty credential verifies")
	}
}
