"""CPU cost of the jobs a set of models and datasets adds to the DAG, from Snakemake's benchmark files.

    python benchmarks/bench_model_jobs.py RESULTS_DIR [--models amden amden_hmc] [--datasets quench anneal]

Reads ``RESULTS_DIR/<system>/benchmarks/**.tsv`` (written by every rule) and sums, per rule family, the
wall time ``s`` and the CPU time ``cpu_time`` (user + system seconds of the job's processes). CPU time is the
figure to quote on a shared machine: it counts the work, not the waiting for a core. The DAG growth on
2 cores is at least (sum of CPU time) / 2. Per-structure generation cost = generate_<model> CPU time / count.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd


def family(path: Path, bench_root: Path) -> str:
    rel = path.relative_to(bench_root).as_posix()
    rel = re.sub(r"/[^/]+\.tsv$", "", rel) if "/" in rel else rel[:-4]
    return rel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="the results/ directory of a workflow run")
    ap.add_argument("--match", nargs="*", default=None,
                    help="keep rule families whose path contains one of these (e.g. amden datasets inverse)")
    args = ap.parse_args()
    rows = defaultdict(lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0})
    for system_dir in sorted(Path(args.results).iterdir()):
        bench = system_dir / "benchmarks"
        if not bench.is_dir():
            continue
        for f in sorted(bench.rglob("*.tsv")):
            fam = f"{system_dir.name}/{family(f, bench)}"
            if args.match and not any(m in f.relative_to(bench).as_posix() for m in args.match):
                continue
            t = pd.read_csv(f, sep="\t")
            r = rows[fam]
            r["jobs"] += 1
            r["wall_s"] += float(t["s"].iloc[-1])
            r["cpu_s"] += float(t["cpu_time"].iloc[-1])
    table = pd.DataFrame([{"rule": k, **v} for k, v in sorted(rows.items())])
    if table.empty:
        print("no benchmark files matched")
        return
    table["cpu_per_job_s"] = table["cpu_s"] / table["jobs"]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print(f"total: {int(table.jobs.sum())} jobs, wall {table.wall_s.sum():.0f} s, CPU {table.cpu_s.sum():.0f} s "
          f"(>= {table.cpu_s.sum() / 2:.0f} s on 2 cores)")


if __name__ == "__main__":
    main()
