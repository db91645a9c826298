// Package config is the catalog of Kafka topic and broker configs that Strata
// understands: names, types, defaults, documentation, validation, the
// topic-to-broker synonym table, resolution through the config layers (topic
// override, dynamic per-broker, dynamic cluster default, static file,
// default) as DescribeConfigs reports it, and the typed effective topic
// config the storage layer runs on.
//
// The catalog follows Apache Kafka 4.2 (LogConfig, ServerLogConfigs,
// ServerTopicConfigSynonyms, DynamicBrokerConfig): a client that describes or
// alters a config sees the same names, defaults, types, read-only flags and
// error messages it would see against Kafka.
//
// Every exported value is immutable after package initialisation and safe
// for concurrent use. Callers must not modify a *Def they are handed.
//
// The package is a leaf: it imports only the standard library.
package config

import (
	"cmp"
	"fmt"
	"slices"
)

// Type is the type of a config value, numbered as the config_type field of
// DescribeConfigs v3+ (KIP-569).
type Type int8

const (
	Unknown  Type = 0
	Boolean  Type = 1
	String   Type = 2
	Int      Type = 3
	Short    Type = 4
	Long     Type = 5
	Double   Type = 6
	List     Type = 7
	Class    Type = 8
	Password Type = 9
)

// String returns the name Kafka's ConfigDef.Type prints, as used in error
// messages ("Not a number of type LONG").
func (t Type) String() string {
	switch t {
	case Boolean:
		return "BOOLEAN"
	case String:
		return "STRING"
	case Int:
		return "INT"
	case Short:
		return "SHORT"
	case Long:
		return "LONG"
	case Double:
		return "DOUBLE"
	case List:
		return "LIST"
	case Class:
		return "CLASS"
	case Password:
		return "PASSWORD"
	default:
		return "UNKNOWN"
	}
}

// Def describes one config.
type Def struct {
	Name string
	Type Type
	// Default is the value used when no layer sets the config, in the string
	// form DescribeConfigs returns; nil is Kafka's null default.
	Default *string
	Doc     string
	// Synonyms, for topic configs only, are the broker configs that supply
	// the topic's default, most specific first: retention.ms ->
	// [log.retention.ms, log.retention.minutes, log.retention.hours].
	Synonyms []string
	// Validate checks a value that already passed the type check (it gets the
	// trimmed string). It returns the reason only; callers add the name and
	// value. nil means only the type is checked.
	Validate func(v string) error
	// ReadOnly marks broker configs that cannot be changed dynamically.
	ReadOnly bool
	// Sensitive values are never returned by DescribeConfigs.
	Sensitive bool

	// msPerUnit is set on broker configs expressed in minutes or hours whose
	// values supply a millisecond topic config (log.retention.hours ->
	// retention.ms); 0 means the value is used as is.
	msPerUnit int64
	// negativeIsUnlimited is set on topic configs where Kafka folds every
	// negative broker-supplied value to -1 (retention.ms).
	negativeIsUnlimited bool
}

var (
	topicByName  = index(topicDefs)
	brokerByName = index(brokerDefs)
)

func init() {
	sortDefs(topicDefs)
	sortDefs(brokerDefs)
	checkCatalog()
}

// TopicDef returns the definition of a topic config.
func TopicDef(name string) (*Def, bool) {
	d, ok := topicByName[name]
	return d, ok
}

// TopicDefs returns every topic config, sorted by name. The slice is the
// caller's; the defs are shared and must not be modified.
func TopicDefs() []*Def { return slices.Clone(topicDefs) }

// BrokerDef returns the definition of a broker config.
func BrokerDef(name string) (*Def, bool) {
	d, ok := brokerByName[name]
	return d, ok
}

// BrokerDefs returns every broker config, sorted by name. The slice is the
// caller's; the defs are shared and must not be modified.
func BrokerDefs() []*Def { return slices.Clone(brokerDefs) }

func index(defs []*Def) map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for _, d := range defs {
		if _, dup := m[d.Name]; dup {
			panic(fmt.Sprintf("config: %s defined twice", d.Name))
		}
		m[d.Name] = d
	}
	return m
}

func sortDefs(defs []*Def) {
	slices.SortFunc(defs, func(a, b *Def) int { return cmp.Compare(a.Name, b.Name) })
}

// checkCatalog asserts the invariants resolution relies on; a violation is a
// bug in the tables and stops the process at start-up.
func checkCatalog() {
	for _, d := range topicDefs {
		if d.ReadOnly {
			panic(fmt.Sprintf("config: topic config %s marked read-only", d.Name))
		}
		for _, s := range d.Synonyms {
			bd, ok := brokerByName[s]
			if !ok {
				panic(fmt.Sprintf("config: topic config %s: synonym %s is not a broker config", d.Name, s))
			}
			if bd.msPerUnit != 0 && d.Type != Long {
				panic(fmt.Sprintf("config: topic config %s: unit synonym %s needs a LONG config", d.Name, s))
			}
		}
	}
	for _, d := range brokerDefs {
		if d.Synonyms != nil {
			panic(fmt.Sprintf("config: broker config %s has synonyms; only topic configs do", d.Name))
		}
	}
}

// brokerGroup returns the broker configs that stand for the same setting as
// name, starting at name and going to less specific ones: log.retention.minutes
// -> [log.retention.minutes, log.retention.hours]. Kafka calls this
// brokerConfigSynonyms; the groups are exactly the multi-entry synonym lists
// of topic configs.
func brokerGroup(name string) []string {
	for _, d := range topicDefs {
		if i := slices.Index(d.Synonyms, name); i >= 0 && len(d.Synonyms) > 1 {
			return d.Synonyms[i:]
		}
	}
	return []string{name}
}

// str returns a pointer to s, for Default fields.
func str(s string) *string { return &s }
