package config

import "slices"

// Milliseconds per unit for broker configs given in minutes or hours.
const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

// brokerDefs are the broker configs Strata knows: every broker synonym of a
// topic config, then the broker-only configs Strata uses. Defaults, types and
// validators are Kafka 4.2's. ReadOnly follows Kafka's
// DynamicBrokerConfig.AllDynamicConfigs: of a synonym group only the first,
// most specific name is dynamic (log.retention.ms, not .minutes or .hours).
// Deliberate differences: listeners and the log.cleaner.* settings are
// read-only, because Strata reads them once at start (Kafka reconfigures
// its cleaner live); log.cleaner.io.max.bytes.per.second defaults to
// 100 MiB/s rather than unlimited, so compaction cannot starve produce and
// fetch of disk bandwidth.
var brokerDefs = slices.Concat(synonymBrokerDefs, brokerOnlyDefs)

var synonymBrokerDefs = []*Def{
	{
		Name: "log.cleanup.policy", Type: List, Default: str("delete"),
		Doc:      "The default cleanup policy for segments beyond the retention window, a comma-separated list of \"delete\" and \"compact\".",
		Validate: listOf(true, "compact", "delete"),
	},
	{
		Name: "compression.gzip.level", Type: Int, Default: str("-1"),
		Doc:      "The compression level to use if compression.type is set to 'gzip'.",
		Validate: gzipLevel,
	},
	{
		Name: "compression.lz4.level", Type: Int, Default: str("9"),
		Doc:      "The compression level to use if compression.type is set to 'lz4'.",
		Validate: between(1, 17),
	},
	{
		Name: "compression.type", Type: String, Default: str("producer"),
		Doc: "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs " +
			"('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; " +
			"and 'producer' which means retain the original compression codec set by the producer.",
		Validate: oneOf(compressionTypes...),
	},
	{
		Name: "compression.zstd.level", Type: Int, Default: str("3"),
		Doc:      "The compression level to use if compression.type is set to 'zstd'.",
		Validate: between(-131072, 22),
	},
	{
		Name: "log.cleaner.delete.retention.ms", Type: Long, Default: str("86400000"),
		Doc:      "The amount of time to retain tombstone message markers for log compacted topics.",
		Validate: atLeast(0),
	},
	{
		Name: "log.cleaner.max.compaction.lag.ms", Type: Long, Default: str(longMax),
		Doc:      "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted.",
		Validate: atLeast(1),
	},
	{
		Name: "log.cleaner.min.cleanable.ratio", Type: Double, Default: str("0.5"),
		Doc:      "The minimum ratio of dirty log to total log for a log to be eligible for cleaning.",
		Validate: ratio,
	},
	{
		Name: "log.cleaner.min.compaction.lag.ms", Type: Long, Default: str("0"),
		Doc:      "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted.",
		Validate: atLeast(0),
	},
	{
		Name: "log.flush.interval.messages", Type: Long, Default: str(longMax),
		Doc:      "The number of messages accumulated on a log partition before messages are flushed to disk.",
		Validate: atLeast(1),
	},
	{
		Name: "log.flush.interval.ms", Type: Long,
		Doc: "The maximum time in ms that a message in any topic is kept in memory before flushed to disk. " +
			"If not set, the value in log.flush.scheduler.interval.ms is used.",
	},
	{
		Name: "log.flush.scheduler.interval.ms", Type: Long, Default: str(longMax), ReadOnly: true,
		Doc: "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk.",
	},
	{
		Name: "log.index.interval.bytes", Type: Int, Default: str("4096"),
		Doc:      "The interval with which we add an entry to the offset index.",
		Validate: atLeast(0),
	},
	{
		Name: "log.index.size.max.bytes", Type: Int, Default: str("10485760"),
		Doc:      "The maximum size in bytes of the offset index.",
		Validate: atLeast(4),
	},
	{
		Name: "log.local.retention.bytes", Type: Long, Default: str("-2"),
		Doc: "The maximum size local log segments of a partition can grow to before they become eligible for deletion. " +
			"-2 means the log.retention.bytes value is used.",
		Validate: atLeast(-2),
	},
	{
		Name: "log.local.retention.ms", Type: Long, Default: str("-2"),
		Doc: "The number of milliseconds to keep local log segments before they become eligible for deletion. " +
			"-2 means the log.retention.ms value is used.",
		Validate: atLeast(-2),
	},
	{
		Name: "log.message.timestamp.after.max.ms", Type: Long, Default: str("3600000"),
		Doc: "The allowable difference by which a message timestamp may be later than the broker's timestamp. " +
			"With log.message.timestamp.type=CreateTime a message exceeding it is rejected; ignored with LogAppendTime.",
		Validate: atLeast(0),
	},
	{
		Name: "log.message.timestamp.before.max.ms", Type: Long, Default: str(longMax),
		Doc: "The allowable difference by which a message timestamp may be earlier than the broker's timestamp. " +
			"With log.message.timestamp.type=CreateTime a message exceeding it is rejected; ignored with LogAppendTime.",
		Validate: atLeast(0),
	},
	{
		Name: "log.message.timestamp.type", Type: String, Default: str("CreateTime"),
		Doc:      "Define whether the timestamp in the message is message create time or log append time: CreateTime or LogAppendTime.",
		Validate: oneOf("CreateTime", "LogAppendTime"),
	},
	{
		Name: "log.preallocate", Type: Boolean, Default: str("false"),
		Doc: "Should pre allocate file when create new segment?",
	},
	{
		Name: "log.retention.bytes", Type: Long, Default: str("-1"),
		Doc: "The maximum size of the log before deleting it.",
	},
	{
		Name: "log.retention.hours", Type: Int, Default: str("168"), ReadOnly: true, msPerUnit: msPerHour,
		Doc: "The number of hours to keep a log file before deleting it (in hours), tertiary to log.retention.ms property.",
	},
	{
		Name: "log.retention.minutes", Type: Int, ReadOnly: true, msPerUnit: msPerMinute,
		Doc: "The number of minutes to keep a log file before deleting it (in minutes), secondary to log.retention.ms property. " +
			"If not set, the value in log.retention.hours is used.",
	},
	{
		Name: "log.retention.ms", Type: Long,
		Doc: "The number of milliseconds to keep a log file before deleting it (in milliseconds). If not set, the value in " +
			"log.retention.minutes is used. If set to -1, no time limit is applied.",
	},
	{
		Name: "log.roll.hours", Type: Int, Default: str("168"), ReadOnly: true, msPerUnit: msPerHour,
		Doc:      "The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms property.",
		Validate: atLeast(1),
	},
	{
		Name: "log.roll.jitter.hours", Type: Int, Default: str("0"), ReadOnly: true, msPerUnit: msPerHour,
		Doc:      "The maximum jitter to subtract from logRollTimeMillis (in hours), secondary to log.roll.jitter.ms property.",
		Validate: atLeast(0),
	},
	{
		Name: "log.roll.jitter.ms", Type: Long,
		Doc: "The maximum jitter to subtract from logRollTimeMillis (in milliseconds). If not set, the value in log.roll.jitter.hours is used.",
	},
	{
		Name: "log.roll.ms", Type: Long,
		Doc: "The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used.",
	},
	{
		Name: "log.segment.bytes", Type: Int, Default: str("1073741824"),
		Doc:      "The maximum size of a single log file.",
		Validate: atLeast(1024 * 1024),
	},
	{
		Name: "log.segment.delete.delay.ms", Type: Long, Default: str("60000"),
		Doc:      "The amount of time to wait before deleting a file from the filesystem.",
		Validate: atLeast(0),
	},
	{
		Name: "message.max.bytes", Type: Int, Default: str("1048588"),
		Doc: "The largest record batch size allowed by Kafka (after compression if compression is enabled). " +
			"This can be set per topic with the topic level max.message.bytes config.",
		Validate: atLeast(0),
	},
	{
		Name: "min.insync.replicas", Type: Int, Default: str("1"),
		Doc: "When a producer sets acks to \"all\" (or \"-1\"), the minimum number of replicas that must acknowledge a write " +
			"for it to be considered successful; otherwise the producer gets NotEnoughReplicas or NotEnoughReplicasAfterAppend.",
		Validate: atLeast(1),
	},
	{
		Name: "unclean.leader.election.enable", Type: Boolean, Default: str("false"),
		Doc: "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, " +
			"even though doing so may result in data loss.",
	},
}

