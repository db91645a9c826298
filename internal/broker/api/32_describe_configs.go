package api

// DescribeConfigs, v1-v4 (v0 was dropped in Kafka 4.0). Topic resources
// list every topic config with its source and, on request, its synonyms
// (v1+) and documentation (v3+). Broker resources are this node's id (all
// broker configs as this node resolves them) or "" (only the dynamic
// cluster-wide defaults that are set, as Kafka lists them).

import (
	"context"
	"fmt"
	"slices"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeConfigs, 1, 4, (*Handlers).describeConfigs) }

func (h *Handlers) describeConfigs(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	im := h.cfg.Meta.Image()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []config.Entry
		err := h.authorizeConfigs(r, rr.ResourceType, rr.ResourceName, kmsg.ACLOperationDescribeConfigs)
		if err == nil {
			entries, err = h.configEntries(im, tenantOf(r), rr.ResourceType, rr.ResourceName)
		}
		if err != nil {
			sr.ErrorCode = errorCode(err)
			sr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, describeEntry(e, r.Version, req.IncludeSynonyms, req.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// configEntries resolves the configs of a topic or broker resource.
func (h *Handlers) configEntries(im *meta.Image, tenant meta.TenantID, typ kmsg.ConfigResourceType, name string) ([]config.Entry, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, err := im.ResolveTopic(tenant, meta.TopicRef{Name: name})
		if err != nil {
			return nil, err
		}
		return config.ResolveTopics(h.cfg.Replicas.Layers(im, t.Configs)), nil
	case kmsg.ConfigResourceTypeBroker:
		if name == "" {
			return clusterDefaultEntries(im), nil
		}
		if name != nodeName(h.cfg.NodeID) {
			return nil, fmt.Errorf("%w: broker %q is not this broker (%d)", kerr.InvalidRequest, name, h.cfg.NodeID)
		}
		return config.ResolveBrokers(h.cfg.Replicas.Layers(im, nil)), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, typ)
}

func clusterDefaultEntries(im *meta.Image) []config.Entry {
	layers := config.Layers{ClusterDefault: im.BrokerConfigs(meta.ClusterConfigKey)}
	var out []config.Entry
	for name := range layers.ClusterDefault {
		if e, ok := config.ResolveBroker(name, layers); ok {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b config.Entry) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func describeEntry(e config.Entry, version int16, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefault
	if synonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if version >= 3 {
		c.ConfigType = kmsg.ConfigType(e.Type)
		if docs && e.Doc != "" {
			doc := e.Doc
			c.Documentation = &doc
		}
	}
	return c
}
