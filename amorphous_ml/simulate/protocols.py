"""LAMMPS protocols: melt-quench, elastic constants and uniaxial-tension fracture.

Each protocol prepares a scratch directory next to its output, runs one input from ``lammps_inputs/``
through :func:`run_lammps`, and moves results into place atomically only after LAMMPS succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ase
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from .. import io
from ..provenance import provenance
from .lammps import INPUT_DIR, POTENTIAL_DIR, Accelerator, LammpsResult, lammps_version, run_lammps
from .systems import atom_counts, get_potential, random_packing, read_lammps_data, write_lammps_data

__all__ = ["LammpsSettings", "melt_quench", "elastic", "fracture", "structure_from_lammps", "scratch_dir"]

BAR_TO_EV_A3 = 1.0e-4 / 160.21766208  # 1 bar = 1e-4 GPa; 1 eV/A^3 = 160.2 GPa


@dataclass(frozen=True)
class LammpsSettings:
    """How to run LAMMPS (not physics): accelerator, external binary, MPI launcher."""

    accelerator: Accelerator = Accelerator()
    binary: str | None = None
    mpi_launch: str | None = None

    def run(self, input_name: str, variables: dict, log_path) -> LammpsResult:
        return run_lammps(INPUT_DIR / input_name, variables, log_path, accelerator=self.accelerator,
                          binary=self.binary, mpi_launch=self.mpi_launch)

    @property
    def version(self) -> str:
        return lammps_version() if self.binary is None else f"external:{self.binary}"


@contextmanager
def scratch_dir(near: str | os.PathLike):
    """Temporary directory next to an output (same filesystem, so results can be renamed in)."""
    parent = Path(near).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{Path(near).name}.", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _potential_vars(system: dict) -> tuple[dict, list[Path], tuple[str, ...]]:
    pot = get_potential(system["potential"])
    potdir = Path(system.get("potential_dir") or POTENTIAL_DIR).resolve()
    return pot.lammps_vars(potdir), pot.files(potdir), pot.species


def structure_from_lammps(data_file, species, result: LammpsResult | None = None) -> ase.Atoms:
    """Read a LAMMPS data file; attach the last thermo energy and stress as ASE calculator results."""
    atoms = read_lammps_data(data_file, species)
    if result is not None:
        p = np.array([result.last(k) for k in ("Pxx", "Pyy", "Pzz", "Pyz", "Pxz", "Pxy")])
        atoms.calc = SinglePointCalculator(atoms, energy=result.last("PotEng"), stress=-p * BAR_TO_EV_A3)
    return atoms


def melt_quench(system_name: str, system: dict, composition: str, cooling_rate: float, seed: int,
                out_extxyz, out_data, log_path, settings: LammpsSettings = LammpsSettings()) -> ase.Atoms:
    """Random packing -> melt -> cool at ``cooling_rate`` K/ps -> anneal; writes extxyz + data file."""
    potvars, potfiles, species = _potential_vars(system)
    counts = atom_counts(composition, system["n_atoms"])
    start = random_packing(counts, system["initial_density"], system["box_aspect"], seed=seed)
    melt, quench = system["melt"], system["quench"]
    params = {
        "system": system_name, "composition": composition, "cooling_rate": float(cooling_rate),
        "n_atoms": len(start), "potential": system["potential"], "timestep_ps": system["timestep_ps"],
        "melt": melt, "quench": quench, "initial_density": system["initial_density"],
        "box_aspect": list(system["box_aspect"]),
    }
    with scratch_dir(out_extxyz) as tmp:
        write_lammps_data(tmp / "init.data", start, species)
        result = settings.run("melt_quench.in", {
            **potvars, "data_in": tmp / "init.data", "data_out": tmp / "glass.data", "seed": seed,
            "dt": system["timestep_ps"], "t_melt": melt["temperature"], "t_final": quench["final_temperature"],
            "melt_nvt_ps": melt["nvt_ps"], "melt_npt_ps": melt["npt_ps"], "cool_rate": cooling_rate,
            "anneal_ps": quench["anneal_ps"], "pressure": quench["pressure_bar"],
        }, log_path)
        glass = structure_from_lammps(tmp / "glass.data", species, result)
        glass.info.update(provenance(seed=seed, params=params, potential_files=potfiles,
                                     lammps_version=settings.version))
        glass.info.update(
            system=system_name, composition=composition, cooling_rate=float(cooling_rate), seed=int(seed),
            source="simulated", model="md", density_gcc=float(result.last("Density")),
        )
        io.write_structures(out_extxyz, glass)
        with io.atomic_path(out_data) as dst:
            shutil.copyfile(tmp / "glass.data", dst)
    return glass


def _prepare_data(structure: ase.Atoms, species, path: Path) -> None:
    write_lammps_data(path, structure, species)


def elastic(system: dict, structure: ase.Atoms, log_path, settings: LammpsSettings = LammpsSettings(),
            strain: float | None = None) -> dict:
    """Stiffness tensor (GPa) by +/- finite deformations; returns C, K, G, E, nu (see mechanics)."""
    from ..validate.mechanics import stiffness_from_stresses, isotropic_moduli

    potvars, _, species = _potential_vars(system)
    strain = float(strain if strain is not None else system["elastic"]["strain"])
    with tempfile.TemporaryDirectory(prefix="amorphous-ml-elastic-") as tmp:
        tmp = Path(tmp)
        _prepare_data(structure, species, tmp / "in.data")
        settings.run("elastic.in", {
            **potvars, "data_in": tmp / "in.data", "ref_data": tmp / "ref.data", "strain": strain,
            "stress_out": tmp / "stress.txt",
        }, log_path)
        rows = np.loadtxt(tmp / "stress.txt", ndmin=2)
    C = stiffness_from_stresses(rows, strain)
    return {"C_GPa": C.tolist(), "strain": strain, **isotropic_moduli(C)}


def fracture(system: dict, structure: ase.Atoms, seed: int, log_path, settings: LammpsSettings = LammpsSettings()):
    """Uniaxial tension along z; returns the stress-strain curve as a pandas DataFrame (GPa)."""
    import pandas as pd

    potvars, _, species = _potential_vars(system)
    f = system["fracture"]
    with tempfile.TemporaryDirectory(prefix="amorphous-ml-fracture-") as tmp:
        tmp = Path(tmp)
        _prepare_data(structure, species, tmp / "in.data")
        settings.run("fracture.in", {
            **potvars, "data_in": tmp / "in.data", "data_out": tmp / "out.data", "curve_out": tmp / "curve.txt",
            "seed": seed, "dt": system["timestep_ps"], "temp": f["temperature"], "erate": f["strain_rate"],
            "max_strain": f["max_strain"], "equil_ps": f["equilibrate_ps"], "every": f["record_every"],
        }, log_path)
        curve = pd.read_csv(tmp / "curve.txt", sep=r"\s+", comment="#", header=None,
                            names=["strain", "sxx_GPa", "syy_GPa", "szz_GPa", "temp_K", "pe_eV"])
    return curve


def structure_json(structure: ase.Atoms) -> str:
    """The identifying metadata of a structure as JSON (for CSV headers and side files)."""
    from ..samples import target_columns

    keys = ("system", "composition", "cooling_rate", "seed", "source", "model", "code_version",
            "lammps_version", "potential_sha256")
    ident = {k: structure.info.get(k) for k in keys}
    ident.update(target_columns(structure.info))  # the conditions a generated structure was made for
    return json.dumps(ident, sort_keys=True, default=str)
