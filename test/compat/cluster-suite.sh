#!/usr/bin/env bash
# Runs the client suites against three-node clusters with replication
# factor 3 (issue 7) and writes what passed to
# test/compat/CLUSTER-RESULTS.md:
#
#   (a) the compatibility suite with STRATA_COMPAT_CLUSTER=3: one cluster
#       from test/clustertest for the whole run, every client's cells, and
#       failover/leader-kill, where the leader of the partition a client
#       writes to is SIGKILLed mid-stream and restarted; its matrix goes to
#       test/compat/MATRIX-CLUSTER.md. TestFranzGoSuite is left to (b).
#   (b) franz-go's kgo suite with KGO_TEST_RF=3 against
#       `bin/strata dev cluster --nodes 3` (franz-go-suite.sh --cluster);
#       its report goes to test/compat/FRANZ-GO-SUITE-CLUSTER.md.
#
#   test/compat/cluster-suite.sh            both, about 30-60 minutes on 2 cores
#   test/compat/cluster-suite.sh compat     (a) only
#   test/compat/cluster-suite.sh franz-go   (b) only
#
# KGO_TEST_RECORDS (default 100000 here) passes through to (b). Full logs,
# the cluster nodes' logs of (a) included, are kept in a temporary
# directory named at the start. The script fails if either part failed;
# the results file is written either way, keeping the section of a part
# not run from the previous file.
set -uo pipefail
cd "$(dirname "$0")/../.."

what=${1:-all}
logs=$(mktemp -d)
results=test/compat/CLUSTER-RESULTS.md
echo "logs in $logs"

compat_status=skipped franzgo_status=skipped
compat_took=0 franzgo_took=0
if [ "$what" = all ] || [ "$what" = compat ]; then
  echo "== (a) compatibility suite on a three-node cluster"
  start=$(date +%s)
  STRATA_CLUSTER_LOGDIR="$logs/nodes" STRATA_COMPAT_CLUSTER=3 go test -count=1 -timeout 90m -v -skip '^TestFranzGoSuite$' ./test/compat/ \
    >"$logs/compat.log" 2>&1
  compat_status=$?
  compat_took=$(($(date +%s) - start))
  grep -E '^(--- |ok|FAIL)' "$logs/compat.log" || true
fi
if [ "$what" = all ] || [ "$what" = franz-go ]; then
  echo "== (b) franz-go's kgo suite on bin/strata dev cluster --nodes 3, KGO_TEST_RF=3"
  start=$(date +%s)
  KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-100000} test/compat/franz-go-suite.sh --cluster >"$logs/franz-go.log" 2>&1
  franzgo_status=$?
  franzgo_took=$(($(date +%s) - start))
  tail -5 "$logs/franz-go.log"
fi

# previous prints the section of part $1 (a or b) of the last results.
previous() {
  [ -f "$results" ] || { echo "Not run."; return; }
  awk -v part="$1" '/^## \(/ { on = index($0, "## (" part ")") == 1; next } on' "$results" | sed '1{/^$/d}'
}

# cells counts the matrix cells of (a) by outcome: subtests two or three
# levels deep whose last name part is a scenario (kind/name).
cells() {
  grep -E "^ +--- $1: Test[A-Za-z]+/([^/ ]+/)?[a-z]+/[a-z0-9-]+ " "$logs/compat.log" | wc -l
}

{
  echo "# Client suites against a three-node cluster"
  echo
  echo "Written by \`test/compat/cluster-suite.sh\` (do not edit) on $(date -u +%Y-%m-%d), commit" \
    "$(git rev-parse --short HEAD), $(nproc) CPUs. Every topic has replication factor 3."
  echo
  echo "## (a) Compatibility suite, \`STRATA_COMPAT_CLUSTER=3\`"
  echo
  if [ "$compat_status" = skipped ]; then
    previous a
  else
    echo "\`STRATA_COMPAT_CLUSTER=3 go test -count=1 -v -skip '^TestFranzGoSuite\$' ./test/compat/\`:" \
      "exit status $compat_status after ${compat_took}s. Cells: $(cells PASS) pass, $(cells FAIL) fail," \
      "$(cells SKIP) skipped (known gaps and clients not installed). The matrix is in" \
      "[MATRIX-CLUSTER.md](MATRIX-CLUSTER.md)."
    echo
    echo "failover/leader-kill, per client (the leader of partition 0 SIGKILLed mid-stream, restarted when" \
      "the client is done):"
    echo
    echo '```'
    grep -E -- "--- [A-Z]+: .*failover/leader-kill|killed node|done writing|duplicates written|restarted, ready|ISR full" \
      "$logs/compat.log" |
      sed -E 's/^ +//' || true
    echo '```'
    if grep -qE '^ +--- FAIL' "$logs/compat.log"; then
      echo
      echo "Failed:"
      echo
      echo '```'
      grep -E '^ +--- FAIL' "$logs/compat.log" | sed -E 's/^ +//'
      echo '```'
    fi
  fi
  echo
  echo "## (b) franz-go's kgo suite, \`KGO_TEST_RF=3\`, \`strata dev cluster --nodes 3\`"
  echo
  if [ "$franzgo_status" = skipped ]; then
    previous b
  else
    echo "\`KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-100000} test/compat/franz-go-suite.sh --cluster\`:" \
      "exit status $franzgo_status after ${franzgo_took}s. Report:" \
      "[FRANZ-GO-SUITE-CLUSTER.md](FRANZ-GO-SUITE-CLUSTER.md)."
    echo
    grep -E '^[0-9]+ tests in |^The [0-9]+ that talk' test/compat/FRANZ-GO-SUITE-CLUSTER.md 2>/dev/null || true
  fi
} >"$results.new"
mv "$results.new" "$results"
echo "wrote $results"
[ "$compat_status" != skipped ] && [ "$compat_status" != 0 ] && exit 1
[ "$franzgo_status" != skipped ] && [ "$franzgo_status" != 0 ] && exit 1
exit 0
