#!/usr/bin/env bash
# Wall time of the default DAG on this machine: a fresh copy of the repository at HEAD, the embedded
# config.yaml, `snakemake -c2` on the given targets (default: results/sio2/fracture.csv).
#   bash benchmarks/bench_default_dag.sh [targets...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
git -C "$repo" archive HEAD | tar -x -C "$work"
targets=${*:-results/sio2/fracture.csv}
cd "$work"
start=$(date +%s)
PYTHONPATH="$work" "$py" -m snakemake -c2 $targets > "$work/snakemake.log" 2>&1
end=$(date +%s)
echo "default DAG ($targets) on $(nproc) cores: $((end - start)) s wall; outputs in $work/results"
