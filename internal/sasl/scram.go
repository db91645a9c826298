// Package sasl implements the server side of the SASL mechanisms Strata's
// Kafka listener offers: PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802,
// RFC 7677, as Kafka uses them: KIP-84), plus the credentials they verify
// against. It knows nothing of tenants or of the Kafka framing: a Server
// consumes client messages and produces replies.
//
// Credentials hold only salted hashes. Failures return errors wrapping
// ErrAuthFailed whose text says why for the operator's log; it never holds a
// password, a proof or a key, and callers must not send it to the client.
package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Mechanism names, as SaslHandshake carries them.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists every mechanism this package serves.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// DefaultIterations is the PBKDF2 iteration count of new credentials
// (Kafka's minimum for SCRAM, and RFC 7677's recommendation).
const DefaultIterations = 4096

// MinIterations and MaxIterations bound what a credential may use: fewer is
// weak, more lets a stored credential cost unbounded time per login.
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// ErrAuthFailed is the cause of every failed exchange.
var ErrAuthFailed = errors.New("sasl: authentication failed")

// maxMessageBytes bounds one client message.
const maxMessageBytes = 64 << 10

// ScramCredential is RFC 5802's server-side credential.
type ScramCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// hashFor returns the hash function of a SCRAM mechanism.
func hashFor(mechanism string) (func() hash.Hash, bool) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, true
	case ScramSHA512:
		return sha512.New, true
	}
	return nil, false
}

// NewScramCredential derives the credential of password for mechanism with
// a fresh random salt.
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	h, ok := hashFor(mechanism)
	if !ok {
		return ScramCredential{}, fmt.Errorf("sasl: %q is not a SCRAM mechanism", mechanism)
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return ScramCredential{}, fmt.Errorf("sasl: %d iterations is outside %d-%d", iterations, MinIterations, MaxIterations)
	}
	salt := randomBytes(24)
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return ScramCredential{}, fmt.Errorf("sasl: pbkdf2: %w", err)
	}
	return ScramFromSalted(mechanism, salt, salted, iterations)
}

// ScramFromSalted derives the credential from a salted password that a
// client computed (AlterUserScramCredentials sends it, never the password).
func ScramFromSalted(mechanism string, salt, salted []byte, iterations int) (ScramCredential, error) {
	h, ok := hashFor(mechanism)
	if !ok {
		return ScramCredential{}, fmt.Errorf("sasl: %q is not a SCRAM mechanism", mechanism)
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return ScramCredential{}, fmt.Errorf("sasl: %d iterations is outside %d-%d", iterations, MinIterations, MaxIterations)
	}
	if len(salt) == 0 || len(salted) == 0 {
		return ScramCredential{}, fmt.Errorf("sasl: empty salt or salted password")
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	return ScramCredential{
		Salt: salt, Iterations: iterations,
		StoredKey: hashSum(h, clientKey),
		ServerKey: hmacSum(h, salted, []byte("Server Key")),
	}, nil
}

// ScramLookup returns the credential of a user for the exchange's
// mechanism, or false if there is none.
type ScramLookup func(user string) (ScramCredential, bool)

// Server is one SASL exchange on the server side. Step is called with each
// client message in turn until it reports done or fails; a Server is used
// by one goroutine.
type Server interface {
	// Step consumes a client message and returns the reply to send.
	Step(msg []byte) (reply []byte, done bool, err error)
	// User is the authenticated user name once Step reported done.
	User() string
}

// scramServer runs RFC 5802's exchange:
//
//	client-first: gs2-header client-first-bare ("n,,n=user,r=cnonce")
//	server-first: r=cnonce+snonce,s=salt,i=iterations
//	client-final: c=base64(gs2-header),r=nonce,p=proof
//	server-final: v=signature
type scramServer struct {
	mechanism string
	h         func() hash.Hash
	lookup    ScramLookup
	// decoy hides whether a user exists: an unknown user gets a salt
	// derived from its name and this server's key, and fails at the
	// proof, exactly as a wrong password does.
	decoyKey []byte

	step        int
	user        string
	known       bool
	cred        ScramCredential
	gs2Header   string
	clientFirst string // client-first-bare
	serverFirst string
	nonce       string // client's and server's
	snonce      string // server's part
	done        bool
}

// NewScramServer starts a SCRAM exchange for mechanism. decoyKey is a
// per-process random key (see DecoyKey) that makes the decoy salts of
// unknown users stable, so that two attempts cannot tell them apart from
// real users.
func NewScramServer(mechanism string, lookup ScramLookup, decoyKey []byte) (Server, error) {
	h, ok := hashFor(mechanism)
	if !ok {
		return nil, fmt.Errorf("sasl: %q is not a SCRAM mechanism", mechanism)
	}
	return &scramServer{mechanism: mechanism, h: h, lookup: lookup, decoyKey: decoyKey}, nil
}

// DecoyKey returns a fresh random key for NewScramServer.
func DecoyKey() []byte { return randomBytes(32) }

func (s *scramServer) User() string {
	if !s.done {
		return ""
	}
	return s.user
}

func (s *scramServer) Step(msg []byte) ([]byte, bool, error) {
	if len(msg) > maxMessageBytes {
		return nil, false, fmt.Errorf("%w: %s message of %d bytes", ErrAuthFailed, s.mechanism, len(msg))
	}
	s.step++
	switch s.step {
	case 1:
		reply, err := s.clientFirstMessage(string(msg))
		return reply, false, err
	case 2:
		reply, err := s.clientFinalMessage(string(msg))
		if err != nil {
			return nil, false, err
		}
		s.done = true
		return reply, true, nil
	}
	return nil, false, fmt.Errorf("%w: %s exchange has no step %d", ErrAuthFailed, s.mechanism, s.step)
}

func (s *scramServer) clientFirstMessage(msg string) ([]byte, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: malformed %s client-first message", ErrAuthFailed, s.mechanism)
	}
	switch parts[0] {
	case "n", "y":
	default:
		return nil, fmt.Errorf("%w: %s channel binding is not supported", ErrAuthFailed, s.mechanism)
	}
	s.gs2Header = parts[0] + "," + parts[1] + ","
	s.clientFirst = parts[2]
	attrs, err := parseAttrs(s.clientFirst)
	if err != nil {
		return nil, err
	}
	if attrs.get("m") != "" {
		return nil, fmt.Errorf("%w: %s mandatory extension is not supported", ErrAuthFailed, s.mechanism)
	}
	if attrs.get("tokenauth") != "" {
		return nil, fmt.Errorf("%w: delegation tokens are not supported", ErrAuthFailed)
	}
	user, err := decodeSaslName(attrs.get("n"))
	if err != nil || user == "" {
		return nil, fmt.Errorf("%w: %s client-first message has no valid user name", ErrAuthFailed, s.mechanism)
	}
	if authz := parts[1]; authz != "" {
		// Kafka allows an authorization id only if it names the user.
		if z, err := decodeSaslName(strings.TrimPrefix(authz, "a=")); err != nil || !strings.HasPrefix(authz, "a=") || z != user {
			return nil, fmt.Errorf("%w: authorization id differs from the user", ErrAuthFailed)
		}
	}
	cnonce := attrs.get("r")
	if cnonce == "" || !printableNonce(cnonce) {
		return nil, fmt.Errorf("%w: %s client nonce is missing or malformed", ErrAuthFailed, s.mechanism)
	}
	s.user = user
	s.cred, s.known = s.lookup(user)
	if !s.known || s.cred.Iterations < MinIterations || s.cred.Iterations > MaxIterations {
		s.known = false
		s.cred = s.decoy(user)
	}
	s.snonce = base64.RawStdEncoding.EncodeToString(randomBytes(18))
	s.nonce = cnonce + s.snonce
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverFirst), nil
}

