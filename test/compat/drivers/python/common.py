"""Shared plumbing of the Python client drivers (ck.py, kp.py).

The Go suite (test/compat/python_test.go) runs a driver as
    /usr/bin/python3 DRIVER SUBCOMMAND --bootstrap HOST:PORT --topic T [options]
and reads its stdout: one JSON object per line. Bytes travel as base64
strings and null as JSON null, so keys, values and header values may be
arbitrary bytes and null stays distinct from empty.

Record input (produce --in FILE), one JSON object per line:
    {"key": b64|null, "value": b64|null,
     "headers": [{"key": name, "value": b64|null}, ...] (optional),
     "partition": int (optional), "timestamp": ms (optional)}
Consumed records are printed in the same form with "partition" and
"offset" (and "timestamp" where asked for).
produce prints one line per input record, in input order:
    {"i": index, "partition": p, "offset": o} when acknowledged, or
    {"i": index, "error": {...}, "local": true if the client refused it
     before sending (only where the client tells)}.
Errors are reported as {"code": int, "name": str, "message": str}, code being
the Kafka error code where the client gives one (-1 otherwise).

Group subcommands:
    group-consume --group G --client-id C [--session-timeout-ms N]
    [--rebalance-timeout-ms N] [--commit] is one member of group G: it
    subscribes to the topic (from the earliest offset where nothing is
    committed) and prints the line protocol of the suite's group scenarios
    (test/compat/groups_test.go) as it goes, one JSON line each, unbuffered:
        {"ev": "record", "p": p, "o": offset, "k": key as text}   processed
        {"ev": "commit", "p": p, "o": next offset}   a commit that succeeded
        {"ev": "assigned"|"revoked", "ps": [p, ...]}
        {"ev": "log", "msg": ...}                    client errors, leaving
    With --commit it commits synchronously after processing each batch;
    without, the client's default auto-commit runs. SIGTERM makes it finish
    the batch in hand (and commit it), leave the group and exit 0; SIGKILL
    ends it without either. The rebalance timeout is the client's maximum
    poll interval.
    list-groups prints {"groups": [{"group": G, "protocol_type": ..., "state":
    ... (where the client shows it)}, ...]}; describe-groups --group G prints
    {"groups": [{"group", "state", "protocol_type", "protocol", "error",
    "members": [{"member_id", "client_id", "client_host", "partitions":
    [p, ...] of --topic}]}]}.

Exactly-once subcommands (test/compat/python_eos_test.go; confluent-kafka-python
only):
    produce-txns --in FILE --transactional-id ID runs the transactions of
    FILE, one JSON object per line {"commit": bool, "records": [record,
    ...]} (records as produce's input), in order with one transactional
    producer. Each transaction's records are flushed, so they are in the
    log before the transaction ends, then it commits or aborts. One line per
    transaction: {"txn": index, "commit": bool, "delivered": n, "error":
    {...}|null}; it stops at the first transaction that fails.
    consume-isolated --isolation read_committed|read_uncommitted --count N
    reads --partition from offset 0 with that isolation level until it has N
    records or reaches the partition's end, and prints them as consume does
    (a gap of offsets does not end it), or prints {"error": ...} and stops.

--bootstrap is HOST:PORT, or a URL that also says how to authenticate and
encrypt (test/compat/security_test.go), with librdkafka's property names:
    kafka://KEY:SECRET@HOST:PORT?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512&ssl.ca.location=CA.pem
bootstrap_security splits it into HOST:PORT and librdkafka properties; each
driver turns those into its client's settings.

A driver exits 0 when it ran its subcommand to the end, even if the broker
refused something (that is reported in the output for Go to check), and
non-zero with a message on stderr when it could not (bad arguments, a
timeout, an unexpected exception).
"""

import argparse
import base64
import json
import os
import signal
import struct
import sys
import threading
import time
import urllib.parse


def b64(data):
    return None if data is None else base64.b64encode(data).decode('ascii')


def unb64(text):
    return None if text is None else base64.b64decode(text)


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')


def read_records(path):
    """Yields the records of a JSON-lines file as dicts with bytes fields."""
    with open(path, 'rb') as f:
        for line in f:
            if not line.strip():
                continue
            yield record_in(json.loads(line))


def record_in(r):
    """An input record's JSON object as a dict with bytes fields."""
    return {
        'key': unb64(r.get('key')),
        'value': unb64(r.get('value')),
        'headers': [(h['key'], unb64(h['value'])) for h in (r.get('headers') or [])],
        'partition': r.get('partition'),
        'timestamp': r.get('timestamp'),
    }


def read_txns(path):
    """Yields the transactions of a JSON-lines file (produce-txns) as dicts
    {"commit": bool, "records": [record dict, ...]}."""
    with open(path, 'rb') as f:
        for line in f:
            if not line.strip():
                continue
            tx = json.loads(line)
            yield {'commit': bool(tx['commit']), 'records': [record_in(r) for r in tx['records']]}


