"""kafka-python driver of the compatibility suite.

Subcommands and their output are described in common.py and python_test.go.
kafka-python has no idempotent producer, so acks=all is all it needs; the
consumer of the record subcommands assigns partitions directly (group_id
None: no group, no commits). group-consume subscribes in a group with the
default assignors (range, roundrobin: eager rebalances) and, with --commit,
commits synchronously after processing each batch (auto-commit otherwise);
list-groups and describe-groups
use KafkaAdminClient's list_consumer_groups and describe_consumer_groups.

Client settings come as --conf name=value with kafka-python's option names;
api_version=0.10.1 becomes (0, 10, 1). Without it the client asks the broker
(ApiVersions) and infers a broker version, which picks its request versions.
"""

import logging
import sys

import kafka
import kafka.errors as Errors
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

import common

# Kafka's DescribeConfigs config_source values.
CONFIG_SOURCES = {
    0: 'UNKNOWN_CONFIG', 1: 'DYNAMIC_TOPIC_CONFIG', 2: 'DYNAMIC_BROKER_CONFIG',
    3: 'DYNAMIC_DEFAULT_BROKER_CONFIG', 4: 'STATIC_BROKER_CONFIG', 5: 'DEFAULT_CONFIG',
    6: 'DYNAMIC_BROKER_LOGGER_CONFIG',
}


def err_json(e):
    """An exception as the suite's error dict: broker errors carry their
    Kafka code (errno) and name (message)."""
    code = getattr(e, 'errno', None)
    name = getattr(e, 'message', None) if code is not None else None
    return {'code': -1 if code is None else code, 'name': name or type(e).__name__,
            'type': type(e).__name__, 'message': str(e)}


def code_json(code, message=None):
    if code == 0:
        return None
    cls = Errors.for_code(code)
    return {'code': code, 'name': getattr(cls, 'message', cls.__name__), 'type': cls.__name__,
            'message': message or ''}


def conf_value(name, text):
    if name == 'api_version':
        return tuple(int(x) for x in text.split('.'))
    if text.lstrip('-').isdigit():
        return int(text)
    return {'true': True, 'false': False, 'none': None}.get(text.lower(), text)


def security_conf(props):
    """librdkafka's security properties as kafka-python's settings."""
    if not props:
        return {}
    conf = {'security_protocol': props['security.protocol']}
    if 'sasl.mechanism' in props:
        conf.update({'sasl_mechanism': props['sasl.mechanism'], 'sasl_plain_username': props['sasl.username'],
                     'sasl_plain_password': props['sasl.password']})
    for librdkafka, kafka_python in (('ssl.ca.location', 'ssl_cafile'), ('ssl.certificate.location', 'ssl_certfile'),
                                     ('ssl.key.location', 'ssl_keyfile')):
        if librdkafka in props:
            conf[kafka_python] = props[librdkafka]
    return conf


def base_conf(args):
    servers, security = common.bootstrap_security(args.bootstrap)
    conf = {'bootstrap_servers': servers.split(','), 'client_id': 'strata-compat-kp'}
    conf.update(security_conf(security))
    for k, v in common.parse_kv(args.conf).items():
        conf[k] = conf_value(k, v)
    return conf


def produce(args):
    conf = base_conf(args)
    conf.setdefault('acks', 'all')
    conf.setdefault('linger_ms', 5)
    # No retries: with several requests in flight a retry can reorder or
    # duplicate records, and the suite wants to see the first error as is.
    conf.setdefault('retries', 0)
    conf.setdefault('compression_type', None if args.codec == 'none' else args.codec)
    p = KafkaProducer(**conf)
    futures = []
    for i, r in enumerate(common.read_records(args.infile)):
        try:
            futures.append(p.send(args.topic, key=r['key'], value=r['value'], headers=r['headers'] or None,
                                  partition=r['partition'], timestamp_ms=r['timestamp']))
        except Errors.KafkaError as e:  # refused before sending (e.g. too large)
            futures.append(e)
    p.flush(args.timeout)
    p.close(args.timeout)
    for i, f in enumerate(futures):
        if isinstance(f, Exception):
            common.emit({'i': i, 'error': err_json(f), 'local': True})
        elif not f.is_done:
            sys.exit('kp produce: record %d still undelivered after %.0fs' % (i, args.timeout))
        elif f.failed():
            common.emit({'i': i, 'error': err_json(f.exception)})
        else:
            common.emit({'i': i, 'partition': f.value.partition, 'offset': f.value.offset})


