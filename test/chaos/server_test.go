package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 20 * time.Second // from exec to /healthz 200
	exitTimeout  = 10 * time.Second // from a signal to the process having exited
	logTailLines = 200              // lines of server log printed on failure
)

// server is one strata node run as a child process on a fixed data
// directory and fixed ports, so that it can be killed and restarted in
// place. Every process it starts logs to its own file under logDir.
//
// Not safe for concurrent use: one test goroutine drives it.
type server struct {
	t         *testing.T
	dataDir   string
	kafkaAddr string
	httpAddr  string
	logDir    string

	runs int       // processes started so far
	cmd  *exec.Cmd // the running process, nil when stopped
	done chan struct{}
	wait error // cmd.Wait's result, valid once done is closed
	logs []string
}

// newServer picks free ports for a node on dataDir and registers a cleanup
// that kills the process (if still running) and prints its logs if the
// test failed (always with STRATA_CHAOS_LOGS set). It does not start the
// node.
func newServer(t *testing.T, dataDir string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, kafkaAddr: freeAddr(t), httpAddr: freeAddr(t), logDir: t.TempDir()}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.signal(syscall.SIGKILL)
			<-s.done
			s.cmd = nil
		}
		if t.Failed() || os.Getenv("STRATA_CHAOS_LOGS") != "" {
			s.dumpLogs()
		}
	})
	return s
}

// startServer is newServer followed by start.
func startServer(t *testing.T, dataDir string) *server {
	t.Helper()
	s := newServer(t, dataDir)
	s.start()
	return s
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary and waits until /healthz answers 200. It fails the
// test if the process exits or does not become ready in time.
func (s *server) start() {
	s.t.Helper()
	if err := s.spawn(); err != nil {
		s.t.Fatal(err)
	}
	if err := s.waitReady(); err != nil {
		s.t.Fatal(err)
	}
}

// startKillDuringStartup runs the binary and SIGKILLs it after d, ready
// or not (a crash during recovery).
func (s *server) startKillDuringStartup(d time.Duration) {
	s.t.Helper()
	if err := s.spawn(); err != nil {
		s.t.Fatal(err)
	}
	time.Sleep(d)
	s.kill()
}

// spawn runs the binary with its output going to a new log file.
func (s *server) spawn() error {
	if s.cmd != nil {
		return errors.New("server already running")
	}
	s.runs++
	logPath := filepath.Join(s.logDir, fmt.Sprintf("run-%02d.log", s.runs))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	s.logs = append(s.logs, logPath)
	cmd := exec.Command(strataBin, "server", "--data", s.dataDir,
		"--listen", s.kafkaAddr, "--http", s.httpAddr, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start strata: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		s.wait = cmd.Wait()
		logFile.Close()
		close(done)
	}(s.done)
	return nil
}

func (s *server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.cmd = nil
			return fmt.Errorf("strata run %d exited before becoming ready: %v", s.runs, s.wait)
		default:
		}
		if s.healthz() == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("strata run %d not ready after %v", s.runs, readyTimeout)
}

// healthz returns the status of GET /healthz, or 0 if it could not be asked.
func (s *server) healthz() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + s.httpAddr + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// alive reports whether the process is still running.
func (s *server) alive() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) signal(sig syscall.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("signal %v: %v", sig, err)
	}
}

// kill sends SIGKILL and waits for the process to be gone: no shutdown
// code runs, the page cache keeps what was written.
func (s *server) kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
	if _, err := s.waitExit(); err != nil {
		s.t.Fatal(err)
	}
}

// term sends SIGTERM and returns the exit code and how long the process
// took to exit.
func (s *server) term() (code int, took time.Duration) {
	s.t.Helper()
	begin := time.Now()
	s.signal(syscall.SIGTERM)
	code, err := s.waitExit()
	if err != nil {
		s.t.Fatal(err)
	}
	return code, time.Since(begin)
}

// waitExit waits up to exitTimeout for the process to exit; a process that
// does not is killed and reported.
func (s *server) waitExit() (int, error) {
	defer func() { s.cmd = nil }()
	select {
	case <-s.done:
	case <-time.After(exitTimeout):
		s.cmd.Process.Kill()
		<-s.done
		return -1, fmt.Errorf("strata run %d did not exit within %v", s.runs, exitTimeout)
	}
	var ee *exec.ExitError
	switch {
	case s.wait == nil:
		return 0, nil
	case errors.As(s.wait, &ee):
		return ee.ExitCode(), nil // -1 when killed by a signal
	default:
		return -1, s.wait
	}
}

// logText returns the log of run n (1-based).
func (s *server) logText(n int) string {
	b, err := os.ReadFile(s.logs[n-1])
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// dumpLogs prints the tail of every run's log.
func (s *server) dumpLogs() {
	for i, path := range s.logs {
		lines := tailLines(path, logTailLines)
		s.t.Logf("---- strata run %d log (%s, last %d lines) ----\n%s", i+1, path, len(lines), strings.Join(lines, "\n"))
	}
}

func tailLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}
