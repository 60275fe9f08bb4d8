#!/usr/bin/env bash
# The large-data run: a 4.5M-customer data set (about 100M transaction lines, 1.35 GB of
# Parquet), the simple workload run once without a memory limit and once under each limit
# given, each with its peak RSS; then the spill figures of the plan under the last limit.
#
#   bench/spill.sh                      # LIMITS="2G 1G" by default
#   CUSTOMERS=2000000 LIMITS=512M bench/spill.sh
#
# Needs about 4.6 GB of disk for the data (written once, reused) and a few GB for spills.
source "$(dirname "$0")/common.sh"
CUSTOMERS=${CUSTOMERS:-4500000}
LIMITS=${LIMITS:-"2G 1G"}
WORKLOAD=$ROOT/bench/workloads/1-simple/segment.seg

build
DATA=$(data_set "$CUSTOMERS")

run() {
    local label=$1
    shift
    local out
    out=$(/usr/bin/time -f "%e %M" "$BIN/segql" run --project "$DATA" --as-of 2026-10-31 \
        "$WORKLOAD" --count "$@" 2>/tmp/segql-spill-time.$$) || {
        echo "$label: failed" >&2
        cat /tmp/segql-spill-time.$$ >&2
        return 1
    }
    read -r secs kb < <(tail -1 /tmp/segql-spill-time.$$)
    printf '%-12s %10s members %8.1f s %8d MB peak RSS\n' "$label" "$out" "$secs" $((kb / 1024))
}
trap 'rm -f /tmp/segql-spill-time.$$' EXIT

echo "== $CUSTOMERS customers, simple workload" >&2
run "no limit"
last=
for l in $LIMITS; do
    run "limit $l" --memory-limit "$l"
    last=$l
done
if [ -n "$last" ]; then
    echo "== spills under --memory-limit $last (explain --stage analyze)" >&2
    "$BIN/segql" explain --stage analyze --project "$DATA" --as-of 2026-10-31 "$WORKLOAD" \
        --memory-limit "$last" | grep -E 'spill_count=[1-9]' | sed -E \
        's/^ *([A-Za-z]+Exec(: mode=[A-Za-z]+)?).*(spill_count=[^,]*, spilled_bytes=[^,]*, spilled_rows=[^],]*).*/\1: \3/' \
        || echo "no operator spilled"
fi
