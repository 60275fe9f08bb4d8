#!/usr/bin/env bash
# The benchmark workloads on the local engine and on a Ballista cluster of 1 and 2 local
# executors (`segql cluster start`), on a data set of `segql demo --customers N`; every
# cluster output compared byte for byte with the local one. Then the memory-limit run: a
# workload under an executor-sized memory limit, here and on the cluster.
#
#   bench/cluster.sh                                   # 1,000,000 customers
#   CUSTOMERS=100000 WORKLOADS="1-simple" bench/cluster.sh
#   RUNS=1 LIMIT=0 bench/cluster.sh                    # one run each, no memory-limit run
#   SKIP_BUILD=1 bench/cluster.sh                      # time the binary built last
#
# Dev profile (segql's crates unoptimised, DataFusion at opt-level 2), as the tests build it:
# the local engine and the cluster run the same binary. The cluster's processes share this
# machine's cores with each other (and with the client), so the figures are what the cluster
# costs, not what more machines would gain.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CUSTOMERS=${CUSTOMERS:-1000000}
WORKLOADS=${WORKLOADS:-"1-simple 2-five-conditions 3-rfm-segment 4-holdout-campaign 5-references profile"}
RUNS=${RUNS:-3}
# The memory limit of the last run: each executor's, and the local engine's (0: skip it).
LIMIT=${LIMIT:-128M}
LIMIT_WORKLOAD=${LIMIT_WORKLOAD:-profile}
AS_OF=2026-10-31
TMP=$(mktemp -d)
CLUSTER_PID=
stop_cluster() {
    if [ -n "$CLUSTER_PID" ]; then
        kill "$CLUSTER_PID" 2>/dev/null || true
        wait "$CLUSTER_PID" 2>/dev/null || true
        CLUSTER_PID=
    fi
}
trap 'stop_cluster; rm -rf "$TMP"' EXIT

SEGQL=$TMP/segql
dev_segql "$SEGQL"
BIN=$SEGQL
DATA=$(data_set "$CUSTOMERS")

# start_cluster N [EXECUTOR OPTIONS...]: a scheduler and N executors; sets URL.
start_cluster() {
    local n=$1
    shift
    : >"$TMP/cluster.out"
    "$BIN" cluster start --executors "$n" --port 0 --work-dir "$TMP/work" "$@" \
        >"$TMP/cluster.out" 2>"$TMP/cluster.err" &
    CLUSTER_PID=$!
    for _ in $(seq 600); do
        URL=$(sed -n 's/^cluster ready at \([^:]*:[^:]*:[0-9]*\):.*/\1/p' "$TMP/cluster.out")
        [ -n "$URL" ] && return 0
        kill -0 "$CLUSTER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the cluster did not start:" >&2
    cat "$TMP/cluster.out" "$TMP/cluster.err" >&2
    exit 1
}

# The command of a workload (a segment file's `bench` segment, or a report's `command`).
workload() {
    local dir=$ROOT/bench/workloads/$1
    if [ -f "$dir/command" ]; then
        sed "s#{dir}#$dir#" "$dir/command" | tr '\n' ' '
        echo "--project $DATA --format csv"
    else
        echo "run --project $DATA --as-of $AS_OF $dir/segment.seg --segment bench --format csv"
    fi
}

# timed WORKLOAD HOW ARGS...: the best wall time of $RUNS runs (and its peak RSS of the
# client process), its output in $TMP/out.
timed() {
    local w=$1 how=$2 best= kb=
    shift 2
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" $(workload "$w") "$@" \
            >"$TMP/out" 2>"$TMP/err" || {
            echo "$w ($how) failed:" >&2
            cat "$TMP/err" >&2
            return 1
        }
        read -r secs k <"$TMP/time"
        if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$secs
            kb=$k
        fi
    done
    printf '| %s | %s | %.2f | %d |\n' "$w" "$how" "$best" $((kb / 1024))
}

echo "== $CUSTOMERS customers, best of $RUNS; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| workload | engine | seconds | client peak MB |"
echo "|---|---|---:|---:|"
for w in $WORKLOADS; do
    timed "$w" local
    cp "$TMP/out" "$TMP/$w.local"
done
for n in 1 2; do
    start_cluster "$n"
    for w in $WORKLOADS; do
        timed "$w" "cluster, $n executor$([ "$n" = 1 ] || echo s)" --engine "$URL"
        cmp -s "$TMP/out" "$TMP/$w.local" || {
            echo "$w: the cluster's output differs from the local engine's" >&2
            diff "$TMP/$w.local" "$TMP/out" | head >&2
            exit 1
        }
    done
    stop_cluster
done
echo "== every cluster output equals the local engine's, byte for byte" >&2

if [ "$LIMIT" != 0 ]; then
    echo "== $LIMIT_WORKLOAD under --memory-limit $LIMIT: here, and on executors of $LIMIT each" >&2
    echo
    echo "| $LIMIT_WORKLOAD | memory limit | result | seconds |"
    echo "|---|---|---|---:|"
    limited() {
        local how=$1
        shift
        local t0=$SECONDS status=finished
        if ! "$BIN" $(workload "$LIMIT_WORKLOAD") "$@" >"$TMP/out" 2>"$TMP/err"; then
            status="failed: $(grep -o 'Resources exhausted[^.]*' "$TMP/err" | head -1)"
            [ "$status" = "failed: " ] && status="failed: $(head -c 200 "$TMP/err" | tr '\n' ' ')"
        elif ! cmp -s "$TMP/out" "$TMP/$LIMIT_WORKLOAD.local"; then
            echo "$how: the output differs from the unlimited run's" >&2
            exit 1
        fi
        printf '| %s | %s | %s | %d |\n' "$how" "$LIMIT" "$status" $((SECONDS - t0))
    }
    limited "local engine" --memory-limit "$LIMIT"
    limited "local engine, 16 partitions" --memory-limit "$LIMIT" --partitions 16
    for n in 1 2; do
        start_cluster "$n" --memory-limit "$LIMIT" --concurrent-tasks 2
        limited "cluster, $n executor$([ "$n" = 1 ] || echo s) of $LIMIT" --engine "$URL" \
            --partitions 16
        stop_cluster
    done
fi
