// Package chaos runs the real strata binary as a child process and hurts it:
// SIGKILL mid-stream, on-disk corruption of segments while it is down, a
// full disk. Each test checks what a Kafka client was promised: every
// acknowledged record survives at its acknowledged offset, offsets stay
// dense, and the node comes back up by itself.
//
// The binary is built once per test run (TestMain) from the module root.
// Server logs (the child's stderr) go to a file per process and are printed
// when a test fails.
package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// strataBin is the binary built by TestMain.
var strataBin string

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "strata-chaos-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	strataBin = filepath.Join(dir, "strata")
	cmd := exec.Command("go", "build", "-o", strataBin, "./cmd/strata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build strata: %w\n%s", err, out)
	}
	return m.Run(), nil
}

// moduleRoot is the directory of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		// Not in module mode: fall back to the known layout (test/chaos).
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		return filepath.Join(wd, "..", ".."), nil
	}
	return filepath.Dir(mod), nil
}
