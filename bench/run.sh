#!/usr/bin/env bash
# The benchmark: segql against hand-written DataFusion SQL and DuckDB on the same files.
#
#   bench/run.sh                         # every cell of bench/matrix.toml, 5 runs each
#   RUNS=3 CELLS=demo-100000,3.5m-short-bydate-float ONLY=selective bench/run.sh
#
# Builds release binaries, installs DuckDB (PyPI) into a virtual environment, generates each
# cell's data set once (reused between runs), checks that every contestant returns the same
# members, then prints the timing table, the warm REPL figures and the compile time.
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-5}
VENV=${SEGQL_BENCH_VENV:-$CARGO_TARGET_DIR/bench-venv}

build

echo "== DuckDB" >&2
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install -q duckdb
"$VENV/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)' >&2

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB" >&2
"$VENV/bin/python" "$ROOT/bench/bench.py" --runs "$RUNS" \
    --segql "$BIN/segql" --datafusion-sql "$BIN/datafusion-sql" --python "$VENV/bin/python" \
    --data-root "$CARGO_TARGET_DIR/bench-data" ${CELLS:+--cells "$CELLS"} ${ONLY:+--only "$ONLY"}

if [ -z "${ONLY:-}${CELLS:-}" ]; then
    echo "== warm REPL (the release binary, :timing)" >&2
    for cell in demo-1000000 3.5m-short-bydate-float; do
        "$VENV/bin/python" "$ROOT/bench/repl.py" --runs "$RUNS" --segql "$BIN/segql" \
            "$CARGO_TARGET_DIR/bench-data/$cell"
    done
    echo "== warm REPL through Session::answer (dev profile)" >&2
    # The dev profile (dependencies at opt-level 2): benches pull in dev-dependencies, which
    # would otherwise rebuild DataFusion once more for the release profile.
    for n in 100000 1000000; do cargo bench --profile dev --bench repl -- "$n"; done
    echo "== compile time (release)" >&2
    "$BIN/compile-time" "$ROOT/examples/coalition"
    echo "== compile time (criterion, dev profile)" >&2
    cargo bench --profile dev --bench compile
fi
