package chaos

import (
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kadm"
)

// batchSpan is where one record batch sits in a segment file.
type batchSpan struct {
	pos, size  int   // byte range [pos, pos+size) in the file
	base, next int64 // offsets [base, next)
}

func (b batchSpan) end() int { return b.pos + b.size }

// parseSegment splits a segment into batches. It fails the test if the
// data is not a clean sequence of whole v2 batches with intact CRCs.
func parseSegment(t *testing.T, data []byte) []batchSpan {
	t.Helper()
	var spans []batchSpan
	n, err := record.Split(data, func(b []byte, h *record.Header) error {
		if _, err := record.Verify(b); err != nil {
			return err
		}
		pos := 0
		if len(spans) > 0 {
			pos = spans[len(spans)-1].end()
		}
		spans = append(spans, batchSpan{pos: pos, size: len(b), base: h.BaseOffset, next: h.NextOffset()})
		return nil
	})
	if err != nil || n != len(data) {
		t.Fatalf("segment does not parse: %d of %d bytes are whole batches: %v", n, len(data), err)
	}
	return spans
}

// topicLogDir returns the directory of a partition's log,
// <data>/logs/<topic id>-<partition>, asking the node for the topic id.
func topicLogDir(t *testing.T, adm *kadm.Client, dataDir, topic string, partition int32) string {
	t.Helper()
	td, err := adm.ListTopics(brokertest.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		t.Fatalf("topic %s: not listed (%v)", topic, d.Err)
	}
	dir := filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", base64.RawURLEncoding.EncodeToString(d.ID[:]), partition))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("log directory of %s/%d: %v", topic, partition, err)
	}
	return dir
}

// activeSegment is the path of the last (highest base offset) segment of
// the log in dir.
func activeSegment(t *testing.T, dir string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	slices.Sort(matches) // names are zero-padded base offsets
	return matches[len(matches)-1]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyDir copies the regular files and directories under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case !info.Mode().IsRegular():
			return fmt.Errorf("%s: not a regular file", path)
		}
		return copyFile(path, target, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// listFiles names the files of dir, for failure messages.
func listFiles(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, e := range entries {
		info, err := e.Info()
		if err == nil {
			names = append(names, fmt.Sprintf("%s(%d)", e.Name(), info.Size()))
		}
	}
	return strings.Join(names, " ")
}
