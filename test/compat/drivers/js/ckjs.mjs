// confluent-kafka-javascript driver for test/compat/js_test.go; formats in
// common.mjs.
//
// It uses the node-rdkafka style API (Producer, KafkaConsumer,
// AdminClient), whose KafkaConsumer takes a manual assign() that needs no
// group (the KafkaJS-style API's consumer must subscribe in a group and
// start from committed offsets). group-consume subscribes the same
// KafkaConsumer in a group (librdkafka's default assignors range and
// roundrobin: eager rebalances) with auto-commit or, with --commit,
// commitSync after each batch it processed; list-groups and describe-groups are the
// AdminClient's listGroups and describeGroups. Underneath is librdkafka 2.x (built by
// install/node.sh), which picks the newest versions both sides serve
// (against Strata today: Produce v10, Fetch v16 with topic ids, Metadata
// v13).
//
// Exactly-once: both of its APIs have idempotent and transactional
// producers and a consumer isolation level in 1.10 (the KafkaJS-style one
// maps idempotent, transactionalId and readUncommitted onto librdkafka's
// settings); this driver keeps the node-rdkafka style one.
// produce --idempotent true sets enable.idempotence; produce-txns is a
// transactional Producer (transactional.id, initTransactions,
// beginTransaction, commitTransaction, abortTransaction); consume-isolated
// sets isolation.level explicitly either way (librdkafka's default is
// read_committed).
//
// librdkafka reports errors as events; any error event during an operation
// fails it, as the kcat test fails on librdkafka's error logs.

import ckjs from '@confluentinc/kafka-javascript';
import {
  bootstrapSecurity,
  debug,
  emit,
  group,
  isolation,
  log,
  main,
  need,
  packageVersions,
  parseConfig,
  parseEnds,
  readRecords,
  readTxns,
  recordOut,
  stopSignal,
} from './common.mjs';

const { Producer, KafkaConsumer, AdminClient, OffsetSpec, CODES, ConsumerGroupStates } = ckjs;

const codeNames = new Map(Object.entries(CODES.ERRORS).map(([name, code]) => [code, name]));

function errorOut(e) {
  return { code: e?.code ?? -1, name: codeNames.get(e?.code) ?? String(e?.name), message: String(e?.message ?? e) };
}

// baseConfig is shared by every client; debug contexts go to stderr with
// STRATA_TEST_LOG=debug.
function baseConfig(args, contexts) {
  const [servers, security] = bootstrapSecurity(need(args, 'bootstrap'));
  const conf = { 'bootstrap.servers': servers, 'client.id': 'strata-compat', ...security };
  if (debug) conf.debug = contexts;
  return conf;
}

// extraConfig is --conf, librdkafka settings "name=value,..." that the
// test adds.
const extraConfig = (args) => Object.fromEntries(parseConfig(args.conf));

// watch logs a client's events and collects its errors; check() throws
// the first one.
// transient matches the errors of losing the connection to a broker,
// which produce --failover true (failover/leader-kill) expects.
const transient = /transport failure|all broker connections are down|connection refused/i;

function watch(c, what, failover = false) {
  const errors = [];
  // A client in a retry loop can log thousands of lines a second: keep the
  // first ones.
  const keep = debug ? 500000 : 2000;
  let lines = 0;
  c.on('event.log', (e) => {
    if (++lines <= keep) log(`[ckjs ${what} ${e.severity} ${e.fac}] ${e.message}`);
    else if (lines % 100000 === 0) log(`[ckjs ${what}] ${lines} log lines so far, most not shown`);
  });
  c.on('event.error', (e) => {
    log(`[ckjs ${what} ERROR] ${e.code} ${e.message}`);
    if (!(failover && transient.test(e.message))) errors.push(e);
  });
  return {
    check() {
      if (errors.length > 0) throw errors[0];
    },
  };
}

const connect = (c) => new Promise((resolve, reject) => c.connect({ timeout: 10000 }, (err) => (err ? reject(err) : resolve())));
const disconnect = (c) => new Promise((resolve) => c.disconnect(() => resolve()));

// headerArray is ckjs's header form, a list of one-key objects; values
// must be Buffers or strings (no null). An empty Buffer would be sent as a
// null value (the native layer passes its data pointer, NULL for an empty
// Buffer, to librdkafka), so empty values go as the empty string.
const headerArray = (headers) => headers.map(({ key, value }) => ({ [key]: value.length === 0 ? '' : value }));

