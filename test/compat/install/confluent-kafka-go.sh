#!/usr/bin/env bash
# confluent-kafka-go: a Go module (go.mod) that links the librdkafka it
# bundles as a static library, so it needs cgo: a C compiler and libc headers.
set -euo pipefail
command -v gcc >/dev/null 2>&1 && [ -e /usr/include/stdlib.h ] && exit 0
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
