// kafkajs driver for test/compat/js_test.go; formats in common.mjs.
//
// kafkajs negotiates versions through ApiVersions up to its own maxima
// (Produce v7, Fetch v11, Metadata v6, ListOffsets v3, CreateTopics v3,
// DescribeConfigs v2, AlterConfigs v1, JoinGroup v5, OffsetCommit v5,
// OffsetFetch v4, DescribeGroups v2). Its producer writes. Its Consumer
// works only in a group and from committed offsets, so the record
// subcommands read exact offset ranges through the Cluster and Broker
// objects the Consumer uses underneath (the same Fetch encoding, batch
// decoding and codecs), with partitions assigned by hand; group-consume
// is the Consumer itself (default round-robin assigner, eager rebalances):
// eachMessage with auto-commit, or with --commit eachBatch committing with
// commitOffsets after each batch it processed.
//
// Exactly-once: produce --idempotent true is an idempotent producer
// (idempotent: true, maxInFlightRequests: 1, one send at a time);
// produce-txns is a transactional producer (transactionalId) running
// transaction(), send, commit() or abort(); consume-isolated is a Consumer
// in a fresh group, subscribed from the beginning, with readUncommitted set
// either way (kafkajs's Batch drops aborted transactions' records and
// control records).
//
// Codecs: gzip is built in; snappy (kafkajs-snappy, pure JS), lz4
// (kafkajs-lz4 over the native lz4 module) and zstd
// (@sensejs/kafkajs-zstd-support over zstd-napi) are registered here.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import LZ4Codec from 'kafkajs-lz4';
import '@sensejs/kafkajs-zstd-support';
import {
  bootstrapSecurity,
  debug,
  emit,
  group,
  isolation,
  log,
  main,
  stopSignal,
  need,
  packageVersions,
  parseConfig,
  parseEnds,
  pool,
  readRecords,
  readTxns,
  recordOut,
} from './common.mjs';

const { Kafka, AssignerProtocol, CompressionTypes, CompressionCodecs, ConfigResourceTypes, Partitioners, logLevel } = kafkajs;

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec;

const codecs = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