function headerList(arr) {
  const out = [];
  for (const h of arr ?? []) {
    for (const [key, value] of Object.entries(h)) out.push({ key, value });
  }
  return out;
}

// An empty value cannot be written: it goes out as null (see headerArray;
// a value must be a Buffer, so there is no string workaround as for
// headers).
//
// produce queues every record, then waits for all delivery reports, which
// carry each record's partition and offset (or its error). --idempotent
// true turns on librdkafka's idempotent producer.
async function produce(args) {
  const topic = need(args, 'topic');
  const recs = await readRecords(need(args, 'records'));
  const conf = {
    ...baseConfig(args, 'broker,topic,msg,protocol'),
    dr_cb: true,
    'compression.codec': need(args, 'codec'),
    acks: 'all',
    'enable.idempotence': args.idempotent === 'true',
    'linger.ms': 5,
    'queue.buffering.max.messages': 1000000,
    'queue.buffering.max.kbytes': 2097151,
  };
  if (args['max-message-bytes']) conf['message.max.bytes'] = Number(args['max-message-bytes']);
  const p = new Producer({ ...conf, ...extraConfig(args) });
  const events = watch(p, 'producer', args.failover === 'true');
  let pending = recs.length;
  let allDelivered;
  const delivered = new Promise((resolve) => (allDelivered = resolve));
  p.on('delivery-report', (err, report) => {
    if (err) emit({ i: report.opaque, error: errorOut(err) });
    else emit({ i: report.opaque, p: report.partition, o: report.offset });
    if (--pending === 0) allDelivered();
  });
  await connect(p);
  p.setPollInterval(5);
  recs.forEach((r, i) => {
    const partition = r.partition ?? null;
    p.produce(topic, partition, r.value, r.key, r.timestamp ?? null, i, headerArray(r.headers));
  });
  if (recs.length > 0) await delivered;
  events.check();
  await disconnect(p);
}

// produceTxns is produce-txns (see common.mjs). Each transaction's
// records are delivered (acknowledged) before it ends: abortTransaction
// would purge records still queued, and the suite wants them in the log.
async function produceTxns(args) {
  const topic = need(args, 'topic');
  const txns = await readTxns(need(args, 'txns'));
  const p = new Producer({
    ...baseConfig(args, 'broker,topic,msg,protocol,eos'),
    dr_cb: true,
    'transactional.id': need(args, 'transactional-id'),
    'enable.idempotence': true,
    acks: 'all',
    'linger.ms': 5,
    ...extraConfig(args),
  });
  const events = watch(p, 'transactional producer');
  let pending = 0;
  let delivered = 0;
  let failed = null;
  let allDelivered;
  p.on('delivery-report', (err) => {
    if (err) failed ??= err;
    else delivered++;
    if (--pending === 0) allDelivered();
  });
  await connect(p);
  p.setPollInterval(5);
  try {
    await call(p, 'initTransactions', 30000);
    for (const [i, tx] of txns.entries()) {
      delivered = 0;
      failed = null;
      try {
        await call(p, 'beginTransaction');
        const done = new Promise((resolve) => (allDelivered = resolve));
        pending = tx.records.length;
        for (const r of tx.records) {
          p.produce(topic, r.partition ?? null, r.value, r.key, r.timestamp ?? null, null, headerArray(r.headers));
        }
        if (tx.records.length > 0) await done;
        if (failed) throw failed;
        events.check();
        await call(p, tx.commit ? 'commitTransaction' : 'abortTransaction', 30000);
        events.check();
      } catch (e) {
        emit({ txn: i, commit: tx.commit, delivered, error: errorOut(e) });
        return;
      }
      emit({ txn: i, commit: tx.commit, delivered, error: null });
    }
  } finally {
    await disconnect(p);
  }
}

// consumer returns a connected KafkaConsumer that reads assigned
// partitions, with librdkafka settings conf added. librdkafka's C++
// KafkaConsumer requires a group.id, but with assign() instead of
// subscribe(), offsets given and no commits it sends no group request
// beyond FindCoordinator.
async function consumer(args, conf = {}) {
  const c = new KafkaConsumer(
    {
      ...baseConfig(args, 'broker,topic,fetch,protocol'),
      'group.id': 'strata-compat-unused',
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'fetch.wait.max.ms': 200,
      ...conf,
      ...extraConfig(args),
    },
    { 'auto.offset.reset': 'error' },
  );
  const events = watch(c, 'consumer');
  await connect(c);
  c.setDefaultConsumeTimeout(200);
  return { c, events };
}

