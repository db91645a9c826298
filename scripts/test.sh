#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Go, then runs
# the whole suite: unit tests with the race detector, the integration,
# client-compatibility and fault tests, and a short run of every fuzzer.
#
#   ./scripts/test.sh            everything (what CI runs)
#   FUZZTIME=60s ./scripts/test.sh   longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-5s}

# The clients install (mostly downloads, and a compile of librdkafka for
# the JavaScript clients) while Go downloads and builds. Vetting waits for
# them: it type-checks confluent-kafka-go's tests, which need cgo's C
# compiler, which its install script provides.
echo "== installing the compatibility suite's clients (in the background)"
install_log=$(mktemp)
(
  for script in test/compat/install/*.sh; do
    bash "$script"
  done
) >"$install_log" 2>&1 &
install_pid=$!

echo "== go modules"
go mod download

echo "== build"
go build ./...
go build -o bin/strata ./cmd/strata

echo "== waiting for the clients' install"
install_rc=0
wait "$install_pid" || install_rc=$?
cat "$install_log"
rm -f "$install_log"
if [ "$install_rc" != 0 ]; then
  echo "installing the compatibility suite's clients failed" >&2
  exit 1
fi

echo "== vet"
go vet ./...

echo "== unit and integration tests (race detector)"
go test -race -count=1 ./internal/... ./cmd/... ./test/integration/... ./test/layering/...

echo "== real-client compatibility, fault and multi-node cluster tests"
go test -count=1 -timeout 20m ./test/compat/... ./test/chaos/... ./test/cluster/... ./test/faults/...

# Under a minute: the failover cells (partition leader SIGKILLed
# mid-stream) of kgo and two third-party clients against a three-node
# cluster with replication factor 3, within CI's time budget.
# test/compat/cluster-suite.sh runs every client and every scenario.
echo "== client compatibility on a three-node cluster (subset)"
STRATA_COMPAT_CLUSTER=3 go test -short -count=1 -timeout 5m -run '^(TestKgo|TestKcat|TestConfluentGo)$/^failover/' ./test/compat/

# About a minute: the integration tests that move data (kgo round trips,
# concurrent clients, groups, idempotence, transactions, two tenants)
# against node 1 of an in-process three-node cluster with replication
# factor 3, under the race detector. Without -run every test runs so
# (about 5 min): STRATA_TEST_CLUSTER=3 go test ./test/integration/...
echo "== integration tests on a three-node cluster (subset, race detector)"
STRATA_TEST_CLUSTER=3 go test -race -count=1 -timeout 10m \
  -run '^(TestKgoRoundTrip|TestConcurrentRoundTrip|TestConsumerGroup|TestIdempotentProducerExactlyOnce|TestTxnCommitAndAbort|TestGroupTransactSession|TestReadCommittedTransactions|TestTenantsShareNames)$' \
  ./test/integration/

echo "== fuzzing, $fuzztime per target"
# The targets are found in the source, which spares compiling every
# package's tests just to list them.
for file in $(grep -l '^func Fuzz' internal/*/*_test.go internal/*/*/*_test.go 2>/dev/null); do
  pkg=./$(dirname "$file")
  for fz in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
    echo "-- $pkg $fz"
    if ! out=$(go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
      echo "$out" | tail -60
      exit 1
    fi
  done
done
echo "== all tests passed"
