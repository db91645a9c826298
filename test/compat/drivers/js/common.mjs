// Shared by the drivers kafkajs.mjs and ckjs.mjs, which test/compat/js_test.go
// runs as `node <driver> <subcommand> --flag value ...`.
//
// Wire format between the Go test and a driver (JSON lines, bytes base64):
//   record in:   {"k": b64|null, "v": b64|null, "h": [{"k": name, "v": b64|null}],
//                 "p": partition (optional), "ts": epoch ms (optional)}
//   record out:  {"p": partition, "o": offset, "k", "v", "h" as above, "ts": epoch ms}
//   produced:    {"i": index in the input, "p": partition, "o": offset}
//                or {"i": index, "error": {"code": Kafka or librdkafka code, "name": ..., "message": ...}}
// Everything else a subcommand prints is one JSON object per line, described
// by the subcommand.
//
// Group subcommands (as the Python drivers have them):
//   group-consume --group G --client-id C [--session-timeout-ms N]
//   [--rebalance-timeout-ms N] [--commit true] is one member of group G: it
//   subscribes to --topic (from the earliest offset where nothing is
//   committed) and prints the line protocol of the suite's group scenarios
//   (test/compat/groups_test.go) as it goes:
//     {"ev": "record", "p": p, "o": offset, "k": key as text}   processed
//     {"ev": "commit", "p": p, "o": next offset}   a commit that succeeded
//     {"ev": "assigned"|"revoked", "ps": [p, ...]}
//     {"ev": "log", "msg": ...}                    client errors, leaving
//   With --commit it commits after processing each batch; without, the
//   client's default auto-commit runs. SIGTERM makes it finish the batch in
//   hand (and commit it), leave the group and exit 0; SIGKILL ends it
//   without either. The rebalance timeout is also the maximum poll interval
//   where the client has one.
//   list-groups prints {"groups": [{"group", "protocol_type", "state" (where
//   the client shows it)}]}; describe-groups --group G prints {"groups":
//   [{"group", "state", "protocol_type", "protocol", "error", "members":
//   [{"member_id", "client_id", "client_host", "partitions": [p, ...] of
//   --topic}]}]}.
//
// Exactly-once subcommands and options (test/compat/js_eos_test.go):
//   produce --idempotent true writes with the client's idempotent producer,
//   each send acknowledged before the next (records to one partition land
//   in input order). --failover true (failover/leader-kill,
//   test/compat/failover_test.go) lets it outlast a leader's death:
//   kafkajs retries 20 times, ckjs takes lost connections for no error.
//   produce-txns --txns FILE --transactional-id ID runs the transactions of
//   FILE, one JSON object per line {"commit": bool, "records": [record in,
//   ...]}, in order with one transactional producer: each transaction's
//   records are sent and acknowledged, then it commits or aborts. One line
//   per transaction: {"txn": index, "commit": bool, "delivered": n,
//   "error": {...}|null}; it stops at the first transaction that fails.
//   consume-isolated --partition P --isolation read_committed|read_uncommitted
//   --count N reads P from offset 0 with that isolation level until it has
//   N records, printed as record out lines (a gap of offsets does not end
//   it), or prints {"error": ...} and stops.

import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

export const debug = process.env.STRATA_TEST_LOG === 'debug';

// bootstrapSecurity splits --bootstrap, HOST:PORT or a URL that also says
// how to authenticate and encrypt (test/compat/security_test.go) with
// librdkafka's property names,
//   kafka://KEY:SECRET@HOST:PORT?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512&ssl.ca.location=CA.pem
//   kafka://HOST:PORT?security.protocol=SSL&ssl.ca.location=CA.pem&ssl.certificate.location=C.pem&ssl.key.location=K.pem
// into [HOST:PORT, librdkafka properties] ({} for a plain address).
export function bootstrapSecurity(bootstrap) {
  if (!bootstrap.startsWith('kafka://')) return [bootstrap, {}];
  const u = new URL(bootstrap);
  const props = Object.fromEntries(u.searchParams);
  if (u.username) {
    // None with SSL: a client certificate instead.
    props['sasl.username'] = decodeURIComponent(u.username);
    props['sasl.password'] = decodeURIComponent(u.password);
  }
  return [u.host, props];
}

// parse returns the subcommand and its flags; every flag takes a string.
export function parse(flags) {
  const options = {};
  for (const f of flags) options[f] = { type: 'string' };
  const { positionals, values } = parseArgs({ args: process.argv.slice(2), options, allowPositionals: true });
  if (positionals.length !== 1) throw new Error(`usage: <subcommand> ${flags.map((f) => `--${f} X`).join(' ')}`);
  return { cmd: positionals[0], args: values };
}

