"""LAMMPS protocols: melt-quench, elastic constants and uniaxial-tension fracture.

Each protocol prepares a scratch directory next to its output, runs one input from ``lammps_inputs/``
through :func:`run_lammps`, and moves results into place atomically only after LAMMPS succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ase
import numpy as np
import pandas as pd
from ase.calculators.singlepoint import SinglePointCalculator

from .. import io
from ..mechanics import isotropic_moduli, stiffness_from_stresses
from ..provenance import provenance
from ..units import BAR_TO_EV_A3
from .lammps import INPUT_DIR, POTENTIAL_DIR, Accelerator, LammpsResult, run_lammps
from .systems import atom_counts, get_potential, random_packing, read_lammps_data, write_lammps_data

__all__ = ["LammpsSettings", "melt_quench", "elastic", "fracture", "structure_from_lammps", "scratch_dir"]


@dataclass(frozen=True)
class LammpsSettings:
    """How to run LAMMPS (not physics): accelerator, external binary, MPI launcher."""

    accelerator: Accelerator = Accelerator()
    binary: str | None = None
    mpi_launch: str | None = None

    def run(self, input_name: str, variables: dict, log_path) -> LammpsResult:
        return run_lammps(INPUT_DIR / input_name, variables, log_path, accelerator=self.accelerator,
                          binary=self.binary, mpi_launch=self.mpi_launch)



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


MELT_QUENCH_RESTART = "melt_quench.restart"


def melt_quench_key(params: dict) -> str:
    """Hash of everything that fixes a melt-quench trajectory (its parameters and the input template):
    the name of its restart directory, so a changed config never resumes an old trajectory."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    blob += (INPUT_DIR / "melt_quench.in").read_bytes()
    return hashlib.sha256(blob).hexdigest()


def restart_steps(restart_every_ps: float, timestep_ps: float) -> int:
    """MD steps between restart files (0: none)."""
    return max(1, round(restart_every_ps / timestep_ps)) if restart_every_ps > 0 else 0


