package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicksPerSec is USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports
// (the kernel's HZ may differ, but /proc reports in USER_HZ); reading it
// from sysconf would need cgo.
const clockTicksPerSec = 100

// ProcStats is what /proc says about one process at one moment.
type ProcStats struct {
	CPUSeconds   float64 // user + system time since the process started
	RSSBytes     int64   // resident set now (VmRSS)
	PeakRSSBytes int64   // high-water mark of the resident set (VmHWM)
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcStats, error) {
	var st ProcStats
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("bench: proc stat: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces, so
	// fields are counted from the last ')'. utime and stime are fields 14
	// and 15 of the line, so 12 and 13 after it.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return st, fmt.Errorf("bench: proc stat of %d: no command field", pid)
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return st, fmt.Errorf("bench: proc stat of %d: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("bench: proc stat of %d: bad utime/stime", pid)
	}
	st.CPUSeconds = float64(utime+stime) / clockTicksPerSec
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("bench: proc status: %w", err)
	}
	st.RSSBytes = statusKB(status, "VmRSS:") * 1024
	st.PeakRSSBytes = statusKB(status, "VmHWM:") * 1024
	return st, nil
}

// statusKB returns the "NNN kB" figure of a /proc/<pid>/status line, or 0.
func statusKB(status []byte, key string) int64 {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// ResetPeakRSS sets a process's VmHWM back to its current RSS (Linux 4.0+,
// "5" to clear_refs), so that a peak can be measured per workload in a
// long-lived server. It needs permission to write the target's
// /proc/<pid>/clear_refs, which a parent has for its own children.
func ResetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("bench: reset peak RSS of %d: %w", pid, err)
	}
	return nil
}
