package coord

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConsumerGroupRandom drives a group with random joins, leaves,
// static restarts, lost responses, keepalives, subscription and topic
// changes, and a reload of the coordinator, checking after every step that
// no partition is held by two clients at once; at the end the group must
// settle with every subscribed partition held exactly once, in balance.
// STRATA_TEST_SEED replays a run.
func TestConsumerGroupRandom(t *testing.T) {
	seed := rand.Uint64()
	if env := os.Getenv("STRATA_TEST_SEED"); env != "" {
		fmt.Sscan(env, &seed)
	}
	t.Logf("seed %d (replay with STRATA_TEST_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for _, assignor := range []string{AssignorUniform, AssignorRange} {
		t.Run(assignor, func(t *testing.T) { runRandomGroup(t, rng, assignor) })
	}
}

func runRandomGroup(t *testing.T, rng *rand.Rand, assignor string) {
	dir := t.TempDir()
	topics := newFakeTopics()
	names := []string{"t1", "t2", "t3"}
	for _, n := range names {
		topics.create("lc-a", n, int32(1+rng.IntN(6)))
	}
	c := consumerCoordinator(t, dir, topics)
	var clients []*client
	subscription := func() []string {
		var out []string
		for _, n := range names {
			if rng.IntN(2) == 0 {
				out = append(out, n)
			}
		}
		return out
	}
	// beat sends a heartbeat (or a keepalive) and handles errors as kgo
	// does: fenced members rejoin with their id, unknown ones with a new
	// one, dropping what they hold either way.
	beat := func(cl *client, keepalive bool) {
		var res ConsumerHeartbeatResult
		if keepalive && cl.epoch > 0 {
			res = cl.keepalive(c)
		} else {
			res = cl.heartbeat(c)
		}
		switch {
		case res.Err == nil:
		case errors.Is(res.Err, kerr.FencedMemberEpoch):
			cl.epoch, cl.held = 0, nil
		case errors.Is(res.Err, kerr.UnknownMemberID):
			cl.id, cl.epoch, cl.held = newConsumerMemberID(), 0, nil
		case errors.Is(res.Err, kerr.UnreleasedInstanceID):
		default:
			t.Fatalf("heartbeat: %v", res.Err)
		}
	}
	for step := range 400 {
		switch op := rng.IntN(20); {
		case op < 2 && len(clients) < 6:
			cl := newClient(cgrp, subscription()...)
			cl.assignor = assignor
			if rng.IntN(3) == 0 {
				cl.instance = fmt.Sprintf("i-%d", step)
			}
			clients = append(clients, cl)
			beat(cl, false)
		case op < 3 && len(clients) > 0:
			i := rng.IntN(len(clients))
			cl := clients[i]
			if cl.instance != "" && rng.IntN(2) == 0 {
				// A static member restarting: it leaves for a while and
				// comes back with a new id under the same instance id.
				cl.leave(c)
				cl.id, cl.epoch = newConsumerMemberID(), 0
				beat(cl, false)
			} else {
				cl.instance = "" // leaves for good
				cl.leave(c)
				clients = slices.Delete(clients, i, i+1)
			}
		case op < 4 && len(clients) > 0:
			// A lost response: the coordinator moves on, the client not.
			cl := clients[rng.IntN(len(clients))]
			c.ConsumerGroupHeartbeat(cl.request())
		case op < 5 && len(clients) > 0:
			cl := clients[rng.IntN(len(clients))]
			cl.topics = subscription()
			beat(cl, false)
		case op == 5:
			n := names[rng.IntN(len(names))]
			topics.grow("lc-a", n, topics.Snapshot().(fakeSnapshot).topics["lc-a"][n].Partitions+int32(rng.IntN(3)))
		case op == 6 && step%50 == 0:
			c = reload(t, c, dir, topics)
		case len(clients) > 0:
			beat(clients[rng.IntN(len(clients))], rng.IntN(3) == 0)
		}
		noDoubleOwners(t, clients)
	}
	if len(clients) == 0 {
		return
	}
	for range 30 {
		for _, cl := range clients {
			beat(cl, false)
			noDoubleOwners(t, clients)
		}
	}
	checkSettled(t, c, topics, clients, assignor)
}

// checkSettled checks a group after it settled: stable, every subscribed
// partition held by exactly one client and, with the uniform assignor, in
// balance.
func checkSettled(t *testing.T, c *Coordinator, topics *fakeTopics, clients []*client, assignor string) {
	t.Helper()
	d, err := c.DescribeConsumerGroup(cgrp)
	if err != nil || d.State != StateStable {
		t.Fatalf("group did not settle: %v %+v", err, d)
	}
	// Every subscribed partition is held by exactly one client.
	snap := topics.Snapshot()
	want := 0
	subscribed := map[string]bool{}
	for _, cl := range clients {
		for _, n := range cl.topics {
			subscribed[n] = true
		}
	}
	for n := range subscribed {
		info, _ := snap.ByName("lc-a", n)
		want += int(info.Partitions)
	}
	got := 0
	for _, cl := range clients {
		got += cl.held.size()
	}
	if got != want {
		t.Fatalf("clients hold %d partitions, the subscribed topics have %d", got, want)
	}
	if assignor != AssignorUniform {
		return
	}
	var members []assignMember
	held := map[string]Assignment{}
	for _, cl := range clients {
		m := assignMember{id: cl.id}
		for _, n := range cl.topics {
			info, _ := snap.ByName("lc-a", n)
			m.topics = append(m.topics, info.ID)
		}
		members = append(members, m)
		held[cl.id] = cl.held
	}
	checkBalanced(t, members, held)
}
