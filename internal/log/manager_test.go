package log

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestManagerCleanShutdownMarker(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, cleanShutdownFile)
	m, err := NewManager(ManagerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m.CleanShutdown() {
		t.Fatal("a new directory reports a clean shutdown")
	}
	for _, name := range []string{"t1-0", "t1-1"} {
		l, err := m.Open(name, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		appendBatches(t, l, 3, 1, 0, 10, 0)
		if again, _ := m.Open(name, testConfig()); again != l {
			t.Fatal("second Open returned another log")
		}
	}
	if _, err := m.Open("../escape", testConfig()); err == nil {
		t.Fatal("Open accepted a path")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after Close: %v", err)
	}

	m, err = NewManager(ManagerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !m.CleanShutdown() {
		t.Fatal("clean shutdown not detected")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker not removed while running: %v", err)
	}
	names, err := m.Names()
	if err != nil || !slices.Equal(names, []string{"t1-0", "t1-1"}) {
		t.Fatalf("Names = %v, %v", names, err)
	}
	l, err := m.Open("t1-0", testConfig())
	if err != nil || l.LogEndOffset() != 3 {
		t.Fatalf("reopen: %v", err)
	}
	// Crash: no Close. The next run is unclean and recovers.
	abandon(l)
	m, err = NewManager(ManagerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m.CleanShutdown() {
		t.Fatal("unclean shutdown reported clean")
	}
	if _, err := m.Open("t1-0", testConfig()); err != nil {
		t.Fatal(err)
	}
	// t1-1 was never opened (so never recovered) in this unclean run: no marker.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker written although a log was not recovered: %v", err)
	}
}

func TestManagerDelete(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "old.1234-delete"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old.1234-delete")); !os.IsNotExist(err) {
		t.Fatalf("leftover deleted log not removed: %v", err)
	}
	l, err := m.Open("x-0", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendBatches(t, l, 2, 1, 0, 10, 0)
	if err := m.Delete("x-0"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("x-0"); ok {
		t.Fatal("deleted log still registered")
	}
	if err := m.Close(); err != nil { // waits for the removal
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("directory %s left after Delete", e.Name())
		}
	}
	if err := m.Delete("never-existed"); err != nil {
		t.Fatal(err)
	}
}

func TestManagerRun(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	m, err := NewManager(ManagerConfig{Dir: dir, RetentionCheckInterval: 5 * time.Millisecond,
		FlushCheckInterval: 2 * time.Millisecond, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.SegmentBytes, cfg.RetentionMs, cfg.FlushMs = 500, time.Hour, 0
	l, err := m.Open("r-0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendBatches(t, l, 20, 1, clock.Now().UnixMilli()-2*time.Hour.Milliseconds(), 50, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for (l.LogStartOffset() != 20 || l.RecoveryPoint() != 20) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if l.LogStartOffset() != 20 || l.RecoveryPoint() != 20 {
		t.Fatalf("after Run: start %d, recovery point %d", l.LogStartOffset(), l.RecoveryPoint())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
