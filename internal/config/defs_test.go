package config

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

func TestDefaultsValidate(t *testing.T) {
	for _, set := range []struct {
		kind string
		defs []*Def
	}{{"topic", TopicDefs()}, {"broker", BrokerDefs()}} {
		for _, d := range set.defs {
			if d.Doc == "" {
				t.Errorf("%s config %s has no doc", set.kind, d.Name)
			}
			if d.Type < Boolean || d.Type > Password {
				t.Errorf("%s config %s has type %d", set.kind, d.Name, d.Type)
			}
			if d.Default == nil {
				continue
			}
			if err := d.Check(*d.Default); err != nil {
				t.Errorf("%s config %s: default %q does not validate: %v", set.kind, d.Name, *d.Default, err)
			}
			if c := canonical(d.Type, *d.Default); c != *d.Default {
				t.Errorf("%s config %s: default %q is not canonical (%q)", set.kind, d.Name, *d.Default, c)
			}
		}
	}
}

func TestTopicSynonymsAreBrokerConfigs(t *testing.T) {
	for _, d := range TopicDefs() {
		for i, s := range d.Synonyms {
			bd, ok := BrokerDef(s)
			if !ok {
				t.Errorf("topic config %s: synonym %s is not a broker config", d.Name, s)
				continue
			}
			// Only the most specific synonym is dynamic in Kafka.
			if want := i > 0; bd.ReadOnly != want {
				t.Errorf("topic config %s: synonym %s ReadOnly = %v, want %v", d.Name, s, bd.ReadOnly, want)
			}
			// A single synonym shares the topic config's default; a group's
			// defaults combine to it (checked by the EffectiveTopic test).
			if len(d.Synonyms) == 1 && deref(bd.Default) != deref(d.Default) {
				t.Errorf("topic config %s: synonym %s default %v differs from %v", d.Name, s, deref(bd.Default), deref(d.Default))
			}
		}
	}
}

func TestSortedAndLookup(t *testing.T) {
	for _, set := range []struct {
		defs   []*Def
		lookup func(string) (*Def, bool)
	}{{TopicDefs(), TopicDef}, {BrokerDefs(), BrokerDef}} {
		if !slices.IsSortedFunc(set.defs, func(a, b *Def) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("defs not sorted by name")
		}
		for _, d := range set.defs {
			if got, ok := set.lookup(d.Name); !ok || got != d {
				t.Errorf("lookup %s = %v, %v", d.Name, got, ok)
			}
		}
	}
	if _, ok := TopicDef("message.downconversion.enable"); ok {
		t.Error("message.downconversion.enable is removed in Kafka 4.0")
	}
	// The returned slice is the caller's.
	defs := TopicDefs()
	defs[0] = nil
	if TopicDefs()[0] == nil {
		t.Error("TopicDefs shares its slice")
	}
}

func TestCatalogContents(t *testing.T) {
	wantTopic := []string{
		"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type", "compression.zstd.level",
		"delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms", "follower.replication.throttled.replicas",
		"index.interval.bytes", "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
		"max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
		"message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
		"remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
		"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
	}
	var got []string
	for _, d := range TopicDefs() {
		got = append(got, d.Name)
	}
	if !slices.Equal(got, wantTopic) {
		t.Errorf("topic configs:\n got %v\nwant %v", got, wantTopic)
	}
	tests := []struct {
		name     string
		typ      Type
		def      string // "<nil>" for null
		readOnly bool
	}{
		{"auto.create.topics.enable", Boolean, "true", true},
		{"num.partitions", Int, "1", true},
		{"default.replication.factor", Int, "1", true},
		{"log.retention.check.interval.ms", Long, "300000", true},
		{"socket.request.max.bytes", Int, "104857600", true},
		{"connections.max.idle.ms", Long, "600000", true},
		{"max.incremental.fetch.session.cache.slots", Int, "1000", true},
		{"broker.id", Int, "-1", true},
		{"node.id", Int, "<nil>", true},
		{"log.dirs", List, "<nil>", true},
		{"listeners", List, "PLAINTEXT://:9092", true},
		{"advertised.listeners", List, "<nil>", true},
		{"offsets.retention.minutes", Int, "10080", true},
		{"group.min.session.timeout.ms", Int, "6000", true},
		{"group.max.session.timeout.ms", Int, "1800000", true},
		{"group.max.size", Int, "2147483647", true},
		{"group.consumer.session.timeout.ms", Int, "45000", true},
		{"group.consumer.heartbeat.interval.ms", Int, "5000", true},
		{"group.consumer.max.size", Int, "2147483647", true},
		{"transactional.id.expiration.ms", Int, "604800000", true},
		{"producer.id.expiration.ms", Int, "86400000", false},
		{"delete.topic.enable", Boolean, "true", true},
		{"replica.lag.time.max.ms", Long, "30000", true},
		{"log.retention.ms", Long, "<nil>", false},
		{"log.retention.minutes", Int, "<nil>", true},
		{"log.retention.hours", Int, "168", true},
		{"log.roll.ms", Long, "<nil>", false},
		{"log.roll.hours", Int, "168", true},
		{"message.max.bytes", Int, "1048588", false},
		{"log.segment.bytes", Int, "1073741824", false},
		{"log.message.timestamp.after.max.ms", Long, "3600000", false},
		{"log.cleaner.enable", Boolean, "true", true},
		{"log.cleaner.backoff.ms", Long, "15000", true},
		{"log.cleaner.dedupe.buffer.size", Long, "134217728", true},
		{"log.cleaner.io.max.bytes.per.second", Double, "1.048576E8", true},
	}
	for _, tc := range tests {
		d, ok := BrokerDef(tc.name)
		if !ok {
			t.Errorf("broker config %s missing", tc.name)
			continue
		}
		if d.Type != tc.typ || deref(d.Default) != tc.def || d.ReadOnly != tc.readOnly {
			t.Errorf("broker config %s = (%v, %s, ro=%v), want (%v, %s, ro=%v)",
				tc.name, d.Type, deref(d.Default), d.ReadOnly, tc.typ, tc.def, tc.readOnly)
		}
	}
}

func TestBrokerGroup(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"log.retention.ms", []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}},
		{"log.retention.minutes", []string{"log.retention.minutes", "log.retention.hours"}},
		{"log.retention.hours", []string{"log.retention.hours"}},
		{"log.roll.ms", []string{"log.roll.ms", "log.roll.hours"}},
		{"log.roll.jitter.ms", []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}},
		{"log.flush.interval.ms", []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}},
		{"message.max.bytes", []string{"message.max.bytes"}},
		{"num.partitions", []string{"num.partitions"}},
	}
	for _, tc := range tests {
		if got := brokerGroup(tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("brokerGroup(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLeaf keeps the package a leaf: standard library imports only.
func TestLeaf(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			t.Errorf("non-stdlib import %s", imp)
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
