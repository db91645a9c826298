"""confluent-kafka-python (on librdkafka) driver of the compatibility suite.

Subcommands and their output are described in common.py and python_test.go.
The producer runs with acks=all and idempotence off unless told otherwise
(--conf enable.idempotence=true); produce-txns uses a transactional
producer (transactional.id, init_transactions, begin_transaction,
commit_transaction, abort_transaction), and consume-isolated sets
isolation.level explicitly (librdkafka's default is read_committed). The
consumer of the record subcommands assigns partitions directly (no group is
joined: group.id is only set because the client asks for one, and nothing is
committed); group-consume subscribes in a group with librdkafka's default
assignors (range, roundrobin: eager rebalances) and, with --commit,
commits synchronously after processing each batch (auto-commit otherwise).
This version has no list_consumer_groups or describe_consumer_groups; its
list_groups (ListGroups, then DescribeGroups for each group) serves both
list-groups and describe-groups.
"""

import ctypes
import sys

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

import common


def err_json(err):
    """A KafkaError (or an exception carrying one) as the suite's error dict."""
    if isinstance(err, KafkaException) and err.args and isinstance(err.args[0], KafkaError):
        err = err.args[0]
    if isinstance(err, KafkaError):
        return {'code': err.code(), 'name': err.name(), 'message': err.str()}
    return {'code': -1, 'name': type(err).__name__, 'message': str(err)}


# confluent-kafka-python before 1.8.2 returns None header values from
# Message.headers() without taking a reference to None (its issue #1191);
# after enough of them CPython (before 3.12) aborts with "deallocating
# None". headers() below takes the missing references.
HEADERS_LEAK_NONE = tuple(int(x) for x in confluent_kafka.version()[0].split('.')[:3]) < (1, 8, 2)


def headers(m):
    hs = m.headers()
    if HEADERS_LEAK_NONE and hs:
        for _, v in hs:
            if v is None:
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    return hs


def base_conf(args):
    servers, security = common.bootstrap_security(args.bootstrap)
    conf = {'bootstrap.servers': servers, 'client.id': 'strata-compat-ck'}
    conf.update(security)
    if common.debug():
        conf['debug'] = 'broker,protocol,topic,msg,fetch'
    conf.update(common.parse_kv(args.conf))
    return conf


def produce(args):
    conf = base_conf(args)
    conf.setdefault('acks', 'all')
    conf.setdefault('enable.idempotence', False)
    conf.setdefault('linger.ms', 5)
    conf.setdefault('compression.type', args.codec)
    p = Producer(conf)
    results = {}

    def report(i):
        def cb(err, msg):
            if err is not None:
                results[i] = {'i': i, 'error': err_json(err)}
            else:
                results[i] = {'i': i, 'partition': msg.partition(), 'offset': msg.offset()}
        return cb

    n = 0
    for i, r in enumerate(common.read_records(args.infile)):
        err = send(p, args.topic, r, report(i))
        if err is not None:  # refused before sending (e.g. too large)
            results[i] = {'i': i, 'error': err, 'local': True}
        n += 1
    left = p.flush(args.timeout)
    if left:
        sys.exit('ck produce: %d records still undelivered after %.0fs' % (left, args.timeout))
    for i in range(n):
        common.emit(results[i])


def send(p, topic, r, on_delivery):
    """Hands record r to producer p, waiting while its queue is full; returns
    the error if the client refuses the record before sending, else None."""
    kw = {'key': r['key'], 'value': r['value'], 'on_delivery': on_delivery}
    if r['headers']:
        kw['headers'] = r['headers']
    if r['partition'] is not None:
        kw['partition'] = r['partition']
    if r['timestamp'] is not None:
        kw['timestamp'] = r['timestamp']
    while True:
        try:
            p.produce(topic, **kw)
            break
        except BufferError:  # local queue full: serve callbacks, retry
            p.poll(0.1)
        except KafkaException as e:
            return err_json(e)
    p.poll(0)
    return None


def produce_txns(args):
    """Runs the transactions of --in with one transactional producer (see
    common.py). Each transaction's records are flushed before it ends:
    abort_transaction purges records still queued, and the suite wants the
    aborted records in the log, for read_uncommitted consumers to see."""
    conf = base_conf(args)
    conf.update({'transactional.id': args.transactional_id, 'acks': 'all', 'linger.ms': 5})
    p = Producer(conf)
    try:
        p.init_transactions(args.timeout)
    except KafkaException as e:
        common.emit({'txn': -1, 'error': err_json(e)})
        return
    for i, tx in enumerate(common.read_txns(args.infile)):
        delivered, errors = [], []

        def report(err, msg):
            if err is not None:
                errors.append(err_json(err))
            else:
                delivered.append(msg.offset())

        try:
            p.begin_transaction()
            for r in tx['records']:
                err = send(p, args.topic, r, report)
                if err is not None:
                    errors.append(err)
            left = p.flush(args.timeout)
            if left:
                sys.exit('ck produce-txns: transaction %d: %d records still undelivered after %.0fs'
                         % (i, left, args.timeout))
            if tx['commit']:
                p.commit_transaction(args.timeout)
            else:
                p.abort_transaction(args.timeout)
        except KafkaException as e:
            errors.insert(0, err_json(e))
        common.emit({'txn': i, 'commit': tx['commit'], 'delivered': len(delivered),
                     'error': errors[0] if errors else None})
        if errors:
            return


