package clustertest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Main runs fn with a testing.TB that lives outside any test, for what
// TestMain starts before the first test and stops after the last (a
// cluster shared by every test of a package). Its Fatal stops fn; its
// Cleanup functions run, last first, when fn has returned. Main returns
// fn's exit code, or 1 if fn failed.
func Main(name string, fn func(tb testing.TB) int) (code int) {
	tb := &mainTB{name: name}
	defer tb.cleanup()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(mainFatal); !ok {
				panic(r)
			}
			code = 1
		}
	}()
	code = fn(tb)
	if code != 0 {
		tb.setFailed()
	}
	return code
}

// mainFatal is the panic of mainTB's Fatal, recovered by Main.
type mainFatal struct{}

// mainTB implements the part of testing.TB that Node and Cluster use.
// The embedded nil TB supplies the unexported method; calling any method
// not defined here panics. Methods may be called from any goroutine.
type mainTB struct {
	testing.TB
	name     string
	mu       sync.Mutex
	failed   bool
	cleanups []func()
}

func (m *mainTB) Name() string { return m.name }
func (m *mainTB) Helper()      {}

func (m *mainTB) Log(args ...any) { fmt.Fprintln(os.Stderr, append([]any{m.name + ":"}, args...)...) }
func (m *mainTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, m.name+": "+format+"\n", args...)
}

func (m *mainTB) Error(args ...any) { m.Log(args...); m.setFailed() }
func (m *mainTB) Errorf(format string, args ...any) {
	m.Logf(format, args...)
	m.setFailed()
}

func (m *mainTB) Fatal(args ...any) { m.Error(args...); m.FailNow() }
func (m *mainTB) Fatalf(format string, args ...any) {
	m.Errorf(format, args...)
	m.FailNow()
}
func (m *mainTB) FailNow() { m.setFailed(); panic(mainFatal{}) }
func (m *mainTB) Fail()    { m.setFailed() }

func (m *mainTB) setFailed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = true
}

func (m *mainTB) Failed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

// TempDir returns a new directory, removed at cleanup.
func (m *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", m.name+"-")
	if err != nil {
		m.Fatal(err)
	}
	m.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (m *mainTB) cleanup() {
	m.mu.Lock()
	fs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
