package sasl

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// PlainCredential verifies PLAIN passwords: a PBKDF2-HMAC-SHA-256 hash of
// the password with a random salt, so that the stored form is as costly to
// attack as SCRAM's.
type PlainCredential struct {
	Salt       []byte
	Iterations int
	Hash       []byte
}

// NewPlainCredential hashes password with a fresh salt.
func NewPlainCredential(password string, iterations int) (PlainCredential, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return PlainCredential{}, fmt.Errorf("sasl: %d iterations is outside %d-%d", iterations, MinIterations, MaxIterations)
	}
	salt := randomBytes(24)
	h, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return PlainCredential{}, fmt.Errorf("sasl: pbkdf2: %w", err)
	}
	return PlainCredential{Salt: salt, Iterations: iterations, Hash: h}, nil
}

// Verify reports whether password matches, in time that does not depend
// on where the hashes differ.
func (c PlainCredential) Verify(password string) bool {
	if c.Iterations < MinIterations || c.Iterations > MaxIterations {
		return false
	}
	h, err := pbkdf2.Key(sha256.New, password, c.Salt, c.Iterations, sha256.Size)
	return err == nil && subtle.ConstantTimeCompare(h, c.Hash) == 1
}

// PlainLookup returns the PLAIN credential of a user, or false.
type PlainLookup func(user string) (PlainCredential, bool)

// plainServer runs RFC 4616: one message "authzid NUL authcid NUL passwd",
// an empty reply.
type plainServer struct {
	lookup PlainLookup
	user   string
	done   bool
}

// NewPlainServer starts a PLAIN exchange.
func NewPlainServer(lookup PlainLookup) Server { return &plainServer{lookup: lookup} }

func (s *plainServer) User() string {
	if !s.done {
		return ""
	}
	return s.user
}

// decoyPlain is hashed for unknown users so that they take as long as
// known ones.
var decoyPlain = PlainCredential{Salt: make([]byte, 24), Iterations: DefaultIterations, Hash: make([]byte, sha256.Size)}

func (s *plainServer) Step(msg []byte) ([]byte, bool, error) {
	if s.done || s.user != "" {
		return nil, false, fmt.Errorf("%w: PLAIN has a single step", ErrAuthFailed)
	}
	if len(msg) > maxMessageBytes {
		return nil, false, fmt.Errorf("%w: PLAIN message of %d bytes", ErrAuthFailed, len(msg))
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, fmt.Errorf("%w: malformed PLAIN message", ErrAuthFailed)
	}
	authz, user, password := string(parts[0]), string(parts[1]), string(parts[2])
	s.user = user
	if authz != "" && authz != user {
		return nil, false, fmt.Errorf("%w: PLAIN authorization id differs from the user", ErrAuthFailed)
	}
	cred, ok := s.lookup(user)
	if !ok {
		decoyPlain.Verify(password)
		return nil, false, fmt.Errorf("%w: PLAIN: invalid credentials for user %q", ErrAuthFailed, user)
	}
	if !cred.Verify(password) {
		return nil, false, fmt.Errorf("%w: PLAIN: invalid credentials for user %q", ErrAuthFailed, user)
	}
	s.done = true
	return []byte{}, true, nil
}
