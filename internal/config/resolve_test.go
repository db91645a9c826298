package config

import (
	"fmt"
	"strings"
	"testing"
)

// syn formats synonyms compactly: "name=value@SOURCE".
func syn(ss []Synonym) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s@%s", s.Name, deref(s.Value), s.Source)
	}
	return b.String()
}

func TestResolveTopic(t *testing.T) {
	all := Layers{
		Topic:          map[string]string{"retention.ms": "1000"},
		Broker:         map[string]string{"log.retention.ms": "2000", "log.retention.hours": "3"},
		ClusterDefault: map[string]string{"log.retention.ms": "4000", "log.retention.minutes": "5"},
		Static:         map[string]string{"log.retention.ms": "6000", "log.retention.hours": "7"},
	}
	tests := []struct {
		desc, name string
		l          Layers
		value      string
		source     Source
		synonyms   string
	}{
		{
			desc: "nothing set", name: "retention.ms",
			value: "604800000", source: SourceDefault,
			synonyms: "log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "every layer set", name: "retention.ms", l: all,
			value: "1000", source: SourceDynamicTopic,
			synonyms: "retention.ms=1000@DYNAMIC_TOPIC_CONFIG " +
				"log.retention.ms=2000@DYNAMIC_BROKER_CONFIG log.retention.ms=4000@DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.ms=6000@STATIC_BROKER_CONFIG " +
				"log.retention.minutes=5@DYNAMIC_DEFAULT_BROKER_CONFIG " +
				"log.retention.hours=3@DYNAMIC_BROKER_CONFIG log.retention.hours=7@STATIC_BROKER_CONFIG " +
				"log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "no topic override", name: "retention.ms", l: Layers{Broker: all.Broker, ClusterDefault: all.ClusterDefault, Static: all.Static},
			value: "2000", source: SourceDynamicBroker,
			synonyms: "log.retention.ms=2000@DYNAMIC_BROKER_CONFIG log.retention.ms=4000@DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.ms=6000@STATIC_BROKER_CONFIG " +
				"log.retention.minutes=5@DYNAMIC_DEFAULT_BROKER_CONFIG " +
				"log.retention.hours=3@DYNAMIC_BROKER_CONFIG log.retention.hours=7@STATIC_BROKER_CONFIG " +
				"log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "cluster default only", name: "retention.ms", l: Layers{ClusterDefault: map[string]string{"log.retention.ms": "4000"}},
			value: "4000", source: SourceDynamicDefaultBroker,
			synonyms: "log.retention.ms=4000@DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "static hours converted", name: "retention.ms", l: Layers{Static: map[string]string{"log.retention.hours": "1"}},
			value: "3600000", source: SourceStaticBroker,
			synonyms: "log.retention.hours=1@STATIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			// A more specific name wins over a more specific layer, as in
			// KafkaConfig: minutes (cluster default) beat hours (this broker).
			desc: "minutes beat hours", name: "retention.ms",
			l:     Layers{Broker: map[string]string{"log.retention.hours": "2"}, ClusterDefault: map[string]string{"log.retention.minutes": "30"}},
			value: "1800000", source: SourceDynamicDefaultBroker,
			synonyms: "log.retention.minutes=30@DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.hours=2@DYNAMIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "negative hours mean unlimited", name: "retention.ms", l: Layers{Static: map[string]string{"log.retention.hours": "-1"}},
			value: "-1", source: SourceStaticBroker,
			synonyms: "log.retention.hours=-1@STATIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "negative ms mean unlimited", name: "retention.ms", l: Layers{Static: map[string]string{"log.retention.ms": "-5"}},
			value: "-1", source: SourceStaticBroker,
			synonyms: "log.retention.ms=-5@STATIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "roll hours converted", name: "segment.ms", l: Layers{Static: map[string]string{"log.roll.hours": " 2 "}},
			value: "7200000", source: SourceStaticBroker,
			synonyms: "log.roll.hours= 2 @STATIC_BROKER_CONFIG log.roll.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "roll ms beats roll hours", name: "segment.ms",
			l:     Layers{Broker: map[string]string{"log.roll.hours": "2"}, Static: map[string]string{"log.roll.ms": "5000"}},
			value: "5000", source: SourceStaticBroker,
			synonyms: "log.roll.ms=5000@STATIC_BROKER_CONFIG log.roll.hours=2@DYNAMIC_BROKER_CONFIG log.roll.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "jitter default", name: "segment.jitter.ms",
			value: "0", source: SourceDefault,
			synonyms: "log.roll.jitter.hours=0@DEFAULT_CONFIG",
		},
		{
			desc: "flush.ms falls back to the scheduler interval", name: "flush.ms",
			value: longMax, source: SourceDefault,
			synonyms: "log.flush.scheduler.interval.ms=9223372036854775807@DEFAULT_CONFIG",
		},
		{
			desc: "different broker name", name: "max.message.bytes", l: Layers{Static: map[string]string{"message.max.bytes": "2000000"}},
			value: "2000000", source: SourceStaticBroker,
			synonyms: "message.max.bytes=2000000@STATIC_BROKER_CONFIG message.max.bytes=1048588@DEFAULT_CONFIG",
		},
		{
			desc: "no broker synonym", name: "remote.storage.enable",
			value: "false", source: SourceDefault,
		},
		{
			desc: "no broker synonym, override", name: "remote.storage.enable", l: Layers{Topic: map[string]string{"remote.storage.enable": "TRUE"}},
			value: "true", source: SourceDynamicTopic,
			synonyms: "remote.storage.enable=TRUE@DYNAMIC_TOPIC_CONFIG",
		},
		{
			desc: "list canonical", name: "cleanup.policy", l: Layers{Topic: map[string]string{"cleanup.policy": "compact , delete"}},
			value: "compact,delete", source: SourceDynamicTopic,
			synonyms: "cleanup.policy=compact , delete@DYNAMIC_TOPIC_CONFIG log.cleanup.policy=delete@DEFAULT_CONFIG",
		},
		{
			desc: "empty list default", name: "leader.replication.throttled.replicas",
			value: "", source: SourceDefault,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			e, ok := ResolveTopic(tc.name, tc.l)
			if !ok {
				t.Fatalf("ResolveTopic(%s) not found", tc.name)
			}
			if deref(e.Value) != tc.value || e.Source != tc.source {
				t.Errorf("value %s@%v, want %s@%v", deref(e.Value), e.Source, tc.value, tc.source)
			}
			if got := syn(e.Synonyms); got != tc.synonyms {
				t.Errorf("synonyms\n got %s\nwant %s", got, tc.synonyms)
			}
			d, _ := TopicDef(tc.name)
			if e.Name != tc.name || e.Type != d.Type || e.Doc != d.Doc || e.ReadOnly || e.Sensitive {
				t.Errorf("entry metadata %+v", e)
			}
		})
	}
	if _, ok := ResolveTopic("log.retention.ms", Layers{}); ok {
		t.Error("ResolveTopic resolved a broker name")
	}
}

