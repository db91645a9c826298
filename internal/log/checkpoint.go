package log

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Names of the small files of a log directory. Each is replaced atomically
// (writeFileAtomic), so it holds either its old or its new value.
const (
	logStartOffsetFile = "log-start-offset"        // "0\n<offset>\n"
	recoveryPointFile  = "recovery-point"          // "0\n<offset>\n"
	epochCheckpoint    = "leader-epoch-checkpoint" // see epochCache.marshal
	tmpSuffix          = ".tmp"                    // writeFileAtomic's temporary files
)

// writeOffsetFile writes one offset in the "0\n<offset>\n" format (a version
// line, then the value), as Kafka's single-value checkpoint files.
func writeOffsetFile(fsys FS, dir, name string, offset int64) error {
	data := fmt.Appendf(nil, "0\n%d\n", offset)
	return writeFileAtomic(fsys, filepath.Join(dir, name), data)
}

// readOffsetFile reads a file written by writeOffsetFile. Errors wrap
// fs.ErrNotExist for a missing file.
func readOffsetFile(fsys FS, dir, name string) (int64, error) {
	data, err := readSmallFile(fsys, filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) != 3 || lines[0] != "0" || lines[2] != "" {
		return 0, fmt.Errorf("%s: malformed contents %q", name, data)
	}
	v, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s: malformed offset %q", name, lines[1])
	}
	return v, nil
}
