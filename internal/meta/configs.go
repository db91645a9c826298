package meta

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-db/strata/internal/config"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ConfigOp is an IncrementalAlterConfigs operation, numbered as on the wire.
type ConfigOp int8

const (
	OpSet      ConfigOp = 0
	OpDelete   ConfigOp = 1
	OpAppend   ConfigOp = 2
	OpSubtract ConfigOp = 3
)

// ConfigChange is one requested change. For a non-incremental alter every
// change is an OpSet and the resource's dynamic configs become exactly the
// set given.
type ConfigChange struct {
	Name  string
	Op    ConfigOp
	Value *string
}

// validateTopicConfigs checks each override and the combinations Kafka
// forbids (e.g. min.compaction.lag.ms above max.compaction.lag.ms).
func validateTopicConfigs(m map[string]string) error {
	for k, v := range m {
		if err := config.ValidateTopic(k, v); err != nil {
			return fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
		}
	}
	if err := config.ValidateTopicConfigs(config.Layers{Topic: m}); err != nil {
		return fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
	}
	return nil
}

// AlterTopicConfigs changes the overrides of the tenant's topic.
func (s *Store) AlterTopicConfigs(ctx context.Context, tenant TenantID, name string, changes []ConfigChange, incremental, validateOnly bool) error {
	t, ok := s.Image().TopicByName(tenant, name)
	if !ok {
		return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, name)
	}
	set, del, err := planConfigChanges(t.Configs, changes, incremental, config.TopicDef)
	if err != nil {
		return err
	}
	if err := validateTopicConfigs(set); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	return s.proposeOne(ctx, Record{SetTopicConfigs: &SetTopicConfigs{ID: t.ID, Set: set, Delete: del, Replace: !incremental}})
}

// AlterBrokerConfigs changes the dynamic configs of one broker, or the
// cluster-wide default with ClusterConfigKey.
func (s *Store) AlterBrokerConfigs(ctx context.Context, broker int32, changes []ConfigChange, incremental, validateOnly bool) error {
	if broker != ClusterConfigKey {
		if _, ok := s.Image().Broker(broker); !ok {
			return fmt.Errorf("%w: unknown broker %d", kerr.InvalidRequest, broker)
		}
	}
	set, del, err := planConfigChanges(s.Image().BrokerConfigs(broker), changes, incremental, config.BrokerDef)
	if err != nil {
		return err
	}
	var readOnly []string
	for k, v := range set {
		if def, ok := config.BrokerDef(k); ok && def.ReadOnly {
			readOnly = append(readOnly, k)
			continue
		}
		if err := config.ValidateBroker(k, v); err != nil {
			return fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
		}
	}
	if len(readOnly) > 0 {
		slices.Sort(readOnly)
		return fmt.Errorf("%w: cannot update these configs dynamically: %s", kerr.InvalidRequest, strings.Join(readOnly, ", "))
	}
	if validateOnly {
		return nil
	}
	return s.proposeOne(ctx, Record{SetBrokerConfigs: &SetBrokerConfigs{Broker: broker, Set: set, Delete: del, Replace: !incremental}})
}

func (s *Store) proposeOne(ctx context.Context, r Record) error {
	errs, err := s.Propose(ctx, r)
	if err != nil {
		return err
	}
	return errs[0]
}

// planConfigChanges turns requested changes into the values to set and the
// names to delete. APPEND and SUBTRACT work on list configs, starting from
// the current override or else the default, as Kafka does.
func planConfigChanges(current map[string]string, changes []ConfigChange, incremental bool, lookup func(string) (*config.Def, bool)) (map[string]string, []string, error) {
	set := map[string]string{}
	var del []string
	seen := map[string]bool{}
	for _, c := range changes {
		if seen[c.Name] {
			return nil, nil, fmt.Errorf("%w: config %q appears more than once", kerr.InvalidRequest, c.Name)
		}
		seen[c.Name] = true
		def, ok := lookup(c.Name)
		if !ok {
			return nil, nil, fmt.Errorf("%w: unknown config %q", kerr.InvalidConfig, c.Name)
		}
		if !incremental {
			if c.Value != nil {
				set[c.Name] = *c.Value
			}
			continue
		}
		switch c.Op {
		case OpSet:
			if c.Value == nil {
				return nil, nil, fmt.Errorf("%w: null value for config %q", kerr.InvalidRequest, c.Name)
			}
			set[c.Name] = *c.Value
		case OpDelete:
			del = append(del, c.Name)
		case OpAppend, OpSubtract:
			if def.Type != config.List {
				return nil, nil, fmt.Errorf("%w: config %q is not a list; APPEND and SUBTRACT apply only to lists", kerr.InvalidConfig, c.Name)
			}
			set[c.Name] = applyListOp(currentValue(current, def), c)
		default:
			return nil, nil, fmt.Errorf("%w: unknown config operation %d", kerr.InvalidRequest, c.Op)
		}
	}
	return set, del, nil
}

func currentValue(current map[string]string, def *config.Def) string {
	if v, ok := current[def.Name]; ok {
		return v
	}
	if def.Default != nil {
		return *def.Default
	}
	return ""
}

func applyListOp(cur string, c ConfigChange) string {
	var items []string
	for _, it := range strings.Split(cur, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	if c.Value != nil {
		for _, v := range strings.Split(*c.Value, ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			has := slices.Contains(items, v)
			switch {
			case c.Op == OpAppend && !has:
				items = append(items, v)
			case c.Op == OpSubtract && has:
				items = slices.DeleteFunc(items, func(s string) bool { return s == v })
			}
		}
	}
	return strings.Join(items, ",")
}
