"""Side-by-side benchmark: segql against hand-written DataFusion SQL and DuckDB, over the
shape matrix of `bench/matrix.toml`.

Run through `bench/run.sh`, which builds the binaries and installs DuckDB. For every cell it
generates the data set once (`segql demo` with the cell's shape), then for each workload
first checks that the three contestants return the same members (for a campaign, the same
control/test groups; for a report, the same rows), then times each one RUNS times in fresh
processes, and prints one table: medians, ratios and peak memory.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
AS_OF = "2026-10-31"


def run(cmd: list[str], env: dict | None = None) -> tuple[float, int, str, str]:
    """Runs a command; returns wall seconds, peak RSS in MB, stdout and stderr.

    The peak is measured by GNU time around the command when it is installed: Linux keeps a
    process's peak RSS across `exec`, so the peak `wait4` reports for a child of this (large)
    Python process would never be under this process's own size."""
    timed = Path("/usr/bin/time").exists()
    with tempfile.TemporaryDirectory() as d:
        peak_file = Path(d) / "peak"
        full = ["/usr/bin/time", "-f", "%M", "-o", str(peak_file), *cmd] if timed else cmd
        t = time.perf_counter()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.Popen(full, stdout=out, stderr=err, env=env)
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - t
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{stderr}")
        peak_kb = int(peak_file.read_text().split()[-1]) if timed else usage.ru_maxrss
    return wall, peak_kb // 1024, stdout, stderr


class Contestants:
    def __init__(self, segql: str, dfsql: str, python: str):
        self.segql, self.dfsql, self.python = segql, dfsql, python

    def segql_cmd(self, data: Path, seg: Path, count: bool) -> list[str]:
        cmd = [self.segql, "run", "--project", str(data), "--as-of", AS_OF, str(seg)]
        cmd += ["--segment", "bench"]
        return cmd + (["--count", "--format", "csv"] if count else ["--format", "csv"])

    def segql_report_cmd(self, data: Path, args: list[str]) -> list[str]:
        return [self.segql, *args, "--project", str(data), "--format", "csv"]

    def dfsql_cmd(self, data: Path, sql: Path) -> list[str]:
        return [self.dfsql, str(data), str(sql)]

    def duck_cmd(self, data: Path, sql: Path, all_columns: bool = False) -> list[str]:
        cmd = [self.python, str(HERE / "duck.py"), str(data), str(sql)]
        return cmd + (["--all-columns"] if all_columns else [])


def members_of_segql(stdout: str, campaign: bool) -> list[str]:
    lines = stdout.strip().splitlines()[1:]
    keep = 2 if campaign else 1
    return sorted(",".join(line.split(",")[:keep]) for line in lines)


def normalized_rows(lines: list[str], sep: str) -> list[tuple]:
    """Report rows as comparable tuples: numbers rounded to 2 places, empty fields as None."""

    def field(v: str):
        v = v.strip()
        if v in ("", "NULL", "null"):
            return None
        try:
            return round(float(v), 2)
        except ValueError:
            return v

    return sorted((tuple(field(f) for f in line.split(sep)) for line in lines if line), key=repr)


def expand(sql: str, receipts: bool) -> str:
    """The SQL of a workload for a data set: `PURCHASES(cond)` counts the purchases (distinct
    receipts, or lines when the data has no receipt ids) of the lines where `cond` holds;
    `PURCHASES()` counts all of them."""
    out, i = [], 0
    while (j := sql.find("PURCHASES(", i)) >= 0:
        out.append(sql[i:j])
        k, depth = j + len("PURCHASES("), 1
        start = k
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[k], 0)
            k += 1
        cond = sql[start : k - 1].strip()
        if receipts:
            arg = f"CASE WHEN {cond} THEN t.receipt_id END" if cond else "t.receipt_id"
            out.append(f"count(DISTINCT {arg})")
        else:
            out.append(f"count(CASE WHEN {cond} THEN 1 END)" if cond else "count(*)")
        i = k
    out.append(sql[i:])
    return "".join(out)


def counted(sql: str, out: Path) -> Path:
    """The count query around a member query."""
    body = sql.strip().rstrip(";")
    out.write_text(f"SELECT count(*) FROM (\n{body}\n) AS members\n")
    return out




