package bench

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
)

// Probe sizes. Chunks are large enough that per-call overhead does not
// count; the fsync probe appends a page per sync, as a log's flush does.
const (
	probeChunkBytes = 1 << 20
	fsyncWriteBytes = 4096
	maxFsyncSamples = 2000
)

// MachineLimits is what the machine itself can do, measured in the same run
// as the servers so the comparison holds under the same noise.
type MachineLimits struct {
	// LoopbackMBps is one TCP stream over 127.0.0.1 between a plain Go
	// sender and receiver. A broker moves each byte over loopback twice
	// (producer to server, server to consumer).
	LoopbackMBps float64 `json:"loopback_tcp_mb_s"`
	DiskDir      string  `json:"disk_dir"`
	// DiskWriteMBps is sequential 1 MiB writes to a new file in DiskDir,
	// timed through a final fsync.
	DiskWriteMBps float64 `json:"disk_seq_write_mb_s"`
	// Fsync is the latency of appending 4 KiB and fsyncing, repeatedly.
	Fsync LatencySummary `json:"fsync_latency"`
}

// ProbeLimits runs both probes, each for about d.
func ProbeLimits(ctx context.Context, diskDir string, d time.Duration) (MachineLimits, error) {
	lim := MachineLimits{DiskDir: diskDir}
	var err error
	if lim.LoopbackMBps, err = ProbeLoopback(ctx, d); err != nil {
		return lim, err
	}
	if lim.DiskWriteMBps, err = ProbeDiskWrite(ctx, diskDir, d); err != nil {
		return lim, err
	}
	lim.Fsync, err = ProbeFsync(ctx, diskDir, d/2)
	return lim, err
}

// ProbeLoopback streams bytes from a sender to a receiver over one loopback
// TCP connection for d and returns the receiver's MB/s.
func ProbeLoopback(ctx context.Context, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: loopback probe: %w", err)
	}
	defer ln.Close()
	type result struct {
		n       int64
		elapsed time.Duration
		err     error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		start := time.Now()
		n, err := io.CopyBuffer(io.Discard, c, make([]byte, probeChunkBytes))
		got <- result{n, time.Since(start), err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, fmt.Errorf("bench: loopback probe: %w", err)
	}
	chunk := make([]byte, probeChunkBytes)
	crand.Read(chunk)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := c.Write(chunk); err != nil {
			c.Close()
			return 0, fmt.Errorf("bench: loopback probe: %w", err)
		}
	}
	c.Close()
	r := <-got
	if r.err != nil {
		return 0, fmt.Errorf("bench: loopback probe: %w", r.err)
	}
	return float64(r.n) / MB / r.elapsed.Seconds(), ctx.Err()
}

// ProbeDiskWrite writes a new file in dir sequentially for about d (at most
// 4 GiB), fsyncs it, deletes it, and returns MB/s including the fsync.
func ProbeDiskWrite(ctx context.Context, dir string, d time.Duration) (float64, error) {
	const maxBytes = 4 << 30
	f, err := os.CreateTemp(dir, "strata-bench-probe-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("bench: disk probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	chunk := make([]byte, probeChunkBytes)
	crand.Read(chunk)
	start := time.Now()
	var n int64
	for time.Since(start) < d && n < maxBytes && ctx.Err() == nil {
		w, err := f.Write(chunk)
		n += int64(w)
		if err != nil {
			return 0, fmt.Errorf("bench: disk probe: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("bench: disk probe: %w", err)
	}
	return float64(n) / MB / time.Since(start).Seconds(), ctx.Err()
}

// ProbeFsync appends 4 KiB and fsyncs, over and over for about d (at most
// maxFsyncSamples times), and returns the fsync latencies.
func ProbeFsync(ctx context.Context, dir string, d time.Duration) (LatencySummary, error) {
	f, err := os.CreateTemp(dir, "strata-bench-fsync-*.tmp")
	if err != nil {
		return LatencySummary{}, fmt.Errorf("bench: fsync probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, fsyncWriteBytes)
	crand.Read(page)
	h := NewHistogram()
	start := time.Now()
	for i := 0; i < maxFsyncSamples && time.Since(start) < d && ctx.Err() == nil; i++ {
		if _, err := f.Write(page); err != nil {
			return LatencySummary{}, fmt.Errorf("bench: fsync probe: %w", err)
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			return LatencySummary{}, fmt.Errorf("bench: fsync probe: %w", err)
		}
		h.RecordDuration(time.Since(t))
	}
	return h.Summary(), ctx.Err()
}

// Machine describes the host a report was measured on.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	MemoryMB int64  `json:"memory_mib,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	GoArch   string `json:"goarch"`
	Go       string `json:"go"`
}

// DescribeMachine reads what /proc offers about the host; missing files
// leave fields empty.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoArch: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryMB = statusKB(raw, "MemTotal:") / 1024
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	return m
}
