package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// ScramClient is the client side of a SCRAM exchange, for tests and tools
// (sarama's SCRAMClient interface has this shape). It checks the server's
// signature, so a test also proves the server knows the credential.
type ScramClient struct {
	h                   func() hash.Hash
	mechanism           string
	user, password      string
	clientFirst, cnonce string
	serverSignatureWant []byte
	step                int
	done                bool
}

// NewScramClient returns a client for a SCRAM mechanism.
func NewScramClient(mechanism string) (*ScramClient, error) {
	h, ok := hashFor(mechanism)
	if !ok {
		return nil, fmt.Errorf("sasl: %q is not a SCRAM mechanism", mechanism)
	}
	return &ScramClient{h: h, mechanism: mechanism}, nil
}

// Begin starts an exchange for user and password; authzID must be empty.
func (c *ScramClient) Begin(user, password, authzID string) error {
	if authzID != "" {
		return fmt.Errorf("sasl: authorization ids are not supported")
	}
	c.user, c.password, c.step, c.done = user, password, 0, false
	c.cnonce = base64.RawStdEncoding.EncodeToString(randomBytes(18))
	c.clientFirst = "n=" + encodeSaslName(user) + ",r=" + c.cnonce
	return nil
}

// Step answers the server's last message ("" to start).
func (c *ScramClient) Step(challenge string) (string, error) {
	c.step++
	switch c.step {
	case 1:
		return "n,," + c.clientFirst, nil
	case 2:
		return c.final(challenge)
	case 3:
		want := "v=" + base64.StdEncoding.EncodeToString(c.serverSignatureWant)
		if !hmac.Equal([]byte(challenge), []byte(want)) {
			return "", fmt.Errorf("sasl: server signature does not match")
		}
		c.done = true
		return "", nil
	}
	return "", fmt.Errorf("sasl: SCRAM client has no step %d", c.step)
}

func (c *ScramClient) final(serverFirst string) (string, error) {
	a, err := parseAttrs(serverFirst)
	if err != nil {
		return "", err
	}
	nonce, saltB64, iterS := a.get("r"), a.get("s"), a.get("i")
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil || !strings.HasPrefix(nonce, c.cnonce) {
		return "", fmt.Errorf("sasl: malformed server-first message")
	}
	iter, err := strconv.Atoi(iterS)
	if err != nil || iter < MinIterations || iter > MaxIterations {
		return "", fmt.Errorf("sasl: server asks for %q iterations", iterS)
	}
	salted, err := pbkdf2.Key(c.h, c.password, salt, iter, c.h().Size())
	if err != nil {
		return "", err
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMessage := []byte(c.clientFirst + "," + serverFirst + "," + withoutProof)
	clientKey := hmacSum(c.h, salted, []byte("Client Key"))
	signature := hmacSum(c.h, hashSum(c.h, clientKey), authMessage)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ signature[i]
	}
	c.serverSignatureWant = hmacSum(c.h, hmacSum(c.h, salted, []byte("Server Key")), authMessage)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

// Done reports whether the server's signature was verified.
func (c *ScramClient) Done() bool { return c.done }
