"""Refine generated structures with the ground-truth potential: push apart overlaps, minimise, NVT, NPT.

Generated structures can contain pairs far closer than any bond. Buckingham-type potentials (a-SiO2
BJP) turn attractive without bound below ~0.6 Å (the "Buckingham catastrophe"), so such pairs would
collapse in LAMMPS. :func:`push_apart` first moves every pair closer than ``min_distance`` apart
(symmetrically along the pair vector, iterated), then ``lammps_inputs/refine.in`` minimises and runs
short NVT and NPT at 300 K (DM2: 25 ps + 25 ps), using only styles with OPENMP and KOKKOS variants.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ase
import numpy as np

from ..io import atomic_path
from ..provenance import provenance
from .lammps import INPUT_DIR, Accelerator, run_lammps
from .protocols import structure_from_lammps
from .systems import get_potential, write_lammps_data

__all__ = ["push_apart", "refine_structure"]


def push_apart(atoms: ase.Atoms, min_distance: float = 1.0, max_iter: int = 200) -> tuple[ase.Atoms, int]:
    """Move atoms of every pair closer than ``min_distance`` (Å) apart until none is left.

    Returns the new structure and the number of pairs that were closer than ``min_distance`` at the
    start. Coincident atoms are separated along a deterministic pseudo-random direction.
    """
    atoms = atoms.copy()
    atoms.wrap()
    # matscipy, not vesin: vesin imports torch whenever it is installed (~2 s per refine job, which needs none)
    from matscipy.neighbours import neighbour_list

    n_initial = None
    rng = np.random.default_rng(0)
    for _ in range(max_iter):
        i, j, vec = neighbour_list("ijD", positions=atoms.positions, cell=atoms.cell[:], pbc=[True, True, True],
                                   cutoff=float(min_distance))
        half = i < j  # each pair (and each periodic image of it) once
        i, j, vec = i[half], j[half], vec[half]
        d = np.linalg.norm(vec, axis=1)
        close = d < min_distance
        if n_initial is None:
            n_initial = int(close.sum())
        if not close.any():
            break
        i, j, vec, d = i[close], j[close], vec[close], d[close]
        tiny = d < 1e-6
        if tiny.any():
            vec[tiny] = rng.normal(size=(int(tiny.sum()), 3))
            d[tiny] = 1e-6
        unit = vec / np.linalg.norm(vec, axis=1)[:, None]
        # 0.55 rather than 0.5: overshoot slightly so chains of contacts converge
        step = (0.55 * (min_distance - d))[:, None] * unit
        delta = np.zeros_like(atoms.positions)
        np.add.at(delta, i, -step)
        np.add.at(delta, j, step)
        atoms.positions = atoms.positions + delta
        atoms.wrap()
    else:
        raise RuntimeError(f"could not separate close atoms below {min_distance} Å in {max_iter} iterations")
    return atoms, int(n_initial or 0)


def refine_structure(atoms: ase.Atoms, potential: str, *, temperature: float, nvt_ps: float, npt_ps: float,
                     pressure_bar: float, min_distance: float, seed: int,
                     log_path: str | os.PathLike, data_out: str | os.PathLike | None = None,
                     accelerator: Accelerator | None = None, binary: str | None = None,
                     mpi_launch: str | None = None, timestep_ps: float | None = None,
                     potential_dir: str | os.PathLike | None = None) -> ase.Atoms:
    """Refined copy of ``atoms`` with ``info`` kept and updated, energy/stress as calculator results.

    ``potential_dir``: where the potential files are (default: the shipped ``potentials/``)."""
    pot = get_potential(potential)
    potdir = Path(potential_dir).resolve() if potential_dir else None
    pushed, n_close = push_apart(atoms, min_distance)
    log_path = Path(log_path).resolve()  # LAMMPS runs in a scratch directory: every path must be absolute
    log_path.parent.mkdir(parents=True, exist_ok=True)
    params = dict(temperature=temperature, nvt_ps=nvt_ps, npt_ps=npt_ps, pressure=pressure_bar,
                  min_distance=min_distance, dt=timestep_ps or pot.timestep_ps)
    with tempfile.TemporaryDirectory(dir=log_path.parent, prefix=".refine.") as tmp:
        tmp = Path(tmp)
        write_lammps_data(tmp / "in.data", pushed, pot.species)
        result = run_lammps(
            INPUT_DIR / "refine.in",
            dict(data_in=str(tmp / "in.data"), data_out=str(tmp / "out.data"), **pot.lammps_vars(potdir), seed=seed,
                 dt=params["dt"], temperature=temperature,
                 pressure=pressure_bar, nvt_ps=nvt_ps, npt_ps=npt_ps),
            log_path, accelerator=accelerator, binary=binary, mpi_launch=mpi_launch, cwd=tmp,
        )
        refined = structure_from_lammps(tmp / "out.data", pot.species, result)  # energy, stress attached
        if data_out is not None:
            with atomic_path(data_out) as dst:
                dst.write_bytes((tmp / "out.data").read_bytes())
    info = {k: v for k, v in atoms.info.items() if k not in ("params", "code_version", "seed", "lammps_version",
                                                            "potential_sha256")}
    refined.info.update(info)
    refined.info.update(provenance(
        seed=seed, params={"refine": params, "generation": atoms.info.get("params")},
        potential_files=pot.files(potdir), lammps_version=result.version or None,
    ))
    # with no MD (nvt_ps = npt_ps = 0) this is the generator's own structure, minimised only ("raw")
    refined.info.update({"refined": bool(nvt_ps + npt_ps > 0), "minimized": True, "pairs_pushed_apart": n_close,
                         "generation_seed": int(atoms.info.get("seed", -1))})
    refined.info["seed"] = int(atoms.info.get("seed", seed))
    return refined
