#!/usr/bin/env bash
# Runs franz-go's own pkg/kgo test suite (the franz-go version in go.mod,
# from the module cache) against Strata, in full, and writes the outcome of
# every test to test/compat/FRANZ-GO-SUITE.md. Known gaps are listed in
# test/compat/franz-go-gaps.txt; the run fails only on other failures.
#
#   test/compat/franz-go-suite.sh            a Strata node in the test process
#   test/compat/franz-go-suite.sh --binary   bin/strata, built and started here
#   test/compat/franz-go-suite.sh --cluster  three nodes of `bin/strata dev cluster`
#                                            (default.replication.factor 3), topics
#                                            with KGO_TEST_RF=3; the report goes to
#                                            test/compat/FRANZ-GO-SUITE-CLUSTER.md
#
# franz-go's variables pass through, e.g. KGO_TEST_RECORDS=100000 (records
# per ETL test; franz-go's default is 500,000), KGO_TEST_MAX_TOPIC_PARTS,
# KGO_LOG_LEVEL=info. KGO_SEEDS=host:port runs against a running cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = "--binary" ]; then
  port=${STRATA_PORT:-19092}
  data=$(mktemp -d)
  go build -o bin/strata ./cmd/strata
  bin/strata server --listen "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" --data "$data" \
    --log-level warn >"$data/strata.log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data"' EXIT
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  export KGO_SEEDS="127.0.0.1:$port"
  echo "strata (pid $pid) on $KGO_SEEDS, log in $data/strata.log"
elif [ "${1:-}" = "--cluster" ]; then
  port=${STRATA_PORT:-29092} # Kafka on port..port+2, controllers +100, HTTP +200
  data=$(mktemp -d)
  go build -o bin/strata ./cmd/strata
  printf 'broker-config:\n  default.replication.factor: 3\n' >"$data/strata.yaml"
  bin/strata dev cluster --nodes 3 --dir "$data" --base-port "$port" --config "$data/strata.yaml" \
    >"$data/cluster.log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data"' EXIT
  for _ in $(seq 300); do
    grep -q '^cluster ready' "$data/cluster.log" && break
    sleep 0.1
  done
  grep -q '^cluster ready' "$data/cluster.log" || { cat "$data/cluster.log"; echo "cluster not ready"; exit 1; }
  export KGO_SEEDS="127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))"
  export KGO_TEST_RF=${KGO_TEST_RF:-3}
  export STRATA_FRANZ_GO_REPORT=${STRATA_FRANZ_GO_REPORT:-FRANZ-GO-SUITE-CLUSTER.md}
  echo "strata dev cluster (pid $pid) on $KGO_SEEDS, KGO_TEST_RF=$KGO_TEST_RF, logs in $data/node-*/server.log"
fi

log=$(mktemp)
status=0
echo "running franz-go's suite (a few minutes); full log in $log"
STRATA_FRANZ_GO_FULL=1 go test -count=1 -timeout 40m -run '^TestFranzGoSuite$' -v ./test/compat/ >"$log" 2>&1 ||
  status=$?
grep -E '^(--- |\s+franzgo_|ok|FAIL)' "$log" || true
exit "$status"
