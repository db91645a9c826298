package replica

import (
	"strconv"
	"time"

	"github.com/strata-db/strata/internal/config"
)

// defaultProducerExpiration is producer.id.expiration.ms's default.
const defaultProducerExpiration = 24 * time.Hour

// producerExpiration resolves producer.id.expiration.ms on this node (a
// dynamic broker config).
func (m *Manager) producerExpiration() time.Duration {
	e, ok := config.ResolveBroker("producer.id.expiration.ms", m.Layers(m.cfg.Meta.Image(), nil))
	if !ok || e.Value == nil {
		return defaultProducerExpiration
	}
	ms, err := strconv.ParseInt(*e.Value, 10, 64)
	if err != nil || ms <= 0 {
		return defaultProducerExpiration
	}
	return time.Duration(ms) * time.Millisecond
}

// expireProducers forgets, on every partition, the producers without an
// open transaction that appended nothing for producer.id.expiration.ms.
func (m *Manager) expireProducers() {
	d := m.producerExpiration()
	for _, p := range m.Partitions() {
		if n := p.log.ExpireProducers(d); n > 0 {
			m.log.Debug("expired idle producers", "partition", p.key.String(), "producers", n)
		}
	}
}
