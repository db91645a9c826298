package api

import (
	"context"
	"strconv"
	"time"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/meta"
)

// brokerValue resolves a broker config on this node: dynamic per-broker,
// dynamic cluster default, static file, Kafka default.
func (h *Handlers) brokerValue(im *meta.Image, name string) string {
	e, ok := config.ResolveBroker(name, h.cfg.Replicas.Layers(im, nil))
	if !ok || e.Value == nil {
		return ""
	}
	return *e.Value
}

func (h *Handlers) brokerBool(im *meta.Image, name string) bool {
	return h.brokerValue(im, name) == "true"
}

func (h *Handlers) brokerInt(im *meta.Image, name string) int64 {
	v, err := strconv.ParseInt(h.brokerValue(im, name), 10, 64)
	if err != nil {
		h.log.Error("broker config is not a number", "config", name, "err", err)
		return 0
	}
	return v
}

// waitPartitions waits, briefly, until this node has opened the partitions
// of the latest image, so that a client that just created a topic can use
// it at once.
func (h *Handlers) waitPartitions(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h.cfg.Replicas.WaitReconciled(ctx, h.cfg.Meta.Image().Index)
}

// requestTimeout turns a request's timeout field into a bound for the
// metadata commit, with a floor so that 0 still lets the commit happen.
func requestTimeout(ms int32) time.Duration {
	return max(time.Duration(ms)*time.Millisecond, 5*time.Second)
}
