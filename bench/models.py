"""scikit-learn's KMeans on segql's features file, for bench/models.sh.

    models.py FEATURES.parquet MODEL.json K

The matrix: each feature transformed as the model file says (log1p of max(x, 0) or as is),
standardised by its own mean and population standard deviation over non-missing values, a
missing value 0. Prints the fit's seconds (fit alone), its inertia, and segql's inertia on
the same matrix (the model's centroids, every row to its nearest) for comparison.
"""

import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.cluster import KMeans


def main():
    features, model_path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = json.load(open(model_path))
    table = pq.read_table(features)
    cols = []
    for f in model["features"]:
        x = table.column(f["name"]).to_numpy(zero_copy_only=False).astype(float)
        if f["transform"] == "log1p":
            x = np.where(np.isnan(x), np.nan, np.log1p(np.maximum(x, 0.0)))
        mean = np.nanmean(x)
        std = np.nanstd(x)
        cols.append(np.nan_to_num((x - mean) / std, nan=0.0))
    matrix = np.column_stack(cols)
    start = time.perf_counter()
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=42).fit(matrix)
    secs = time.perf_counter() - start
    centroids = np.array([c["centroid"] for c in model["clusters"]])
    # segql's inertia on this matrix, in chunks.
    segql_inertia = 0.0
    for s in range(0, len(matrix), 65536):
        part = matrix[s : s + 65536]
        d = ((part[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        segql_inertia += d.min(axis=1).sum()
    print(
        f"scikit-learn {__import__('sklearn').__version__}: {matrix.shape[0]} x {matrix.shape[1]}, "
        f"fit {secs:.1f} s, {km.n_iter_} iterations, inertia {km.inertia_:.1f}; "
        f"segql's centroids on the same matrix: inertia {segql_inertia:.1f}"
    )


if __name__ == "__main__":
    main()
