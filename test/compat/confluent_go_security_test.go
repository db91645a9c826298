package compat

import "testing"

// TestConfluentGoSecurity runs the security scenarios with
// confluent-kafka-go (librdkafka's SASL and OpenSSL).
func TestConfluentGoSecurity(t *testing.T) {
	runSecurityScenarios(t, secureClient{
		client: client{name: "confluent-kafka-go", opts: binaryOpts, produce: confluentProduce, consume: confluentConsume},
		groups: confluentGroups(),
	})
}
