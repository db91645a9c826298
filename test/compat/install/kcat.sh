#!/usr/bin/env bash
# kcat: librdkafka's command-line client, from Debian.
set -euo pipefail
command -v kcat >/dev/null 2>&1 && exit 0
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
