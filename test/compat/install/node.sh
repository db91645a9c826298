#!/usr/bin/env bash
# The JavaScript clients (kafkajs and confluent-kafka-javascript) for the
# compatibility suite: the -dev packages that confluent-kafka-javascript's
# bundled librdkafka is built against (CKJS_LINKING=dynamic: its static
# build would download librdkafka's dependencies, which CI cannot), then
# `npm ci` of drivers/js, which compiles librdkafka and the native module
# (one to three minutes on two cores). Needs node >= 18 and npm.
# Idempotent: a complete node_modules (its lockfile copy as new as
# package-lock.json, the native module built, both drivers loading
# every module) is kept.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../drivers/js" && pwd)"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs=(build-essential python3 pkg-config libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev)
installed=$(dpkg-query -W -f='${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -c '^install ok installed$' || true)
if [ "$installed" != "${#pkgs[@]}" ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

# Node.js itself normally comes with the machine; Debian's is a fallback.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

native="$dir/node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node"
lock="$dir/node_modules/.package-lock.json"
if [ -f "$native" ] && [ -f "$lock" ] && [ ! "$dir/package-lock.json" -nt "$lock" ] &&
  node "$dir/kafkajs.mjs" version >/dev/null 2>&1 && node "$dir/ckjs.mjs" version >/dev/null 2>&1; then
  exit 0
fi
cd "$dir"
# node-gyp compiles against the installed node's headers instead of
# downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
CKJS_LINKING=dynamic npm ci --no-audit --no-fund --loglevel=error
