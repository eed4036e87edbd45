"""Summarise the Snakemake ``benchmark:`` files of a workflow run, per system and rule.

    python benchmarks/summarize_dag.py RESULTS_DIR

Every rule writes ``results/{system}/benchmarks/{rule}[/...].tsv`` (Snakemake's columns: ``s``,
``max_rss`` in MB, ``cpu_time``, ...). Prints, per system and rule, the number of jobs, their summed and
largest wall time and the largest resident memory, then the summed job time of the whole run (what one
core would need with no parallelism).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def collect(results: Path) -> pd.DataFrame:
    rows = []
    for tsv in sorted(results.glob("*/benchmarks/**/*.tsv")):
        rel = tsv.relative_to(results)
        system, rule = rel.parts[0], rel.parts[2]
        rule = rule[:-4] if rule.endswith(".tsv") else rule
        bench = pd.read_csv(tsv, sep="\t")
        rows.append(dict(system=system, rule=rule, job=str(rel), s=float(bench["s"].iloc[-1]),
                         max_rss_mb=pd.to_numeric(bench["max_rss"], errors="coerce").iloc[-1]))
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="the run's results/ directory")
    args = ap.parse_args()
    jobs = collect(args.results)
    if jobs.empty:
        raise SystemExit(f"no benchmark files under {args.results}/*/benchmarks/")
    table = jobs.groupby(["system", "rule"], sort=False).agg(
        jobs=("s", "size"), sum_s=("s", "sum"), max_s=("s", "max"), max_rss_mb=("max_rss_mb", "max"))
    with pd.option_context("display.width", 120, "display.float_format", "{:.1f}".format):
        print(table.to_string())
    print(f"{len(jobs)} jobs, summed job time {jobs['s'].sum():.0f} s "
          f"({jobs['s'].sum() / 60:.1f} min on one core), largest RSS {jobs['max_rss_mb'].max():.0f} MB")


if __name__ == "__main__":
    main()
