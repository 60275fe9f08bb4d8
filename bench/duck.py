"""The benchmark's DuckDB contestant: runs one hand-written SQL query over a data set.

    python duck.py DATA_DIR QUERY.sql

Registers `transactions` (Parquet), `customers` and `communications` (CSV) as views, runs the
query and prints the first column of every row, one per line. The last line on stderr is the
time in seconds from connecting to the last row (so the Python start-up and the import of
duckdb are not counted against DuckDB).
"""

import sys
import time

import duckdb


def main() -> None:
    data, query = sys.argv[1], sys.argv[2]
    sql = open(query, encoding="utf-8").read()
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW transactions AS SELECT * FROM read_parquet('{data}/transactions.parquet')"
    )
    for name in ("customers", "communications"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv('{data}/{name}.csv')")
    rows = con.execute(sql).fetchall()
    elapsed = time.perf_counter() - t
    sys.stdout.write("".join(f"{r[0]}\n" for r in rows))
    print(f"{elapsed:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
