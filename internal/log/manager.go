package log

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files and suffixes of a data directory managed by a Manager.
const (
	// cleanShutdownFile exists while no log of the directory is open: Close
	// writes it after closing every log, NewManager removes it.
	cleanShutdownFile = ".clean-shutdown"
	// deleteDirSuffix marks a deleted log's directory awaiting removal.
	deleteDirSuffix = "-delete"
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Dir                    string           // the data directory holding one directory per log
	RetentionCheckInterval time.Duration    // log.retention.check.interval.ms; 0: 300s
	FlushCheckInterval     time.Duration    // log.flush.scheduler.interval.ms; 0: 1s
	Logger                 *slog.Logger     // nil: discard
	FS                     FS               // nil: OSFS()
	Now                    func() time.Time // nil: time.Now
	MaxDecompressedBytes   int              // see Options; 0: default

	// Cleaner configures log compaction (log.cleaner.dedupe.buffer.size,
	// log.cleaner.io.max.bytes.per.second); its Logger defaults to Logger.
	Cleaner CleanerConfig
	// CleanerBackoff (log.cleaner.backoff.ms) is how long the cleaner
	// sleeps when no log is due; 0: 15s.
	CleanerBackoff time.Duration
	// DisableCleaner (log.cleaner.enable=false) stops compaction.
	DisableCleaner bool
}

// Manager owns the logs of one data directory: it knows whether the last
// shutdown was clean, opens logs accordingly, runs retention and flushes
// periodically, and deletes logs.
//
// Concurrency: all methods are safe for concurrent use. mu guards the map
// of open logs; Open holds it while a log loads (recovery of logs is
// serialized per data directory).
type Manager struct {
	cfg     ManagerConfig
	clean   bool     // the marker was present: every log was closed cleanly
	cleaner *Cleaner // nil if disabled

	mu      sync.Mutex
	logs    map[string]*Log
	opened  map[string]bool // names opened during this run
	closed  bool
	deletes sync.WaitGroup // asynchronous directory removals
}

// NewManager prepares cfg.Dir: it remembers and removes the clean-shutdown
// marker (durably, before any log can change) and removes the directories
// of deleted logs a previous run left behind.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("log: manager needs a directory")
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 300 * time.Second
	}
	if cfg.FlushCheckInterval <= 0 {
		cfg.FlushCheckInterval = time.Second
	}
	if cfg.CleanerBackoff <= 0 {
		cfg.CleanerBackoff = 15 * time.Second
	}
	opts := Options{FS: cfg.FS, Now: cfg.Now, Logger: cfg.Logger}.withDefaults()
	cfg.FS, cfg.Now, cfg.Logger = opts.FS, opts.Now, opts.Logger
	m := &Manager{cfg: cfg, logs: map[string]*Log{}, opened: map[string]bool{}}
	if !cfg.DisableCleaner {
		cc := cfg.Cleaner
		if cc.Logger == nil {
			cc.Logger = cfg.Logger
		}
		var err error
		if m.cleaner, err = NewCleaner(cc); err != nil {
			return nil, err
		}
	}
	if err := cfg.FS.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, storageErr("create "+cfg.Dir, err)
	}
	marker := filepath.Join(cfg.Dir, cleanShutdownFile)
	switch _, err := cfg.FS.Stat(marker); {
	case err == nil:
		m.clean = true
		if err := cfg.FS.Remove(marker); err != nil {
			return nil, storageErr("remove clean shutdown marker", err)
		}
		if err := syncDir(cfg.FS, cfg.Dir); err != nil {
			return nil, storageErr("remove clean shutdown marker", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, storageErr("stat clean shutdown marker", err)
	}
	entries, err := cfg.FS.ReadDir(cfg.Dir)
	if err != nil {
		return nil, storageErr("list "+cfg.Dir, err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), deleteDirSuffix) {
			if err := cfg.FS.RemoveAll(filepath.Join(cfg.Dir, e.Name())); err != nil {
				return nil, storageErr("remove deleted log "+e.Name(), err)
			}
		}
	}
	return m, nil
}

// CleanShutdown reports whether the previous run closed every log cleanly.
func (m *Manager) CleanShutdown() bool { return m.clean }

func validLogName(name string) error {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, deleteDirSuffix) {
		return fmt.Errorf("log: invalid log name %q", name)
	}
	return nil
}

// Open opens (creating it if needed) the log Dir/name, recovering it unless
// the last shutdown was clean, and registers it. A log already open is
// returned as it is (cfg is then ignored; use SetConfig).
func (m *Manager) Open(name string, cfg Config) (*Log, error) {
	if err := validLogName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if l := m.logs[name]; l != nil {
		return l, nil
	}
	l, err := Open(filepath.Join(m.cfg.Dir, name), cfg, Options{
		FS: m.cfg.FS, Now: m.cfg.Now, Logger: m.cfg.Logger,
		CleanShutdown: m.clean, MaxDecompressedBytes: m.cfg.MaxDecompressedBytes,
	})
	if err != nil {
		return nil, err
	}
	m.logs[name] = l
	m.opened[name] = true
	return l, nil
}

