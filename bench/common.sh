# Sourced by bench/run.sh and bench/spill.sh: the repository root, the release build and the
# generated data sets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release

# Every binary of the workspace, as the tests build them (building one binary alone would
# resolve other features and rebuild segql's crates).
build() {
    echo "== building (release)" >&2
    cargo build --release --workspace --bins
}

# data_set N: the directory of the generated data set of N customers (written once, reused
# between runs), with the benchmark's project file.
data_set() {
    local d=$CARGO_TARGET_DIR/bench-data/demo-$1
    if [ ! -f "$d/transactions.parquet" ]; then
        echo "== generating $1 customers into $d" >&2
        "$BIN/segql" demo --customers "$1" --out "$d" --format parquet >&2
    fi
    cp "$ROOT/bench/segql.toml" "$d/segql.toml"
    echo "$d"
}
