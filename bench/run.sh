#!/usr/bin/env bash
# The benchmark: segql against hand-written DataFusion SQL and DuckDB on the same files.
#
#   bench/run.sh            # 100k and 1M customers, 5 runs each
#   RUNS=3 SIZES=100000 bench/run.sh
#
# Builds release binaries, installs DuckDB (PyPI) into a virtual environment, generates the
# data sets once (reused between runs), checks that every contestant returns the same members,
# then prints the timing table, the warm REPL figures and the compile time.
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-5}
SIZES=${SIZES:-"100000 1000000"}
VENV=${SEGQL_BENCH_VENV:-$CARGO_TARGET_DIR/bench-venv}

build

echo "== DuckDB" >&2
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install -q duckdb
"$VENV/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)' >&2

DATA=()
for n in $SIZES; do
    DATA+=("$(data_set "$n")")
done

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB" >&2
"$VENV/bin/python" "$ROOT/bench/bench.py" --runs "$RUNS" \
    --segql "$BIN/segql" --datafusion-sql "$BIN/datafusion-sql" --python "$VENV/bin/python" \
    ${ONLY:+--only "$ONLY"} "${DATA[@]}"

if [ -z "${ONLY:-}" ]; then
    echo "== warm REPL queries on the cached profile" >&2
    # The dev profile (dependencies at opt-level 2): benches pull in dev-dependencies, which
    # would otherwise rebuild DataFusion once more for the release profile.
    for n in $SIZES; do cargo bench --profile dev --bench repl -- "$n"; done
    echo "== compile time (release)" >&2
    "$BIN/compile-time" "$ROOT/examples/coalition"
    echo "== compile time (criterion, dev profile)" >&2
    cargo bench --profile dev --bench compile
fi