def consumer(args):
    conf = base_conf(args)
    conf.update(group_id=None, enable_auto_commit=False, auto_offset_reset='earliest', fetch_max_wait_ms=200)
    return KafkaConsumer(**conf)


def consume(args):
    ends = {p: e for p, e in common.parse_ends(args.ends).items() if e > 0}
    c = consumer(args)
    c.assign([TopicPartition(args.topic, p) for p in ends])
    c.seek_to_beginning()
    deadline = common.Deadline(args.timeout)
    while ends:
        if deadline.expired():
            sys.exit('kp consume: timed out with partitions %s unfinished' % sorted(ends))
        try:
            batches = c.poll(timeout_ms=1000, max_records=10000)
        except Errors.KafkaError as e:
            common.emit({'error': err_json(e)})
            break
        for tp, msgs in batches.items():
            for m in msgs:
                common.emit(common.record_out(m.partition, m.offset, m.key, m.value, m.headers))
                if m.offset >= ends.get(m.partition, 0) - 1:
                    ends.pop(m.partition, None)
    c.close(autocommit=False)


def offsets_for_times(args):
    """For each time, the offset offsets_for_times gives (null if none)."""
    c = consumer(args)
    tp = TopicPartition(args.topic, args.partition)
    for ms in [int(t) for t in args.times.split(',')]:
        try:
            found = c.offsets_for_times({tp: ms})[tp]
        except Errors.KafkaError as e:
            common.emit({'time': ms, 'error': err_json(e)})
            continue
        common.emit({'time': ms, 'offset': None if found is None else found.offset})
    c.close(autocommit=False)


def read_at(args):
    """Seeks the partition to --offset and prints the first record read."""
    c = consumer(args)
    tp = TopicPartition(args.topic, args.partition)
    c.assign([tp])
    c.seek(tp, args.offset)
    deadline = common.Deadline(args.timeout)
    while not deadline.expired():
        try:
            msgs = c.poll(timeout_ms=1000, max_records=1).get(tp)
        except Errors.KafkaError as e:
            common.emit({'error': err_json(e)})
            break
        if msgs:
            m = msgs[0]
            common.emit(common.record_out(m.partition, m.offset, m.key, m.value, m.headers, m.timestamp))
            break
    else:
        sys.exit('kp read-at: nothing read from offset %d in %.0fs' % (args.offset, args.timeout))
    c.close(autocommit=False)


def list_offsets(args):
    """beginning_offsets and end_offsets ask the broker (ListOffsets)."""
    c = consumer(args)
    tp = TopicPartition(args.topic, args.partition)
    common.emit({'earliest': c.beginning_offsets([tp])[tp], 'latest': c.end_offsets([tp])[tp]})
    c.close(autocommit=False)


def admin(args):
    return KafkaAdminClient(**base_conf(args))


def create_topic(args):
    nt = NewTopic(args.topic, num_partitions=args.partitions, replication_factor=args.replication_factor,
                  topic_configs=common.parse_kv(args.config))
    try:  # kafka-python raises the first topic error; with one topic, that is its error
        resp = admin(args).create_topics([nt], timeout_ms=int(args.timeout * 1000))
    except Errors.KafkaError as e:
        common.emit({'error': err_json(e)})
        return
    (_, code, msg), = resp.topic_errors
    common.emit({'error': code_json(code, msg)})


def describe_topic(args):
    """Existence from the list of all topics (a Metadata request naming the
    topic could create it on brokers that auto-create), partitions from
    describe_topics."""
    a = admin(args)
    if args.topic not in a.list_topics():
        common.emit({'exists': False, 'partitions': 0})
        return
    t, = a.describe_topics([args.topic])
    common.emit({'exists': True, 'partitions': len(t['partitions']), 'error': code_json(t['error_code'])})


def delete_topic(args):
    try:
        resp = admin(args).delete_topics([args.topic], timeout_ms=int(args.timeout * 1000))
    except Errors.KafkaError as e:
        common.emit({'error': err_json(e)})
        return
    (_, code), = resp.topic_error_codes
    common.emit({'error': code_json(code)})


