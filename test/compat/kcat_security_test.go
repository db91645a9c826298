package compat

import (
	"maps"
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestKcatSecurity runs the security scenarios with kcat (librdkafka's
// SASL PLAIN and SCRAM, and OpenSSL).
func TestKcatSecurity(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("kcat is not installed (apt-get install kcat); CI requires it")
		}
		t.Fatalf("kcat is required in CI: %v", err)
	}
	runSecurityScenarios(t, secureClient{
		client: client{name: "kcat", opts: kcatOpts, produce: kcatProduce, consume: kcatConsume},
		groups: kcatGroups(),
	})
}

// kcatSecurity are kcat's -X arguments for a bootstrap address's security,
// none for a plain address.
func kcatSecurity(addr string) []string {
	_, sec := splitAddr(addr)
	props := sec.librdkafka()
	var args []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		args = append(args, "-X", k+"="+props[k])
	}
	return args
}
