package compat

// sarama's security settings: SASL PLAIN is built in; SCRAM needs a
// SCRAMClient, here xdg-go/scram's (the library sarama's own examples use).

import (
	"fmt"
	"log"
	"os"
	"testing"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// TestSaramaSecurity runs the security scenarios with sarama at the
// protocol versions of TestSarama's columns.
func TestSaramaSecurity(t *testing.T) {
	if debugLogs() {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	for _, v := range []struct {
		name    string
		version sarama.KafkaVersion
	}{{"sarama", sarama.V4_0_0_0}, {"sarama-2.1", sarama.V2_1_0_0}, {"sarama-0.11", sarama.V0_11_0_0}} {
		t.Run(v.name, func(t *testing.T) {
			runSecurityScenarios(t, secureClient{
				client: client{
					name: v.name, opts: binaryOpts,
					produce: func(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
						return saramaProduce(t, v.version, addr, topic, codec, recs)
					},
					consume: func(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
						return saramaConsume(t, v.version, addr, topic, ends)
					},
				},
				groups: saramaGroups(v.name, v.version),
			})
		})
	}
}

// saramaAddrs sets cfg's SASL and TLS for a bootstrap address and returns
// sarama's broker list.
func saramaAddrs(cfg *sarama.Config, addr string) ([]string, error) {
	hp, sec := splitAddr(addr)
	if sec == nil {
		return seeds(hp), nil
	}
	tlsCfg, err := sec.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tlsCfg
	}
	if sec.sasl() {
		if err := saramaSASL(cfg, sec); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sarama config: %w", err)
	}
	return seeds(hp), nil
}

// saramaSASL sets cfg's SASL for sec.
func saramaSASL(cfg *sarama.Config, sec *security) error {
	cfg.Net.SASL.Enable, cfg.Net.SASL.Handshake = true, true
	if !cfg.Version.IsAtLeast(sarama.V1_0_0_0) {
		// SaslHandshake v1 and SaslAuthenticate came with Kafka 1.0:
		// older versions send a v0 handshake, then bare tokens, and sarama
		// then sends no ApiVersions first.
		cfg.Net.SASL.Version, cfg.ApiVersionsRequest = sarama.SASLHandshakeV0, false
	}
	cfg.Net.SASL.User, cfg.Net.SASL.Password = sec.User, sec.Password
	switch sec.Mechanism {
	case mechPlain:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case mechSCRAM256:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA256} }
	case mechSCRAM512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA512} }
	default:
		return fmt.Errorf("sarama: no SASL mechanism %s", sec.Mechanism)
	}
	return nil
}

// saramaBrokers is saramaAddrs for the test goroutine.
func saramaBrokers(t *testing.T, cfg *sarama.Config, addr string) []string {
	t.Helper()
	addrs, err := saramaAddrs(cfg, addr)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// saramaSCRAM is sarama's SCRAMClient over xdg-go/scram.
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *saramaSCRAM) Done() bool { return s.conv.Done() }