// need returns a required flag's value.
export function need(args, name) {
  const v = args[name];
  if (v === undefined || v === '') throw new Error(`--${name} is required`);
  return v;
}

const b64 = (s) => (s === null || s === undefined ? null : Buffer.from(s, 'base64'));
const enc = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'));

// readRecords reads a file of input records into {key, value, headers:
// [{key, value}], partition, timestamp} with Buffers (null stays null).
export async function readRecords(path) {
  const out = [];
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    out.push(recordIn(JSON.parse(line)));
  }
  return out;
}

// recordIn is an input record's JSON object with Buffers.
const recordIn = (r) => ({
  key: b64(r.k),
  value: b64(r.v),
  headers: (r.h ?? []).map((h) => ({ key: h.k, value: b64(h.v) })),
  partition: r.p,
  timestamp: r.ts,
});

// readTxns reads produce-txns' file into [{commit, records}], records as
// readRecords returns them.
export async function readTxns(path) {
  const out = [];
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const tx = JSON.parse(line);
    out.push({ commit: Boolean(tx.commit), records: (tx.records ?? []).map(recordIn) });
  }
  return out;
}

// isolation parses --isolation: true for read_committed.
export function isolation(args) {
  const level = need(args, 'isolation');
  if (level !== 'read_committed' && level !== 'read_uncommitted') {
    throw new Error(`--isolation ${level}: want read_committed or read_uncommitted`);
  }
  return level === 'read_committed';
}

// emit prints one JSON line. Node writes to a pipe synchronously on Linux;
// main() still exits from a write callback, after anything queued.
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// recordOut is a read record in the wire format; headers is a list of
// {key, value} with Buffer or null values.
export function recordOut(partition, offset, key, value, headers, timestamp) {
  return {
    p: partition,
    o: Number(offset),
    k: enc(key),
    v: enc(value),
    h: headers.map((h) => ({ k: h.key, v: enc(h.value) })),
    ts: Number(timestamp),
  };
}

// parseEnds parses --ends, a JSON object of partition -> end offset.
export function parseEnds(s) {
  const ends = new Map();
  for (const [p, end] of Object.entries(JSON.parse(s))) ends.set(Number(p), Number(end));
  return ends;
}

// parseConfig parses "name=value,name=value" into [[name, value]].
export function parseConfig(s) {
  if (!s) return [];
  return s.split(',').map((kv) => {
    const i = kv.indexOf('=');
    if (i < 0) throw new Error(`config ${kv}: want name=value`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  });
}

// log writes to stderr, which the Go test shows when a driver fails (and
// always with STRATA_TEST_LOG=debug).
export function log(...args) {
  process.stderr.write(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') + '\n');
}

// stopSignal resolves on SIGTERM, a group member's cue to finish, commit
// and leave; stopped() tells whether it has.
export function stopSignal() {
  let stopped = false;
  let resolve;
  const done = new Promise((r) => (resolve = r));
  process.on('SIGTERM', () => {
    stopped = true;
    resolve();
  });
  return { done, stopped: () => stopped };
}

// Group member lines (see above). Keys of the group scenarios are text.
export const group = {
  record: (p, o, key) => emit({ ev: 'record', p, o: Number(o), k: key == null ? null : Buffer.from(key).toString('utf8') }),
  commit: (p, o) => emit({ ev: 'commit', p, o: Number(o) }),
  partitions: (ev, ps) => emit({ ev, ps: [...ps].sort((a, b) => a - b) }),
  log: (msg) => emit({ ev: 'log', msg }),
};

// main runs the subcommand's handler and exits: 0 after its output is
// flushed, 1 with the error on stderr. A watchdog ends a driver that hangs
// (the Go test also kills it).
export function main(handlers, flags) {
  const watchdog = setTimeout(() => {
    log('driver: timed out after 5 minutes');
    process.exit(3);
  }, 5 * 60 * 1000);
  watchdog.unref();
  (async () => {
    const { cmd, args } = parse(flags);
    const h = handlers[cmd];
    if (!h) throw new Error(`unknown subcommand ${cmd}; have ${Object.keys(handlers).join(', ')}`);
    await h(args);
  })().then(
    () => process.stdout.write('', () => process.exit(0)),
    (e) => {
      log('driver failed:', e?.stack ?? String(e));
      process.stdout.write('', () => process.exit(1));
    },
  );
}

// pool runs fn over items with at most n in flight, in order of start.
export async function pool(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

// packageVersions returns the installed versions of the named packages.
export function packageVersions(names) {
  const out = {};
  for (const n of names) {
    const url = new URL(`./node_modules/${n}/package.json`, import.meta.url);
    out[n] = JSON.parse(readFileSync(url, 'utf8')).version;
  }
  return out;
}