var brokerOnlyDefs = []*Def{
	{
		Name: "advertised.listeners", Type: List, ReadOnly: true,
		Doc: "The listener addresses the broker advertises to clients and other brokers, when they differ from listeners. " +
			"If not set, the value for listeners is used.",
		Validate: listOf(false),
	},
	{
		Name: "auto.create.topics.enable", Type: Boolean, Default: str("true"), ReadOnly: true,
		Doc: "Enable auto creation of topic on the server.",
	},
	{
		Name: "auto.leader.rebalance.enable", Type: Boolean, Default: str("true"), ReadOnly: true,
		Doc: "Enables auto leader balancing. The active controller checks the leader balance periodically and, " +
			"for brokers over leader.imbalance.per.broker.percentage, moves leadership back to the preferred replica.",
	},
	{
		Name: "broker.heartbeat.interval.ms", Type: Int, Default: str("500"), ReadOnly: true,
		Doc: "The length of time in milliseconds between broker heartbeats. " +
			"Strata's default is 500 (Kafka's is 2000), so that a broker that is back is unfenced quickly.",
		Validate: atLeast(1),
	},
	{
		Name: "broker.id", Type: Int, Default: str("-1"), ReadOnly: true,
		Doc: "The broker id for this server.",
	},
	{
		Name: "broker.rack", Type: String, ReadOnly: true,
		Doc: "Rack of the broker. This will be used in rack aware replication assignment for fault tolerance. " +
			"Strata sets it from --zone.",
	},
	{
		Name: "broker.session.timeout.ms", Type: Int, Default: str("9000"), ReadOnly: true,
		Doc: "The length of time in milliseconds that a broker lease lasts if no heartbeats are made. " +
			"The active controller's value applies.",
		Validate: atLeast(1),
	},
	{
		Name: "connections.max.idle.ms", Type: Long, Default: str("600000"), ReadOnly: true,
		Doc: "Idle connections timeout: the server socket processor threads close the connections that idle more than this.",
	},
	{
		Name: "connections.max.reauth.ms", Type: Long, Default: str("3600000"), ReadOnly: true,
		Doc: "The longest a SASL session lasts before the client must re-authenticate (KIP-368); 0 disables expiry. " +
			"Strata's default is one hour (Kafka's is 0), so that a revoked API key stops working within it.",
		Validate: atLeast(0),
	},
	{
		Name: "default.replication.factor", Type: Int, Default: str("1"), ReadOnly: true,
		Doc: "The replication factor for automatically created topics, and for topics created with -1 as the replication factor.",
	},
	{
		Name: "delete.topic.enable", Type: Boolean, Default: str("true"), ReadOnly: true,
		Doc: "When set to true, topics can be deleted by the admin client. When set to false, deletion requests will be explicitly rejected by the broker.",
	},
	{
		Name: "group.consumer.heartbeat.interval.ms", Type: Int, Default: str("5000"), ReadOnly: true,
		Doc:      "The heartbeat interval given to the members of a consumer group.",
		Validate: atLeast(1),
	},
	{
		Name: "group.consumer.max.size", Type: Int, Default: str(intMax), ReadOnly: true,
		Doc:      "The maximum number of consumers that a single consumer group can accommodate.",
		Validate: atLeast(1),
	},
	{
		Name: "group.consumer.session.timeout.ms", Type: Int, Default: str("45000"), ReadOnly: true,
		Doc:      "The timeout to detect client failures when using the consumer group protocol.",
		Validate: atLeast(1),
	},
	{
		Name: "group.max.session.timeout.ms", Type: Int, Default: str("1800000"), ReadOnly: true,
		Doc: "The maximum allowed session timeout for registered consumers. Longer timeouts give consumers more time to process " +
			"messages in between heartbeats at the cost of a longer time to detect failures.",
	},
	{
		Name: "group.max.size", Type: Int, Default: str(intMax), ReadOnly: true,
		Doc:      "The maximum number of consumers that a single consumer group can accommodate.",
		Validate: atLeast(1),
	},
	{
		Name: "group.min.session.timeout.ms", Type: Int, Default: str("6000"), ReadOnly: true,
		Doc: "The minimum allowed session timeout for registered consumers. Shorter timeouts result in quicker failure detection " +
			"at the cost of more frequent consumer heartbeating, which can overwhelm broker resources.",
	},
	{
		Name: "sasl.enabled.mechanisms", Type: List, Default: str("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"), ReadOnly: true,
		Doc:      "The SASL mechanisms a listener with --auth sasl offers.",
		Validate: listOf(false, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
	},
	{
		Name: "leader.imbalance.check.interval.seconds", Type: Long, Default: str("300"), ReadOnly: true,
		Doc:      "The frequency with which the partition rebalance check is triggered by the controller.",
		Validate: atLeast(1),
	},
	{
		Name: "leader.imbalance.per.broker.percentage", Type: Int, Default: str("10"), ReadOnly: true,
		Doc: "The ratio of leader imbalance allowed per broker, in percent: the share of the partitions whose " +
			"preferred replica a broker is that others lead.",
		Validate: atLeast(0),
	},
	{
		Name: "listeners", Type: List, Default: str("PLAINTEXT://:9092"), ReadOnly: true,
		Doc:      "Comma-separated list of URIs we will listen on and the listener names.",
		Validate: listOf(false),
	},
	{
		Name: "log.dir", Type: List, Default: str("/tmp/kafka-logs"), ReadOnly: true,
		Doc:      "A comma-separated list of the directories where the log data is stored (supplemental to log.dirs).",
		Validate: listOf(false),
	},
	{
		Name: "log.dirs", Type: List, ReadOnly: true,
		Doc:      "A comma-separated list of the directories where the log data is stored. If not set, the value in log.dir is used.",
		Validate: listOf(false),
	},
	{
		Name: "log.cleaner.backoff.ms", Type: Long, Default: str("15000"), ReadOnly: true,
		Doc:      "The amount of time to sleep when there are no logs to clean.",
		Validate: atLeast(0),
	},
	{
		Name: "log.cleaner.dedupe.buffer.size", Type: Long, Default: str("134217728"), ReadOnly: true,
		Doc:      "The total memory used for log deduplication across all cleaner threads.",
		Validate: atLeast(1024),
	},
	{
		Name: "log.cleaner.enable", Type: Boolean, Default: str("true"), ReadOnly: true,
		Doc: "Enable the log cleaner process to run on the server. Should be enabled if using any topics with a " +
			"cleanup.policy=compact including the internal offsets topic.",
	},
	{
		Name: "log.cleaner.io.max.bytes.per.second", Type: Double, Default: str("1.048576E8"), ReadOnly: true,
		Doc: "The log cleaner will be throttled so that the sum of its read and write i/o will be less than this value on average. " +
			"Strata's default is 100 MiB/s (Kafka's is unlimited).",
	},
	{
		Name: "log.retention.check.interval.ms", Type: Long, Default: str("300000"), ReadOnly: true,
		Doc:      "The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion.",
		Validate: atLeast(1),
	},
	{
		Name: "quota.broker.produce.bytes.per.second", Type: Long, Default: str("0"), ReadOnly: true,
		Doc: "This broker's own produce byte rate limit (Strata); 0: none. When the produce quotas of the tenants " +
			"active on the broker add up to more, each is scaled down in the same proportion; a tenant without a quota counts the whole limit.",
		Validate: atLeast(0),
	},
	{
		Name: "quota.broker.fetch.bytes.per.second", Type: Long, Default: str("0"), ReadOnly: true,
		Doc:      "This broker's own fetch byte rate limit (Strata); 0: none. Scales the tenants' fetch quotas as quota.broker.produce.bytes.per.second does produce.",
		Validate: atLeast(0),
	},
	{
		Name: "quota.window.num", Type: Int, Default: str("11"), ReadOnly: true,
		Doc:      "The number of samples kept in memory for tenant byte-rate and request-time quotas.",
		Validate: atLeast(1),
	},
	{
		Name: "quota.window.size.seconds", Type: Int, Default: str("1"), ReadOnly: true,
		Doc:      "The time span of each sample for tenant byte-rate and request-time quotas.",
		Validate: atLeast(1),
	},
	{
		Name: "max.incremental.fetch.session.cache.slots", Type: Int, Default: str("1000"), ReadOnly: true,
		Doc:      "The maximum number of total incremental fetch sessions that we will maintain.",
		Validate: atLeast(0),
	},
	{
		Name: "node.id", Type: Int, ReadOnly: true,
		Doc:      "The node ID associated with the roles this process is playing. Required.",
		Validate: atLeast(0),
	},
	{
		Name: "num.partitions", Type: Int, Default: str("1"), ReadOnly: true,
		Doc:      "The default number of log partitions per topic.",
		Validate: atLeast(1),
	},
	{
		Name: "group.initial.rebalance.delay.ms", Type: Int, Default: str("3000"), ReadOnly: true,
		Doc: "The amount of time the group coordinator will wait for more consumers to join a new group before performing " +
			"the first rebalance. A longer delay means potentially fewer rebalances, but increases the time until processing begins.",
		Validate: atLeast(0),
	},
	{
		Name: "offset.metadata.max.bytes", Type: Int, Default: str("4096"), ReadOnly: true,
		Doc:      "The maximum size for a metadata entry associated with an offset commit.",
		Validate: atLeast(0),
	},
	{
		Name: "offsets.retention.check.interval.ms", Type: Long, Default: str("600000"), ReadOnly: true,
		Doc:      "Frequency at which to check for stale offsets.",
		Validate: atLeast(1),
	},
	{
		Name: "offsets.topic.num.partitions", Type: Int, Default: str("50"), ReadOnly: true,
		Doc:      "The number of partitions for the offset commit topic (should not change after deployment).",
		Validate: atLeast(1),
	},
	{
		Name: "offsets.topic.replication.factor", Type: Short, Default: str("3"), ReadOnly: true,
		Doc:      "The replication factor for the offsets topic. Strata creates it with the smaller of this and the number of live brokers.",
		Validate: atLeast(1),
	},
	{
		Name: "offsets.topic.segment.bytes", Type: Int, Default: str("104857600"), ReadOnly: true,
		Doc:      "The offsets topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads.",
		Validate: atLeast(1),
	},
	{
		Name: "offsets.retention.minutes", Type: Int, Default: str("10080"), ReadOnly: true,
		Doc: "How long committed offsets are kept after a consumer group becomes empty, or, for standalone consumers, " +
			"after the last commit. Offsets of deleted groups and topics are removed without waiting.",
		Validate: atLeast(1),
	},
	{
		Name: "producer.id.expiration.ms", Type: Int, Default: str("86400000"),
		Doc: "The time in ms that a topic partition leader will wait before expiring producer IDs. " +
			"Producer IDs will not expire while a transaction associated to them is still ongoing.",
		Validate: atLeast(1),
	},
	{
		Name: "replica.lag.time.max.ms", Type: Long, Default: str("30000"), ReadOnly: true,
		Doc: "If a follower hasn't sent any fetch requests or hasn't consumed up to the leader's log end offset for at least this time, " +
			"the leader will remove the follower from ISR.",
	},
	{
		Name: "queued.max.request.bytes", Type: Long, Default: str("536870912"), ReadOnly: true,
		Doc: "The number of queued bytes allowed before no more requests are read; -1: no limit. " +
			"Strata counts requests larger than 64 KiB, from reading until handled; its default is 512 MiB (Kafka's is -1).",
		Validate: atLeast(-1),
	},
	{
		Name: "max.connections", Type: Int, Default: str("2147483647"), ReadOnly: true,
		Doc:      "The maximum number of connections the broker allows at any time; further ones are closed on accept.",
		Validate: atLeast(1),
	},
	{
		Name: "socket.request.max.bytes", Type: Int, Default: str("104857600"), ReadOnly: true,
		Doc:      "The maximum number of bytes in a socket request.",
		Validate: atLeast(1),
	},
	{
		Name: "transactional.id.expiration.ms", Type: Int, Default: str("604800000"), ReadOnly: true,
		Doc: "The time in ms that the transaction coordinator will wait without receiving any transaction status updates " +
			"for the current transaction before expiring its transactional id.",
		Validate: atLeast(1),
	},
	{
		Name: "transaction.max.timeout.ms", Type: Int, Default: str("900000"), ReadOnly: true,
		Doc: "The maximum allowed timeout for transactions. If a client's requested transaction time exceed this, then the broker " +
			"will return an error in InitProducerIdRequest. This prevents a client from too large of a timeout, which can stall " +
			"consumers reading from topics included in the transaction.",
		Validate: atLeast(1),
	},
	{
		Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Default: str("10000"), ReadOnly: true,
		Doc:      "The interval at which to rollback transactions that have timed out.",
		Validate: atLeast(1),
	},
	{
		Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: Int, Default: str("3600000"), ReadOnly: true,
		Doc:      "The interval at which to remove transactions that have expired due to transactional.id.expiration.ms passing.",
		Validate: atLeast(1),
	},
	{
		Name: "transaction.state.log.num.partitions", Type: Int, Default: str("50"), ReadOnly: true,
		Doc:      "The number of partitions for the transaction topic (should not change after deployment).",
		Validate: atLeast(1),
	},
	{
		Name: "transaction.state.log.replication.factor", Type: Short, Default: str("3"), ReadOnly: true,
		Doc:      "The replication factor for the transaction topic. Strata creates it with the smaller of this and the number of live brokers.",
		Validate: atLeast(1),
	},
	{
		Name: "transaction.state.log.segment.bytes", Type: Int, Default: str("104857600"), ReadOnly: true,
		Doc:      "The transaction topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads.",
		Validate: atLeast(1),
	},
}