const consumeBatch = (c, n) => new Promise((resolve, reject) => c.consume(n, (err, msgs) => (err ? reject(err) : resolve(msgs))));

// readUntil hands every consumed message to onMessage until finished()
// is true. It throws the first consume error or error event, or an error
// after idleMs without a message.
async function readUntil(c, events, onMessage, finished, idleMs = 60000) {
  let idle = Date.now();
  while (!finished()) {
    const msgs = await consumeBatch(c, 1000);
    events.check();
    if (msgs.length > 0) idle = Date.now();
    else if (Date.now() - idle > idleMs) throw new Error(`no records for ${idleMs} ms`);
    for (const m of msgs) onMessage(m);
  }
}

const emitMessage = (m) => emit(recordOut(m.partition, m.offset, m.key, m.value, headerList(m.headers), m.timestamp));

// consume reads each partition from 0 to its end in --ends. An error ends
// it with a last line {"error": ...}; --idle is how many seconds without a
// record count as one (default 60).
async function consume(args) {
  const topic = need(args, 'topic');
  const ends = parseEnds(need(args, 'ends'));
  const { c, events } = await consumer(args);
  const left = new Map([...ends].filter(([, end]) => end > 0));
  c.assign([...left.keys()].map((partition) => ({ topic, partition, offset: 0 })));
  try {
    await readUntil(
      c,
      events,
      (m) => {
        emitMessage(m);
        if (m.offset >= ends.get(m.partition) - 1) left.delete(m.partition);
      },
      () => left.size === 0,
      Number(args.idle ?? 60) * 1000,
    );
  } catch (e) {
    emit({ error: errorOut(e) });
  }
  await disconnect(c);
}

// consumeIsolated is consume-isolated (see common.mjs).
async function consumeIsolated(args) {
  const topic = need(args, 'topic');
  const partition = Number(need(args, 'partition'));
  const count = Number(need(args, 'count'));
  const level = isolation(args) ? 'read_committed' : 'read_uncommitted';
  const { c, events } = await consumer(args, { 'isolation.level': level });
  let n = 0;
  c.assign([{ topic, partition, offset: 0 }]);
  try {
    await readUntil(
      c,
      events,
      (m) => {
        if (n++ < count) emitMessage(m);
      },
      () => n >= count,
    );
  } catch (e) {
    emit({ error: errorOut(e) });
  }
  await disconnect(c);
}

// offsetsForTimes prints {"ts", "offset"} for each of --times: the offset
// librdkafka's offsetsForTimes finds in --partition.
async function offsetsForTimes(args) {
  const topic = need(args, 'topic');
  const partition = Number(need(args, 'partition'));
  const { c, events } = await consumer(args);
  for (const ts of need(args, 'times').split(',').map(Number)) {
    const found = await new Promise((resolve, reject) =>
      c.offsetsForTimes([{ topic, partition, offset: ts }], 10000, (err, tps) => (err ? reject(err) : resolve(tps))),
    );
    events.check();
    emit({ ts, offset: found[0].offset });
  }
  await disconnect(c);
}

// readAt prints the first record read after assigning --partition at
// --offset.
async function readAt(args) {
  const topic = need(args, 'topic');
  const partition = Number(need(args, 'partition'));
  const { c, events } = await consumer(args);
  let done = false;
  c.assign([{ topic, partition, offset: Number(need(args, 'offset')) }]);
  await readUntil(
    c,
    events,
    (m) => {
      if (!done) emitMessage(m);
      done = true;
    },
    () => done,
  );
  await disconnect(c);
}

