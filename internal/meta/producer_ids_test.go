package meta

import (
	"context"
	"testing"
)

// TestProducerIDBlocksSurviveRestart: blocks never overlap, and a block
// taken before a restart is not handed out again after it.
func TestProducerIDBlocksSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	seen := map[int64]bool{}
	take := func(s *Store, size int64) int64 {
		t.Helper()
		first, err := s.AllocateProducerIDs(ctx, 1, size)
		if err != nil {
			t.Fatal(err)
		}
		for id := first; id < first+size; id++ {
			if seen[id] {
				t.Fatalf("producer id %d handed out twice", id)
			}
			seen[id] = true
		}
		return first
	}
	if first := take(s, 1000); first != 0 {
		t.Fatalf("first block starts at %d, want 0", first)
	}
	take(s, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if got := take(s, 1000); got != 1010 {
		t.Fatalf("block after restart starts at %d, want 1010", got)
	}
	if _, err := s.AllocateProducerIDs(ctx, 1, 0); err == nil {
		t.Fatal("empty block allocated")
	}
	if _, err := s.AllocateProducerIDs(ctx, 1, MaxProducerIDBlock+1); err == nil {
		t.Fatal("oversized block allocated")
	}
}

// TestProducerIDConflict: a record whose first id is stale fails
// rather than handing out ids twice.
func TestProducerIDConflict(t *testing.T) {
	im := emptyImage()
	if err := im.apply(&Record{AllocateProducerIDs: &AllocateProducerIDs{Broker: 1, First: 0, Size: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := im.apply(&Record{AllocateProducerIDs: &AllocateProducerIDs{Broker: 2, First: 0, Size: 5}}); err == nil {
		t.Fatal("overlapping block accepted")
	}
	if im.NextProducerID() != 5 {
		t.Fatalf("next id %d, want 5", im.NextProducerID())
	}
}
