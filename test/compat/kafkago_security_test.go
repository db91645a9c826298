package compat

// kafka-go's security settings: its sasl/plain and sasl/scram mechanisms
// on a Transport (Writer, Client) or a Dialer (Reader, ConsumerGroup).

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// TestKafkaGoSecurity runs the security scenarios with kafka-go.
func TestKafkaGoSecurity(t *testing.T) {
	runSecurityScenarios(t, secureClient{
		// As in TestKafkaGo: its reader returns nil for empty bytes.
		client: client{name: "kafka-go", opts: binaryOpts, readsEmptyAsNull: true, produce: kafkagoProduce, consume: kafkagoConsume},
		groups: kafkagoGroups(),
	})
}

// kafkagoSecurity is kafka-go's SASL mechanism and TLS config for a
// bootstrap address, both nil for a plain address.
func kafkagoSecurity(addr string) (sasl.Mechanism, *tls.Config, error) {
	_, sec := splitAddr(addr)
	if sec == nil {
		return nil, nil, nil
	}
	tlsCfg, err := sec.tlsConfig()
	if err != nil || !sec.sasl() {
		return nil, tlsCfg, err
	}
	var mech sasl.Mechanism
	switch sec.Mechanism {
	case mechPlain:
		mech = plain.Mechanism{Username: sec.User, Password: sec.Password}
	case mechSCRAM256:
		mech, err = scram.Mechanism(scram.SHA256, sec.User, sec.Password)
	case mechSCRAM512:
		mech, err = scram.Mechanism(scram.SHA512, sec.User, sec.Password)
	default:
		err = fmt.Errorf("kafka-go: no SASL mechanism %s", sec.Mechanism)
	}
	return mech, tlsCfg, err
}

// kafkagoSecureTransport sets a Transport's SASL and TLS for addr.
func kafkagoSecureTransport(t *testing.T, tr *kafka.Transport, addr string) {
	t.Helper()
	mech, tlsCfg, err := kafkagoSecurity(addr)
	if err != nil {
		t.Fatal(err)
	}
	tr.SASL, tr.TLS = mech, tlsCfg
}

// kafkagoSecureDialer sets a Dialer's SASL and TLS for addr.
func kafkagoSecureDialer(d *kafka.Dialer, addr string) error {
	mech, tlsCfg, err := kafkagoSecurity(addr)
	d.SASLMechanism, d.TLS = mech, tlsCfg
	return err
}

// kafkagoDialer is a Dialer for addr's security, or nil (kafka-go's
// default dialer) for a plain address.
func kafkagoDialer(t *testing.T, addr string) *kafka.Dialer {
	t.Helper()
	if _, sec := splitAddr(addr); sec == nil {
		return nil
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	if err := kafkagoSecureDialer(d, addr); err != nil {
		t.Fatal(err)
	}
	return d
}