def data_set(segql: str, root: Path, cell: dict) -> Path:
    """The directory of a cell's data set, generated on first use (`segql demo`)."""
    d = root / cell["name"]
    options = {k: v for k, v in cell.items() if k not in ("name", "workloads")}
    fmt = options.get("customers_format", "csv")
    if not (d / "transactions.parquet").exists():
        cmd = [segql, "demo", "--out", str(d), "--format", "parquet"]
        for k, v in options.items():
            flag = "--" + k.replace("_", "-")
            if k == "receipts":
                cmd += [] if v else ["--no-receipts"]
            else:
                cmd += [flag, str(v)]
        print(f"== generating {cell['name']}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        run(cmd)
    # The benchmark's project file, with the cell's customers file.
    project = (HERE / "segql.toml").read_text()
    (d / "segql.toml").write_text(project.replace("customers.csv", f"customers.{fmt}"))
    return d


class Timings:
    def __init__(self):
        self.t = {"segql": [], "df": [], "duck": [], "duck_proc": []}
        self.mem = {"segql": 0, "df": 0, "duck": 0}

    def add(self, who: str, wall: float, rss: int):
        self.t[who].append(wall)
        self.mem[who] = max(self.mem[who], rss)

    def medians(self) -> dict:
        return {k: statistics.median(v) for k, v in self.t.items()}


def bench_segment(c, data, w, receipts, tmp, runs):
    """A segment workload: the same members from all three, then timed count queries."""
    seg = w / "segment.seg"
    df_sql = expand((w / "datafusion.sql").read_text(), receipts)
    # DuckDB runs the same SQL unless the workload has its own dialect's version.
    duck_file = w / "duckdb.sql" if (w / "duckdb.sql").exists() else w / "datafusion.sql"
    duck_sql = expand(duck_file.read_text(), receipts)
    tag = f"{data.name}-{w.name}"
    df_file, duck_members = tmp / f"{tag}-df.sql", tmp / f"{tag}-duck.sql"
    df_file.write_text(df_sql)
    duck_members.write_text(duck_sql)
    campaign = "campaign" in seg.read_text()
    # 1. The same members from everyone, before anything is timed.
    _, _, out, _ = run(c.segql_cmd(data, seg, False))
    expected = members_of_segql(out, campaign)
    for name, cmd in [
        ("DataFusion SQL", c.dfsql_cmd(data, df_file)),
        ("DuckDB", c.duck_cmd(data, duck_members)),
    ]:
        got = sorted(run(cmd)[2].split())
        if got != expected:
            only_s = len(set(expected) - set(got))
            only_o = len(set(got) - set(expected))
            sys.exit(
                f"{data.name} {w.name}: {name} disagrees with segql "
                f"({len(got)} vs {len(expected)} members; {only_s} only in segql, "
                f"{only_o} only in {name})"
            )
    n = len(expected)
    # 2. Timed count queries, each in a fresh process.
    df_count = counted(df_sql, tmp / f"{tag}-df-count.sql")
    duck_count = counted(duck_sql, tmp / f"{tag}-duck-count.sql")
    t = Timings()
    for _ in range(runs):
        wall, rss, out, _ = run(c.segql_cmd(data, seg, True))
        assert int(out.strip().splitlines()[-1].split(",")[-1]) == n, out
        t.add("segql", wall, rss)
        wall, rss, out, _ = run(c.dfsql_cmd(data, df_count))
        assert int(out.strip()) == n, out
        t.add("df", wall, rss)
        wall, rss, out, err = run(c.duck_cmd(data, duck_count))
        assert int(out.strip()) == n, out
        t.add("duck", float(err.strip().splitlines()[-1]), rss)
        t.t["duck_proc"].append(wall)
    return n, t


def bench_report(c, data, w, receipts, tmp, runs):
    """A report workload (`command`: segql's arguments, one per line, `{dir}` standing for
    the workload's directory): the same rows from all three (numbers to 2 places), then
    timed runs of the whole report."""
    lines = (w / "command").read_text().splitlines()
    # `{dir}` in an argument is the workload's directory (e.g. its segment file).
    args = [a.replace("{dir}", str(w)) for a in lines if a and not a.startswith("#")]
    tag = f"{data.name}-{w.name}"
    files = {}
    for dialect in ("datafusion", "duckdb"):
        src = w / f"{dialect}.sql"
        if not src.exists():
            src = w / "datafusion.sql"
        files[dialect] = tmp / f"{tag}-{dialect}.sql"
        files[dialect].write_text(expand(src.read_text(), receipts))
    cmd = c.segql_report_cmd(data, args)
    _, _, out, _ = run(cmd)
    expected = normalized_rows(out.strip().splitlines()[1:], ",")
    for name, other in [
        ("DataFusion SQL", c.dfsql_cmd(data, files["datafusion"])),
        ("DuckDB", c.duck_cmd(data, files["duckdb"], all_columns=True)),
    ]:
        got = normalized_rows(run(other)[2].strip().splitlines(), "\t")
        if got != expected:
            diff = [r for r in expected if r not in got][:3]
            sys.exit(
                f"{data.name} {w.name}: {name} disagrees with segql ({len(got)} vs "
                f"{len(expected)} rows); rows only in segql: {diff}"
            )
    t = Timings()
    for _ in range(runs):
        wall, rss, _, _ = run(cmd)
        t.add("segql", wall, rss)
        wall, rss, _, _ = run(c.dfsql_cmd(data, files["datafusion"]))
        t.add("df", wall, rss)
        wall, rss, _, err = run(c.duck_cmd(data, files["duckdb"], all_columns=True))
        t.add("duck", float(err.strip().splitlines()[-1]), rss)
        t.t["duck_proc"].append(wall)
    return len(expected), t


RULES = ["collect_build_side", "roll_up_by_customer", "collapse_runs", "read_once"]


def rule_table(c, a) -> None:
    """What each of segql's physical rules gains: every workload of the chosen cells timed
    with all rules and with each rule off (`--no-physical-rule`), runs interleaved so that
    the machine's drift spreads over all of them; prints the ratio off/on per rule (above
    1.0: the rule saves time there)."""
    cells = selected_cells(a)
    configs = [("all", [])] + [(r, ["--no-physical-rule", r]) for r in RULES]
    print("| cell | workload | all rules (s) | " + " | ".join(f"without {r}" for r in RULES) + " |")
    print("|---|---|---:|" + "---:|" * len(RULES))
    for cell in cells:
        data = data_set(a.segql, a.data_root, cell)
        for name in cell["workloads"]:
            if a.only not in name:
                continue
            w = HERE / "workloads" / name
            if (w / "command").exists():
                lines = (w / "command").read_text().splitlines()
                args = [x for x in lines if x and not x.startswith("#")]
                base = c.segql_report_cmd(data, [x.replace("{dir}", str(w)) for x in args])
            else:
                base = c.segql_cmd(data, w / "segment.seg", True)
            times = {k: [] for k, _ in configs}
            for _ in range(a.runs):
                for k, extra in configs:
                    times[k].append(run(base + extra)[0])
            med = {k: statistics.median(v) for k, v in times.items()}
            ratios = " | ".join(f"{med[r] / med['all']:.2f}" for r in RULES)
            print(f"| {cell['name']} | {name} | {med['all']:.3f} | {ratios} |", flush=True)


def selected_cells(a) -> list[dict]:
    """The cells of the matrix named by `--cells` (all when none)."""
    wanted = [c for c in a.cells.split(",") if c]
    cells = tomllib.loads(a.matrix.read_text())["cell"]
    return [x for x in cells if not wanted or x["name"] in wanted]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segql", required=True)
    ap.add_argument("--datafusion-sql", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--matrix", type=Path, default=HERE / "matrix.toml")
    ap.add_argument("--data-root", type=Path, required=True, help="where data sets are kept")
    ap.add_argument("--cells", default="", help="run only these cells (names, comma-separated)")
    ap.add_argument("--only", default="", help="run only workloads whose name contains this")
    ap.add_argument(
        "--rules",
        action="store_true",
        help="time segql alone with each of its physical rules switched off in turn",
    )
    a = ap.parse_args()
    c = Contestants(a.segql, a.datafusion_sql, a.python)
    if a.rules:
        rule_table(c, a)
        return
    cells = selected_cells(a)
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for cell in cells:
            data = data_set(a.segql, a.data_root, cell)
            receipts = cell.get("receipts", True)
            for name in cell["workloads"]:
                if a.only not in name:
                    continue
                w = HERE / "workloads" / name
                kind = bench_report if (w / "command").exists() else bench_segment
                n, t = kind(c, data, w, receipts, tmp, a.runs)
                med = t.medians()
                rows.append((data.name, name, n, med, t.mem))
                print(
                    f"{data.name:<36} {name:<20} {n:>7} rows  segql {med['segql']:.3f} s  "
                    f"DataFusion SQL {med['df']:.3f} s  DuckDB {med['duck']:.3f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print_table(rows, a.runs)


def print_table(rows, runs: int) -> None:
    print(
        f"\nMedian of {runs} runs, seconds (cold processes; DuckDB: query time inside its "
        f"process, and the whole process in brackets). Peak RSS in MB.\n"
    )
    head = (
        "| data | workload | rows | segql | DataFusion SQL | DuckDB | segql/DuckDB "
        "(whole process) | segql/DF-SQL | peak MB segql / DF-SQL / DuckDB |"
    )
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios, procs, dfs, mems = [], [], [], []
    for data, w, n, med, mem in rows:
        r, rp, rd = (
            med["segql"] / med["duck"],
            med["segql"] / med["duck_proc"],
            med["segql"] / med["df"],
        )
        ratios.append(r)
        procs.append(rp)
        dfs.append(rd)
        mems.append(mem["segql"] <= mem["duck"])
        print(
            f"| {data} | {w} | {n} | {med['segql']:.3f} | {med['df']:.3f} | "
            f"{med['duck']:.3f} ({med['duck_proc']:.3f}) | {r:.2f} ({rp:.2f}) | "
            f"{rd:.2f} | {mem['segql']} / {mem['df']} / {mem['duck']} |"
        )
    if rows:
        print(
            f"\nsegql/DuckDB: median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}, "
            f"{sum(r > 1.0 for r in ratios)} of {len(rows)} over 1.0 (whole process: median "
            f"{statistics.median(procs):.2f}, worst {max(procs):.2f}); segql/DF-SQL: worst "
            f"{max(dfs):.2f}, {sum(r > 1.05 for r in dfs)} over 1.05; peak memory at or under "
            f"DuckDB's in {sum(mems)} of {len(rows)}."
        )


if __name__ == "__main__":
    main()
