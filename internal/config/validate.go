package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	// ErrUnknown is wrapped by errors for config names not in the catalog.
	ErrUnknown = errors.New("unknown config")
	// ErrInvalid is wrapped by errors for values of the wrong type, out of
	// range, not among the allowed ones, or in conflict with another config.
	ErrInvalid = errors.New("invalid config value")
)

// UnknownError reports a config name the catalog does not hold. It wraps
// ErrUnknown.
type UnknownError struct {
	Kind string // "topic" or "broker"
	Name string
}

func (e *UnknownError) Error() string { return fmt.Sprintf("unknown %s config %q", e.Kind, e.Name) }
func (e *UnknownError) Unwrap() error { return ErrUnknown }

// ValueError reports a bad value. Its message is Kafka's ConfigException
// text: "Invalid value abc for configuration retention.ms: Not a number of
// type LONG". It wraps ErrInvalid.
type ValueError struct {
	Name   string
	Value  string
	Reason string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("Invalid value %s for configuration %s: %s", e.Value, e.Name, e.Reason)
}
func (e *ValueError) Unwrap() error { return ErrInvalid }

// ValidateTopic checks a value for a topic config: the name must be known and
// the value must parse as the config's type and pass its validator.
func ValidateTopic(name, value string) error {
	d, ok := TopicDef(name)
	if !ok {
		return &UnknownError{Kind: "topic", Name: name}
	}
	return d.Check(value)
}

// ValidateBroker checks a value for a broker config. It does not reject
// read-only configs; callers altering dynamic configs check Def.ReadOnly.
func ValidateBroker(name, value string) error {
	d, ok := BrokerDef(name)
	if !ok {
		return &UnknownError{Kind: "broker", Name: name}
	}
	return d.Check(value)
}

// Check validates value against the def's type and validator. Surrounding
// spaces are ignored, as Kafka trims values before parsing.
func (d *Def) Check(value string) error {
	v := strings.TrimSpace(value)
	if reason := typeCheck(d.Type, v); reason != "" {
		return &ValueError{Name: d.Name, Value: value, Reason: reason}
	}
	if d.Validate != nil {
		if err := d.Validate(v); err != nil {
			return &ValueError{Name: d.Name, Value: value, Reason: err.Error()}
		}
	}
	return nil
}

// typeCheck returns why the trimmed v is not of type t, or "" if it is.
func typeCheck(t Type, v string) string {
	var err error
	switch t {
	case Boolean:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return "Expected value to be either true or false"
		}
	case Int:
		_, err = strconv.ParseInt(v, 10, 32)
	case Short:
		_, err = strconv.ParseInt(v, 10, 16)
	case Long:
		_, err = strconv.ParseInt(v, 10, 64)
	case Double:
		// Kafka lets NaN through its range checks; no config here means it.
		var f float64
		if f, err = strconv.ParseFloat(v, 64); err == nil && f != f {
			err = errors.New("NaN")
		}
	}
	if err != nil {
		return "Not a number of type " + t.String()
	}
	return ""
}

// splitList splits a LIST value as Kafka does: an empty (or all-space) value
// is the empty list, otherwise it is split on commas and each item trimmed.
// Empty items are kept so validators can reject them.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

// Validators. Each gets the trimmed value after the type check passed, so
// parse errors cannot happen here. Their reasons are Kafka's texts verbatim,
// hence the capitalised error strings.

func atLeast(min int64) func(string) error {
	return func(v string) error {
		if n, _ := strconv.ParseInt(v, 10, 64); n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

func between(min, max int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		if n > max {
			return fmt.Errorf("Value must be no more than %d", max)
		}
		return nil
	}
}

func ratio(v string) error {
	f, _ := strconv.ParseFloat(v, 64)
	if f < 0 {
		return errors.New("Value must be at least 0")
	}
	if f > 1 {
		return errors.New("Value must be no more than 1")
	}
	return nil
}

// gzipLevel accepts 1..9 and -1, java.util.zip.Deflater's default.
func gzipLevel(v string) error {
	if n, _ := strconv.ParseInt(v, 10, 64); n != -1 && (n < 1 || n > 9) {
		return errors.New("Value must be between 1 and 9 or equal to -1")
	}
	return nil
}

// oneOf accepts exactly one of values, case-sensitively, as Kafka's
// ValidString does.
func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(values, v) {
			return fmt.Errorf("String must be one of: %s", strings.Join(values, ", "))
		}
		return nil
	}
}

// listOf is Kafka's ValidList: no empty or duplicate items, each one of
// values (any value if values is empty), and the empty list only if
// allowEmpty.
func listOf(allowEmpty bool, values ...string) func(string) error {
	return func(v string) error {
		items := splitList(v)
		if len(items) == 0 && !allowEmpty {
			if len(values) == 0 {
				return errors.New("must not be empty")
			}
			return fmt.Errorf("must not be empty. Valid values include: [%s]", strings.Join(values, ", "))
		}
		for i, it := range items {
			if it == "" {
				return errors.New("values must not be empty")
			}
			if slices.Contains(items[:i], it) {
				return errors.New("values must not be duplicated")
			}
			if len(values) > 0 && !slices.Contains(values, it) {
				return fmt.Errorf("String must be one of: %s", strings.Join(values, ", "))
			}
		}
		return nil
	}
}

var replicaItem = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas accepts "*" or a list of partition:broker pairs.
func throttledReplicas(name string) func(string) error {
	return func(v string) error {
		items := splitList(v)
		if len(items) == 1 && items[0] == "*" {
			return nil
		}
		for _, it := range items {
			if !replicaItem.MatchString(it) {
				return fmt.Errorf("%s must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...", name)
			}
		}
		return nil
	}
}
