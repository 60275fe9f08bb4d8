#!/usr/bin/env bash
# The benchmark: segql against hand-written DataFusion SQL and DuckDB on the same files.
#
#   bench/run.sh            # 100k and 1M customers, 5 runs each
#   RUNS=3 SIZES=100000 bench/run.sh
#
# Builds release binaries, installs DuckDB (PyPI) into a virtual environment, generates the
# data sets once (reused between runs), checks that every contestant returns the same members,
# then prints the timing table, the warm REPL figures and the compile time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${RUNS:-5}
SIZES=${SIZES:-"100000 1000000"}
VENV=${SEGQL_BENCH_VENV:-$CARGO_TARGET_DIR/bench-venv}

echo "== building (release)" >&2
cargo build --release --workspace --bins
BIN=$CARGO_TARGET_DIR/release

echo "== DuckDB" >&2
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install -q duckdb
"$VENV/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)' >&2

DATA=()
for n in $SIZES; do
    d=$CARGO_TARGET_DIR/bench-data/demo-$n
    if [ ! -f "$d/transactions.parquet" ]; then
        echo "== generating $n customers into $d" >&2
        "$BIN/segql" demo --customers "$n" --out "$d" --format parquet > /dev/null
    fi
    cp "$ROOT/bench/segql.toml" "$d/segql.toml"
    DATA+=("$d")
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