def consumer(args, **extra):
    conf = base_conf(args)
    conf.update({'group.id': 'strata-compat-ck', 'enable.auto.commit': False,
                 'enable.auto.offset.store': False, 'fetch.wait.max.ms': 200})
    conf.update(extra)
    return Consumer(conf)


def consume(args):
    ends = {p: e for p, e in common.parse_ends(args.ends).items() if e > 0}
    c = consumer(args)
    c.assign([TopicPartition(args.topic, p, confluent_kafka.OFFSET_BEGINNING) for p in ends])
    deadline = common.Deadline(args.timeout)
    while ends:
        if deadline.expired():
            sys.exit('ck consume: timed out with partitions %s unfinished' % sorted(ends))
        # consume returns when it has num_messages or after timeout: keep
        # the wait short, or every call ends with a full timeout.
        for m in c.consume(num_messages=1000, timeout=0.1):
            if m.error() is not None:
                common.emit({'error': err_json(m.error())})
                c.close()
                return
            common.emit(common.record_out(m.partition(), m.offset(), m.key(), m.value(), headers(m)))
            if m.offset() >= ends.get(m.partition(), 0) - 1:
                ends.pop(m.partition(), None)
    c.close()


def consume_isolated(args):
    """Reads --partition from offset 0 with isolation.level --isolation
    until it has --count records or reaches the partition's end (see
    common.py): the end offset for read_uncommitted, the last stable offset
    for read_committed."""
    c = consumer(args, **{'isolation.level': args.isolation, 'enable.partition.eof': True})
    c.assign([TopicPartition(args.topic, args.partition, confluent_kafka.OFFSET_BEGINNING)])
    deadline = common.Deadline(args.timeout)
    n = 0
    while n < args.count:
        if deadline.expired():
            sys.exit('ck consume-isolated: timed out after %d of %d records' % (n, args.count))
        for m in c.consume(num_messages=args.count - n, timeout=0.1):
            if m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF:
                c.close()
                return
            if m.error() is not None:
                common.emit({'error': err_json(m.error())})
                c.close()
                return
            common.emit(common.record_out(m.partition(), m.offset(), m.key(), m.value(), headers(m)))
            n += 1
    c.close()


def offsets_for_times(args):
    """For each time, the offset offsets_for_times gives (null if none)."""
    c = consumer(args)
    for ms in [int(t) for t in args.times.split(',')]:
        tp, = c.offsets_for_times([TopicPartition(args.topic, args.partition, ms)], timeout=args.timeout)
        if tp.error is not None:
            common.emit({'time': ms, 'error': err_json(tp.error)})
        else:
            common.emit({'time': ms, 'offset': None if tp.offset < 0 else tp.offset})
    c.close()


def read_at(args):
    """Assigns the partition at --offset and prints the first record read."""
    c = consumer(args)
    c.assign([TopicPartition(args.topic, args.partition, args.offset)])
    deadline = common.Deadline(args.timeout)
    while not deadline.expired():
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error() is not None:
            common.emit({'error': err_json(m.error())})
        else:
            common.emit(common.record_out(m.partition(), m.offset(), m.key(), m.value(), headers(m),
                                          m.timestamp()[1]))
        c.close()
        return
    sys.exit('ck read-at: nothing read from offset %d in %.0fs' % (args.offset, args.timeout))


def list_offsets(args):
    """get_watermark_offsets(cached=False) asks the broker (ListOffsets) for
    the earliest and latest offsets."""
    c = consumer(args)
    low, high = c.get_watermark_offsets(TopicPartition(args.topic, args.partition), timeout=args.timeout, cached=False)
    common.emit({'earliest': low, 'latest': high})
    c.close()


def admin(args):
    return AdminClient(base_conf(args))


def future_error(fut, timeout):
    try:
        fut.result(timeout)
    except KafkaException as e:
        return err_json(e)
    return None


def create_topic(args):
    nt = NewTopic(args.topic, num_partitions=args.partitions, replication_factor=args.replication_factor,
                  config=common.parse_kv(args.config))
    a = admin(args)  # kept referenced: a collected client fails its futures
    fut = a.create_topics([nt], request_timeout=args.timeout)[args.topic]
    common.emit({'error': future_error(fut, args.timeout)})


def describe_topic(args):
    md = admin(args).list_topics(timeout=args.timeout)
    t = md.topics.get(args.topic)
    if t is None:
        common.emit({'exists': False, 'partitions': 0})
    elif t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        common.emit({'exists': False, 'partitions': 0})
    else:
        common.emit({'exists': True, 'partitions': len(t.partitions),
                     'error': None if t.error is None else err_json(t.error)})


def delete_topic(args):
    a = admin(args)
    fut = a.delete_topics([args.topic], request_timeout=args.timeout)[args.topic]
    common.emit({'error': future_error(fut, args.timeout)})