// Get returns an open log.
func (m *Manager) Get(name string) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[name]
	return l, ok
}

// Names lists the log directories present on disk, open or not.
func (m *Manager) Names() ([]string, error) {
	entries, err := m.cfg.FS.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, storageErr("list "+m.cfg.Dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && validLogName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Delete closes the log (if open), renames its directory to
// <name>.<random>-delete and removes that in the background; a crash before
// the removal ends leaves it to the next NewManager.
func (m *Manager) Delete(name string) error {
	if err := validLogName(name); err != nil {
		return err
	}
	m.mu.Lock()
	l := m.logs[name]
	delete(m.logs, name)
	m.mu.Unlock()
	if l != nil {
		if err := l.Close(); err != nil {
			m.cfg.Logger.Warn("log: close of deleted log failed", "dir", l.dir, "err", err)
		}
	}
	dir := filepath.Join(m.cfg.Dir, name)
	if _, err := m.cfg.FS.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	target := fmt.Sprintf("%s.%s%s", dir, hex.EncodeToString(suffix[:]), deleteDirSuffix)
	if err := m.cfg.FS.Rename(dir, target); err != nil {
		return storageErr("delete log "+name, err)
	}
	if err := syncDir(m.cfg.FS, m.cfg.Dir); err != nil {
		return storageErr("delete log "+name, err)
	}
	m.deletes.Add(1)
	go func() {
		defer m.deletes.Done()
		if err := m.cfg.FS.RemoveAll(target); err != nil {
			m.cfg.Logger.Error("log: remove deleted log", "dir", target, "err", err)
		}
	}()
	return nil
}

// Run enforces retention every RetentionCheckInterval, applies flush.ms
// (and flushes rolled segments) every FlushCheckInterval, and runs the
// cleaner in a goroutine of its own, until ctx ends; it returns once the
// cleaner has stopped.
func (m *Manager) Run(ctx context.Context) {
	if m.cleaner != nil {
		done := make(chan struct{})
		go func() { defer close(done); m.runCleaner(ctx) }()
		defer func() { <-done }()
	}
	retention := time.NewTicker(m.cfg.RetentionCheckInterval)
	defer retention.Stop()
	flush := time.NewTicker(m.cfg.FlushCheckInterval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retention.C:
			m.each(func(l *Log) error { _, err := l.EnforceRetention(); return err }, "retention")
		case <-flush.C:
			m.each((*Log).FlushIfDue, "flush")
		}
	}
}

// openLogs returns the open logs.
func (m *Manager) openLogs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	return logs
}

// runCleaner cleans the dirtiest due log, again and again, sleeping
// CleanerBackoff when none is due or a pass failed, until ctx ends.
func (m *Manager) runCleaner(ctx context.Context) {
	for ctx.Err() == nil {
		if l := m.dirtiestLog(); l != nil {
			res, err := m.cleaner.Clean(ctx, l)
			switch {
			case err == nil, errors.Is(err, ErrClosed), ctx.Err() != nil:
			case errors.Is(err, ErrCleanAborted):
				m.cfg.Logger.Info("log: cleaning gave way to a truncation or deletion; retrying later", "dir", l.dir)
			default:
				m.cfg.Logger.Error("log: cleaning failed", "dir", l.dir, "err", err)
			}
			if err == nil && res.Cleaned {
				continue // the next log may be due already
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(m.cfg.CleanerBackoff):
		}
	}
}

// dirtiestLog returns the due log with the highest dirty ratio, or nil.
func (m *Manager) dirtiestLog() *Log {
	var best *Log
	bestRatio := -1.0
	for _, l := range m.openLogs() {
		if st := l.cleanable(); st.due && st.ratio > bestRatio {
			best, bestRatio = l, st.ratio
		}
	}
	return best
}

// each runs fn on every open log, logging failures.
func (m *Manager) each(fn func(*Log) error, what string) {
	for _, l := range m.openLogs() {
		if err := fn(l); err != nil && !errors.Is(err, ErrClosed) {
			m.cfg.Logger.Error("log: "+what+" failed", "dir", l.dir, "err", err)
		}
	}
}

// Close closes every log, waits for background removals, and then writes
// the clean-shutdown marker, unless a log failed to close, or the run
// started after an unclean shutdown and some log on disk was never opened
// (and so never recovered) during it.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	logs := m.logs
	m.mu.Unlock()
	var err error
	for _, l := range logs {
		err = errors.Join(err, l.Close())
	}
	m.deletes.Wait()
	if err != nil {
		return err
	}
	if !m.clean {
		names, err := m.Names()
		if err != nil {
			return err
		}
		for _, name := range names {
			if !m.opened[name] {
				m.cfg.Logger.Info("log: not marking a clean shutdown: a log was not recovered in this run",
					"dir", filepath.Join(m.cfg.Dir, name))
				return nil
			}
		}
	}
	if err := writeFileAtomic(m.cfg.FS, filepath.Join(m.cfg.Dir, cleanShutdownFile), nil); err != nil {
		return storageErr("write clean shutdown marker", err)
	}
	return nil
}
