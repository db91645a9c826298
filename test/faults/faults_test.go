package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// fault is one kind of failure. inject breaks something and returns what
// it did and how to repair it; the round sleeps a random time in
// [minDur, maxDur) in between.
type fault struct {
	name           string
	minDur, maxDur time.Duration
	inject         func(c *cluster, rng *rand.Rand) (what string, heal func(), err error)
}

// faultKinds lists the faults a schedule draws from; disk-full only when
// the nodes' data directories are on tmpfs mounts.
func faultKinds(c *cluster) []fault {
	kinds := []fault{
		{"kill-leader", 500 * time.Millisecond, 3 * time.Second, killLeader},
		{"kill-controller", 500 * time.Millisecond, 3 * time.Second, killController},
		{"pause", sessionTimeout + 500*time.Millisecond, sessionTimeout + 2500*time.Millisecond, pauseNode},
		{"isolate", time.Second, 6 * time.Second, isolateNode},
		{"cut-link", time.Second, 6 * time.Second, cutLink},
	}
	if c.members[0].mnt != "" {
		kinds = append(kinds, fault{"disk-full", time.Second, 5 * time.Second, fillDisk})
	}
	return kinds
}

// killLeader SIGKILLs the leader of a random partition of the topic; the
// heal restarts it.
func killLeader(c *cluster, rng *rand.Rand) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	parts, _, err := c.partitionMeta(ctx, topic)
	if err != nil {
		return "", nil, err
	}
	p := parts[rng.IntN(len(parts))]
	if p.Leader < 1 {
		return "", nil, fmt.Errorf("partition %d has no leader", p.Partition)
	}
	m := c.member(p.Leader)
	m.Kill()
	return fmt.Sprintf("SIGKILL node %d (leader of %d)", m.ID, p.Partition), func() { c.spawn(m) }, nil
}

// killController SIGKILLs the active controller named by a random node's
// /quorum; the heal restarts it.
func killController(c *cluster, rng *rand.Rand) (string, func(), error) {
	q, err := c.members[rng.IntN(len(c.members))].Quorum()
	if err != nil {
		return "", nil, err
	}
	if q.ActiveController < 1 {
		return "", nil, errors.New("no active controller")
	}
	m := c.member(q.ActiveController)
	m.Kill()
	return fmt.Sprintf("SIGKILL node %d (active controller)", m.ID), func() { c.spawn(m) }, nil
}

// pauseNode SIGSTOPs a random node for longer than the session timeout;
// the heal continues it.
func pauseNode(c *cluster, rng *rand.Rand) (string, func(), error) {
	m := c.members[rng.IntN(len(c.members))]
	m.Signal(syscall.SIGSTOP)
	m.paused = true
	return fmt.Sprintf("SIGSTOP node %d", m.ID), func() {
		m.Signal(syscall.SIGCONT)
		m.paused = false
	}, nil
}

// isolateNode cuts a random node off from the other two.
func isolateNode(c *cluster, rng *rand.Rand) (string, func(), error) {
	m := c.members[rng.IntN(len(c.members))]
	var others []int32
	for _, id := range c.ids() {
		if id != m.ID {
			others = append(others, id)
		}
	}
	c.nw.partition([]int32{m.ID}, others)
	return fmt.Sprintf("isolate node %d from %v", m.ID, others), c.nw.heal, nil
}

// cutLink cuts the link between two random nodes; each still reaches the
// third.
func cutLink(c *cluster, rng *rand.Rand) (string, func(), error) {
	ids := c.ids()
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	a, b := ids[0], ids[1]
	c.nw.partition([]int32{a}, []int32{b})
	return fmt.Sprintf("cut link %d-%d", a, b), c.nw.heal, nil
}

// fillDisk fills a random node's tmpfs; the heal frees it.
func fillDisk(c *cluster, rng *rand.Rand) (string, func(), error) {
	m := c.members[rng.IntN(len(c.members))]
	path := filepath.Join(m.mnt, "filler")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, err
	}
	chunk := make([]byte, 1<<20)
	var written int64
	for {
		n, err := f.Write(chunk)
		written += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			f.Close()
			os.Remove(path)
			return "", nil, err
		}
	}
	f.Close()
	return fmt.Sprintf("disk full on node %d (+%d MiB)", m.ID, written>>20), func() { os.Remove(path) }, nil
}

// faultRounds is the number of rounds: STRATA_FAULT_ROUNDS, default 20.
func faultRounds() (int, error) {
	env := os.Getenv("STRATA_FAULT_ROUNDS")
	if env == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(env)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("STRATA_FAULT_ROUNDS=%q: want a number of rounds", env)
	}
	return n, nil
}

func randDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
