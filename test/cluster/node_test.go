package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 30 * time.Second
	exitTimeout  = 15 * time.Second
	// sessionTimeoutMs is broker.session.timeout.ms for every node: short,
	// so that a duplicate node id is refused within seconds.
	sessionTimeoutMs = 3000
	// replicaLagMs is replica.lag.time.max.ms for every node.
	replicaLagMs = 5000
)

// node is one strata server process on a fixed data directory and fixed
// ports, so that it can be killed and restarted in place.
type node struct {
	t                     *testing.T
	id                    int32
	zone                  string
	dataDir               string
	kafka, ctrl, httpAddr string
	config                []string // extra broker-config lines
	flags                 []string // extra server flags
	logDir                string
	runs                  int
	cmd                   *exec.Cmd
	done                  chan struct{}
	waitErr               error
	logs                  []string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newNode(t *testing.T, id int32, zone string) *node {
	n := &node{t: t, id: id, zone: zone, dataDir: t.TempDir(), kafka: freeAddr(t), ctrl: freeAddr(t), httpAddr: freeAddr(t), logDir: t.TempDir()}
	t.Cleanup(func() {
		if n.cmd != nil {
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() || os.Getenv("STRATA_CLUSTER_LOGS") != "" {
			n.dumpLogs()
		}
	})
	return n
}

// configFile writes the YAML every node reads: a short session timeout,
// and timed-out transactions aborted within a second.
// extra lines go under broker-config too.
func configFile(t *testing.T, extra ...string) string {
	p := filepath.Join(t.TempDir(), "strata.yaml")
	body := fmt.Sprintf("broker-config:\n  broker.session.timeout.ms: %d\n  broker.heartbeat.interval.ms: 300\n  replica.lag.time.max.ms: %d\n"+
		"  transaction.abort.timed.out.transaction.cleanup.interval.ms: 1000\n", sessionTimeoutMs, replicaLagMs)
	for _, line := range extra {
		body += "  " + line + "\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverArgs are the flags of a voter of the cluster whose voters are
// given.
func (n *node) serverArgs(voters string) []string {
	args := []string{"server", "--node-id", strconv.Itoa(int(n.id)), "--data", n.dataDir,
		"--listen", n.kafka, "--http", n.httpAddr, "--controller-listen", n.ctrl,
		"--controllers", voters, "--zone", n.zone, "--config", configFile(n.t, n.config...)}
	return append(args, n.flags...)
}

// spawn starts the process with args; its output goes to a new log file.
func (n *node) spawn(args []string) {
	n.t.Helper()
	if n.cmd != nil {
		n.t.Fatalf("node %d already running", n.id)
	}
	n.runs++
	path := filepath.Join(n.logDir, fmt.Sprintf("node-%d-run-%d.log", n.id, n.runs))
	f, err := os.Create(path)
	if err != nil {
		n.t.Fatal(err)
	}
	n.logs = append(n.logs, path)
	cmd := exec.Command(strataBin, append(args, "--log-level", "debug")...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		n.t.Fatal(err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		n.waitErr = cmd.Wait()
		f.Close()
		close(done)
	}(n.done)
}

// waitReady waits for /healthz to answer 200.
func (n *node) waitReady() {
	n.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			n.cmd = nil
			n.t.Fatalf("node %d exited before becoming ready: %v", n.id, n.waitErr)
		default:
		}
		if n.healthz() == http.StatusOK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("node %d not ready after %v", n.id, readyTimeout)
}

func (n *node) healthz() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.httpAddr + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// quorum is the node's GET /quorum.
type quorum struct {
	ClusterID        string `json:"clusterId"`
	ActiveController int32  `json:"activeController"`
	Brokers          []struct {
		ID     int32 `json:"id"`
		Fenced bool  `json:"fenced"`
	} `json:"brokers"`
}

func (n *node) quorum() (quorum, error) {
	var q quorum
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.httpAddr + "/quorum")
	if err != nil {
		return q, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return q, fmt.Errorf("status %s", resp.Status)
	}
	return q, json.NewDecoder(resp.Body).Decode(&q)
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-n.done:
	case <-time.After(exitTimeout):
		n.t.Fatalf("node %d survived SIGKILL", n.id)
	}
	n.cmd = nil
}

// waitExit waits for the process to exit by itself and returns its
// output and exit error.
func (n *node) waitExit(timeout time.Duration) (string, error) {
	n.t.Helper()
	select {
	case <-n.done:
	case <-time.After(timeout):
		n.t.Fatalf("node %d still running after %v", n.id, timeout)
	}
	n.cmd = nil
	out, _ := os.ReadFile(n.logs[len(n.logs)-1])
	return string(out), n.waitErr
}

func (n *node) dumpLogs() {
	for _, p := range n.logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 150 {
			lines = lines[len(lines)-150:]
		}
		n.t.Logf("---- %s (last %d lines)\n%s", filepath.Base(p), len(lines), strings.Join(lines, "\n"))
	}
}

// exitCode is the process's exit status, or -1 if it did not exit by
// itself with one.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
