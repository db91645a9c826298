#!/usr/bin/env bash
# The JavaScript clients (kafkajs and confluent-kafka-javascript) for the
# compatibility suite: the -dev packages that confluent-kafka-javascript's
# bundled librdkafka is built against (CKJS_LINKING=dynamic: its static
# build would download librdkafka's dependencies, which CI cannot), then
# `npm ci` of drivers/js, which compiles librdkafka and the native module
# (one to three minutes on two cores). Needs node >= 18 and npm.
# Idempotent: a complete node_modules (its lockfile copy as new as
# package-lock.json, the native module built, both drivers loading
# every module) is kept, and a build is cached for other checkouts.
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
complete() {
  [ -f "$native" ] && [ -f "$lock" ] && [ ! "$dir/package-lock.json" -nt "$lock" ] &&
    node "$dir/kafkajs.mjs" version >/dev/null 2>&1 && node "$dir/ckjs.mjs" version >/dev/null 2>&1
}
complete && exit 0

# A built node_modules is kept outside the checkout, keyed by the lockfile,
# node's version and the machine, so that a fresh clone on the same machine
# (CI) copies it in seconds instead of compiling for minutes. The native
# module finds its librdkafka relative to itself ($ORIGIN), so a copy works.
key=$( { cat "$dir/package-lock.json"; node --version; uname -m; } | sha256sum | cut -c1-16)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/strata/js/$key"
if [ -d "$cache/node_modules" ]; then
  rm -rf "$dir/node_modules"
  cp -a "$cache/node_modules" "$dir/node_modules"
  touch "$lock"
  complete && exit 0
  echo "node.sh: cached node_modules in $cache does not load; reinstalling" >&2
fi

cd "$dir"
# node-gyp compiles against the installed node's headers instead of
# downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
CKJS_LINKING=dynamic npm ci --no-audit --no-fund --loglevel=error

# Keep this build for the next clone; a failed copy only costs the cache.
{
  rm -rf "$cache.tmp" && mkdir -p "$cache.tmp" &&
    cp -a "$dir/node_modules" "$cache.tmp/node_modules" &&
    rm -rf "$cache" && mv "$cache.tmp" "$cache" &&
    find "$(dirname "$cache")" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
} || echo "node.sh: could not cache node_modules in $cache" >&2
