// Package clustertest runs `strata server` processes for multi-node tests:
// building the binary once, starting a node on fixed ports and a fixed data
// directory so that it can be killed, paused and restarted in place,
// asking a node for /healthz and /quorum, and reading a partition's log
// straight from a node's data directory.
//
// test/cluster, test/faults and test/compat (its cluster mode, through
// Cluster and Main) use it.
package clustertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// ReadyTimeout bounds how long a node may take to answer /healthz.
	ReadyTimeout = 30 * time.Second
	// ExitTimeout bounds how long a SIGKILLed node may take to be gone.
	ExitTimeout = 15 * time.Second
)

// Build compiles ./cmd/strata of the module the current directory belongs
// to into a new temporary directory. The caller removes dir.
func Build() (bin, dir string, err error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if dir, err = os.MkdirTemp("", "strata-bin-"); err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "strata")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/strata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("build strata: %w\n%s", err, out)
	}
	return bin, dir, nil
}

// handedOut holds the ports FreeAddr returned in this process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr returns a loopback address whose port was free a moment ago
// and that it has not returned before in this process: the kernel may
// hand out a port again as soon as it is closed, and two nodes of one
// cluster given the same address refuse to start.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return ln.Addr().String()
		}
	}
	t.Fatalf("no loopback port not handed out before in 100 tries (%d handed out)", len(handedOut.ports))
	return ""
}

// Node is one strata server process. Spawn starts it with the given
// arguments; a node may be started again after it exited or was killed.
// Methods are called from the test goroutine only, except Running and
// Pid, which may be called from any goroutine.
type Node struct {
	T        testing.TB
	Bin      string
	ID       int32
	HTTPAddr string // the --http address, for /healthz and /quorum
	DataDir  string
	LogDir   string
	// Kafka is the node's Kafka listener (--listen) and Zone its --zone,
	// as whoever builds its command line sets them; NewNode leaves both
	// empty, Cluster fills them in.
	Kafka, Zone string
	// LogLevel is the --log-level of the process; "" is debug.
	LogLevel string

	runs    int
	cmd     *exec.Cmd
	pid     atomic.Int64 // the running process's pid, or 0
	done    chan struct{}
	waitErr error
	logs    []string
}

// NewNode returns a node that is not running yet; at the end of the test
// it is killed, and its logs are printed if the test failed or
// STRATA_CLUSTER_LOGS is set. The logs are written to a temporary
// directory, or kept in STRATA_CLUSTER_LOGDIR when that is set.
func NewNode(t testing.TB, bin string, id int32, httpAddr, dataDir string) *Node {
	logDir := os.Getenv("STRATA_CLUSTER_LOGDIR")
	if logDir == "" {
		logDir = t.TempDir()
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := &Node{T: t, Bin: bin, ID: id, HTTPAddr: httpAddr, DataDir: dataDir, LogDir: logDir}
	t.Cleanup(func() {
		if n.cmd != nil {
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() || os.Getenv("STRATA_CLUSTER_LOGS") != "" {
			n.DumpLogs(150)
		}
	})
	return n
}

// Spawn starts the process with args (--log-level added); its output
// goes to a new log file.
func (n *Node) Spawn(args []string) {
	n.T.Helper()
	if n.cmd != nil {
		n.T.Fatalf("node %d already running", n.ID)
	}
	n.runs++
	path := filepath.Join(n.LogDir, fmt.Sprintf("node-%d-run-%d.log", n.ID, n.runs))
	f, err := os.Create(path)
	if err != nil {
		n.T.Fatal(err)
	}
	n.logs = append(n.logs, path)
	level := n.LogLevel
	if level == "" {
		level = "debug"
	}
	cmd := exec.Command(n.Bin, append(args, "--log-level", level)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		n.T.Fatal(err)
	}
	n.pid.Store(int64(cmd.Process.Pid))
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		n.waitErr = cmd.Wait()
		f.Close()
		close(done)
	}(n.done)
}

// Pid is the running process's id, or 0 when the node is not running.
func (n *Node) Pid() int { return int(n.pid.Load()) }

// Running reports whether the process was started and has not exited.
func (n *Node) Running() bool { return n.Pid() != 0 }

func (n *Node) exited() {
	n.cmd = nil
	n.pid.Store(0)
}

// Exited reports whether a started process has exited by itself since;
// it then counts as not running.
func (n *Node) Exited() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		n.exited()
		return true
	default:
		return false
	}
}

// WaitReady waits for /healthz to answer 200.
func (n *Node) WaitReady() {
	n.T.Helper()
	if err := n.AwaitReady(ReadyTimeout); err != nil {
		n.T.Fatal(err)
	}
}

// AwaitReady is WaitReady returning an error instead of failing the test.
func (n *Node) AwaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if n.Exited() {
			return fmt.Errorf("node %d exited before becoming ready: %v", n.ID, n.waitErr)
		}
		if n.Healthz() == http.StatusOK {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("node %d not ready after %v", n.ID, timeout)
}

// Healthz is the status code of GET /healthz, 0 when it did not answer.
func (n *Node) Healthz() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.HTTPAddr + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Quorum is a node's GET /quorum.
type Quorum struct {
	ClusterID        string `json:"clusterId"`
	ActiveController int32  `json:"activeController"`
	Brokers          []struct {
		ID     int32 `json:"id"`
		Fenced bool  `json:"fenced"`
	} `json:"brokers"`
}

// Quorum asks the node for its view of the metadata quorum.
func (n *Node) Quorum() (Quorum, error) {
	var q Quorum
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.HTTPAddr + "/quorum")
	if err != nil {
		return q, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return q, fmt.Errorf("status %s", resp.Status)
	}
	return q, json.NewDecoder(resp.Body).Decode(&q)
}

// Signal sends sig to the running process.
func (n *Node) Signal(sig syscall.Signal) {
	n.T.Helper()
	if n.cmd == nil {
		n.T.Fatalf("node %d is not running", n.ID)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.T.Fatalf("node %d: %v: %v", n.ID, sig, err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (n *Node) Kill() {
	n.T.Helper()
	n.Signal(syscall.SIGKILL)
	select {
	case <-n.done:
	case <-time.After(ExitTimeout):
		n.T.Fatalf("node %d survived SIGKILL", n.ID)
	}
	n.exited()
}

// WaitExit waits for the process to exit by itself and returns its
// output and exit error.
func (n *Node) WaitExit(timeout time.Duration) (string, error) {
	n.T.Helper()
	select {
	case <-n.done:
	case <-time.After(timeout):
		n.T.Fatalf("node %d still running after %v", n.ID, timeout)
	}
	n.exited()
	out, _ := os.ReadFile(n.logs[len(n.logs)-1])
	return string(out), n.waitErr
}

// DumpLogs logs the last lines of every run's output.
func (n *Node) DumpLogs(lines int) {
	for _, p := range n.logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ls := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(ls) > lines {
			ls = ls[len(ls)-lines:]
		}
		n.T.Logf("---- %s (last %d lines)\n%s", filepath.Base(p), len(ls), strings.Join(ls, "\n"))
	}
}