// decoy is the credential an unknown user appears to have.
func (s *scramServer) decoy(user string) ScramCredential {
	salt := hmacSum(sha256.New, s.decoyKey, []byte(s.mechanism+"\x00"+user))[:24]
	return ScramCredential{Salt: salt, Iterations: DefaultIterations, StoredKey: randomBytes(s.h().Size()), ServerKey: randomBytes(s.h().Size())}
}

func (s *scramServer) clientFinalMessage(msg string) ([]byte, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, fmt.Errorf("%w: %s client-final message has no proof", ErrAuthFailed, s.mechanism)
	}
	withoutProof := msg[:i]
	attrs, err := parseAttrs(msg)
	if err != nil {
		return nil, err
	}
	if attrs.get("c") != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return nil, fmt.Errorf("%w: %s channel binding does not match", ErrAuthFailed, s.mechanism)
	}
	// Kafka checks only that the nonce ends with the server's part, and
	// librdkafka (2.0 at least) sends its own nonce before the combined
	// one: accept what Kafka accepts. The proof covers the nonce as sent.
	if !strings.HasSuffix(attrs.get("r"), s.snonce) {
		return nil, fmt.Errorf("%w: %s nonce does not match", ErrAuthFailed, s.mechanism)
	}
	proof, err := base64.StdEncoding.DecodeString(attrs.get("p"))
	if err != nil || len(proof) != len(s.cred.StoredKey) {
		return nil, fmt.Errorf("%w: %s proof is malformed", ErrAuthFailed, s.mechanism)
	}
	authMessage := []byte(s.clientFirst + "," + s.serverFirst + "," + withoutProof)
	clientSignature := hmacSum(s.h, s.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, clientSignature)
	if subtle.ConstantTimeCompare(hashSum(s.h, clientKey), s.cred.StoredKey) != 1 || !s.known {
		return nil, fmt.Errorf("%w: %s: invalid credentials for user %q", ErrAuthFailed, s.mechanism, s.user)
	}
	serverSignature := hmacSum(s.h, s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), nil
}

// attrs are the "k=v" pairs of a SCRAM message.
type attrs map[string]string

func (a attrs) get(k string) string { return a[k] }

func parseAttrs(msg string) (attrs, error) {
	out := attrs{}
	for _, kv := range strings.Split(msg, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: malformed SCRAM attribute", ErrAuthFailed)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%w: repeated SCRAM attribute %q", ErrAuthFailed, k)
		}
		out[k] = v
	}
	return out, nil
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad escape in SCRAM name", ErrAuthFailed)
		}
		i += 2
	}
	return b.String(), nil
}

// encodeSaslName escapes a name for a SCRAM message.
func encodeSaslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// printableNonce: RFC 5802's printable ASCII except ','.
func printableNonce(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

func hashSum(h func() hash.Hash, b []byte) []byte {
	d := h()
	d.Write(b)
	return d.Sum(nil)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("sasl: crypto/rand: %v", err))
	}
	return b
}
