"""DuckDB for segql's SQL tests: loads tables from files, then runs SQL or exports them.

    python duckdb_driver.py run SPEC.json QUERY.sql   # the last statement's rows as CSV

QUERY.sql may hold several scripts, each ending with a line `-- segql:next`: each is run on
its own (a failure is printed as `-- segql:error MESSAGE`), and its result followed by that
line.
    python duckdb_driver.py export SPEC.json DIR      # DIR/TABLE.csv and PostgreSQL DDL

SPEC.json maps a table name to {"format": "parquet"|"csv", "paths": [...]}, optionally
"all_varchar": true (every CSV column read as text). The tables are created in an in-memory
database with the files' own column names and DuckDB's inferred types, as a warehouse would
hold them.
"""

import csv
import datetime
import decimal
import json
import os
import sys

import duckdb


def load(con, spec):
    for table, t in spec.items():
        paths = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in t["paths"]) + "]"
        if t["format"] == "parquet":
            source = f"read_parquet({paths}, union_by_name = true)"
        else:
            extra = ", all_varchar = true" if t.get("all_varchar") else ""
            source = f"read_csv({paths}, header = true, union_by_name = true{extra})"
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {source}')


def text(v):
    """A value as segql writes it in CSV."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)


def run(con, sql_path):
    with open(sql_path, encoding="utf-8") as f:
        scripts = f.read().split("\n-- segql:next\n")
    out = csv.writer(sys.stdout, lineterminator="\n")
    for i, script in enumerate(scripts):
        if i > 0:
            print("-- segql:next")
        if not script.strip():
            continue
        try:
            statements = [s for s in split_statements(script) if s.strip()]
            for s in statements[:-1]:
                con.execute(s)
            cur = con.execute(statements[-1])
            rows = cur.fetchall()
        except duckdb.Error as e:
            print("-- segql:error " + " ".join(str(e).split()))
            continue
        out.writerow([d[0] for d in cur.description])
        for row in rows:
            out.writerow([text(v) for v in row])


def split_statements(sql):
    """Statements separated by `;` at the end of a line (segql writes one per block)."""
    out, current = [], []
    for line in sql.splitlines():
        current.append(line)
        if line.rstrip().endswith(";") and not line.lstrip().startswith("--"):
            out.append("\n".join(current))
            current = []
    if "".join(current).strip():
        out.append("\n".join(current))
    return out


PG_TYPES = {
    "VARCHAR": "text",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def pg_type(t):
    if t.startswith("DECIMAL"):
        return "numeric" + t[len("DECIMAL"):]
    if t not in PG_TYPES:
        raise SystemExit(f"no PostgreSQL type for DuckDB's {t}")
    return PG_TYPES[t]


def export(con, spec, out_dir):
    for table in spec:
        cols = con.execute(f'DESCRIBE "{table}"').fetchall()
        defs = ", ".join(f'"{c[0]}" {pg_type(c[1])}' for c in cols)
        path = os.path.join(out_dir, f"{table}.csv")
        con.execute(f"COPY \"{table}\" TO '{path}' (HEADER, DELIMITER ',')")
        print(f'CREATE TABLE "{table}" ({defs});')
        print(f"\\copy \"{table}\" FROM '{path}' WITH (FORMAT csv, HEADER true)")


def main():
    mode, spec_path, arg = sys.argv[1:4]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    con = duckdb.connect()
    load(con, spec)
    if mode == "run":
        run(con, arg)
    elif mode == "export":
        export(con, spec, arg)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
