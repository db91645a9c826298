package log

// The aborted transaction index (Kafka's .txnindex): one entry per aborted
// transaction that wrote data, so that read_committed fetches can tell
// clients which records to drop.
//
// Kafka keeps one such file per segment. Strata keeps one per log,
// aborted-txn-index, ordered by the abort marker's offset, because the
// cleaner rewrites and merges segments (a per-segment index would have to
// follow every swap) while an entry stays valid as long as the markers and
// data it points at are kept, which the cleaner guarantees. Retention
// drops entries whose marker lies below the log start offset; truncation
// and recovery drop entries from the replay point on and rebuild them.
//
// File format: 34-byte entries back to back, as Kafka's:
//
//	int16 version (0)
//	int64 producer id
//	int64 first offset of the transaction
//	int64 last offset (the abort marker)
//	int64 last stable offset right after the marker
//
// Entries are appended when an abort marker is written (without fsync);
// the file is fsynced before the recovery point moves (flushTo) and at
// Close, so after a crash every entry with a marker below the recovery
// point is on disk; producer state replay (producer_log.go) rebuilds the
// others. A torn or malformed tail is cut when loading.
//
// Memory: the entries of the retained log are held in memory (32 bytes
// each), which bounds them by the number of abort markers the log holds.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
)

const (
	txnIndexFile      = "aborted-txn-index"
	txnIndexEntrySize = 34
)

// AbortedTxn is an entry of the aborted transaction index.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64 // the abort marker's offset
	// LastStableOffset is the last stable offset right after the marker:
	// no transaction still open then began below it, so a search for
	// transactions overlapping a read that ends at or below it can stop.
	LastStableOffset int64
}

// txnIndex is the index in memory and its file. Guarded by Log.mu; the file
// is written under the write lock, and closed or replaced only by holders
// of flushMu (or by Open).
type txnIndex struct {
	entries  []AbortedTxn // by LastOffset
	file     File         // open for appends; nil until the first append
	unsynced bool         // appended since the last fsync
	written  uint64       // entries appended to the file, ever: tells a finished fsync whether more came meanwhile
	stale    bool         // a write failed: the file is rewritten from entries at the next flush
}

func appendTxnEntry(b []byte, e AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(e.LastStableOffset))
}

// decodeTxnIndex parses a file's contents; it returns the entries of the
// longest well-formed prefix and whether anything followed it.
func decodeTxnIndex(b []byte) ([]AbortedTxn, bool) {
	var out []AbortedTxn
	for len(b) >= txnIndexEntrySize {
		e := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		bad := binary.BigEndian.Uint16(b) != 0 || e.ProducerID < 0 || e.FirstOffset < 0 ||
			e.FirstOffset > e.LastOffset || e.LastStableOffset < 0 || e.LastStableOffset > e.LastOffset+1
		if n := len(out); n > 0 && e.LastOffset <= out[n-1].LastOffset {
			bad = true
		}
		if bad {
			return out, true
		}
		out = append(out, e)
		b = b[txnIndexEntrySize:]
	}
	return out, len(b) > 0
}

