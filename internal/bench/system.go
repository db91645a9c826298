package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Timeouts for servers the bench starts.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// System is a server under test that the bench starts and stops itself,
// possibly many times. Start and Stop are called by one goroutine.
type System interface {
	// Name is the label in reports, e.g. "strata" or "kfake-mem".
	Name() string
	// Start brings the server up and returns once it answers Kafka
	// requests.
	Start(ctx context.Context) error
	Bootstrap() string
	// PID is the process whose CPU time and memory are charged to the
	// server.
	PID() int
	Stop() error
}

// ChildServer is a server run as a child process: the command is
// Path Args..., with every "{listen}" and "{data}" in Args replaced by a
// free loopback address and DataDir, which every Start empties, and
// "{http}" by another free address (HTTPAddr), whose /healthz then says
// when the server is ready (a listener that requires SASL cannot be asked
// anonymously). Output is appended to LogPath.
type ChildServer struct {
	Label   string
	Path    string
	Args    []string
	DataDir string // emptied and created on Start if set; the caller removes it
	LogPath string

	cmd      *exec.Cmd
	addr     string
	httpAddr string
	done     chan struct{}
	wait     error
}

// Name implements System.
func (s *ChildServer) Name() string { return s.Label }

// Bootstrap implements System.
func (s *ChildServer) Bootstrap() string { return s.addr }

// HTTPAddr is the address that replaced "{http}", once started.
func (s *ChildServer) HTTPAddr() string { return s.httpAddr }

// PID implements System.
func (s *ChildServer) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Start implements System.
func (s *ChildServer) Start(ctx context.Context) error {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	s.addr, s.httpAddr = addr, ""
	if slices.Contains(s.Args, "{http}") {
		if s.httpAddr, err = freeLoopbackAddr(); err != nil {
			return err
		}
	}
	if s.DataDir != "" {
		err := os.RemoveAll(s.DataDir)
		if err == nil {
			err = os.MkdirAll(s.DataDir, 0o755)
		}
		if err != nil {
			return fmt.Errorf("bench: %s: %w", s.Label, err)
		}
	}
	args := make([]string, len(s.Args))
	for i, a := range s.Args {
		switch a {
		case "{listen}":
			a = addr
		case "{data}":
			a = s.DataDir
		case "{http}":
			a = s.httpAddr
		}
		args[i] = a
	}
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("bench: %s log: %w", s.Label, err)
	}
	s.cmd = exec.Command(s.Path, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("bench: start %s: %w", s.Label, err)
	}
	s.done = make(chan struct{})
	go func() {
		s.wait = s.cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	return s.waitReady(ctx)
}

func (s *ChildServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("bench: %s exited before serving (%v); see %s", s.Label, s.wait, s.LogPath)
		default:
		}
		if s.httpAddr != "" {
			if healthy(ctx, s.httpAddr) {
				return nil
			}
		} else if a, err := dialAdmin(ctx, []string{s.addr}); err == nil {
			a.close()
			return nil
		}
		select {
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("bench: %s not serving after %s; see %s", s.Label, readyTimeout, s.LogPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop implements System: SIGTERM, then SIGKILL after stopTimeout.
func (s *ChildServer) Stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("bench: %s did not stop within %s; killed", s.Label, stopTimeout)
	}
	var exit *exec.ExitError
	if s.wait != nil && !errors.As(s.wait, &exit) {
		return fmt.Errorf("bench: %s: %w", s.Label, s.wait)
	}
	return nil
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago. Another process could take it before the server binds; the server
// then fails to start, which Start reports.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StrataServer runs `<exe> server` on a fresh data directory under root,
// with its HTTP endpoints on a free loopback port.
func StrataServer(exe, root string) *ChildServer {
	data := filepath.Join(root, "strata-data")
	return &ChildServer{
		Label: "strata", Path: exe, DataDir: data, LogPath: filepath.Join(root, "strata.log"),
		Args: []string{"server", "--data", "{data}", "--listen", "{listen}", "--http", "127.0.0.1:0", "--log-level", "warn"},
	}
}

// KfakeServer runs `<exe> bench kfake-server`: franz-go's fake broker, in
// memory or, with persist, writing to a data directory under root.
func KfakeServer(exe, root string, persist bool) *ChildServer {
	s := &ChildServer{
		Label: "kfake-mem", Path: exe, LogPath: filepath.Join(root, "kfake-mem.log"),
		Args: []string{"bench", "kfake-server", "--listen", "{listen}"},
	}
	if persist {
		s.Label, s.DataDir, s.LogPath = "kfake-disk", filepath.Join(root, "kfake-data"), filepath.Join(root, "kfake-disk.log")
		s.Args = append(s.Args, "--data", "{data}")
	}
	return s
}

// KfakeConfig is the kfake-server child mode's settings.
type KfakeConfig struct {
	Listen     string // 127.0.0.1:PORT; kfake binds loopback only
	DataDir    string // empty: in memory
	SyncWrites bool   // fsync every batch (only with DataDir)
}

// RunKfake serves a single-broker kfake cluster until ctx ends.
func RunKfake(ctx context.Context, cfg KfakeConfig) error {
	_, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("bench: kfake listen %q: %w", cfg.Listen, err)
	}
	var port int
	if _, err := fmt.Sscan(portStr, &port); err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("bench: kfake listen %q: bad port", cfg.Listen)
	}
	opts := []kfake.Opt{kfake.Ports(port)}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("bench: kfake: %w", err)
	}
	fmt.Fprintf(os.Stderr, "kfake serving on %s\n", c.ListenAddrs()[0])
	<-ctx.Done()
	c.Close()
	return nil
}
