"""Time every structure metric of ``amorphous_ml.validate.structure.analyze`` at 3000 and ~100k atoms.

Structures: a rattled cristobalite supercell (a-SiO2 stand-in: Si-O network, rings, 24 atoms per cell;
or a replicated glass from ``results/sio2/glasses`` with ``--glass``) analysed with the sio2 settings,
and a jittered random packing of Cu50Zr50 (metallic stand-in) analysed with Voronoi radii. Imports and
the QUESTS numba compilation are warmed up on a small structure first and not timed.

    python benchmarks/bench_analysis.py                 # 3000 and ~100k atoms, both systems
    python benchmarks/bench_analysis.py --sizes 3000 --no-minimize
"""

from __future__ import annotations

import argparse
import os
import time

import ase
import numpy as np
import pandas as pd


def cristobalite_cell(a: float = 7.16) -> ase.Atoms:
    from ase.build import bulk
    from matscipy.neighbours import neighbour_list

    si = bulk("Si", "diamond", a=a, cubic=True)
    i, j, d = neighbour_list("ijD", si, a * np.sqrt(3) / 4 + 0.1)
    o = si.positions[i[i < j]] + d[i < j] / 2
    return ase.Atoms(f"Si8O{len(o)}", positions=np.vstack([si.positions, o]), cell=si.cell, pbc=True)


def silica(n_atoms: int, seed: int = 0, glass: str | None = None) -> ase.Atoms:
    """Replicate a unit (24-atom cristobalite or a glass file) to about ``n_atoms`` atoms, then rattle."""
    if glass:
        from amorphous_ml import io

        unit = io.read_structure(glass)
    else:
        unit = cristobalite_cell()
    reps = max(1, round((n_atoms / len(unit)) ** (1 / 3)))
    atoms = unit * (reps, reps, reps)
    atoms.positions += np.random.default_rng(seed).normal(0, 0.1, atoms.positions.shape)
    atoms.wrap()
    return atoms


def metallic(n_atoms: int, seed: int = 0) -> ase.Atoms:
    from amorphous_ml.simulate.systems import atom_counts, random_packing

    return random_packing(atom_counts("Cu50Zr50", n_atoms), density_gcc=7.0, seed=seed, jitter=0.2)


SETTINGS = {
    "sio2": {"bond_cutoffs": {"Si-O": 2.0}, "coordination": {"Si-O": 4, "O-Si": 2}, "ring_max_length": 24},
    "cuzr": {"voronoi_radii": {"Cu": 1.28, "Zr": 1.60}},
}
POTENTIAL = {"sio2": "sio2_bjp", "cuzr": "cuzr_mendelev"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 100_000])
    parser.add_argument("--systems", nargs="+", default=["sio2", "cuzr"], choices=["sio2", "cuzr"])
    parser.add_argument("--glass", default=None, help="an a-SiO2 extxyz to replicate instead of cristobalite")
    parser.add_argument("--no-minimize", action="store_true", help="skip the LAMMPS minimisation")
    parser.add_argument("--accelerator", default="omp", help="LAMMPS accelerator for the minimisation")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from amorphous_ml.simulate.lammps import Accelerator
    from amorphous_ml.validate.structure import analyze

    lammps_kwargs = {"accelerator": Accelerator.parse(args.accelerator, args.threads)}
    for system in args.systems:  # warm-up: imports, numba compilation/cache, OVITO start-up
        analyze(silica(200) if system == "sio2" else metallic(200), SETTINGS[system])

    columns = {}
    for system in args.systems:
        for n in args.sizes:
            atoms = silica(n, glass=args.glass) if system == "sio2" else metallic(n)
            timings: dict = {}
            t0 = time.perf_counter()
            analyze(atoms, SETTINGS[system], potential=None if args.no_minimize else POTENTIAL[system],
                    lammps_kwargs=lammps_kwargs, timings=timings)
            timings["TOTAL"] = time.perf_counter() - t0
            columns[f"{system} {len(atoms)} atoms"] = timings
            print(f"{system:5s} {len(atoms):7d} atoms: {timings['TOTAL']:.1f} s", flush=True)
    table = pd.DataFrame(columns).round(3)
    order = [i for i in table.index if i != "TOTAL"] + ["TOTAL"]
    print(f"\nseconds per metric ({os.cpu_count()} cores, OMP threads for LAMMPS: {args.threads})")
    print(table.reindex(order).astype(object).where(table.reindex(order).notna(), "-").to_string())


if __name__ == "__main__":
    main()
