#!/usr/bin/env bash
# `segql report` (the HTML page of every section: segments, RFM grid, lifecycle transitions and
# flows, 12 months of KPIs, segments over time) on a data set of `segql demo --customers N`,
# with the segments of the profile workload. Dev profile (segql's crates unoptimised,
# DataFusion at opt-level 2), as the tests build it: no release build of DataFusion.
#
#   bench/report.sh                              # 1,000,000 customers
#   CUSTOMERS=100000 bench/report.sh
#   SKIP_BUILD=1 bench/report.sh                 # time the binary built last
#   SEGQL_BIN=/path/to/segql bench/report.sh     # time that binary (no build)
#
# Prints wall time, CPU time (user + system: comparable when the machine is busy), peak RSS and
# the page's size, for the HTML page and for the same report's CSV.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CUSTOMERS=${CUSTOMERS:-1000000}
AS_OF=${AS_OF:-2026-10-31}
FROM=${FROM:-2025-11-01}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

SEGQL=$TMP/segql
dev_segql "$SEGQL"
DATA=$(data_set "$CUSTOMERS")
SEGMENTS=$ROOT/bench/workloads/profile/segments.seg

echo "== $CUSTOMERS customers, $FROM to $AS_OF; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| customers | output | seconds | CPU seconds | peak MB | bytes |"
echo "|---:|---|---:|---:|---:|---:|"
for out in report.html report.csv; do
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$SEGQL" report "$SEGMENTS" --project "$DATA" \
        --as-of "$AS_OF" --from "$FROM" --output "$TMP/$out" 2>"$TMP/err" || {
        cat "$TMP/err" >&2
        exit 1
    }
    read -r secs user sys kb <"$TMP/time"
    printf '| %s | %s | %.1f | %.1f | %d | %d |\n' "$CUSTOMERS" "$out" "$secs" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" $((kb / 1024)) \
        "$(stat -c %s "$TMP/$out")"
done