// loadTxnIndexLocked reads the index file, keeping the entries with a
// marker in [start, end). It reports whether the file must be rewritten.
func (l *Log) loadTxnIndexLocked(start, end int64) (bool, error) {
	b, err := readSmallFile(l.fs, l.path(txnIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		l.txns.entries = nil
		return false, nil
	}
	if err != nil {
		// Larger than readSmallFile allows, or unreadable: rebuild what the
		// replay can; older aborted transactions are forgotten.
		l.logger.Warn("log: aborted transaction index unreadable; rebuilding", "dir", l.dir, "err", err)
		l.txns.entries = nil
		return true, nil
	}
	entries, torn := decodeTxnIndex(b)
	if torn {
		l.logger.Warn("log: aborted transaction index has a malformed tail; cut", "dir", l.dir,
			"entries", len(entries), "bytes", len(b))
	}
	lo := sort.Search(len(entries), func(i int) bool { return entries[i].LastOffset >= start })
	hi := sort.Search(len(entries), func(i int) bool { return entries[i].LastOffset >= end })
	l.txns.entries = entries[lo:hi:hi]
	return torn || lo > 0 || hi < len(entries), nil
}

// addAbortedLocked appends an entry in memory and to the file. A failed
// write leaves the index right in memory and marks the file stale.
func (l *Log) addAbortedLocked(e AbortedTxn) {
	if n := len(l.txns.entries); n > 0 && e.LastOffset <= l.txns.entries[n-1].LastOffset {
		panic(fmt.Sprintf("log: aborted transaction at %d after one at %d", e.LastOffset, l.txns.entries[n-1].LastOffset))
	}
	l.txns.entries = append(l.txns.entries, e)
	l.modified = true
	if l.txns.stale {
		return
	}
	err := l.openTxnIndexLocked()
	if err == nil {
		var n int
		b := appendTxnEntry(nil, e)
		n, err = l.txns.file.Write(b)
		if err == nil && n != len(b) {
			err = io.ErrShortWrite
		}
	}
	if err != nil {
		l.logger.Error("log: cannot append to the aborted transaction index; rewriting it at the next flush",
			"dir", l.dir, "offset", e.LastOffset, "err", err)
		l.txns.stale = true
		return
	}
	l.txns.unsynced = true
	l.txns.written++
}

func (l *Log) openTxnIndexLocked() error {
	if l.txns.file != nil {
		return nil
	}
	f, err := l.fs.OpenFile(l.path(txnIndexFile), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.txns.file = f
	l.dirSynced = false
	return nil
}

// rewriteTxnIndexLocked replaces the file with the entries in memory,
// durably.
func (l *Log) rewriteTxnIndexLocked() error {
	if l.txns.file != nil {
		if err := l.txns.file.Close(); err != nil {
			l.logger.Warn("log: close aborted transaction index", "dir", l.dir, "err", err)
		}
		l.txns.file = nil
	}
	l.modified = true
	b := make([]byte, 0, len(l.txns.entries)*txnIndexEntrySize)
	for _, e := range l.txns.entries {
		b = appendTxnEntry(b, e)
	}
	if err := writeFileAtomic(l.fs, l.path(txnIndexFile), b); err != nil {
		l.txns.stale = true
		return storageErr("write aborted transaction index", err)
	}
	l.txns.stale, l.txns.unsynced = false, false
	return nil
}

// truncateTxnIndexLocked drops the entries with a marker at or above
// offset, in memory and on disk.
func (l *Log) truncateTxnIndexLocked(offset int64) error {
	i := sort.Search(len(l.txns.entries), func(i int) bool { return l.txns.entries[i].LastOffset >= offset })
	if i == len(l.txns.entries) && !l.txns.stale {
		return nil
	}
	l.txns.entries = l.txns.entries[:i:i]
	return l.rewriteTxnIndexLocked()
}

// pruneTxnIndexLocked drops entries whose marker is below the log start
// offset. The file is rewritten only once at least half of it is dead, so
// that retention does not rewrite a large index for each entry it drops.
func (l *Log) pruneTxnIndexLocked() error {
	i := sort.Search(len(l.txns.entries), func(i int) bool { return l.txns.entries[i].LastOffset >= l.logStartOffset })
	if i == 0 || 2*i < len(l.txns.entries) {
		return nil
	}
	l.txns.entries = append([]AbortedTxn(nil), l.txns.entries[i:]...)
	return l.rewriteTxnIndexLocked()
}

// syncTxnIndex fsyncs the index file if it has unsynced appends, or
// rewrites it if a write failed. Caller holds flushMu, which keeps the file
// from being closed or replaced (only flushMu holders do that), so the
// fsync runs without mu and appends go on meanwhile.
func (l *Log) syncTxnIndex() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if l.txns.stale {
		defer l.mu.Unlock()
		return l.rewriteTxnIndexLocked()
	}
	f, written, unsynced := l.txns.file, l.txns.written, l.txns.unsynced
	l.mu.Unlock()
	if !unsynced {
		return nil
	}
	if err := f.Sync(); err != nil {
		return storageErr("fsync aborted transaction index", err)
	}
	l.mu.Lock()
	if l.txns.written == written {
		l.txns.unsynced = false
	}
	l.mu.Unlock()
	return nil
}

// closeTxnIndexLocked makes the file durable and closes it (Close).
func (l *Log) closeTxnIndexLocked() error {
	var err error
	switch {
	case l.txns.stale:
		err = l.rewriteTxnIndexLocked()
	case l.txns.unsynced:
		if serr := l.txns.file.Sync(); serr != nil {
			err = storageErr("fsync aborted transaction index", serr)
		}
	}
	if l.txns.file != nil {
		if cerr := l.txns.file.Close(); cerr != nil && err == nil {
			err = storageErr("close aborted transaction index", cerr)
		}
		l.txns.file = nil
	}
	return err
}

// AbortedTxns returns the aborted transactions that overlap the offsets
// [from, upTo): marker at or after from, first offset below upTo, as
// Kafka's collectAbortedTransactions (the search ends at the first entry
// whose last stable offset reaches upTo: every transaction overlapping the
// range had ended by then).
func (l *Log) AbortedTxns(from, upTo int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	es := l.txns.entries
	var out []AbortedTxn
	for i := sort.Search(len(es), func(i int) bool { return es[i].LastOffset >= from }); i < len(es); i++ {
		if es[i].FirstOffset < upTo {
			out = append(out, es[i])
		}
		if es[i].LastStableOffset >= upTo {
			break
		}
	}
	return out
}
