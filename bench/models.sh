#!/usr/bin/env bash
# `segql features` and `segql clusters fit --k 16` on a data set of `segql demo --customers N`,
# against scikit-learn's KMeans on the same feature matrix, in the same run. Dev profile
# (segql's crates unoptimised, DataFusion at opt-level 2, segql-learn at opt-level 3), as
# the tests build it: no release build of DataFusion.
#
#   bench/models.sh                          # 1,000,000 customers
#   CUSTOMERS=100000 bench/models.sh
#   SKIP_BUILD=1 bench/models.sh             # time the binary built last
#   SEGQL_BIN=/path/to/segql bench/models.sh # time that binary (no build)
#
# scikit-learn runs in a virtualenv made once under $CARGO_TARGET_DIR/bench-venv-models. Its
# matrix is segql's features file, transformed and standardised by bench/models.py as
# docs/features.md says (log1p of money and counts, z-scores, a missing value the mean);
# KMeans(n_clusters=16, init="k-means++", n_init=1, random_state=42), the same as segql's
# defaults. Each side's time and peak RSS is its whole process; the inertia of both fits is
# printed on the same matrix. Last, the condition `cluster(NAME) = 3` over every customer.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CUSTOMERS=${CUSTOMERS:-1000000}
K=${K:-16}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

SEGQL=$TMP/segql
dev_segql "$SEGQL"
BIN=$SEGQL
DATA=$(data_set "$CUSTOMERS")

VENV=$CARGO_TARGET_DIR/bench-venv-models
if [ ! -x "$VENV/bin/python" ]; then
    echo "== making $VENV (scikit-learn, pyarrow)" >&2
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet scikit-learn pyarrow >&2
fi

timed() {
    timed_row "$CUSTOMERS" "$@"
}

echo "== $CUSTOMERS customers, k = $K; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| customers | what | seconds | CPU seconds | peak MB |"
echo "|---:|---|---:|---:|---:|"
timed "segql features (Parquet out)" "$BIN" features --project "$DATA" --output "$TMP/features.parquet"
timed "segql clusters fit --k $K (features + k-means)" "$BIN" clusters fit bench_clusters --k "$K" --project "$DATA"
cp "$TMP/out" "$TMP/segql-fit.txt"
timed "scikit-learn KMeans (read + scale + fit)" "$VENV/bin/python" "$ROOT/bench/models.py" \
    "$TMP/features.parquet" "$DATA/models/bench_clusters.json" "$K"
cp "$TMP/out" "$TMP/sklearn.txt"
timed "segql run -e 'cluster(bench_clusters) = 3' --count" "$BIN" run --project "$DATA" \
    -e "cluster(bench_clusters) = 3" --count
rm -f "$DATA/models/bench_clusters.json"
echo >&2
head -1 "$TMP/segql-fit.txt" >&2
cat "$TMP/sklearn.txt" >&2
