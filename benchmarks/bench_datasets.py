"""Cost of building the datasets, from the LAMMPS logs of a finished build, and its paper-scale extrapolation.

Build first (the default config: ``snakemake -c2 -d WORK results/si/dataset.csv results/sio2/dataset.csv``),
then ``python benchmarks/bench_datasets.py WORK``. Per dataset it sums, over every LAMMPS run and
minimisation of its logs (generation and labels), the CPU seconds (``Loop time`` x ``% CPU use``: the CPU
the run got, so a loaded machine stretches the wall time but not this) and the atom-steps (MD steps and
minimiser iterations times atoms). The paper-scale cost per frame is the measured CPU per atom-step times
the atom-steps one paper frame needs (configs/paper.yaml; minimiser iterations per atom as measured).
Python start-up and file handling are not in these numbers (the build's total CPU time is: ``time``).
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

_LOOP = re.compile(r"(\S+) on \d+ procs for (\d+) steps with (\d+) atoms")
_CPU = re.compile(r"([\d.]+)% CPU use")


def log_cost(path: Path) -> tuple[float, float, float]:
    """(CPU seconds, MD atom-steps, all atom-steps incl. minimiser iterations) of one LAMMPS log."""
    cpu = md = steps = 0.0
    for block in path.read_text(errors="replace").split("Loop time of ")[1:]:
        m, c = _LOOP.match(block), _CPU.search(block)
        if not m or not c:
            continue
        t, n, atoms, pct = float(m[1]), int(m[2]), int(m[3]), float(c[1])
        cpu += t * min(pct, 100.0) / 100.0
        steps += n * atoms
        if "Minimization stats" not in block:  # a minimiser's loop line is followed by its stats
            md += n * atoms
    return cpu, md, steps


def paper_atom_steps(paper: dict) -> dict[str, float]:
    """Atom-steps (MD only) of one paper-scale frame of each dataset."""
    out = {}
    for sysname, system in paper["systems"].items():
        dt = system.get("timestep_ps", 0.001)
        for name, ds in system.get("datasets", {}).items():
            n = ds.get("n_atoms", system.get("n_atoms", 300))
            n = sum(n) / len(n) if isinstance(n, list) else n
            melt, hold = ds.get("melt", {}), ds.get("hold", {})
            equil = melt.get("nvt_ps", 5) + melt.get("npt_ps", 5)
            if ds["protocol"] == "liquid":
                ps = ds.get("snapshot_every_ps", 1.0) + equil / ds["samples"]
            elif ds["protocol"] == "quench":
                liquid = ds.get("snapshot_every_ps", 1.0) + equil / ds["samples"] if ds.get("start") == "liquid" else equil
                ps = liquid + hold.get("nvt_ps", 0) + hold.get("npt_ps", 0)
            else:
                ps = equil + (melt.get("temperature", 2500) - hold.get("temperature", 300)) / ds["cooling_rate"] + \
                    hold.get("npt_ps", 0)
            out[f"{sysname}/{name}"] = n * ps / dt
    return out


def main() -> None:
    import yaml

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workdir", help="the directory a dataset build ran in (its logs/ and results/)")
    ap.add_argument("--paper", default=str(Path(__file__).resolve().parents[1] / "configs" / "paper.yaml"))
    args = ap.parse_args()
    work = Path(args.workdir)
    cost = defaultdict(lambda: [0.0, 0.0, 0.0])
    for log in sorted(work.glob("logs/*/datasets/*/**/*.lammps.log")):
        system, dataset = log.relative_to(work / "logs").parts[:3:2]
        c = log_cost(log)
        entry = cost[f"{system}/{dataset}"]
        for k in range(3):
            entry[k] += c[k]
    import pandas as pd

    from amorphous_ml import io

    paper = paper_atom_steps(yaml.safe_load(Path(args.paper).read_text()))
    rows = []
    for key, (cpu, md, steps) in sorted(cost.items()):
        system, dataset = key.split("/")
        frames = len(io.read_structures(work / f"results/{system}/datasets/{dataset}.extxyz"))
        per_md = cpu / md if md else float("nan")
        p = paper.get(key, float("nan"))
        rows.append({"dataset": key, "frames": frames, "lammps_cpu_s": round(cpu, 1),
                     "cpu_s_per_frame": round(cpu / frames, 2), "md_atom_steps_per_frame": md / frames,
                     "us_per_atom_step": round(1e6 * per_md, 3), "paper_md_atom_steps_per_frame": p,
                     "paper_cpu_s_per_frame": round(p * per_md * (steps / md if md else 1), 1)})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"total LAMMPS CPU: {table.lammps_cpu_s.sum():.0f} s")


if __name__ == "__main__":
    main()
