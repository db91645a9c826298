// Package logtest holds test helpers for package log: a file system that
// injects faults (ENOSPC after N bytes, short writes, failing fsync,
// truncate or create) into a real one.
package logtest

import (
	"os"
	"sync"
	"syscall"

	"github.com/strata-db/strata/internal/log"
)

// ErrNoSpace is the error FailWritesAfter injects by default.
var ErrNoSpace error = syscall.ENOSPC

// FaultFS wraps an FS and fails operations on demand. Faults apply to the
// files Only selects (all by default) and last until cleared. It is safe
// for concurrent use.
type FaultFS struct {
	inner log.FS

	mu          sync.Mutex
	match       func(name string) bool
	writeBudget int64 // bytes writes may still put down; < 0: unlimited
	writeErr    error
	silentShort bool // a write cut by the budget returns (n, nil)
	syncErr     error
	truncErr    error
	createErr   error
	writes      int64 // write calls that reached the inner file
}

// New wraps inner (nil: log.OSFS()).
func New(inner log.FS) *FaultFS {
	if inner == nil {
		inner = log.OSFS()
	}
	return &FaultFS{inner: inner, writeBudget: -1}
}

// Only restricts faults to files whose path match accepts (nil: all).
func (f *FaultFS) Only(match func(name string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.match = match
}

// FailWritesAfter lets n more bytes be written, then fails writes with err
// (ErrNoSpace if nil). The write that crosses the limit writes its first
// bytes up to it and returns the error: a short write.
func (f *FaultFS) FailWritesAfter(n int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		err = ErrNoSpace
	}
	f.writeBudget, f.writeErr, f.silentShort = n, err, false
}

// SilentShortWritesAfter is FailWritesAfter where the cut write returns a
// short count and no error, breaking io.Writer's contract as a buggy file
// system might; later writes write nothing and return (0, nil).
func (f *FaultFS) SilentShortWritesAfter(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeBudget, f.writeErr, f.silentShort = n, nil, true
}

// FailSync makes Sync return err (nil clears).
func (f *FaultFS) FailSync(err error) { f.set(&f.syncErr, err) }

// FailTruncate makes Truncate return err (nil clears).
func (f *FaultFS) FailTruncate(err error) { f.set(&f.truncErr, err) }

// FailCreate makes OpenFile with O_CREATE return err (nil clears).
func (f *FaultFS) FailCreate(err error) { f.set(&f.createErr, err) }

func (f *FaultFS) set(p *error, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*p = err
}

// Clear removes every fault.
func (f *FaultFS) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeBudget, f.writeErr, f.silentShort = -1, nil, false
	f.syncErr, f.truncErr, f.createErr = nil, nil, nil
}

// Writes counts the write calls that reached a file.
func (f *FaultFS) Writes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *FaultFS) applies(name string) bool { return f.match == nil || f.match(name) }

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	f.mu.Lock()
	err := f.createErr
	applies := f.applies(name)
	f.mu.Unlock()
	if err != nil && applies && flag&os.O_CREATE != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	file, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

func (f *FaultFS) Remove(name string) error                     { return f.inner.Remove(name) }
func (f *FaultFS) RemoveAll(path string) error                  { return f.inner.RemoveAll(path) }
func (f *FaultFS) Rename(oldpath, newpath string) error         { return f.inner.Rename(oldpath, newpath) }
func (f *FaultFS) MkdirAll(path string, perm os.FileMode) error { return f.inner.MkdirAll(path, perm) }
func (f *FaultFS) ReadDir(name string) ([]os.DirEntry, error)   { return f.inner.ReadDir(name) }
func (f *FaultFS) Stat(name string) (os.FileInfo, error)        { return f.inner.Stat(name) }

type faultFile struct {
	log.File
	fs   *FaultFS
	name string
}

func (ff *faultFile) Write(b []byte) (int, error) {
	f := ff.fs
	f.mu.Lock()
	allowed, werr, silent := len(b), error(nil), false
	if f.applies(ff.name) && f.writeBudget >= 0 {
		if int64(len(b)) > f.writeBudget {
			allowed, werr, silent = int(f.writeBudget), f.writeErr, f.silentShort
		}
		f.writeBudget -= int64(allowed)
	}
	f.writes++
	f.mu.Unlock()
	n, err := ff.File.Write(b[:allowed])
	if err != nil || allowed == len(b) || silent {
		return n, err
	}
	return n, &os.PathError{Op: "write", Path: ff.name, Err: werr}
}

func (ff *faultFile) Sync() error {
	if err := ff.fault(&ff.fs.syncErr); err != nil {
		return &os.PathError{Op: "sync", Path: ff.name, Err: err}
	}
	return ff.File.Sync()
}

func (ff *faultFile) Truncate(size int64) error {
	if err := ff.fault(&ff.fs.truncErr); err != nil {
		return &os.PathError{Op: "truncate", Path: ff.name, Err: err}
	}
	return ff.File.Truncate(size)
}

func (ff *faultFile) fault(p *error) error {
	ff.fs.mu.Lock()
	defer ff.fs.mu.Unlock()
	if !ff.fs.applies(ff.name) {
		return nil
	}
	return *p
}
