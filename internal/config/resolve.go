package config

import (
	"strconv"
	"strings"
)

// Source says where a config value comes from, numbered as the config_source
// field of DescribeConfigs v1+ (Kafka's DescribeConfigsResponse.ConfigSource).
type Source int8

const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
	SourceDynamicBrokerLogger  Source = 6
	SourceClientMetrics        Source = 7
	SourceGroup                Source = 8
)

// String returns Kafka's name for the source, as kafka-configs prints it.
func (s Source) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	case SourceDynamicBrokerLogger:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	case SourceClientMetrics:
		return "CLIENT_METRICS_CONFIG"
	case SourceGroup:
		return "GROUP_CONFIG"
	default:
		return "UNKNOWN"
	}
}

// Layers are the places a config can be set, most specific first. A nil map
// is an empty layer. Values are raw strings as the user gave them; they are
// expected to have been validated when they were set.
type Layers struct {
	Topic          map[string]string // topic overrides (nil for broker resources)
	Broker         map[string]string // dynamic config of this broker id
	ClusterDefault map[string]string // dynamic cluster-wide default broker config
	Static         map[string]string // the server's config file
}

type layer struct {
	m   map[string]string
	src Source
}

// brokerLayers returns the broker layers in precedence order.
func (l Layers) brokerLayers() [3]layer {
	return [3]layer{
		{l.Broker, SourceDynamicBroker},
		{l.ClusterDefault, SourceDynamicDefaultBroker},
		{l.Static, SourceStaticBroker},
	}
}

// Synonym is one place that sets a config or one of its synonyms. Value is
// the raw value there; nil for sensitive configs.
type Synonym struct {
	Name   string
	Value  *string
	Source Source
}

// Entry is a config as DescribeConfigs reports it. Value is nil for a null
// default and for sensitive configs.
type Entry struct {
	Name      string
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms are in precedence order; the first one, if any, is where
	// Value comes from.
	Synonyms []Synonym
}

// ResolveTopic resolves a topic config through the layers. The synonyms list
// the topic override, then each broker synonym (most specific first) through
// the dynamic broker, cluster default and static layers, then the defaults
// of the broker synonyms; the first is the one in force. This is the
// precedence Kafka applies (KafkaConfig merges the broker layers per name,
// then prefers log.retention.ms over .minutes over .hours). A broker
// synonym in minutes or hours supplies its value converted to milliseconds
// (log.retention.hours=1 gives retention.ms 3600000) but is listed with its
// own raw value. Entry.Value is in Kafka's canonical form.
func ResolveTopic(name string, l Layers) (Entry, bool) {
	d, ok := TopicDef(name)
	if !ok {
		return Entry{}, false
	}
	return resolveTopic(d, l), true
}

// ResolveTopics resolves every topic config, sorted by name.
func ResolveTopics(l Layers) []Entry {
	out := make([]Entry, 0, len(topicDefs))
	for _, d := range topicDefs {
		out = append(out, resolveTopic(d, l))
	}
	return out
}

func resolveTopic(d *Def, l Layers) Entry {
	var syns []Synonym
	if v, ok := l.Topic[d.Name]; ok {
		syns = append(syns, Synonym{Name: d.Name, Value: str(v), Source: SourceDynamicTopic})
	}
	for _, bs := range d.Synonyms {
		for _, ly := range l.brokerLayers() {
			if v, ok := ly.m[bs]; ok {
				syns = append(syns, Synonym{Name: bs, Value: str(v), Source: ly.src})
			}
		}
	}
	for _, bs := range d.Synonyms {
		if bd := brokerByName[bs]; bd.Default != nil {
			syns = append(syns, Synonym{Name: bs, Value: str(*bd.Default), Source: SourceDefault})
		}
	}
	e := Entry{Name: d.Name, Source: SourceDefault, Sensitive: d.Sensitive, Type: d.Type, Doc: d.Doc, Synonyms: syns}
	switch {
	case len(syns) > 0:
		e.Source = syns[0].Source
		e.Value = str(topicValue(d, syns[0]))
	case d.Default != nil:
		e.Value = str(*d.Default)
	}
	if d.Sensitive {
		redact(&e)
	}
	return e
}

// topicValue is the value of topic config d when s supplies it.
func topicValue(d *Def, s Synonym) string {
	v := strings.TrimSpace(*s.Value)
	if s.Source == SourceDynamicTopic {
		return canonical(d.Type, v)
	}
	if bd := brokerByName[s.Name]; bd.msPerUnit != 0 {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			v = strconv.FormatInt(n*bd.msPerUnit, 10) // n is an INT: no overflow
		}
	}
	if d.negativeIsUnlimited {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n < 0 {
			v = "-1"
		}
	}
	return canonical(d.Type, v)
}

// ResolveBroker resolves a broker config through the broker layers of l
// (l.Topic is ignored). Value is the config's own value, which may be null
// while a less specific synonym is set (log.retention.ms unset,
// log.retention.hours=168), as in Kafka. The synonyms list the config itself
// through the dynamic broker, cluster default, static and default layers,
// then its less specific synonyms the same way.
//
// To describe the cluster-default broker resource, pass only
// l.ClusterDefault and report just the names it holds, as Kafka does.
func ResolveBroker(name string, l Layers) (Entry, bool) {
	d, ok := BrokerDef(name)
	if !ok {
		return Entry{}, false
	}
	return resolveBroker(d, l), true
}

// ResolveBrokers resolves every broker config, sorted by name.
func ResolveBrokers(l Layers) []Entry {
	out := make([]Entry, 0, len(brokerDefs))
	for _, d := range brokerDefs {
		out = append(out, resolveBroker(d, l))
	}
	return out
}

func resolveBroker(d *Def, l Layers) Entry {
	var syns []Synonym
	for _, n := range brokerGroup(d.Name) {
		nd := d
		if n != d.Name {
			nd = brokerByName[n]
		}
		for _, ly := range l.brokerLayers() {
			if v, ok := ly.m[n]; ok {
				syns = append(syns, Synonym{Name: n, Value: str(v), Source: ly.src})
			}
		}
		if nd.Default != nil {
			syns = append(syns, Synonym{Name: n, Value: str(*nd.Default), Source: SourceDefault})
		}
	}
	e := Entry{
		Name: d.Name, Source: SourceDefault, ReadOnly: d.ReadOnly, Sensitive: d.Sensitive,
		Type: d.Type, Doc: d.Doc, Synonyms: syns,
	}
	if len(syns) > 0 && syns[0].Name == d.Name {
		e.Source = syns[0].Source
		e.Value = str(canonical(d.Type, *syns[0].Value))
	}
	if d.Sensitive {
		redact(&e)
	}
	return e
}

func redact(e *Entry) {
	e.Value = nil
	for i := range e.Synonyms {
		e.Synonyms[i].Value = nil
	}
}
