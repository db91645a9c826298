package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kgo"
)

// isrLog keeps the ISR changes the nodes' replica managers log (message
// "ISR changed" or "ISR change refused", with the replicas added and the
// broker epochs named for them) and passes warnings on to the test log.
type isrLog struct {
	next slog.Handler
	mu   sync.Mutex
	recs []isrRecord
}

type isrRecord struct {
	msg, partition string
	added          []meta.BrokerRef
}

func (h *isrLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *isrLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *isrLog) WithGroup(string) slog.Handler            { return h }

func (h *isrLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "ISR changed" || r.Message == "ISR change refused" {
		rec := isrRecord{msg: r.Message}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "partition":
				rec.partition = a.Value.String()
			case "added":
				rec.added, _ = a.Value.Any().([]meta.BrokerRef)
			}
			return true
		})
		h.mu.Lock()
		h.recs = append(h.recs, rec)
		h.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *isrLog) records(partition string) []isrRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []isrRecord
	for _, r := range h.recs {
		if r.partition == partition {
			out = append(out, r)
		}
	}
	return out
}

// quorum is a node's GET /quorum.
type quorum struct {
	ActiveController int32 `json:"activeController"`
	Brokers          []struct {
		ID     int32 `json:"id"`
		Epoch  int64 `json:"epoch"`
		Fenced bool  `json:"fenced"`
	} `json:"brokers"`
}

func getQuorum(t *testing.T, b *broker.Broker) quorum {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr() + "/quorum")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var q quorum
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		t.Fatalf("GET /quorum: %s: %v", resp.Status, err)
	}
	return q
}

func (q quorum) epoch(id int32) int64 {
	for _, b := range q.Brokers {
		if b.ID == id {
			return b.Epoch
		}
	}
	return -1
}

// KIP-903 across real nodes: followers send their broker epoch in every
// replica fetch (Fetch v15's replica state), the leader records it with
// the follower's fetch state, and the ISR expansion that brings a
// restarted follower back names the epoch of the new process, which the
// controller checks against the registration.
func TestISRExpansionNamesFollowerBrokerEpoch(t *testing.T) {
	capture := &isrLog{next: brokertest.Logger().Handler()}
	c := brokertest.StartCluster(t, 3, func(cfg *broker.Config) { cfg.Logger = slog.New(capture) })
	n1 := c.Node(1)
	adm := brokertest.Admin(t, n1.KafkaAddr())
	brokertest.CreateTopic(t, adm, "kip903", 1, nil)
	cl := brokertest.Client(t, n1.KafkaAddr(), kgo.DefaultProduceTopic("kip903"))
	ctx := brokertest.Context(t, 60*time.Second)
	for i := range 20 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	md, err := adm.Metadata(ctx, "kip903")
	if err != nil {
		t.Fatal(err)
	}
	td := md.Topics["kip903"]
	leader := td.Partitions[0].Leader
	partition := meta.TopicID(td.ID).String() + "-0"

	// A follower that is not the active controller, so that the restart
	// moves nothing but the follower.
	q := getQuorum(t, n1)
	follower := int32(-1)
	for i := range c.Nodes {
		if id := int32(i + 1); id != leader && id != q.ActiveController {
			follower = int32(i + 1)
			break
		}
	}
	oldEpoch := q.epoch(follower)
	t.Logf("leader %d, active controller %d, restarting follower %d (epoch %d)", leader, q.ActiveController, follower, oldEpoch)
	c.Restart(follower)
	newEpoch := getQuorum(t, c.Node(follower)).epoch(follower)
	if newEpoch <= oldEpoch {
		t.Fatalf("restarted broker %d at epoch %d, was %d", follower, newEpoch, oldEpoch)
	}

	// The controlled shutdown took it out of the ISR; it comes back
	// through the leader's expansion, at its new epoch.
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs := capture.records(partition)
		i := slices.IndexFunc(recs, func(r isrRecord) bool {
			return r.msg == "ISR changed" && slices.ContainsFunc(r.added, func(b meta.BrokerRef) bool { return b.ID == follower })
		})
		if i >= 0 {
			for _, r := range recs {
				for _, b := range r.added {
					if b.ID == follower && b.Epoch != newEpoch {
						t.Errorf("%s naming broker %d at epoch %d, its registration is at %d", r.msg, follower, b.Epoch, newEpoch)
					}
				}
			}
			if !slices.Equal(recs[i].added, []meta.BrokerRef{{ID: follower, Epoch: newEpoch}}) {
				t.Fatalf("expansion added %+v, want broker %d at epoch %d", recs[i].added, follower, newEpoch)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d not added back to the ISR of %s; ISR changes: %+v", follower, partition, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	md, err = adm.Metadata(ctx, "kip903")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ISR after the restart: %v", md.Topics["kip903"].Partitions[0].ISR)
}
