// Package layering keeps the package graph one-way: each internal package
// may import only the internal packages listed for it, so lower layers
// never reach up (in particular, nothing imports the broker).
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/strata-db/strata/"

// allowed lists, for each internal package, the internal packages its
// non-test code may import.
var allowed = map[string][]string{
	"internal/record":            {},
	"internal/bufpool":           {},
	"internal/record/recordtest": {"internal/record"},
	"internal/config":            {},
	"internal/log":               {"internal/record"},
	"internal/log/logtest":       {"internal/log"},
	"internal/meta":              {"internal/config"},
	"internal/wire":              {"internal/bufpool"},
	"internal/sasl":              {},
	"internal/tenant":            {"internal/meta", "internal/sasl"},
	"internal/peer":              {},
	"internal/bench":             {},
	"internal/coord":             {"internal/record"},
	"internal/replica":           {"internal/config", "internal/log", "internal/meta", "internal/peer", "internal/record"},
	"internal/broker/api":        {"internal/bufpool", "internal/config", "internal/coord", "internal/log", "internal/meta", "internal/record", "internal/replica", "internal/sasl", "internal/wire"},
	"internal/broker":            {"internal/broker/api", "internal/config", "internal/coord", "internal/log", "internal/meta", "internal/peer", "internal/replica", "internal/tenant", "internal/wire"},
	"internal/broker/brokertest": {"internal/broker", "internal/meta"},
}

func TestImportsGoOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"internal/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the layering table; add it with the imports it may use", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if !contains(ok, imp) {
				t.Errorf("%s imports %s, which its layer may not use", pkg, imp)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
