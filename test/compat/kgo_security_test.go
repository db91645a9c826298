package compat

import "testing"

// TestKgoSecurity runs the security scenarios with franz-go, which has
// every mechanism and TLS.
func TestKgoSecurity(t *testing.T) {
	runSecurityScenarios(t, secureClient{
		client: client{
			name: "kgo", opts: binaryOpts, produce: kgoProduce,
			consume: func(t *testing.T, addr, topic string, _ map[int32]int64) map[pos]record {
				return kgoConsume(t, addr, topic, "")
			},
		},
		groups: kgoGroups(),
	})
}
