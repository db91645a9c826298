package api

import (
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quotas enforces the tenants' rate and storage quotas on this broker
// (tenant.QuotaManager). Handlers report what a request did and set
// wire.Request.Throttle from the answer; the wire layer puts it in the
// response and holds the connection back.
type Quotas interface {
	// Produce records bytes appended and returns the throttle.
	Produce(tenant meta.TenantID, bytes int) time.Duration
	// FetchThrottle is the throttle still owed before a fetch may read.
	FetchThrottle(tenant meta.TenantID) time.Duration
	// Fetch records bytes returned and returns the throttle.
	Fetch(tenant meta.TenantID, bytes int) time.Duration
	// Mutate asks to create or delete partitions (KIP-599).
	Mutate(tenant meta.TenantID, partitions int, strict bool) (ok bool, throttle time.Duration)
	// CheckStorage fails with POLICY_VIOLATION when the tenant's storage
	// quota is used up.
	CheckStorage(tenant meta.TenantID) error
}

// waitingAPIs are the APIs whose handlers mostly wait on others: the
// metadata quorum (topic, config, ACL and reassignment changes), the group
// and transaction coordinators (rebalances, writes to their partitions
// with acks=all, transaction markers). Their whole time is reported as
// wire.Request.Waited, so it does not count against the tenant's request
// time share (request_percentage); Produce and Fetch report their waits
// themselves. The share thus measures the requests that cost this broker
// work: produce, fetch, metadata, offsets and the describe calls.
var waitingAPIs = map[kmsg.Key]bool{
	kmsg.OffsetCommit: true, kmsg.JoinGroup: true, kmsg.Heartbeat: true, kmsg.LeaveGroup: true, kmsg.SyncGroup: true,
	kmsg.CreateTopics: true, kmsg.DeleteTopics: true, kmsg.DeleteRecords: true, kmsg.InitProducerID: true,
	kmsg.AddPartitionsToTxn: true, kmsg.AddOffsetsToTxn: true, kmsg.EndTxn: true, kmsg.WriteTxnMarkers: true,
	kmsg.TxnOffsetCommit: true, kmsg.CreateACLs: true, kmsg.DeleteACLs: true, kmsg.AlterConfigs: true,
	kmsg.CreatePartitions: true, kmsg.DeleteGroups: true, kmsg.ElectLeaders: true, kmsg.IncrementalAlterConfigs: true,
	kmsg.AlterPartitionAssignments: true, kmsg.OffsetDelete: true, kmsg.ConsumerGroupHeartbeat: true,
	kmsg.FindCoordinator: true,
}

// noQuotas is Quotas without limits.
type noQuotas struct{}

func (noQuotas) Produce(meta.TenantID, int) time.Duration              { return 0 }
func (noQuotas) FetchThrottle(meta.TenantID) time.Duration             { return 0 }
func (noQuotas) Fetch(meta.TenantID, int) time.Duration                { return 0 }
func (noQuotas) Mutate(meta.TenantID, int, bool) (bool, time.Duration) { return true, 0 }
func (noQuotas) CheckStorage(meta.TenantID) error                      { return nil }

// mutationQuota applies KIP-599 to one topic of a CreateTopics,
// CreatePartitions or DeleteTopics request: it returns
// THROTTLING_QUOTA_EXCEEDED when the tenant's partition mutation rate is
// used up (strict requests only), and raises the request's throttle.
func (h *Handlers) mutationQuota(r *wire.Request, partitions int, strict bool) error {
	ok, throttle := h.cfg.Quotas.Mutate(tenantOf(r), partitions, strict)
	r.Throttle = max(r.Throttle, throttle)
	if !ok {
		return fmt.Errorf("%w: the tenant's partition mutation rate is used up; retry in %v", kerr.ThrottlingQuotaExceeded, throttle.Round(time.Millisecond))
	}
	return nil
}
