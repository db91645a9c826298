package broker

import (
	"context"
	"slices"
	"time"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
)

// Tenancy changes a broker acts on as it sees them in the metadata image:
//
//   - A revoked key or a deleted tenant: every live connection
//     authenticated with that key, or of that tenant, is closed at once
//     (KIP-368's re-authentication check stays as a second line).
//   - A deleted tenant: the group and transaction coordinators purge what
//     their loaded partitions hold of it. A partition loaded later (its
//     leadership moved here) is purged when it loads, since the image
//     remembers deleted tenant ids. Work left over (an abort completing, a
//     failed write) is retried every purgeRetry.

// purgeRetry is how soon a purge pass that left work runs again.
const purgeRetry = time.Second

// watchTenancy runs until ctx ends.
func (b *Broker) watchTenancy(ctx context.Context) {
	changes := b.meta.Subscribe()
	purgedCount, left := 0, 0
	for {
		im := b.meta.Image()
		if b.cfg.authenticated() {
			b.closeRevoked(im)
		}
		if n := im.DeletedTenantCount(); n > 0 && (n != purgedCount || left > 0) {
			left = b.purgeDeletedTenants(im)
			purgedCount = n
		}
		var retry <-chan time.Time
		if left > 0 {
			retry = time.After(purgeRetry)
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-b.coordLoaded:
			left = max(left, 1) // a newly loaded partition may hold a deleted tenant's state
		case <-retry:
		}
	}
}

// closeRevoked closes the connections whose key is gone or no longer
// belongs to their tenant.
func (b *Broker) closeRevoked(im *meta.Image) {
	b.wire.CloseConnections(func(id wire.Identity) bool {
		c, ok := im.Credential(id.Principal)
		return !ok || string(c.Tenant) != id.Tenant
	}, "API key revoked or tenant deleted")
}

// purgeDeletedTenants runs one purge pass of both coordinators and
// returns how much is left for another.
func (b *Broker) purgeDeletedTenants(im *meta.Image) int {
	deleted := func(tenant string) bool { return im.TenantDeleted(meta.TenantID(tenant)) }
	// Transactions first: their aborts clear the pending transactional
	// offsets that hold groups back.
	return b.txns.PurgeTenants(deleted) + b.groups.PurgeTenants(deleted)
}

// notifyCoordLoaded tells watchTenancy that a coordinator partition
// loaded; it never blocks.
func (b *Broker) notifyCoordLoaded() {
	select {
	case b.coordLoaded <- struct{}{}:
	default:
	}
}

// CoordinatorState lists what this node's coordinators hold of a tenant:
// its groups and its transactional ids, each sorted. Tests use it to see
// a deleted tenant purged.
func (b *Broker) CoordinatorState(tenant string) (groups, transactionalIDs []string) {
	for _, g := range b.groups.ListGroups(tenant) {
		groups = append(groups, g.Group)
	}
	txns, _, _ := b.txns.List(tenant, coord.TxnFilter{MinDuration: -1})
	for _, t := range txns {
		transactionalIDs = append(transactionalIDs, t.TransactionalID)
	}
	slices.Sort(transactionalIDs)
	return groups, transactionalIDs
}
