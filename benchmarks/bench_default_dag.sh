#!/usr/bin/env bash
# Wall time of the default DAG on this machine: a fresh copy of the repository at HEAD, the embedded
# config.yaml, `snakemake -c2`, with the given targets built one stage after another in the same
# directory (default: the quick-start target, then `all`, which then runs only what is left). The sum
# of the stages is the whole DAG; it is an upper bound on one uninterrupted `snakemake -c2` run, since
# a stage boundary can leave one core idle for the last job of the stage.
#   bash benchmarks/bench_default_dag.sh [target-of-stage-1 [target-of-stage-2 ...]]
# Each stage prints its wall time and the load average before it (an idle machine shows < 0.3), then
# the per-job Snakemake benchmarks are summarised (benchmarks/summarize_dag.py).
# Writes benchmarks/out/default_dag.txt too. Start it with no other work on the machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
git -C "$repo" archive HEAD | tar -x -C "$work"
if [ $# -gt 0 ]; then stages=("$@"); else stages=(results/sio2/fracture.csv all); fi
mkdir -p "$repo/benchmarks/out"
report="$repo/benchmarks/out/default_dag.txt"
cd "$work"
{
  echo "commit $(git -C "$repo" rev-parse --short HEAD), $(nproc) cores, $(date -u +%FT%TZ)"
  total=0
  for target in "${stages[@]}"; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date +%s)
    PYTHONPATH="$work" "$py" -m snakemake -c2 "$target" >> "$work/snakemake.log" 2>&1 \
      || { echo "snakemake failed on $target: see $work/snakemake.log"; tail -30 "$work/snakemake.log"; exit 1; }
    wall=$(( $(date +%s) - start ))
    total=$(( total + wall ))
    echo "stage $target: $wall s wall (load average before: $load); cumulative $total s"
  done
  echo "whole DAG (${stages[*]}) on $(nproc) cores: $total s wall = $(( total / 60 )) min $(( total % 60 )) s"
  "$py" "$repo/benchmarks/summarize_dag.py" "$work/results"
  echo "outputs in $work/results, Snakemake log $work/snakemake.log"
} 2>&1 | tee "$report"
