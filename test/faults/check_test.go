package faults

import (
	"fmt"
	"sort"
	"strings"

	"github.com/strata-db/strata/test/clustertest"
)

// findings are the results of the checks, one count per kind of anomaly;
// every count must be zero. examples holds the first few cases of each.
type findings struct {
	lost       int // acknowledged, missing from a replica's log
	moved      int // acknowledged at one offset, found at another
	duplicated int // the same record twice in a replica's log
	reordered  int // a writer's records out of order in a partition
	reused     int // one offset holding two different records across reads
	aboveHW    int // read by a consumer, later absent from the log
	diverged   int // partitions whose replicas differ
	unconsumed int // offsets the consumer group never delivered
	crashes    int // nodes that exited by themselves
	examples   map[string][]string
}

func (f *findings) add(kind *int, name, format string, args ...any) {
	*kind++
	if f.examples == nil {
		f.examples = map[string][]string{}
	}
	if len(f.examples[name]) < 5 {
		f.examples[name] = append(f.examples[name], fmt.Sprintf(format, args...))
	}
}

func (f *findings) total() int {
	return f.lost + f.moved + f.duplicated + f.reordered + f.reused + f.aboveHW + f.diverged + f.unconsumed + f.crashes
}

func (f *findings) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lost %d, moved %d, duplicated %d, reordered %d, offsets reused %d, read above HW %d, diverged partitions %d, unconsumed %d, crashes %d",
		f.lost, f.moved, f.duplicated, f.reordered, f.reused, f.aboveHW, f.diverged, f.unconsumed, f.crashes)
	var kinds []string
	for k := range f.examples {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, e := range f.examples[k] {
			fmt.Fprintf(&b, "\n  %s: %s", k, e)
		}
	}
	return b.String()
}

// checkPartition checks one partition: replicas holds every node's log of
// it (read from disk), final what a fresh consumer read at the end, and
// the history what producers and the group were told.
func (f *findings) checkPartition(p int32, replicas map[int32][]clustertest.Entry, final []ack, h *history) {
	var ids []int32
	for id := range replicas {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	ref := replicas[ids[0]]
	for _, id := range ids[1:] {
		if d := firstDifference(ref, replicas[id]); d != "" {
			f.add(&f.diverged, "diverged", "partition %d: node %d and node %d differ: %s", p, ids[0], id, d)
			break
		}
	}

	lostOnce, movedOnce := map[string]bool{}, map[string]bool{}
	for _, id := range ids {
		log := replicas[id]
		at := map[int64]string{}
		where := map[string][]int64{}
		last := map[string]int{} // writer -> last sequence seen
		for i, e := range log {
			if i > 0 && e.Offset != log[i-1].Offset+1 {
				f.add(&f.diverged, "gap", "node %d partition %d: offset %d after %d", id, p, e.Offset, log[i-1].Offset)
			}
			at[e.Offset] = e.Value
			where[e.Value] = append(where[e.Value], e.Offset)
			w, seq, ok := parseValue(e.Value)
			if !ok {
				f.add(&f.duplicated, "foreign", "node %d partition %d offset %d: unexpected value %q", id, p, e.Offset, e.Value)
				continue
			}
			if prev, seen := last[w]; seen && seq <= prev {
				f.add(&f.reordered, "reordered", "node %d partition %d offset %d: writer %s sequence %d after %d", id, p, e.Offset, w, seq, prev)
			}
			last[w] = seq
		}
		for v, offs := range where {
			if len(offs) > 1 {
				f.add(&f.duplicated, "duplicated", "node %d partition %d: %q at offsets %v", id, p, v, offs)
			}
		}
		for _, a := range h.acked[p] {
			switch offs := where[a.value]; {
			case at[a.offset] == a.value:
			case len(offs) == 0:
				if !lostOnce[a.value] {
					lostOnce[a.value] = true
					f.add(&f.lost, "lost", "partition %d: %q acknowledged at offset %d, absent from node %d", p, a.value, a.offset, id)
				}
			default:
				if !movedOnce[a.value] {
					movedOnce[a.value] = true
					f.add(&f.moved, "moved", "partition %d: %q acknowledged at offset %d, at %v on node %d", p, a.value, a.offset, offs, id)
				}
			}
		}
	}

	refAt := map[int64]string{}
	for _, e := range ref {
		refAt[e.Offset] = e.Value
	}
	byOffset := map[int64]string{}
	for _, a := range h.acked[p] {
		if prev, ok := byOffset[a.offset]; ok && prev != a.value {
			f.add(&f.reused, "reused", "partition %d offset %d acknowledged for %q and %q", p, a.offset, prev, a.value)
		}
		byOffset[a.offset] = a.value
	}
	for _, r := range final {
		if v, ok := refAt[r.offset]; ok && v != r.value {
			f.add(&f.reused, "reused", "partition %d offset %d: %q on disk, %q read at the end", p, r.offset, v, r.value)
		}
	}
	if len(final) != len(ref) {
		f.add(&f.diverged, "final read", "partition %d: %d records read at the end, %d on disk", p, len(final), len(ref))
	}
	reads := h.reads[p]
	var readOffs []int64
	for off := range reads {
		readOffs = append(readOffs, off)
	}
	sort.Slice(readOffs, func(i, j int) bool { return readOffs[i] < readOffs[j] })
	for _, off := range readOffs {
		if v, ok := refAt[off]; !ok || v != reads[off] {
			f.add(&f.aboveHW, "read above HW", "partition %d offset %d: a consumer read %q, the log holds %q", p, off, reads[off], v)
		}
	}
	for _, e := range ref {
		if _, ok := reads[e.Offset]; !ok {
			f.add(&f.unconsumed, "unconsumed", "partition %d offset %d (%q) never delivered to the group", p, e.Offset, e.Value)
		}
	}
}

// firstDifference describes where two logs first differ, "" if they do not.
func firstDifference(a, b []clustertest.Entry) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at index %d: %+v vs %+v", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d vs %d records", len(a), len(b))
	}
	return ""
}

// parseValue splits "W-S" into the writer and its sequence number.
func parseValue(v string) (string, int, bool) {
	w, s, ok := strings.Cut(v, "-")
	if !ok {
		return "", 0, false
	}
	var seq int
	if _, err := fmt.Sscan(s, &seq); err != nil {
		return "", 0, false
	}
	return w, seq, true
}