// groupConsume is group-consume (see common.mjs). Error events are
// logged, not fatal: a member rides out rebalances and a killed peer.
async function groupConsume(args) {
  const stop = stopSignal();
  const topic = need(args, 'topic');
  const commit = args.commit === 'true';
  const conf = {
    ...baseConfig(args, 'cgrp,topic,fetch,protocol'),
    'client.id': args['client-id'] ?? 'strata-compat',
    'group.id': need(args, 'group'),
    'session.timeout.ms': Number(args['session-timeout-ms'] ?? 6000),
    'max.poll.interval.ms': Number(args['rebalance-timeout-ms'] ?? 15000),
    'heartbeat.interval.ms': 1000,
    'fetch.wait.max.ms': 200,
    ...(commit ? { 'enable.auto.commit': false, 'enable.auto.offset.store': false } : {}),
    ...extraConfig(args),
  };
  const rebalances = rebalancer();
  const c = new KafkaConsumer({ ...conf, rebalance_cb: rebalances.cb }, { 'auto.offset.reset': 'earliest' });
  rebalances.consumer = c;
  if (debug) c.on('event.log', (e) => log(`[ckjs member ${e.severity} ${e.fac}] ${e.message}`));
  c.on('event.error', (e) => group.log(`client error: ${e.message}`));
  await connect(c);
  c.setDefaultConsumeTimeout(200);
  // Wait for the first record of a batch only, not for a full batch: a
  // member that waits lags behind the records coming in.
  c.setDefaultIsTimeoutOnlyForFirstMessage(true);
  c.subscribe([topic]);
  while (!stop.stopped()) {
    rebalances.consuming = true;
    let msgs = [];
    try {
      msgs = await consumeBatch(c, 500);
    } catch (e) {
      group.log(`consume error: ${e.message}`);
    }
    rebalances.consuming = false;
    const done = new Map();
    for (const m of msgs) {
      group.record(m.partition, m.offset, m.key);
      done.set(m.partition, m.offset + 1);
    }
    if (commit && done.size > 0) commitSync(c, topic, done);
    rebalances.apply();
  }
  await disconnect(c); // closes the consumer: revokes and leaves the group
  group.log('left the group');
}

// rebalancer holds rebalance events back while a consume call is under
// way, as librdkafka's own poll loop does. librdkafka calls the callback
// inside consume(), on the thread that consumes, but JavaScript gets the
// event apart from the records, maybe before the batch consumed around it.
// Applied at once, a revocation and the next assignment of the same
// partition could both land before a batch of records fetched before the
// revocation: the member would process them as its own and commit them
// after librdkafka had already read the partition's committed offset for
// the new assignment, and would then read them again. Held back, the
// batch's records are processed and committed first, under the old
// assignment (librdkafka does not rejoin before the unassign).
function rebalancer() {
  const pending = [];
  const r = {
    consumer: null, // the KafkaConsumer, set once created
    consuming: false,
    cb: (err, assignment) => {
      pending.push({ code: err.code, assignment });
      if (!r.consuming) r.apply();
    },
    apply() {
      const c = r.consumer;
      for (const { code, assignment } of pending.splice(0)) {
        const cooperative = c.rebalanceProtocol() === 'COOPERATIVE';
        const ps = assignment.map((tp) => tp.partition);
        if (code === CODES.ERRORS.ERR__ASSIGN_PARTITIONS) {
          group.partitions('assigned', ps);
          cooperative ? c.incrementalAssign(assignment) : c.assign(assignment);
        } else {
          group.partitions('revoked', ps);
          cooperative ? c.incrementalUnassign(assignment) : c.unassign();
        }
      }
    },
  };
  return r;
}

// commitSync commits the offsets after the records processed (a Map of
// partition to next offset) and reports them, or logs why it failed.
function commitSync(c, topic, done) {
  try {
    c.commitSync([...done].map(([partition, offset]) => ({ topic, partition, offset })));
  } catch (e) {
    group.log(`commit failed: ${e.message}`);
    return;
  }
  for (const [p, o] of done) group.commit(p, o);
}

// groupStates names ConsumerGroupStates' values.
const groupStates = new Map(Object.entries(ConsumerGroupStates ?? {}).map(([name, v]) => [v, name]));

// withAdmin runs fn with an AdminClient and prints its result, or
// {"error": ...} if it fails.
async function withAdmin(args, fn) {
  const admin = AdminClient.create(baseConfig(args, 'broker,admin,protocol'));
  try {
    emit(await fn(admin));
  } catch (e) {
    emit({ error: errorOut(e) });
  } finally {
    admin.disconnect();
  }
}

// call turns a ckjs callback method into a promise.
const call = (obj, method, ...args) =>
  new Promise((resolve, reject) => obj[method](...args, (err, res) => (err ? reject(err) : resolve(res))));