def record_out(partition, offset, key, value, headers, timestamp=None):
    """A consumed record as a JSON-ready dict."""
    out = {'partition': partition, 'offset': offset, 'key': b64(key), 'value': b64(value),
           'headers': [{'key': k, 'value': b64(v)} for k, v in (headers or [])]}
    if timestamp is not None:
        out['timestamp'] = timestamp
    return out


def parse_ends(text):
    """"0:10,1:0" -> {0: 10, 1: 0}"""
    ends = {}
    for part in filter(None, text.split(',')):
        p, end = part.split(':')
        ends[int(p)] = int(end)
    return ends


def parse_kv(items):
    """["a=1", "b=2"] -> {"a": "1", "b": "2"}"""
    out = {}
    for item in items or []:
        k, _, v = item.partition('=')
        out[k] = v
    return out


def bootstrap_security(bootstrap):
    """"kafka://u:p@h:1?security.protocol=..." -> ("h:1", {"security.protocol": ...,
    "sasl.mechanism": ..., "sasl.username": "u", "sasl.password": "p",
    "ssl.ca.location": ...}); "h:1" -> ("h:1", {})."""
    if not bootstrap.startswith('kafka://'):
        return bootstrap, {}
    u = urllib.parse.urlsplit(bootstrap)
    props = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
    if u.username is not None:  # none with SSL: a client certificate instead
        props['sasl.username'] = urllib.parse.unquote(u.username)
        props['sasl.password'] = urllib.parse.unquote(u.password)
    return u.netloc.rpartition('@')[2], props


def debug():
    return os.environ.get('STRATA_TEST_LOG') == 'debug'


class Deadline:
    """A time limit for loops that wait on the broker: a driver must fail
    with a message rather than hang until Go kills it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def expired(self):
        return self.left() <= 0


def stop_signal():
    """An Event set on SIGTERM: a group member's cue to finish, commit and
    leave. Line-buffers stdout, since the test follows a member's lines as
    they come and a line written before a SIGKILL must reach it."""
    sys.stdout.reconfigure(line_buffering=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def emit_record(partition, offset, key):
    """A processed record; the scenarios' keys are text."""
    emit({'ev': 'record', 'p': partition, 'o': offset, 'k': None if key is None else key.decode('utf-8', 'replace')})


def emit_commits(offsets):
    """A successful commit of {partition: next offset}."""
    for p, o in sorted(offsets.items()):
        emit({'ev': 'commit', 'p': p, 'o': o})


def emit_partitions(ev, partitions):
    """"assigned" or "revoked" partitions."""
    emit({'ev': ev, 'ps': sorted(partitions)})


def emit_log(msg):
    emit({'ev': 'log', 'msg': msg})


def decode_assignment(data, topic):
    """The partitions of topic in a consumer protocol assignment: int16
    version, [topic string, [int32 partition]], user data (ignored)."""
    if not data:
        return []
    pos = 2
    out = []
    (n,) = struct.unpack_from('>i', data, pos)
    pos += 4
    for _ in range(max(n, 0)):
        (ln,) = struct.unpack_from('>h', data, pos)
        name = data[pos + 2:pos + 2 + ln].decode()
        pos += 2 + ln
        (np,) = struct.unpack_from('>i', data, pos)
        pos += 4
        parts = list(struct.unpack_from('>%di' % max(np, 0), data, pos))
        pos += 4 * max(np, 0)
        if name == topic:
            out.extend(parts)
    return sorted(out)


def parser(description):
    """The argument parser every driver shares; subcommands that do not use
    an option ignore it."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument('command')
    p.add_argument('--bootstrap', required=True)
    p.add_argument('--topic', required=True)
    p.add_argument('--codec', default='none')
    p.add_argument('--in', dest='infile')
    p.add_argument('--ends', default='', help='partition:end offset, comma separated')
    p.add_argument('--partition', type=int, default=0)
    p.add_argument('--partitions', type=int, default=1)
    p.add_argument('--replication-factor', type=int, default=1)
    p.add_argument('--offset', type=int, default=0)
    p.add_argument('--times', default='', help='timestamps in ms, comma separated')
    p.add_argument('--config', action='append', help='topic config name=value (repeatable)')
    p.add_argument('--conf', action='append', help='client setting name=value (repeatable)')
    p.add_argument('--timeout', type=float, default=60.0, help='seconds')
    p.add_argument('--group', help='consumer group id')
    p.add_argument('--client-id', help='client id of a group member')
    p.add_argument('--session-timeout-ms', type=int, default=6000)
    p.add_argument('--rebalance-timeout-ms', type=int, default=15000)
    p.add_argument('--commit', action='store_true', help='group-consume: commit after processing')
    p.add_argument('--transactional-id', help='produce-txns: the producer\'s transactional id')
    p.add_argument('--isolation', choices=['read_committed', 'read_uncommitted'],
                   help='consume-isolated: the consumer\'s isolation level')
    p.add_argument('--count', type=int, default=0, help='consume-isolated: records to read')
    return p


def run(commands, description):
    """Parses the arguments and runs the named subcommand."""
    args = parser(description).parse_args()
    fn = commands.get(args.command)
    if fn is None:
        sys.exit('unknown command %r; known: %s' % (args.command, ', '.join(sorted(commands))))
    fn(args)
    sys.stdout.flush()
