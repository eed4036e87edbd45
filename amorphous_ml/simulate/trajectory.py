"""NPT trajectory snapshots around T_g (GlassVAE's data set): one cooling trajectory, sampled at each temperature
(a dataset of protocol ``npt_snapshots`` has ``trajectories`` of them, one part each: simulate/datasets.py).

Protocol (Chen et al., REFERENCE.md section 4; sizes from the config): random packing -> minimise ->
hold at the melt temperature (NVT ``melt.nvt_ps``, NPT ``melt.npt_ps``) -> cool at ``cooling_rate`` (K/ps)
to the first temperature -> equilibrate ``equilibrate_ps`` -> ``snapshots_per_temperature`` snapshots
every ``snapshot_every_ps`` -> cool at ``cooling_rate_between`` to the next temperature, and so on down
the list (the paper cools one trajectory through 1000, 920, 840, 760 and 700 K). Each
temperature is one run of ``lammps_inputs/npt_snapshots.in`` continuing from the previous state (with
its velocities). Each snapshot carries its instantaneous potential energy (calculator result
``energy``, eV per cell, the paper's label) and, with ``inherent_energy: true``, the energy of its
inherent structure (the snapshot minimised at fixed cell, info ``inherent_energy``).

Output: one multi-frame extxyz (CONTRACT9): info ``dataset``, ``sample`` (unique id), ``seed``,
``n_atoms``, ``composition``, ``temperature_K``, ``snapshot`` (index in time along the trajectory).
"""

from __future__ import annotations

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from .. import io
from ..provenance import provenance
from .protocols import LammpsSettings, _potential_vars, scratch_dir
from .systems import atom_counts, random_packing, read_lammps_data, write_lammps_data

__all__ = ["npt_snapshots"]


def _read_columns(path, n_cols: int) -> np.ndarray:
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] != n_cols:
        raise RuntimeError(f"{path}: expected {n_cols} columns, found {rows.shape[1]}")
    return rows


def npt_snapshots(system_name: str, system: dict, dataset_name: str, ds: dict, out_extxyz, log_prefix,
                  settings: LammpsSettings = LammpsSettings(), progress: bool = False) -> list:
    """Run the protocol for one data set (``ds``: its config section, defaults filled); write ``out_extxyz``.

    ``log_prefix``: LAMMPS logs go to ``{log_prefix}.{k}_{T}K.lammps.log``.
    """
    potvars, potfiles, species = _potential_vars(system)
    composition = ds["composition"]
    counts = atom_counts(composition, ds["n_atoms"])
    seed = int(ds["seed"])
    density = ds.get("initial_density") or system.get("initial_density", 7.0)
    start = random_packing(counts, density, ds.get("box_aspect", [1.0, 1.0, 1.0]), seed=seed)
    temps = [float(t) for t in ds["temperatures"]]
    dt = float(ds.get("timestep_ps") or system["timestep_ps"])
    if float(ds["snapshot_every_ps"]) < dt:
        raise ValueError(f"snapshot_every_ps {ds['snapshot_every_ps']} is shorter than the timestep {dt} ps")
    melt = ds["melt"]
    params = {"system": system_name, "dataset": dataset_name, "potential": system["potential"],
              **{k: v for k, v in ds.items() if k != "labels"}, "timestep_ps": dt}
    frames = []
    with scratch_dir(out_extxyz) as tmp:
        write_lammps_data(tmp / "init.data", start, species)
        state, t_prev = tmp / "init.data", float(melt["temperature"])
        for k, temp in enumerate(temps):
            seg = tmp / f"seg{k}"
            seg.mkdir()
            result = settings.run("npt_snapshots.in", {
                **potvars, "data_in": state, "data_out": seg / "out.data", "snap_prefix": f"{seg}/snap_",
                "energies_out": seg / "energies.txt", "inherent_out": seg / "inherent.txt", "seed": seed,
                "new_velocities": int(k == 0), "dt": dt, "t_start": t_prev, "t_target": temp,
                "cool_rate": float(ds["cooling_rate"] if k == 0 else ds.get("cooling_rate_between") or ds["cooling_rate"]),
                "hold_nvt_ps": float(melt["nvt_ps"]) if k == 0 else 0.0,
                "hold_npt_ps": float(melt["npt_ps"]) if k == 0 else 0.0,
                "equil_ps": float(ds["equilibrate_ps"]), "n_snapshots": int(ds["snapshots_per_temperature"]),
                "snapshot_every_ps": float(ds["snapshot_every_ps"]), "pressure": float(ds["pressure_bar"]),
                "minimize": int(bool(ds["inherent_energy"])),
            }, f"{log_prefix}.{k}_{temp:g}K.lammps.log")
            energies = _read_columns(seg / "energies.txt", 3)
            inherent = _read_columns(seg / "inherent.txt", 2) if ds["inherent_energy"] else None
            for row_i, row in enumerate(energies):
                idx = int(row[0])
                atoms = read_lammps_data(seg / f"snap_{idx}.data", species)
                for key in ("momenta",):
                    atoms.arrays.pop(key, None)
                atoms.calc = SinglePointCalculator(atoms, energy=float(row[1]))
                snap = len(frames)
                atoms.info.update(provenance(seed=seed, params=params, potential_files=potfiles,
                                             lammps_version=result.version or None))
                atoms.info.update(
                    dataset=dataset_name, sample=f"{dataset_name}_{temp:g}K_{idx:05d}", seed=seed,
                    n_atoms=len(atoms), composition=composition, system=system_name, temperature_K=temp,
                    snapshot=snap, source="simulated", model="md",
                )
                if inherent is not None:
                    atoms.info["inherent_energy"] = float(inherent[row_i, 1])
                frames.append(atoms)
            state, t_prev = seg / "out.data", temp
        io.write_structures(out_extxyz, frames)
    return frames