const handlers = {
  // {"versions": {...}}: the package's and librdkafka's.
  version: async () =>
    emit({ versions: { ...packageVersions(['@confluentinc/kafka-javascript']), librdkafka: ckjs.librdkafkaVersion } }),
  produce,
  consume,
  'produce-txns': produceTxns,
  'consume-isolated': consumeIsolated,
  'group-consume': groupConsume,
  // librdkafka's ListConsumerGroups.
  'list-groups': (args) =>
    withAdmin(args, async (admin) => {
      const res = await call(admin, 'listGroups', { timeout: 10000 });
      if (res.errors?.length) throw res.errors[0];
      return {
        groups: res.groups.map((g) => ({ group: g.groupId, protocol_type: g.protocolType, state: groupStates.get(g.state) ?? g.state })),
      };
    }),
  // librdkafka's DescribeConsumerGroups, assignments decoded by librdkafka.
  'describe-groups': (args) =>
    withAdmin(args, async (admin) => {
      const topic = need(args, 'topic');
      const res = await call(admin, 'describeGroups', [need(args, 'group')], { timeout: 10000 });
      return {
        groups: res.groups.map((g) => ({
          group: g.groupId,
          state: groupStates.get(g.state) ?? g.state,
          protocol_type: g.protocolType,
          protocol: g.protocol,
          error: g.error ? errorOut(g.error) : null,
          members: g.members.map((m) => ({
            member_id: m.memberId,
            client_id: m.clientId,
            client_host: m.clientHost,
            partitions: (m.assignment?.topicPartitions ?? [])
              .filter((tp) => tp.topic === topic)
              .map((tp) => tp.partition)
              .sort((a, b) => a - b),
          })),
        })),
      };
    }),
  'offsets-for-times': offsetsForTimes,
  'read-at': readAt,
  // {"created": true}, or the error (TOPIC_ALREADY_EXISTS is code 36).
  'create-topic': (args) =>
    withAdmin(args, async (admin) => {
      const config = Object.fromEntries(parseConfig(args.config));
      const topic = { topic: need(args, 'topic'), num_partitions: Number(need(args, 'partitions')), replication_factor: Number(args['replication-factor'] ?? 1), config };
      await call(admin, 'createTopic', topic, 10000);
      return { created: true };
    }),
  // {"listed": bool, "partitions": n} from ListTopics (Metadata) and
  // DescribeTopics.
  'describe-topic': (args) =>
    withAdmin(args, async (admin) => {
      const topic = need(args, 'topic');
      const listed = (await call(admin, 'listTopics', { timeout: 10000 })).includes(topic);
      if (!listed) return { listed };
      const [d] = await call(admin, 'describeTopics', [topic], { timeout: 10000 });
      if (d.error) throw d.error;
      return { listed, partitions: d.partitions.length };
    }),
  'delete-topic': (args) =>
    withAdmin(args, async (admin) => {
      await call(admin, 'deleteTopic', need(args, 'topic'), 10000);
      return { deleted: true };
    }),
  // {"offsets": [{"p", "earliest", "latest"}]} from the admin ListOffsets.
  'list-offsets': (args) =>
    withAdmin(args, async (admin) => {
      const topic = need(args, 'topic');
      const [d] = await call(admin, 'describeTopics', [topic], { timeout: 10000 });
      const parts = d.partitions.map((p) => p.partition);
      const at = async (spec) =>
        new Map(
          (await call(admin, 'listOffsets', parts.map((partition) => ({ topic, partition, offset: spec })), { timeout: 10000 })).map(
            (o) => [o.partition, o.offset],
          ),
        );
      const earliest = await at(OffsetSpec.EARLIEST);
      const latest = await at(OffsetSpec.LATEST);
      return { offsets: parts.map((p) => ({ p, earliest: earliest.get(p), latest: latest.get(p) })) };
    }),
};

main(handlers, [
  'bootstrap', 'topic', 'codec', 'records', 'ends', 'partition', 'times', 'partitions', 'replication-factor', 'config', 'offset',
  'max-message-bytes', 'conf', 'idle', 'group', 'client-id', 'session-timeout-ms', 'rebalance-timeout-ms', 'commit',
  'idempotent', 'failover', 'txns', 'transactional-id', 'isolation', 'count',
]);
