"""Side-by-side benchmark: segql against hand-written DataFusion SQL and DuckDB.

Run through `bench/run.sh`, which builds the binaries, installs DuckDB and generates the
data. For every data set and workload it first checks that the three contestants return the
same members (and, for a campaign, the same control/test groups), then times each one's
count query RUNS times in fresh processes, and prints one table: medians, ratios and peak
memory.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AS_OF = "2026-10-31"


def run(cmd: list[str], env: dict | None = None) -> tuple[float, int, str, str]:
    """Runs a command; returns wall seconds, peak RSS in MB, stdout and stderr."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{stderr}")
    return wall, usage.ru_maxrss // 1024, stdout, stderr


class Contestants:
    def __init__(self, segql: str, dfsql: str, python: str):
        self.segql, self.dfsql, self.python = segql, dfsql, python

    def segql_cmd(self, data: Path, seg: Path, count: bool) -> list[str]:
        cmd = [self.segql, "run", "--project", str(data), "--as-of", AS_OF, str(seg)]
        cmd += ["--segment", "bench"]
        return cmd + (["--count", "--format", "csv"] if count else ["--format", "csv"])

    def dfsql_cmd(self, data: Path, sql: Path) -> list[str]:
        return [self.dfsql, str(data), str(sql)]

    def duck_cmd(self, data: Path, sql: Path) -> list[str]:
        return [self.python, str(HERE / "duck.py"), str(data), str(sql)]


def members_of_segql(stdout: str, campaign: bool) -> list[str]:
    lines = stdout.strip().splitlines()[1:]
    keep = 2 if campaign else 1
    return sorted(",".join(line.split(",")[:keep]) for line in lines)


def counted(sql: Path, tmp: Path) -> Path:
    """The count query around a member query."""
    out = tmp / f"{sql.parent.name}-{sql.stem}-count.sql"
    body = sql.read_text().strip().rstrip(";")
    out.write_text(f"SELECT count(*) FROM (\n{body}\n) AS members\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segql", required=True)
    ap.add_argument("--datafusion-sql", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="run only workloads whose name contains this")
    ap.add_argument("data", nargs="+", type=Path)
    a = ap.parse_args()
    c = Contestants(a.segql, a.datafusion_sql, a.python)
    workloads = sorted(p for p in (HERE / "workloads").iterdir() if a.only in p.name)
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for data in a.data:
            for w in workloads:
                seg, df_sql = w / "segment.seg", w / "datafusion.sql"
                # DuckDB runs the same SQL unless the workload has its own dialect's version.
                duck_sql = w / "duckdb.sql" if (w / "duckdb.sql").exists() else df_sql
                campaign = "campaign" in seg.read_text()
                # 1. The same members from everyone, before anything is timed.
                _, _, out, _ = run(c.segql_cmd(data, seg, False))
                expected = members_of_segql(out, campaign)
                for name, cmd in [
                    ("DataFusion SQL", c.dfsql_cmd(data, df_sql)),
                    ("DuckDB", c.duck_cmd(data, duck_sql)),
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
                df_count, duck_count = counted(df_sql, tmp), counted(duck_sql, tmp)
                t = {"segql": [], "df": [], "duck": [], "duck_proc": []}
                mem = {"segql": 0, "df": 0, "duck": 0}
                for _ in range(a.runs):
                    wall, rss, out, _ = run(c.segql_cmd(data, seg, True))
                    assert int(out.strip().splitlines()[-1].split(",")[-1]) == n, out
                    t["segql"].append(wall)
                    mem["segql"] = max(mem["segql"], rss)
                    wall, rss, out, _ = run(c.dfsql_cmd(data, df_count))
                    assert int(out.strip()) == n, out
                    t["df"].append(wall)
                    mem["df"] = max(mem["df"], rss)
                    wall, rss, out, err = run(c.duck_cmd(data, duck_count))
                    assert int(out.strip()) == n, out
                    t["duck"].append(float(err.strip().splitlines()[-1]))
                    t["duck_proc"].append(wall)
                    mem["duck"] = max(mem["duck"], rss)
                med = {k: statistics.median(v) for k, v in t.items()}
                rows.append((data.name, w.name, n, med, mem))
                print(
                    f"{data.name:<14} {w.name:<20} {n:>7} members  segql {med['segql']:.3f} s  "
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
        "| data | workload | members | segql | DataFusion SQL | DuckDB | segql/DuckDB "
        "| segql/DF-SQL | peak MB segql / DF-SQL / DuckDB |"
    )
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for data, w, n, med, mem in rows:
        print(
            f"| {data} | {w} | {n} | {med['segql']:.3f} | {med['df']:.3f} | "
            f"{med['duck']:.3f} ({med['duck_proc']:.3f}) | {med['segql'] / med['duck']:.2f} | "
            f"{med['segql'] / med['df']:.2f} | {mem['segql']} / {mem['df']} / {mem['duck']} |"
        )


if __name__ == "__main__":
    main()