func TestResolveBroker(t *testing.T) {
	tests := []struct {
		desc, name string
		l          Layers
		value      string
		source     Source
		readOnly   bool
		synonyms   string
	}{
		{
			desc: "default", name: "log.retention.hours",
			value: "168", source: SourceDefault, readOnly: true,
			synonyms: "log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			// Kafka reports the config's own (null) value; the setting in
			// force comes from a less specific synonym.
			desc: "null default", name: "log.retention.ms",
			value: "<nil>", source: SourceDefault,
			synonyms: "log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "every layer", name: "log.retention.ms",
			l: Layers{
				Topic:          map[string]string{"retention.ms": "1"}, // ignored
				Broker:         map[string]string{"log.retention.ms": "1000"},
				ClusterDefault: map[string]string{"log.retention.minutes": "3"},
				Static:         map[string]string{"log.retention.ms": "2000", "log.retention.hours": "4"},
			},
			value: "1000", source: SourceDynamicBroker,
			synonyms: "log.retention.ms=1000@DYNAMIC_BROKER_CONFIG log.retention.ms=2000@STATIC_BROKER_CONFIG " +
				"log.retention.minutes=3@DYNAMIC_DEFAULT_BROKER_CONFIG " +
				"log.retention.hours=4@STATIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "more specific synonyms are not listed", name: "log.retention.minutes",
			l:     Layers{Broker: map[string]string{"log.retention.ms": "1000"}, Static: map[string]string{"log.retention.minutes": "10"}},
			value: "10", source: SourceStaticBroker, readOnly: true,
			synonyms: "log.retention.minutes=10@STATIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG",
		},
		{
			desc: "cluster default", name: "min.insync.replicas", l: Layers{ClusterDefault: map[string]string{"min.insync.replicas": " 2"}},
			value: "2", source: SourceDynamicDefaultBroker,
			synonyms: "min.insync.replicas= 2@DYNAMIC_DEFAULT_BROKER_CONFIG min.insync.replicas=1@DEFAULT_CONFIG",
		},
		{
			desc: "static read-only", name: "num.partitions", l: Layers{Static: map[string]string{"num.partitions": "6"}},
			value: "6", source: SourceStaticBroker, readOnly: true,
			synonyms: "num.partitions=6@STATIC_BROKER_CONFIG num.partitions=1@DEFAULT_CONFIG",
		},
		{
			desc: "unset with null default", name: "node.id",
			value: "<nil>", source: SourceDefault, readOnly: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			e, ok := ResolveBroker(tc.name, tc.l)
			if !ok {
				t.Fatalf("ResolveBroker(%s) not found", tc.name)
			}
			if deref(e.Value) != tc.value || e.Source != tc.source || e.ReadOnly != tc.readOnly {
				t.Errorf("value %s@%v ro=%v, want %s@%v ro=%v", deref(e.Value), e.Source, e.ReadOnly, tc.value, tc.source, tc.readOnly)
			}
			if got := syn(e.Synonyms); got != tc.synonyms {
				t.Errorf("synonyms\n got %s\nwant %s", got, tc.synonyms)
			}
		})
	}
	if _, ok := ResolveBroker("retention.ms", Layers{}); ok {
		t.Error("ResolveBroker resolved a topic name")
	}
}

