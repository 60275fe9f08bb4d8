#!/usr/bin/env bash
# `segql history` over a year of weeks (52 points, ISO weeks 2025-W45 to 2026-W44, each
# Sunday an as-of date) against 52 separate `segql run --count --as-of SUNDAY` processes, on a
# data set of `segql demo --customers N`. Dev profile (segql's crates unoptimised, DataFusion
# at opt-level 2), as the tests build it: no release build of DataFusion.
#
#   bench/history.sh                                 # 1,000,000 customers, every workload
#   CUSTOMERS=100000 WORKLOADS="1-simple" bench/history.sh
#   SEPARATE=0 bench/history.sh                      # history only (skip the 52 runs)
#   SKIP_BUILD=1 bench/history.sh                    # time the binary built last
#   SEGQL_BIN=/path/to/segql bench/history.sh        # time that binary (no build)
#
# For each workload: history as planned (one pass where the segment allows it, else date by
# date with the customers and communications held in memory), history --each-date,
# history --each-date --transactions-in-memory (every table held, transactions sorted by
# date) and the 52 separate runs; wall time, CPU time (user + system: comparable when the
# machine is busy) and peak RSS of each, and a check that every
# point's members equal the separate run's count.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CUSTOMERS=${CUSTOMERS:-1000000}
WORKLOADS=${WORKLOADS:-"1-simple 2-five-conditions 3-rfm-segment 4-holdout-campaign 5-references"}
SEPARATE=${SEPARATE:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The binary timed: a copy (dev_segql).
SEGQL=$TMP/segql
dev_segql "$SEGQL"
BIN=$SEGQL
DATA=$(data_set "$CUSTOMERS")
FROM=2025-11-03
TO=2026-11-01
SUNDAYS=$(python3 -c "
import datetime as d
s = d.date(2025, 11, 9)
print(' '.join(str(s + d.timedelta(weeks=i)) for i in range(52)))")

# timed LABEL FUNCTION ARGS...: runs the shell function (in a child bash, under GNU time:
# the peak RSS is its largest process's), prints its wall time and peak RSS; its output in
# $TMP/out.
timed() {
    timed_row "$WORKLOAD" "$1" bash -c '"$@"' _ "${@:2}"
}

echo "== $CUSTOMERS customers, 52 weekly points ($FROM to $TO); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| workload | how | seconds | CPU seconds | peak MB |"
echo "|---|---|---:|---:|---:|"
for WORKLOAD in $WORKLOADS; do
    SEG=$ROOT/bench/workloads/$WORKLOAD/segment.seg
    export BIN DATA SEG FROM TO SUNDAYS
    history() {
        "$BIN" history --project "$DATA" "$SEG" --segment bench --every week \
            --from "$FROM" --to "$TO" --format csv --quiet "$@"
    }
    export -f history
    timed "history" history
    cp "$TMP/out" "$TMP/planned.csv"
    timed "history --each-date" history --each-date
    cmp -s "$TMP/out" "$TMP/planned.csv" || { echo "each-date differs" >&2; exit 1; }
    timed "history --each-date --transactions-in-memory" history --each-date \
        --transactions-in-memory
    cmp -s "$TMP/out" "$TMP/planned.csv" || { echo "in memory differs" >&2; exit 1; }
    if [ "$SEPARATE" = 1 ]; then
        separate() {
            for d in $SUNDAYS; do
                "$BIN" run --project "$DATA" "$SEG" --segment bench --count --as-of "$d" \
                    --format csv | tail -1 | awk -F, '{print $NF}'
            done
        }
        export -f separate
        timed "52 x run --count --as-of" separate
        # Every point's members (4th column) against the separate run's count.
        if ! diff <(tail -n +2 "$TMP/planned.csv" | cut -d, -f4) "$TMP/out" >&2; then
            echo "$WORKLOAD: history's members differ from the separate runs" >&2
            exit 1
        fi
    fi
done
echo "== every point's members equal the separate runs' counts" >&2