def describe_configs(args):
    """kafka-python 2.0.2 decodes the v1+ config_source byte as a boolean it
    calls is_default, so the source is taken from the first synonym, which
    the broker sets to the entry's own source."""
    res = ConfigResource(ConfigResourceType.TOPIC, args.topic)
    resp, = admin(args).describe_configs([res], include_synonyms=True)
    (code, msg, _, _, entries), = resp.resources
    if code != 0:
        common.emit({'error': code_json(code, msg)})
        return
    out = {}
    for name, value, _read_only, _source_as_bool, _sensitive, synonyms in entries:
        source = CONFIG_SOURCES.get(synonyms[0][2], str(synonyms[0][2])) if synonyms else None
        out[name] = {'value': value, 'source': source}
    common.emit({'configs': out})


def alter_configs(args):
    """AlterConfigs (kafka-python has no IncrementalAlterConfigs), so the
    given configs replace all overrides."""
    res = ConfigResource(ConfigResourceType.TOPIC, args.topic, configs=common.parse_kv(args.config))
    resp = admin(args).alter_configs([res])
    (code, msg, _, _), = resp.resources
    common.emit({'error': code_json(code, msg)})


class Reporter(ConsumerRebalanceListener):
    """Prints the partitions a member gains and loses."""

    def on_partitions_revoked(self, revoked):
        if revoked:  # also called, empty, before the first join
            common.emit_partitions('revoked', [tp.partition for tp in revoked])

    def on_partitions_assigned(self, assigned):
        common.emit_partitions('assigned', [tp.partition for tp in assigned])


def group_consume(args):
    """A member of --group (see common.py). poll() rebalances before it
    fetches and returns records of owned partitions only."""
    stop = common.stop_signal()
    conf = base_conf(args)
    conf.update(group_id=args.group, client_id=args.client_id or 'strata-compat-kp', auto_offset_reset='earliest',
                session_timeout_ms=args.session_timeout_ms, max_poll_interval_ms=args.rebalance_timeout_ms,
                heartbeat_interval_ms=1000, fetch_max_wait_ms=200)
    if args.commit:
        conf.update(enable_auto_commit=False)
    c = KafkaConsumer(**conf)
    c.subscribe([args.topic], listener=Reporter())
    while not stop.is_set():
        try:
            batches = c.poll(timeout_ms=200, max_records=500)
        except Errors.KafkaError as e:
            common.emit_log('poll: %r' % e)
            continue
        done = {}
        for tp, msgs in batches.items():
            for m in msgs:
                common.emit_record(m.partition, m.offset, m.key)
                done[tp] = m.offset + 1
        if not done or not args.commit:
            continue
        try:
            c.commit({tp: OffsetAndMetadata(o, '') for tp, o in done.items()})
        except Errors.KafkaError as e:  # CommitFailedError after a rebalance
            common.emit_log('commit failed: %r' % e)
            continue
        common.emit_commits({tp.partition: o for tp, o in done.items()})
    c.close()  # leaves the group (committing consumed offsets with auto-commit)
    common.emit_log('left the group')


def list_groups(args):
    groups = admin(args).list_consumer_groups()
    common.emit({'groups': [{'group': g, 'protocol_type': pt} for g, pt in groups]})


def describe_groups(args):
    """Members' assignments come decoded (protocol type "consumer")."""
    out = []
    for g in admin(args).describe_consumer_groups([args.group]):
        members = []
        for m in g.members:
            parts = m.member_assignment.partitions() if m.member_assignment else []
            members.append({'member_id': m.member_id, 'client_id': m.client_id, 'client_host': m.client_host,
                            'partitions': sorted(tp.partition for tp in parts if tp.topic == args.topic)})
        out.append({'group': g.group, 'state': g.state, 'protocol_type': g.protocol_type, 'protocol': g.protocol,
                    'error': code_json(g.error_code), 'members': members})
    common.emit({'groups': out})


def versions(args):
    """The broker version kafka-python infers from ApiVersions, and so the
    request versions it will use."""
    c = consumer(args)
    common.emit({'client': kafka.__version__, 'api_version': list(c.config['api_version'])})
    c.close(autocommit=False)


COMMANDS = {
    'produce': produce, 'consume': consume, 'offsets-for-times': offsets_for_times, 'read-at': read_at,
    'list-offsets': list_offsets, 'create-topic': create_topic, 'describe-topic': describe_topic,
    'delete-topic': delete_topic, 'describe-configs': describe_configs, 'alter-configs': alter_configs,
    'version': versions, 'group-consume': group_consume, 'list-groups': list_groups,
    'describe-groups': describe_groups,
}

if __name__ == '__main__':
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if common.debug() else logging.WARNING,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    common.run(COMMANDS, __doc__)