// kafkajs logs through console.log by default, which would mix with the
// JSON lines on stdout.
const logCreator = () => ({ namespace, level, label, log: entry }) => {
  const { message, ...extra } = entry;
  log(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}`);
};

// kafkajsSecurity is kafkajs's sasl and ssl settings for librdkafka's
// security properties.
function kafkajsSecurity(props) {
  if (!props['security.protocol']) return {};
  const out = {};
  if (props['sasl.mechanism']) {
    out.sasl = { mechanism: props['sasl.mechanism'].toLowerCase(), username: props['sasl.username'], password: props['sasl.password'] };
  }
  if (props['ssl.ca.location']) out.ssl = { ca: [readFileSync(props['ssl.ca.location'], 'utf8')] };
  if (props['ssl.certificate.location']) {
    out.ssl.cert = readFileSync(props['ssl.certificate.location'], 'utf8');
    out.ssl.key = readFileSync(props['ssl.key.location'], 'utf8');
  }
  return out;
}

function client(args) {
  const [broker, security] = bootstrapSecurity(need(args, 'bootstrap'));
  return new Kafka({
    ...kafkajsSecurity(security),
    clientId: args['client-id'] ?? 'strata-compat',
    brokers: broker.split(','),
    logLevel: debug ? logLevel.DEBUG : logLevel.WARN,
    logCreator,
    // produce --failover true (failover/leader-kill): enough retries to
    // outlast an election; kafkajs refreshes metadata after each failure.
    retry: args.failover === 'true' ? { retries: 20, maxRetryTime: 2000 } : { retries: 5 },
    requestTimeout: 60000,
  });
}

// errorOut describes a kafkajs error: its protocol error's code and type
// when there is one (kafkajs wraps them in retry and aggregate errors).
function errorOut(e) {
  const seen = new Set();
  const walk = (x) => {
    if (!x || typeof x !== 'object' || seen.has(x)) return null;
    seen.add(x);
    if (x.name === 'KafkaJSProtocolError') return x;
    for (const c of [x.cause, x.originalError, ...(Array.isArray(x.errors) ? x.errors : [])]) {
      const found = walk(c);
      if (found) return found;
    }
    return null;
  };
  const p = walk(e);
  return { code: p ? p.code : -1, name: p ? p.type : e?.name, message: String(e?.message ?? e) };
}

// headerObject is kafkajs's header form: an object of name to value, an
// array of values for a repeated name. Null values cannot be written
// (kafkajs sizes header values with Buffer.byteLength).
function headerObject(headers) {
  const obj = {};
  for (const { key, value } of headers) {
    if (!(key in obj)) obj[key] = value;
    else if (Array.isArray(obj[key])) obj[key].push(value);
    else obj[key] = [obj[key], value];
  }
  return obj;
}

function headerList(obj) {
  const out = [];
  for (const [key, v] of Object.entries(obj ?? {})) {
    for (const value of Array.isArray(v) ? v : [v]) out.push({ key, value });
  }
  return out;
}

// chunks splits records into sends of at most 500 records and 512 KiB,
// so that no partition's batch nears the broker's 1 MiB limit.
function chunks(recs) {
  const out = [];
  let cur = [];
  let bytes = 0;
  recs.forEach((r, i) => {
    const size = (r.key?.length ?? 0) + (r.value?.length ?? 0) + 64;
    if (cur.length > 0 && (cur.length >= 500 || bytes + size > 512 << 10)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(i);
    bytes += size;
  });
  if (cur.length > 0) out.push(cur);
  return out;
}

// message is r in kafkajs's form, to partition unless r has one.
function message(r, partition) {
  const m = { key: r.key, value: r.value, headers: headerObject(r.headers) };
  if (r.timestamp !== undefined) m.timestamp = String(r.timestamp);
  m.partition = r.partition ?? partition?.(m);
  return m;
}

// produce writes the records with up to 4 sends in flight, or one with
// --idempotent true. kafkajs reports one base offset per partition and
// send; the partition of each record is chosen up front with kafkajs's
// default partitioner (what the producer would do itself) so that each
// record's offset is known.
async function produce(args) {
  const topic = need(args, 'topic');
  const compression = codecs[need(args, 'codec')];
  if (compression === undefined) throw new Error(`unknown codec ${args.codec}`);
  const recs = await readRecords(need(args, 'records'));
  const kafka = client(args);
  const admin = kafka.admin();
  await admin.connect();
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  await admin.disconnect();
  const partitionMetadata = meta.topics[0].partitions;
  const partitioner = Partitioners.DefaultPartitioner();
  // An idempotent producer keeps the client's 5 retries (kafkajs warns
  // that this may invalidate EoS): a broker that keeps failing a request
  // then shows its error instead of a hang.
  const idempotent = args.idempotent === 'true';
  const producer = kafka.producer({
    idempotent,
    ...(idempotent ? { maxInFlightRequests: 1 } : {}),
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    await pool(chunks(recs), idempotent ? 1 : 4, async (idx) => {
      const messages = idx.map((i) => message(recs[i], (m) => partitioner({ topic, partitionMetadata, message: m })));
      let res;
      try {
        res = await producer.send({ topic, messages, acks: -1, timeout: 30000, compression });
      } catch (e) {
        const err = errorOut(e);
        for (const i of idx) emit({ i, error: err });
        return;
      }
      const base = new Map(res.map((r) => [r.partition, BigInt(r.baseOffset)]));
      const seq = new Map();
      messages.forEach((m, j) => {
        const n = seq.get(m.partition) ?? 0n;
        seq.set(m.partition, n + 1n);
        emit({ i: idx[j], p: m.partition, o: Number(base.get(m.partition) + n) });
      });
    });
  } finally {
    await producer.disconnect();
  }
}

// produceTxns is produce-txns (see common.mjs). kafkajs sends two
// InitProducerIds: one at connect for its idempotent sends (unused here),
// one with the transactional id at the first transaction(). Each
// transaction is AddPartitionsToTxn with its first send, then EndTxn at
// commit() or abort().
async function produceTxns(args) {
  const topic = need(args, 'topic');
  const txns = await readTxns(need(args, 'txns'));
  // 5 retries, as produce --idempotent true.
  const producer = client(args).producer({
    transactionalId: need(args, 'transactional-id'),
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    for (const [i, tx] of txns.entries()) {
      let delivered = 0;
      try {
        const txn = await producer.transaction();
        for (const idx of chunks(tx.records)) {
          const messages = idx.map((j) => message(tx.records[j]));
          await txn.send({ topic, messages, acks: -1, timeout: 30000 });
          delivered += messages.length;
        }
        await (tx.commit ? txn.commit() : txn.abort());
      } catch (e) {
        emit({ txn: i, commit: tx.commit, delivered, error: errorOut(e) });
        return;
      }
      emit({ txn: i, commit: tx.commit, delivered, error: null });
    }
  } finally {
    await producer.disconnect();
  }
}

// consumeIsolated is consume-isolated (see common.mjs): a Consumer in a
// fresh group (kafkajs has no consumer without one), subscribed from the
// beginning, printing --partition's records until it has --count. A crash
// or a minute without a record ends it with an error.
async function consumeIsolated(args) {
  const topic = need(args, 'topic');
  const partition = Number(need(args, 'partition'));
  const count = Number(need(args, 'count'));
  const consumer = client(args).consumer({
    groupId: `strata-compat-isolated-${randomUUID()}`,
    readUncommitted: !isolation(args),
    maxWaitTimeInMs: 200,
  });
  let n = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  let idle = setTimeout(() => finish(new Error('no records for 60000 ms')), 60000);
  consumer.on(consumer.events.CRASH, ({ payload }) => finish(payload.error));
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition: p, message: m }) => {
        if (p !== partition || n >= count) return;
        emitRecord(p, m);
        clearTimeout(idle);
        idle = setTimeout(() => finish(new Error('no records for 60000 ms')), 60000);
        if (++n === count) finish();
      },
    });
    const err = await finished;
    if (err) emit({ error: errorOut(err) });
  } finally {
    clearTimeout(idle);
    await consumer.disconnect();
  }
}

// clusterOf returns the Cluster that kafkajs's Consumer would build (it is
// created by a private method of the Kafka object).
async function clusterOf(kafka) {
  const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (!sym) throw new Error('kafkajs internals changed: no private:Kafka:createCluster');
  const cluster = kafka[sym]({ allowAutoTopicCreation: false, isolationLevel: 0 });
  await cluster.connect();
  return cluster;
}

// fetchFrom reads each partition in from (partition -> offset) up to its
// end offset in ends, calling onRecord in offset order per partition;
// onRecord returning false stops that partition. Records before the fetch
// offset (a batch is returned whole) and control records are skipped, as
// kafkajs's Consumer does. A minute without progress is an error.
async function fetchFrom(cluster, topic, from, ends, onRecord) {
  await cluster.addTargetTopic(topic);
  const leaders = new Map(cluster.findTopicPartitionMetadata(topic).map((p) => [p.partitionId, p.leader]));
  const next = new Map([...from].filter(([p, o]) => o < ends.get(p)));
  let progress = Date.now();
  while (next.size > 0) {
    if (Date.now() - progress > 60000) throw new Error(`no progress for a minute at ${JSON.stringify([...next])}`);
    const byLeader = new Map();
    for (const [p, o] of next) {
      const l = leaders.get(p);
      if (l === undefined) throw new Error(`partition ${p} of ${topic} has no leader in metadata`);
      if (!byLeader.has(l)) byLeader.set(l, []);
      byLeader.get(l).push({ partition: p, fetchOffset: String(o), maxBytes: 1 << 20 });
    }
    for (const [nodeId, partitions] of byLeader) {
      const broker = await cluster.findBroker({ nodeId: String(nodeId) });
      const resp = await broker.fetch({
        isolationLevel: 0,
        maxWaitTime: 200,
        minBytes: 1,
        maxBytes: 8 << 20,
        topics: [{ topic, partitions }],
      });
      for (const t of resp.responses) {
        for (const pd of t.partitions) {
          if (pd.errorCode !== 0) throw new Error(`fetch ${topic}/${pd.partition}: error code ${pd.errorCode}`);
          for (const m of pd.messages) {
            const o = Number(m.offset);
            if (!next.has(pd.partition) || o < next.get(pd.partition)) continue;
            next.set(pd.partition, o + 1);
            progress = Date.now();
            const more = m.isControlRecord || onRecord(pd.partition, m);
            if (more === false || o + 1 >= ends.get(pd.partition)) {
              next.delete(pd.partition);
            }
          }
        }
      }
    }
  }
}

const emitRecord = (p, m) =>
  emit(recordOut(p, m.offset, m.key, m.value, headerList(m.headers), m.timestamp));

async function consume(args) {
  const topic = need(args, 'topic');
  const ends = parseEnds(need(args, 'ends'));
  const cluster = await clusterOf(client(args));
  try {
    const from = new Map([...ends.keys()].map((p) => [p, 0]));
    await fetchFrom(cluster, topic, from, ends, (p, m) => emitRecord(p, m));
  } finally {
    await cluster.disconnect();
  }
}

// offsetsForTimes prints {"ts", "offset"} for each of --times: the offset
// kafkajs's admin finds in --partition (ListOffsets by timestamp; kafkajs
// answers the end offset when no record is that late).
async function offsetsForTimes(args) {
  const topic = need(args, 'topic');
  const partition = Number(need(args, 'partition'));
  const admin = client(args).admin();
  await admin.connect();
  try {
    for (const ts of need(args, 'times').split(',').map(Number)) {
      const found = (await admin.fetchTopicOffsetsByTimestamp(topic, ts)).find((o) => o.partition === partition);
      emit({ ts, offset: Number(found.offset) });
    }
  } finally {
    await admin.disconnect();
  }
}

// readAt prints the first record read from --partition at --offset (a
// Consumer's seek, done by fetching from there).
async function readAt(args) {
  const topic = need(args, 'topic');
  const partition = Number(need(args, 'partition'));
  const kafka = client(args);
  const admin = kafka.admin();
  await admin.connect();
  const high = (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition);
  await admin.disconnect();
  const cluster = await clusterOf(kafka);
  try {
    const from = new Map([[partition, Number(need(args, 'offset'))]]);
    await fetchFrom(cluster, topic, from, new Map([[partition, Number(high.high)]]), (p, m) => {
      emitRecord(p, m);
      return false;
    });
  } finally {
    await cluster.disconnect();
  }
}

// groupConsume is group-consume (see common.mjs). kafkajs has no revoke
// callback: a rebalance it starts is reported as the loss of every
// partition held (its rebalances are eager), then GROUP_JOIN gives the
// new assignment.
async function groupConsume(args) {
  const stop = stopSignal();
  const topic = need(args, 'topic');
  const consumer = client(args).consumer({
    groupId: need(args, 'group'),
    sessionTimeout: Number(args['session-timeout-ms'] ?? 6000),
    rebalanceTimeout: Number(args['rebalance-timeout-ms'] ?? 15000),
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
  });
  let held = [];
  const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events;
  consumer.on(GROUP_JOIN, ({ payload }) => {
    held = payload.memberAssignment[topic] ?? [];
    group.partitions('assigned', held);
  });
  consumer.on(REBALANCING, () => {
    if (held.length > 0) group.partitions('revoked', held);
    held = [];
  });
  consumer.on(CRASH, ({ payload }) => group.log(`consumer crashed: ${errorOut(payload.error).message}`));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  if (args.commit === 'true') {
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: commitBatch(topic) });
  } else {
    await consumer.run({ eachMessage: async ({ partition, message: m }) => group.record(partition, m.offset, m.key) });
  }
  await stop.done;
  await consumer.disconnect(); // waits for the batch in hand, then leaves
  group.log('left the group');
}

// commitBatch is eachBatch with a commit after processing: it prints the
// batch's records, resolving each (the next fetch starts after the last
// resolved offset), then commits the offset after the last one. The commit
// goes through the batch's commitOffsetsIfNecessary, which commits given
// offsets as they are: the consumer's commitOffsets silently skips the
// commit once the consumer is stopping, which would leave the last batch
// of a member that leaves uncommitted.
const commitBatch = (topic) => async ({ batch, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale }) => {
  let next;
  for (const m of batch.messages) {
    if (!isRunning() || isStale()) break;
    group.record(batch.partition, m.offset, m.key);
    resolveOffset(m.offset);
    next = Number(m.offset) + 1;
  }
  if (next === undefined) return;
  try {
    await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition: batch.partition, offset: String(next) }] }] });
    group.commit(batch.partition, next);
  } catch (e) {
    group.log(`commit of partition ${batch.partition} failed: ${errorOut(e).message}`);
  }
};

// describeGroups is describe-groups (see common.mjs): members' assignments
// decoded with kafkajs's consumer protocol decoder.
async function describeGroups(admin, args) {
  const topic = need(args, 'topic');
  const res = await admin.describeGroups([need(args, 'group')]);
  return {
    groups: res.groups.map((g) => ({
      group: g.groupId,
      state: g.state,
      protocol_type: g.protocolType,
      protocol: g.protocol,
      error: g.errorCode ? { code: g.errorCode, name: 'error', message: '' } : null,
      members: g.members.map((m) => {
        const a = m.memberAssignment?.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        return {
          member_id: m.memberId,
          client_id: m.clientId,
          client_host: m.clientHost,
          partitions: [...(a?.assignment?.[topic] ?? [])].sort((x, y) => x - y),
        };
      }),
    })),
  };
}

// withAdmin runs fn with a connected admin client and prints its result,
// or {"error": ...} if it throws.
async function withAdmin(args, fn) {
  const admin = client(args).admin();
  await admin.connect();
  try {
    emit(await fn(admin));
  } catch (e) {
    emit({ error: errorOut(e) });
  } finally {
    await admin.disconnect();
  }
}

const handlers = {
  // {"versions": {package: version}}: also checks that every module loads.
  version: async () =>
    emit({ versions: packageVersions(['kafkajs', 'kafkajs-snappy', 'kafkajs-lz4', '@sensejs/kafkajs-zstd-support']) }),
  produce,
  consume,
  'produce-txns': produceTxns,
  'consume-isolated': consumeIsolated,
  'group-consume': groupConsume,
  'list-groups': (args) =>
    withAdmin(args, async (admin) => ({
      groups: (await admin.listGroups()).groups.map((g) => ({ group: g.groupId, protocol_type: g.protocolType })),
    })),
  'describe-groups': (args) => withAdmin(args, (admin) => describeGroups(admin, args)),
  'offsets-for-times': offsetsForTimes,
  'read-at': readAt,
  // {"created": bool}: kafkajs answers TOPIC_ALREADY_EXISTS with false.
  'create-topic': (args) =>
    withAdmin(args, async (admin) => ({
      created: await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: need(args, 'topic'),
            numPartitions: Number(need(args, 'partitions')),
            replicationFactor: Number(args['replication-factor'] ?? 1),
            configEntries: parseConfig(args.config).map(([name, value]) => ({ name, value })),
          },
        ],
      }),
    })),
  // {"partitions": n, "listed": bool}
  'describe-topic': (args) =>
    withAdmin(args, async (admin) => {
      const topic = need(args, 'topic');
      const listed = (await admin.listTopics()).includes(topic);
      if (!listed) return { listed };
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      return { listed, partitions: meta.topics[0].partitions.length };
    }),
  'delete-topic': (args) =>
    withAdmin(args, async (admin) => {
      await admin.deleteTopics({ topics: [need(args, 'topic')], timeout: 10000 });
      return { deleted: true };
    }),
  // {"configs": [{"name", "value", "source", "isDefault"}]}, source being
  // DescribeConfigs' config_source (5 default, 1 dynamic topic config).
  'describe-configs': (args) =>
    withAdmin(args, async (admin) => {
      const res = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: need(args, 'topic'), configNames: need(args, 'names').split(',') }],
      });
      const entries = res.resources[0].configEntries;
      return {
        configs: entries.map((c) => ({ name: c.configName, value: c.configValue, source: c.configSource, isDefault: c.isDefault })),
      };
    }),
  // AlterConfigs (kafkajs has no IncrementalAlterConfigs): sets --config.
  'alter-configs': (args) =>
    withAdmin(args, async (admin) => {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: need(args, 'topic'),
            configEntries: parseConfig(need(args, 'config')).map(([name, value]) => ({ name, value })),
          },
        ],
      });
      return { altered: true };
    }),
  // {"offsets": [{"p", "earliest", "latest"}]}
  'list-offsets': (args) =>
    withAdmin(args, async (admin) => {
      const offs = await admin.fetchTopicOffsets(need(args, 'topic'));
      return { offsets: offs.map((o) => ({ p: o.partition, earliest: Number(o.low), latest: Number(o.high) })) };
    }),
};

main(handlers, [
  'bootstrap', 'topic', 'codec', 'records', 'ends', 'partition', 'times', 'partitions', 'replication-factor', 'config', 'names', 'offset',
  'group', 'client-id', 'session-timeout-ms', 'rebalance-timeout-ms', 'commit',
  'idempotent', 'failover', 'txns', 'transactional-id', 'isolation', 'count',
]);
