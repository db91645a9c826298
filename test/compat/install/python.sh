#!/usr/bin/env bash
# Python clients, from Debian (no PyPI): confluent-kafka-python (on
# librdkafka) and kafka-python, plus the codec modules kafka-python imports
# for snappy, lz4 and zstd and the C crc32c it uses instead of its slow
# pure-Python one. Debian's modules load only in /usr/bin/python3.
set -euo pipefail
check='import confluent_kafka, kafka, snappy, lz4.frame, zstandard, crc32c'
/usr/bin/python3 -c "$check" >/dev/null 2>&1 && exit 0
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard python3-crc32c >/dev/null
/usr/bin/python3 -c "$check"