def describe_configs(args):
    res = ConfigResource(ConfigResource.Type.TOPIC, args.topic)
    a = admin(args)
    fut = a.describe_configs([res], request_timeout=args.timeout)[res]
    try:
        entries = fut.result(args.timeout)
    except KafkaException as e:
        common.emit({'error': err_json(e)})
        return
    common.emit({'configs': {name: {'value': e.value, 'source': confluent_kafka.admin.ConfigSource(e.source).name,
                                    'default': e.is_default}
                             for name, e in entries.items()}})


def alter_configs(args):
    """AlterConfigs (not incremental: this client version has no
    IncrementalAlterConfigs), so the given configs replace all overrides."""
    res = ConfigResource(ConfigResource.Type.TOPIC, args.topic, set_config=common.parse_kv(args.config))
    a = admin(args)
    fut = a.alter_configs([res], request_timeout=args.timeout)[res]
    common.emit({'error': future_error(fut, args.timeout)})


def group_consume(args):
    """A member of --group (see common.py). consume() serves rebalance
    callbacks as it collects records, so a batch may hold records of a
    partition revoked during the call (eager rebalances unassign as soon as
    on_revoke returns). With --commit they are left to the partition's next
    owner, which reads them from the last commit (processed here, they could
    no longer be committed); with auto-commit librdkafka stored their
    offsets as it handed them over and commits them on the revocation, so
    they are processed."""
    stop = common.stop_signal()
    conf = base_conf(args)
    conf.update({
        'group.id': args.group, 'client.id': args.client_id or 'strata-compat-ck', 'auto.offset.reset': 'earliest',
        'session.timeout.ms': args.session_timeout_ms, 'max.poll.interval.ms': args.rebalance_timeout_ms,
        'heartbeat.interval.ms': 1000, 'fetch.wait.max.ms': 200,
        'error_cb': lambda err: common.emit_log('client error: %s' % err),
    })
    if args.commit:
        conf.update({'enable.auto.commit': False, 'enable.auto.offset.store': False})
    owned = set()

    def on_assign(_, tps):
        owned.update(tp.partition for tp in tps)
        common.emit_partitions('assigned', [tp.partition for tp in tps])

    def on_revoke(_, tps):
        owned.difference_update(tp.partition for tp in tps)
        common.emit_partitions('revoked', [tp.partition for tp in tps])

    c = Consumer(conf)
    c.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop.is_set():
        # poll waits for the first record; consume takes those already
        # fetched without waiting (a consume with a timeout waits for
        # all 500 or the timeout, which makes members lag).
        first = c.poll(0.2)
        if first is None:
            continue
        done = {}
        for m in [first] + c.consume(num_messages=499, timeout=0):
            if m.error() is not None:
                common.emit_log('consume error: %s' % m.error())
            elif m.partition() in owned or not args.commit:
                common.emit_record(m.partition(), m.offset(), m.key())
                done[m.partition()] = m.offset() + 1
        if done and args.commit:
            commit(c, args.topic, done)
    c.close()  # leaves the group (committing stored offsets with auto-commit)
    common.emit_log('left the group')


def commit(c, topic, offsets):
    """Commits {partition: next offset} synchronously and reports what was
    committed: the commit may fail as a whole, or partition by partition."""
    try:
        res = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    except KafkaException as e:
        common.emit_log('commit failed: %s' % e)
        return
    for tp in res:
        if tp.error is not None:
            common.emit_log('commit of partition %d failed: %s' % (tp.partition, tp.error))
    common.emit_commits({tp.partition: tp.offset for tp in res if tp.error is None})


def list_groups(args):
    groups = admin(args).list_groups(timeout=args.timeout)
    common.emit({'groups': [{'group': g.id, 'protocol_type': g.protocol_type, 'state': g.state} for g in groups]})


def describe_groups(args):
    """list_groups(group) sends ListGroups and DescribeGroups; a member's
    assignment comes as the consumer protocol's bytes."""
    out = []
    for g in admin(args).list_groups(group=args.group, timeout=args.timeout):
        out.append({
            'group': g.id, 'state': g.state, 'protocol_type': g.protocol_type, 'protocol': g.protocol,
            'error': None if g.error is None else err_json(g.error),
            'members': [{'member_id': m.id, 'client_id': m.client_id, 'client_host': m.client_host,
                         'partitions': common.decode_assignment(m.assignment, args.topic)} for m in g.members],
        })
    common.emit({'groups': out})


def versions(args):
    common.emit({'client': confluent_kafka.version()[0], 'librdkafka': confluent_kafka.libversion()[0]})


COMMANDS = {
    'produce': produce, 'consume': consume, 'offsets-for-times': offsets_for_times, 'read-at': read_at,
    'list-offsets': list_offsets, 'create-topic': create_topic, 'describe-topic': describe_topic,
    'delete-topic': delete_topic, 'describe-configs': describe_configs, 'alter-configs': alter_configs,
    'version': versions, 'group-consume': group_consume, 'list-groups': list_groups,
    'describe-groups': describe_groups, 'produce-txns': produce_txns, 'consume-isolated': consume_isolated,
}

if __name__ == '__main__':
    common.run(COMMANDS, __doc__)
