package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the file system a log lives on. It is the seam tests use to inject
// faults (ENOSPC, short writes, failing fsync or truncate); production code
// uses OSFS. Implementations must be safe for concurrent use.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
}

// File is an open file of an FS. ReadAt must be safe concurrently with
// Write and with other ReadAt calls, as *os.File is. Segment files are
// opened with O_APPEND so that a Write after a Truncate lands at the new end.
type File interface {
	io.ReaderAt
	io.Writer
	Truncate(size int64) error
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// OSFS returns the FS of the operating system.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return f, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

// syncDir fsyncs a directory so that files created, renamed or removed in
// it survive a power loss.
func syncDir(fsys FS, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new contents: write a temporary file, fsync it, rename it over
// path and fsync the directory.
func writeFileAtomic(fsys FS, path string, data []byte) error {
	return replaceFile(fsys, path, data, true)
}

// replaceFile replaces path's contents atomically (temporary file and
// rename); with sync the data and the rename are also made durable.
func replaceFile(fsys FS, path string, data []byte, sync bool) error {
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !sync {
		return nil
	}
	return syncDir(fsys, filepath.Dir(path))
}

// maxSmallFile bounds what readSmallFile loads; the checkpoint files of a
// log are far smaller.
const maxSmallFile = 16 << 20

// readSmallFile reads a whole small file. A missing file is reported with
// an error matching fs.ErrNotExist.
func readSmallFile(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxSmallFile {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", path, st.Size(), maxSmallFile)
	}
	b := make([]byte, st.Size())
	if err := readFullAt(f, b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// readFullAt fills b from position off. A file shorter than off+len(b)
// gives io.ErrUnexpectedEOF.
func readFullAt(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// removeIfExists removes name, ignoring a file that is already gone.
func removeIfExists(fsys FS, name string) error {
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