func TestResolveSensitive(t *testing.T) {
	d := &Def{Name: "ssl.key.password", Type: Password, Sensitive: true}
	e := resolveBroker(d, Layers{Broker: map[string]string{d.Name: "a"}, Static: map[string]string{d.Name: "b"}})
	if e.Value != nil || !e.Sensitive || e.Source != SourceDynamicBroker || len(e.Synonyms) != 2 {
		t.Fatalf("broker entry %+v", e)
	}
	for _, s := range e.Synonyms {
		if s.Value != nil {
			t.Errorf("synonym %s leaks its value", s.Name)
		}
	}
	td := &Def{Name: "secret", Type: Password, Sensitive: true}
	e = resolveTopic(td, Layers{Topic: map[string]string{"secret": "x"}})
	if e.Value != nil || e.Synonyms[0].Value != nil || e.Source != SourceDynamicTopic {
		t.Errorf("topic entry %+v", e)
	}
}

func TestResolveAll(t *testing.T) {
	if got, want := len(ResolveTopics(Layers{})), len(TopicDefs()); got != want {
		t.Errorf("ResolveTopics: %d entries, want %d", got, want)
	}
	entries := ResolveBrokers(Layers{})
	if got, want := len(entries), len(BrokerDefs()); got != want {
		t.Errorf("ResolveBrokers: %d entries, want %d", got, want)
	}
	for i, d := range BrokerDefs() {
		if entries[i].Name != d.Name {
			t.Fatalf("ResolveBrokers[%d] = %s, want %s", i, entries[i].Name, d.Name)
		}
	}
}
