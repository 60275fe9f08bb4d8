"""The benchmark's DuckDB contestant: runs one hand-written SQL query over a data set.

    python duck.py DATA_DIR QUERY.sql [--all-columns]

Registers `transactions` (Parquet), `customers` (Parquet or CSV) and `communications` (CSV)
as views, runs the query and prints the first column of every row (every column,
tab-separated, with `--all-columns`), one row per line. The last line on stderr is the time
in seconds from connecting to the last row (so the Python start-up and the import of duckdb
are not counted against DuckDB).
"""

import os
import sys
import time

import duckdb


def main() -> None:
    data, query = sys.argv[1], sys.argv[2]
    all_columns = "--all-columns" in sys.argv[3:]
    sql = open(query, encoding="utf-8").read()
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW transactions AS SELECT * FROM read_parquet('{data}/transactions.parquet')"
    )
    for name in ("customers", "communications"):
        if os.path.exists(f"{data}/{name}.parquet"):
            source = f"read_parquet('{data}/{name}.parquet')"
        else:
            source = f"read_csv('{data}/{name}.csv')"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")
    rows = con.execute(sql).fetchall()
    elapsed = time.perf_counter() - t
    if all_columns:
        text = "".join("\t".join("" if v is None else str(v) for v in r) + "\n" for r in rows)
    else:
        text = "".join(f"{r[0]}\n" for r in rows)
    sys.stdout.write(text)
    print(f"{elapsed:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