def melt_quench(system_name: str, system: dict, composition: str, cooling_rate: float, seed: int,
                out_extxyz, out_data, log_path, settings: LammpsSettings = LammpsSettings(),
                work_dir=None, restart_every_ps: float = 0.0) -> ase.Atoms:
    """Random packing -> [equilibrate] -> melt -> cool at ``cooling_rate`` K/ps -> anneal; writes extxyz + data.

    With ``work_dir`` and ``restart_every_ps`` > 0, LAMMPS writes a restart file every that many ps into
    ``work_dir/<sample>-<params hash>/`` (renamed into place, so only complete files are trusted) and a
    rerun after a kill resumes from the last one, in the stage it stopped in. The directory is removed
    once the glass is written; it is never an output.
    """
    potvars, potfiles, species = _potential_vars(system)
    counts = atom_counts(composition, system["n_atoms"])
    melt, quench = system["melt"], system["quench"]
    pre = system.get("equilibrate") or {}
    params = {
        "system": system_name, "composition": composition, "cooling_rate": float(cooling_rate),
        "n_atoms": int(sum(counts.values())), "potential": system["potential"],
        "timestep_ps": system["timestep_ps"], "melt": melt, "quench": quench,
        "initial_density": system["initial_density"], "box_aspect": list(system["box_aspect"]),
    }
    if pre.get("nvt_ps", 0) or pre.get("npt_ps", 0):  # absent keys keep the laptop glasses' provenance
        params["equilibrate"] = pre
    key = melt_quench_key({**params, "seed": int(seed)})
    n_every = restart_steps(restart_every_ps, system["timestep_ps"]) if work_dir is not None else 0
    for stale in Path(out_extxyz).resolve().parent.glob(f".{Path(out_extxyz).name}.*"):
        shutil.rmtree(stale, ignore_errors=True)  # scratch of an attempt killed with -9 (never a result)
    with scratch_dir(out_extxyz) as tmp:
        rs_dir = Path(work_dir).resolve() / f"{Path(out_extxyz).stem}-{key[:12]}" if n_every else tmp
        rs_dir.mkdir(parents=True, exist_ok=True)
        rs_file = rs_dir / MELT_QUENCH_RESTART
        Path(f"{rs_file}.tmp").unlink(missing_ok=True)  # a write a kill interrupted: never trusted
        resume = n_every > 0 and rs_file.is_file()
        previous = sorted(rs_dir.glob("attempt-*.lammps.log"), key=_attempt_number) if n_every else []
        if not resume:  # no restart written: earlier attempts (if any) belong to no trajectory we continue
            for old in previous:
                old.unlink()
            previous = []
            start = random_packing(counts, system["initial_density"], system["box_aspect"], seed=seed)
            write_lammps_data(tmp / "init.data", start, species)
        else:
            print(f"amorphous-ml melt-quench: resuming from restart file {rs_file}", file=sys.stderr, flush=True)
        # with restarts, each attempt logs into the restart directory (Snakemake deletes a failed job's log
        # before resubmitting it); the rule's log is then every attempt's log in order
        run_log = rs_dir / f"attempt-{len(previous) + 1}.lammps.log" if n_every else log_path
        if n_every:
            print(f"amorphous-ml melt-quench: LAMMPS log {run_log}", file=sys.stderr, flush=True)
        try:
            result = settings.run("melt_quench.in", {
                **potvars, "data_in": tmp / "init.data", "data_out": tmp / "glass.data", "seed": seed,
                "dt": system["timestep_ps"], "t_melt": melt["temperature"], "t_final": quench["final_temperature"],
                "t_pre": pre.get("temperature", 300.0), "pre_nvt_ps": pre.get("nvt_ps", 0),
                "pre_npt_ps": pre.get("npt_ps", 0),
                "melt_nvt_ps": melt["nvt_ps"], "melt_npt_ps": melt["npt_ps"], "cool_rate": cooling_rate,
                "anneal_ps": quench["anneal_ps"], "pressure": quench["pressure_bar"],
                "resume": int(resume), "restart_in": rs_file, "restart_file": rs_file, "restart_every": n_every,
            }, run_log)
        finally:
            if n_every:
                _join_attempt_logs(rs_dir, log_path)
        attempts = len(previous)
        glass = structure_from_lammps(tmp / "glass.data", species, result)
        glass.info.update(provenance(seed=seed, params=params, potential_files=potfiles,
                                     lammps_version=result.version or None))
        glass.info.update(
            system=system_name, composition=composition, cooling_rate=float(cooling_rate), seed=int(seed),
            source="simulated", model="md", density_gcc=float(result.last("Density")),
        )
        if n_every:  # how the trajectory was run: restart interval and how many resumptions it took
            glass.info.update(restart_every_ps=float(restart_every_ps), md_resumed=int(attempts))
        io.write_structures(out_extxyz, glass)
        with io.atomic_path(out_data) as dst:
            shutil.copyfile(tmp / "glass.data", dst)
    if n_every:  # done: the restart files (and the attempt logs, now in the rule's log) go
        shutil.rmtree(rs_dir, ignore_errors=True)
    return glass


def _attempt_number(path: Path) -> int:
    return int(path.name.split("-")[1].split(".")[0])


ATTEMPT_HEADER = "# amorphous-ml melt-quench: LAMMPS log of attempt {n}"


def _join_attempt_logs(rs_dir: Path, log_path) -> None:
    """The rule's log: every attempt's LAMMPS log in order, each after a header line."""
    parts = []
    for f in sorted(rs_dir.glob("attempt-*.lammps.log"), key=_attempt_number):
        parts.append(ATTEMPT_HEADER.format(n=_attempt_number(f)) + "\n" + f.read_text(errors="replace"))
    with io.atomic_path(log_path) as tmp:
        Path(tmp).write_text("".join(parts))


def _prepare_data(structure: ase.Atoms, species, path: Path) -> None:
    write_lammps_data(path, structure, species)


def elastic(system: dict, structure: ase.Atoms, log_path, settings: LammpsSettings = LammpsSettings(),
            strain: float | None = None) -> dict:
    """Stiffness tensor (GPa) by +/- finite deformations; returns C, K, G, E, nu (see mechanics)."""
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
