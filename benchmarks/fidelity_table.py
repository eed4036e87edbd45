"""A model's fidelity table from a benchmark.csv: per metric and stage (raw, refined) the distance to the
simulated glasses, the permutation noise (median, 95th percentile), the p-value and the verdict.

    python benchmarks/fidelity_table.py results/sio2/benchmark.csv --model dm2 --rate 100

Prints a Markdown table (the README's) and, per stage, how many metrics are inside the noise.
"""

from __future__ import annotations

import argparse

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmark", help="a benchmark.csv written by the benchmark_table rule")
    ap.add_argument("--model", default="dm2")
    ap.add_argument("--rate", type=float, default=None, help="target cooling rate (K/ps); default: every rate")
    ap.add_argument("--metrics", nargs="*", default=None, help="only these metrics (default: all)")
    args = ap.parse_args()
    df = pd.read_csv(args.benchmark)
    df = df[(df["model"] == args.model) & (df["test"] == "permutation")]
    if args.rate is not None:
        df = df[df["cooling_rate"] == args.rate]
    if args.metrics:
        df = df[df["metric"].isin(args.metrics)]
    if df.empty:
        raise SystemExit(f"no permutation rows for model {args.model!r} at rate {args.rate} in {args.benchmark}")
    first = df.iloc[0]
    print(f"{args.model}: {int(first['n_samples'])} generated vs {int(first['n_reference'])} simulated, "
          f"{int(first['n_splits'])} splits (p >= {first['p_min']:.3g})\n")
    print("| metric | stage | distance | noise median | noise p95 | p | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (metric, stage), row in df.sort_values(["metric", "stage"]).set_index(["metric", "stage"]).iterrows():
        print(f"| `{metric}` | {stage} | {row['distance']:.4g} | {row['noise_median']:.4g} | "
              f"{row['noise_p95']:.4g} | {row['p_value']:.3g} | {row['verdict']} |")
    print()
    for stage, part in df.groupby("stage"):
        counts = part["verdict"].value_counts().to_dict()
        print(f"{stage}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
