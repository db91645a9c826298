package config

// Values Kafka uses as "no limit".
const (
	longMax = "9223372036854775807" // Long.MAX_VALUE
	intMax  = "2147483647"          // Integer.MAX_VALUE
)

// compressionTypes are the values of compression.type, in Kafka's order.
var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// topicDefs are the topic configs of Kafka 4.2 (LogConfig), minus the
// internal ones and message.downconversion.enable, which is a no-op since 4.0.
// Synonyms follow ServerTopicConfigSynonyms.
var topicDefs = []*Def{
	{
		Name: "cleanup.policy", Type: List, Default: str("delete"),
		Doc: "The retention policy to use on log segments. \"delete\" discards old segments when their retention time or size limit has been reached; " +
			"\"compact\" enables log compaction, which retains the latest value for each key. Both may be given as \"delete,compact\". " +
			"An empty list means infinite retention: no cleanup policy is applied.",
		Synonyms: []string{"log.cleanup.policy"},
		Validate: listOf(true, "compact", "delete"),
	},
	{
		Name: "compression.gzip.level", Type: Int, Default: str("-1"),
		Doc:      "The compression level to use if compression.type is set to gzip.",
		Synonyms: []string{"compression.gzip.level"},
		Validate: gzipLevel,
	},
	{
		Name: "compression.lz4.level", Type: Int, Default: str("9"),
		Doc:      "The compression level to use if compression.type is set to lz4.",
		Synonyms: []string{"compression.lz4.level"},
		Validate: between(1, 17),
	},
	{
		Name: "compression.type", Type: String, Default: str("producer"),
		Doc: "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs " +
			"('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; " +
			"and 'producer' which means retain the original compression codec set by the producer.",
		Synonyms: []string{"compression.type"},
		Validate: oneOf(compressionTypes...),
	},
	{
		Name: "compression.zstd.level", Type: Int, Default: str("3"),
		Doc:      "The compression level to use if compression.type is set to zstd.",
		Synonyms: []string{"compression.zstd.level"},
		Validate: between(-131072, 22),
	},
	{
		Name: "delete.retention.ms", Type: Long, Default: str("86400000"),
		Doc: "The amount of time to retain delete tombstone markers for log compacted topics. This also bounds the time in which a consumer " +
			"reading from offset 0 must finish to get a valid snapshot of the final stage.",
		Synonyms: []string{"log.cleaner.delete.retention.ms"},
		Validate: atLeast(0),
	},
	{
		Name: "file.delete.delay.ms", Type: Long, Default: str("60000"),
		Doc:      "The time to wait before deleting a file from the filesystem.",
		Synonyms: []string{"log.segment.delete.delay.ms"},
		Validate: atLeast(0),
	},
	{
		Name: "flush.messages", Type: Long, Default: str(longMax),
		Doc: "An interval at which to force an fsync of data written to the log: 1 fsyncs after every message, 5 after every five messages. " +
			"We recommend not setting this and relying on replication for durability.",
		Synonyms: []string{"log.flush.interval.messages"},
		Validate: atLeast(1),
	},
	{
		Name: "flush.ms", Type: Long, Default: str(longMax),
		Doc: "A time interval at which to force an fsync of data written to the log: 1000 fsyncs after 1000 ms have passed. " +
			"We recommend not setting this and relying on replication for durability.",
		Synonyms: []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
		Validate: atLeast(0),
	},
	{
		Name: "follower.replication.throttled.replicas", Type: List, Default: str(""),
		Doc: "A list of replicas for which log replication should be throttled on the follower side, in the form " +
			"[PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:..., or the wildcard '*' to throttle all replicas of the topic.",
		Validate: throttledReplicas("follower.replication.throttled.replicas"),
	},
	{
		Name: "index.interval.bytes", Type: Int, Default: str("4096"),
		Doc: "How frequently Kafka adds entries to its offset index and, conditionally, to its time index: by default roughly every 4096 bytes. " +
			"More frequent indexing lets reads jump closer to the exact position but makes index files larger.",
		Synonyms: []string{"log.index.interval.bytes"},
		Validate: atLeast(0),
	},
	{
		Name: "leader.replication.throttled.replicas", Type: List, Default: str(""),
		Doc: "A list of replicas for which log replication should be throttled on the leader side, in the form " +
			"[PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:..., or the wildcard '*' to throttle all replicas of the topic.",
		Validate: throttledReplicas("leader.replication.throttled.replicas"),
	},
	{
		Name: "local.retention.bytes", Type: Long, Default: str("-2"),
		Doc: "The maximum size local log segments of a partition can grow to before the old segments are deleted. " +
			"-2 means the retention.bytes value is used. The effective value should always be less than or equal to retention.bytes.",
		Synonyms: []string{"log.local.retention.bytes"},
		Validate: atLeast(-2),
	},
	{
		Name: "local.retention.ms", Type: Long, Default: str("-2"),
		Doc: "The number of milliseconds to keep a local log segment before it gets deleted. " +
			"-2 means the retention.ms value is used. The effective value should always be less than or equal to retention.ms.",
		Synonyms: []string{"log.local.retention.ms"},
		Validate: atLeast(-2),
	},
	{
		Name: "max.compaction.lag.ms", Type: Long, Default: str(longMax),
		Doc:      "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted.",
		Synonyms: []string{"log.cleaner.max.compaction.lag.ms"},
		Validate: atLeast(1),
	},
	{
		Name: "max.message.bytes", Type: Int, Default: str("1048588"),
		Doc:      "The largest record batch size allowed by Kafka (after compression if compression is enabled).",
		Synonyms: []string{"message.max.bytes"},
		Validate: atLeast(0),
	},
	{
		Name: "message.timestamp.after.max.ms", Type: Long, Default: str("3600000"),
		Doc: "The allowable difference by which a message timestamp may be later than the broker's timestamp. " +
			"With message.timestamp.type=CreateTime a message exceeding it is rejected; ignored with LogAppendTime.",
		Synonyms: []string{"log.message.timestamp.after.max.ms"},
		Validate: atLeast(0),
	},
	{
		Name: "message.timestamp.before.max.ms", Type: Long, Default: str(longMax),
		Doc: "The allowable difference by which a message timestamp may be earlier than the broker's timestamp. " +
			"With message.timestamp.type=CreateTime a message exceeding it is rejected; ignored with LogAppendTime.",
		Synonyms: []string{"log.message.timestamp.before.max.ms"},
		Validate: atLeast(0),
	},
	{
		Name: "message.timestamp.type", Type: String, Default: str("CreateTime"),
		Doc:      "Define whether the timestamp in the message is message create time or log append time.",
		Synonyms: []string{"log.message.timestamp.type"},
		Validate: oneOf("CreateTime", "LogAppendTime"),
	},
	{
		Name: "min.cleanable.dirty.ratio", Type: Double, Default: str("0.5"),
		Doc: "How frequently the log compactor will attempt to clean the log: a log is not cleaned while less than this share of it is dirty. " +
			"A higher ratio means fewer, more efficient cleanings but more wasted space. With min/max.compaction.lag.ms set, a log is also " +
			"eligible once it has had dirty records for max.compaction.lag.ms.",
		Synonyms: []string{"log.cleaner.min.cleanable.ratio"},
		Validate: ratio,
	},
	{
		Name: "min.compaction.lag.ms", Type: Long, Default: str("0"),
		Doc:      "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted.",
		Synonyms: []string{"log.cleaner.min.compaction.lag.ms"},
		Validate: atLeast(0),
	},
	{
		Name: "min.insync.replicas", Type: Int, Default: str("1"),
		Doc: "The minimum number of in-sync replicas (including the leader) required for a write to succeed when a producer sets acks to \"all\" (or \"-1\"). " +
			"If the ISR has fewer members, the producer gets NotEnoughReplicas or NotEnoughReplicasAfterAppend.",
		Synonyms: []string{"min.insync.replicas"},
		Validate: atLeast(1),
	},
	{
		Name: "preallocate", Type: Boolean, Default: str("false"),
		Doc:      "True if we should preallocate the file on disk when creating a new log segment.",
		Synonyms: []string{"log.preallocate"},
	},
	{
		Name: "remote.log.copy.disable", Type: Boolean, Default: str("false"),
		Doc: "Makes tiered data of the topic read only: no more segments are uploaded, local retention no longer applies " +
			"and all data expires by retention.ms/bytes.",
	},
	{
		Name: "remote.log.delete.on.disable", Type: Boolean, Default: str("false"),
		Doc: "Whether tiered data of the topic is deleted after tiered storage is disabled on it. " +
			"Must be set when turning remote.storage.enable from true to false.",
	},
	{
		Name: "remote.storage.enable", Type: Boolean, Default: str("false"),
		Doc: "To enable tiered storage for a topic, set this configuration to true. To disable it, set it to false " +
			"together with remote.log.delete.on.disable=true.",
	},
	{
		Name: "retention.bytes", Type: Long, Default: str("-1"),
		Doc: "The maximum size a partition can grow to before old log segments are discarded under the \"delete\" policy. " +
			"By default there is no size limit, only a time limit. The limit applies per partition.",
		Synonyms: []string{"log.retention.bytes"},
	},
	{
		Name: "retention.ms", Type: Long, Default: str("604800000"),
		Doc: "The maximum time a log is retained before old log segments are discarded under the \"delete\" policy. " +
			"If set to -1, no time limit is applied.",
		Synonyms:            []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		Validate:            atLeast(-1),
		negativeIsUnlimited: true,
	},
	{
		Name: "segment.bytes", Type: Int, Default: str("1073741824"),
		Doc: "The segment file size for the log. Retention and cleaning are done a file at a time, so a larger segment size means " +
			"fewer files but less granular control over retention.",
		Synonyms: []string{"log.segment.bytes"},
		Validate: atLeast(1024 * 1024),
	},
	{
		Name: "segment.index.bytes", Type: Int, Default: str("10485760"),
		Doc: "The size of the index that maps offsets to file positions. The index file is preallocated and shrunk only after log rolls. " +
			"You generally should not need to change this setting.",
		Synonyms: []string{"log.index.size.max.bytes"},
		Validate: atLeast(4),
	},
	{
		Name: "segment.jitter.ms", Type: Long, Default: str("0"),
		Doc:      "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling.",
		Synonyms: []string{"log.roll.jitter.ms", "log.roll.jitter.hours"},
		Validate: atLeast(0),
	},
	{
		Name: "segment.ms", Type: Long, Default: str("604800000"),
		Doc: "The period of time after which Kafka will force the log to roll even if the segment file isn't full, " +
			"so that retention can delete or compact old data.",
		Synonyms: []string{"log.roll.ms", "log.roll.hours"},
		Validate: atLeast(1),
	},
	{
		Name: "unclean.leader.election.enable", Type: Boolean, Default: str("false"),
		Doc: "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, " +
			"even though doing so may result in data loss.",
		Synonyms: []string{"unclean.leader.election.enable"},
	},
}
