"""The warm REPL as a user runs it: the release `segql repl` over a data set, each condition
typed RUNS times with `:timing` on; prints start-up, peak memory and the median time of each
condition with what it read.

    python bench/repl.py --segql target/release/segql --runs 5 DATA_DIR

Unlike `cargo bench --bench repl` (the dev profile, segql's crates unoptimised), this times
the binary users run.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (kind, condition), the kinds of benches/repl.rs.
QUERIES = [
    ("profile", "recency < 30d and frequency >= 3"),
    ("profile", 'lifecycle in (at_risk, churned) and city = "Kyiv" and monetary within 365d > 1000'),
    ("bought", 'bought partner "OKKO" within 7d'),
    ("bought", 'bought category "Coffee" at least 2 times within 30d'),
    ("bought", 'bought category ("Phones", "Laptops") within 1y'),
    ("bought", 'bought category "Coffee"'),
    ("spend on", 'spend on category "Coffee" within 90d > 500'),
    ("window", "frequency within 14d >= 2"),
    ("window", "monetary within 60d > 3000"),
    ("window", 'frequency at "OKKO" within 90d >= 3'),
    ("other", "rfm_segment = champions"),
]

TIME = re.compile(r"time: ([0-9.]+) ms \((.*)\)$")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segql", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--as-of", default="2026-10-31")
    ap.add_argument("data", type=Path)
    a = ap.parse_args()
    script = ":timing\n" + "".join(f"{q}\n" * a.runs for _, q in QUERIES) + ":quit\n"
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NO_COLOR="1", SEGQL_HISTORY=str(Path(d) / "history"))
        peak = Path(d) / "peak"
        cmd = ["/usr/bin/time", "-f", "%M", "-o", str(peak), a.segql, "repl"]
        cmd += ["--project", str(a.data), "--as-of", a.as_of]
        t = time.perf_counter()
        p = subprocess.run(cmd, input=script, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(p.stderr)
        peak_mb = int(peak.read_text().split()[-1]) // 1024
    times = [(float(m[1]), m[2]) for m in map(TIME.search, p.stdout.splitlines()) if m]
    if len(times) != a.runs * len(QUERIES):
        sys.exit(f"expected {a.runs * len(QUERIES)} timings, got {len(times)}:\n{p.stdout}")
    print(f"{a.data.name}: start-up and queries {wall:.1f} s in all, peak RSS {peak_mb} MiB")
    for line in p.stderr.splitlines():
        if line.startswith(("in memory:", "profiled", "nothing held")):
            print(f"  {line}")
    print("\n| kind | condition | median ms | read |\n|---|---|---:|---|")
    for i, (kind, q) in enumerate(QUERIES):
        mine = times[i * a.runs : (i + 1) * a.runs]
        med = statistics.median(t for t, _ in mine)
        print(f"| {kind} | `{q}` | {med:.1f} | {mine[0][1]} |")


if __name__ == "__main__":
    main()
