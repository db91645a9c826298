package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// inProcessKfake is a System living in the test process, so the figures
// charged to "the server" are the whole test's.
type inProcessKfake struct {
	name    string
	c       *kfake.Cluster
	started int
	stopped int
}

func (s *inProcessKfake) Name() string { return s.name }
func (s *inProcessKfake) Start(context.Context) error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	s.c, s.started = c, s.started+1
	return err
}
func (s *inProcessKfake) Bootstrap() string { return s.c.ListenAddrs()[0] }
func (s *inProcessKfake) PID() int          { return os.Getpid() }
func (s *inProcessKfake) Stop() error {
	s.stopped++
	s.c.Close()
	return nil
}

func TestCompareAlternatesSystemsAndMeasuresServers(t *testing.T) {
	a, b := &inProcessKfake{name: "strata"}, &inProcessKfake{name: "kfake-mem"}
	preset := Preset{
		Name: "test", Warmup: 200 * time.Millisecond, Duration: 700 * time.Millisecond, Probe: 150 * time.Millisecond,
		Points: []GridPoint{{2, 3}, {3, 6}},
	}
	var lines []string
	rep, err := Compare(context.Background(), CompareConfig{
		Preset: preset, Base: DefaultRunConfig(), Systems: []System{a, b}, WorkDir: t.TempDir(),
		Progress: func(s string) { lines = append(lines, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.started != 2 || a.stopped != 2 || b.started != 2 || b.stopped != 2 {
		t.Errorf("start/stop counts a %d/%d b %d/%d", a.started, a.stopped, b.started, b.stopped)
	}
	var order []string
	for _, p := range rep.Points {
		order = append(order, p.System)
		if p.Error != "" || p.Result == nil {
			t.Fatalf("%s at %+v failed: %s", p.System, p.Point, p.Error)
		}
		if p.Result.Workload.Partitions != int(p.Point.Partitions) || !p.Result.TargetReached || p.Result.E2E.Count == 0 {
			t.Errorf("%s at %+v: %+v", p.System, p.Point, p.Result)
		}
		if p.Server.CPUSeconds <= 0 || p.Server.PeakRSSBytes <= 0 || p.Server.IdleRSSBytes <= 0 {
			t.Errorf("%s at %+v: server usage %+v", p.System, p.Point, p.Server)
		}
	}
	if got := strings.Join(order, ","); got != "strata,kfake-mem,kfake-mem,strata" {
		t.Errorf("order %s: systems do not alternate", got)
	}
	l := rep.Limits
	if l.LoopbackMBps <= 0 || l.DiskWriteMBps <= 0 || l.Fsync.Count == 0 || l.Fsync.P50Ms <= 0 {
		t.Errorf("machine limits %+v", l)
	}
	if rep.Machine.CPUs < 1 || len(rep.Systems) != 2 || rep.ElapsedS <= 0 {
		t.Errorf("report header %+v", rep)
	}
	if len(lines) < 4 {
		t.Errorf("progress: %q", lines)
	}
	// "strata" here is kfake, so the peer check compares kfake to itself;
	// it is enough that it ran on both points.
	var sawPeer bool
	for _, c := range rep.Targets {
		sawPeer = sawPeer || strings.Contains(c.Got, "of 2 workloads")
	}
	if !sawPeer {
		t.Errorf("targets %+v", rep.Targets)
	}
}

func TestCompareRecordsAFailedSystemAndGoesOn(t *testing.T) {
	good := &inProcessKfake{name: "kfake-mem"}
	bad := &downSystem{}
	preset := Preset{Name: "t", Duration: 300 * time.Millisecond, Probe: 50 * time.Millisecond, Points: []GridPoint{{1, 1}}}
	rep, err := Compare(context.Background(), CompareConfig{
		Preset: preset, Base: DefaultRunConfig(), Systems: []System{good, bad}, WorkDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 2 || rep.Points[0].Error != "" || rep.Points[1].Error == "" || rep.Points[1].Result != nil {
		t.Fatalf("points %+v", rep.Points)
	}
}

// downSystem starts but whose address refuses connections.
type downSystem struct{ addr string }

func (s *downSystem) Name() string { return "down" }
func (s *downSystem) Start(context.Context) error {
	var err error
	s.addr, err = freeLoopbackAddr()
	return err
}
func (s *downSystem) Bootstrap() string { return s.addr }
func (s *downSystem) PID() int          { return os.Getpid() }
func (s *downSystem) Stop() error       { return nil }

func TestPresets(t *testing.T) {
	p := Presets()
	if len(p["full"].Points) != 15 {
		t.Errorf("full grid has %d points, want 15", len(p["full"].Points))
	}
	q := p["quick"]
	// Three systems, each point: warm-up + window + about 1.5 s of set-up
	// and drain; plus three probes. Must stay under two minutes.
	perPoint := q.Warmup + q.Duration + 1500*time.Millisecond
	if total := 3*time.Duration(len(q.Points))*perPoint + 3*q.Probe; total > 110*time.Second {
		t.Errorf("quick preset budget %s", total)
	}
}

func TestReadProcSelf(t *testing.T) {
	st, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSSBytes <= 0 || st.PeakRSSBytes < st.RSSBytes || st.CPUSeconds < 0 {
		t.Errorf("proc stats %+v", st)
	}
	if err := ResetPeakRSS(os.Getpid()); err != nil {
		t.Logf("peak RSS reset unsupported here: %v", err)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("pid -1 read")
	}
}
