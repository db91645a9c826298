package api

// DescribeLogDirs, v1-v5 (v0 was dropped in Kafka 4.0). One log directory:
// the node's data folder, with the size of each hosted partition of the
// tenant and, from v4, the file system's total and usable bytes.

import (
	"context"
	"syscall"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeLogDirs, 1, 5, (*Handlers).describeLogDirs) }

func (h *Handlers) describeLogDirs(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if clusterOnly(r) {
		// A broker's disks are not a tenant's business; before v3 the
		// answer has no error code and is empty, as in Kafka.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = h.cfg.DataDir
	dir.TotalBytes, dir.UsableBytes = diskSpace(h.cfg.DataDir)

	wanted := map[string][]int32{} // nil value: every partition
	if req.Topics != nil {
		for _, t := range req.Topics {
			wanted[t.Topic] = append(wanted[t.Topic], t.Partitions...)
		}
	}
	for _, t := range im.Topics(tenant) {
		parts, ok := wanted[t.Name]
		if req.Topics != nil && !ok {
			continue
		}
		if dt, ok := h.logDirTopic(t, parts); ok {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

func (h *Handlers) logDirTopic(t *meta.Topic, parts []int32) (kmsg.DescribeLogDirsResponseDirTopic, bool) {
	dt := kmsg.NewDescribeLogDirsResponseDirTopic()
	dt.Topic = t.Name
	if parts == nil {
		for i := range t.Partitions {
			parts = append(parts, int32(i))
		}
	}
	for _, i := range parts {
		p, ok := h.cfg.Replicas.Get(replica.Key{Topic: t.ID, Partition: i})
		if !ok {
			continue
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = i
		dp.Size = p.Size()
		dp.OffsetLag = max(p.LogEndOffset()-p.HighWatermark(), 0)
		dt.Partitions = append(dt.Partitions, dp)
	}
	return dt, len(dt.Partitions) > 0
}

// diskSpace returns the file system's total and usable bytes, or -1s.
func diskSpace(dir string) (total, usable int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize)
}
