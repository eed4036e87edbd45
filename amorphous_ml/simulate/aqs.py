"""Athermal quasi-static (AQS) deformation of a glass in the 12 loading modes of Wang & Zhang (2021).

One mode is one LAMMPS run of ``lammps_inputs/aqs.in``: minimise the glass at fixed box (its inherent
structure, strain 0), then ``n_steps`` times strain the box by ``strain_step`` (``change_box ... remap``)
and minimise with conjugate gradients. The modes are uniaxial tension and compression along x, y and z
(uniaxial *strain*: the other box lengths stay fixed, so the initial slope of sigma_ii is C_ii) and simple
shear xy, xz, yz in both senses (tilt factor = engineering shear strain x box height). A run writes the
stress-strain curve of every step and the structures at the configured label strains, from which
:mod:`amorphous_ml.validate.aqs` computes per-atom D2min.

A LAMMPS failure (neighbour-list overflow, lost atoms, NaN) raises :class:`LammpsError` with the tail of
the log, and so does a step whose minimisation stopped on its iteration or evaluation limit (that step is
not at a minimum, so the deformation was not quasi-static); nothing is written then.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import ase
import numpy as np
import pandas as pd
from ase.calculators.singlepoint import SinglePointCalculator

from .. import io
from ..provenance import provenance
from .lammps import LammpsError, _log_tail
from .systems import read_lammps_data, write_lammps_data

__all__ = ["MODES", "ALL_MODES", "CURVE_COLUMNS", "label_steps", "n_steps", "aqs_mode_params",
           "aqs_label_params", "aqs_samples_filter", "run_aqs_mode", "aqs_mode",
           "aqs_mode_cost", "aqs_mode_runtime_min", "register"]

#: mode name -> (strained box component, sign): uniaxial xx/yy/zz, simple shear xy/xz/yz
MODES: dict[str, tuple[str, int]] = {
    "tension_x": ("xx", 1), "tension_y": ("yy", 1), "tension_z": ("zz", 1),
    "compression_x": ("xx", -1), "compression_y": ("yy", -1), "compression_z": ("zz", -1),
    "shear_xy_plus": ("xy", 1), "shear_xy_minus": ("xy", -1),
    "shear_xz_plus": ("xz", 1), "shear_xz_minus": ("xz", -1),
    "shear_yz_plus": ("yz", 1), "shear_yz_minus": ("yz", -1),
}
ALL_MODES = tuple(MODES)

BAR_TO_GPA = 1.0e-4
_VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")
#: columns of the curve ``aqs.in`` prints (pressures in bar, lengths in A, energy in eV)
_RAW_COLUMNS = ["step", "strain", "iterations", "pxx", "pyy", "pzz", "pyz", "pxz", "pxy", "pe", "fnorm",
                "lx", "ly", "lz", "xy", "xz", "yz"]
#: columns of a mode's curve CSV: stress sigma = -p (GPa), energy (eV), minimiser diagnostics
CURVE_COLUMNS = (["mode", "component", "sign", "step", "strain"] + [f"s{c}_GPa" for c in _VOIGT]
                 + ["pe_eV", "iterations", "fnorm", "stop", "lx", "ly", "lz", "xy", "xz", "yz"])
#: minimiser stops that leave the structure off its minimum: the step was not quasi-static
_FAILED_STOPS = ("max iterations", "max force evaluations")
_STOP = re.compile(r"^\s*Stopping criterion = (.+?)\s*$", re.M)
#: tolerance on "label strain is a multiple of the strain step", relative to the step
_MULTIPLE_TOL = 1e-6


def n_steps(strain_step: float, max_strain: float) -> int:
    """Number of strain steps to reach ``max_strain`` (the last step may stop just short of it)."""
    return int(math.floor(max_strain / strain_step + _MULTIPLE_TOL))


def label_steps(strain_step: float, label_strains, max_strain: float) -> list[int]:
    """Step index of every label strain; each must be a multiple of the step and reachable."""
    steps = []
    for s in label_strains:
        k = round(s / strain_step)
        if k < 1 or abs(s / strain_step - k) > _MULTIPLE_TOL * max(1, k):
            raise ValueError(f"label strain {s:g} is not a positive multiple of the strain step {strain_step:g}")
        if k > n_steps(strain_step, max_strain):
            raise ValueError(f"label strain {s:g} exceeds max_strain {max_strain:g}")
        steps.append(int(k))
    if len(set(steps)) != len(steps):
        raise ValueError(f"label strains {list(label_strains)} repeat a step")
    return sorted(steps)


def aqs_mode_params(system: dict) -> dict:
    """The slice of a system one mode's LAMMPS run depends on (its Snakemake params, and what
    :func:`run_aqs_mode` reads): potential and the deformation settings, not the D2min settings."""
    a = system["aqs"]
    out = {"potential": system["potential"],
           "aqs": {k: a[k] for k in ("strain_step", "max_strain", "label_strains", "minimize")}}
    if system.get("potential_dir"):
        out["potential_dir"] = system["potential_dir"]
    return out


def aqs_label_params(system: dict) -> dict:
    """What the per-sample label gather depends on (changing it reruns no LAMMPS)."""
    a = system["aqs"]
    return {k: a[k] for k in ("d2min_cutoff", "label_strains", "modes", "per_mode_labels")}


def aqs_samples_filter(system: dict, composition: str, cooling_rate: float, index: int) -> bool:
    """Does the ``index``-th sample of (composition, rate) get AQS labels under ``system['aqs']``?"""
    a = system.get("aqs")
    if not a or not a.get("enabled", True):
        return False
    comps, rates, per = a.get("compositions"), a.get("cooling_rates"), a.get("samples_per_rate")
    return ((not comps or composition in comps)
            and (not rates or any(math.isclose(cooling_rate, r) for r in rates))
            and (per is None or index < per))


def aqs_mode_cost(system: dict, evaluations_per_step_500: float = 250.0, size_exponent: float = 0.5) -> float:
    """Atom-force-evaluations of one mode, for scheduling: atoms x steps x CG force evaluations per step.

    benchmarks/bench_aqs.py counted 162, 252 and 274 evaluations per 2.5e-3 step at 250, 500 and 1000
    atoms (ftol 1e-5) and 98, 136 and 133 per 1e-4 step: the count grows as N^0.2-0.4 and shrinks much
    less than the step, so 250 x (N/500)^0.5 is a high estimate for both step sizes."""
    a = system["aqs"]
    per_step = evaluations_per_step_500 * (system["n_atoms"] / 500.0) ** size_exponent
    return float(per_step) * system["n_atoms"] * (n_steps(a["strain_step"], a["max_strain"]) + 1)


def aqs_mode_runtime_min(system: dict, threads: int = 1, atom_evaluations_per_s: float = 1.0e5) -> int:
    """Wall-time request (minutes) of one mode job: twice :func:`aqs_mode_cost` at 1e5 atom-evaluations
    per second and thread (measured: 1.0-1.5e5 per CPU-second on a loaded machine, ~4e5 idle), >= 10."""
    seconds = aqs_mode_cost(system) / (atom_evaluations_per_s * max(1, int(threads)))
    return int(max(10, math.ceil(2 * seconds / 60)))


def _stops(log_text: str) -> list[str]:
    return _STOP.findall(log_text)


def run_aqs_mode(system: dict, structure: ase.Atoms, mode: str, log_path, settings=None,
                 workdir: str | Path | None = None) -> tuple[list[ase.Atoms], pd.DataFrame]:
    """Run one AQS mode on ``structure``: frames at strain 0 and every label strain, and the curve.

    Frames carry ``info`` mode, strain, step and the sample identity of ``structure``, and the energy and
    stress of that step as calculator results. Raises :class:`LammpsError` on a failed run or step.
    """
    import tempfile

    from .protocols import LammpsSettings, _potential_vars

    if mode not in MODES:
        raise ValueError(f"unknown AQS mode {mode!r}; choose one of {', '.join(ALL_MODES)}")
    settings = settings or LammpsSettings()
    component, sign = MODES[mode]
    a = system["aqs"]
    step, max_strain = float(a["strain_step"]), float(a["max_strain"])
    nsteps = n_steps(step, max_strain)
    labels = label_steps(step, a["label_strains"], max_strain)
    m = a["minimize"]
    potvars, potfiles, species = _potential_vars(system)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".amorphous-ml-aqs-", dir=workdir) as tmp:
        tmp = Path(tmp)
        write_lammps_data(tmp / "in.data", structure, species)
        (tmp / "label_steps.txt").write_text("".join(f"{k}\n" for k in labels) + f"{nsteps + 1}\n")  # sentinel
        result = settings.run("aqs.in", {
            **potvars, "data_in": tmp / "in.data", "component": component, "sign": sign,
            "strain_step": step, "n_steps": nsteps, "etol": m["etol"], "ftol": m["ftol"],
            "maxiter": m["maxiter"], "maxeval": m["maxeval"], "dmax": m["dmax"],
            "curve_out": tmp / "curve.txt", "label_steps": tmp / "label_steps.txt",
            "label_prefix": f"{tmp}/frame_",
        }, log_path)
        log_text = Path(result.log_path).read_text(errors="replace")
        raw = pd.DataFrame(np.loadtxt(tmp / "curve.txt", ndmin=2), columns=_RAW_COLUMNS)
        stops = _stops(log_text)
        if len(stops) != len(raw) or len(raw) != nsteps + 1:
            raise LammpsError(f"AQS {mode}: expected {nsteps + 1} minimisations, the log has {len(stops)} and the "
                              f"curve {len(raw)} rows\n--- tail of {result.log_path} ---\n{_log_tail(result.log_path)}")
        bad = [(i, s) for i, s in enumerate(stops) if s in _FAILED_STOPS]
        if bad:
            i, s = bad[0]
            raise LammpsError(
                f"AQS {mode}: the minimisation at step {i} (strain {i * step:g}) stopped on '{s}' with fnorm "
                f"{raw['fnorm'].iloc[i]:.3g} eV/A, not at a minimum ({len(bad)} such steps); raise "
                f"aqs.minimize.maxiter/maxeval or loosen ftol\n--- tail of {result.log_path} ---\n"
                f"{_log_tail(result.log_path)}")
        curve = pd.DataFrame({"mode": mode, "component": component, "sign": sign,
                              "step": raw["step"].astype(int), "strain": raw["strain"]})
        for c in _VOIGT:
            curve[f"s{c}_GPa"] = -raw[f"p{c}"] * BAR_TO_GPA
        curve["pe_eV"] = raw["pe"]
        curve["iterations"] = raw["iterations"].astype(int)
        curve["fnorm"] = raw["fnorm"]
        curve["stop"] = stops
        for c in ("lx", "ly", "lz", "xy", "xz", "yz"):
            curve[c] = raw[c]
        frames = []
        ident = {k: structure.info[k] for k in ("system", "composition", "cooling_rate", "seed", "source", "model")
                 if k in structure.info}
        meta = provenance(seed=structure.info.get("seed"), params={"mode": mode, **aqs_mode_params(system)},
                          potential_files=potfiles, lammps_version=settings.version)
        for k in [0] + labels:
            frame = read_lammps_data(tmp / f"frame_{k}.data", species)
            row = curve.iloc[k]
            stress = np.array([row[f"s{c}_GPa"] for c in _VOIGT]) / 160.21766208  # GPa -> eV/A^3
            frame.calc = SinglePointCalculator(frame, energy=float(row["pe_eV"]), stress=stress)
            frame.info.update(ident)
            frame.info.update(meta)
            frame.info.update(aqs_mode=mode, aqs_step=int(k), aqs_strain=float(k * step),
                              aqs_component=component, aqs_sign=int(sign))
            frames.append(frame)
    return frames, curve[CURVE_COLUMNS]


def aqs_mode(system: dict, structure: ase.Atoms, mode: str, out_extxyz, out_csv, log_path, settings=None):
    """:func:`run_aqs_mode` and write its frames (extxyz) and curve (CSV with a JSON header) atomically."""
    frames, curve = run_aqs_mode(system, structure, mode, log_path, settings,
                                 workdir=Path(out_extxyz).resolve().parent if out_extxyz else None)
    ident = {k: structure.info.get(k) for k in ("system", "composition", "cooling_rate", "seed", "source", "model",
                                                  "code_version", "lammps_version", "potential_sha256")}
    with io.atomic_path(out_csv) as tmp:
        with open(tmp, "w") as fh:
            fh.write(f"# structure: {json.dumps(ident, sort_keys=True, default=str)}\n")
            fh.write(f"# n_atoms: {len(structure)}\n")
            fh.write(f"# aqs: {json.dumps(aqs_mode_params(system), sort_keys=True)}\n")
            curve.to_csv(fh, index=False)
    io.write_structures(out_extxyz, frames)
    return frames, curve


# ----------------------------------------------------------------------------------------- CLI
def _aqs_mode_cmd(args) -> int:
    from .cli import lammps_settings

    system = json.loads(args.system_json)
    structure = io.read_structure(args.structure)
    frames, curve = aqs_mode(system, structure, args.mode, args.out_extxyz, args.out_csv, args.log,
                             lammps_settings(args))
    comp = MODES[args.mode][0]
    print(f"{args.sample or args.structure} {args.mode}: {len(curve) - 1} steps to strain {curve['strain'].iloc[-1]:g}, "
          f"{int(curve['iterations'].sum())} CG iterations, final s{comp} {curve[f's{comp}_GPa'].iloc[-1]:.3f} GPa; "
          f"{len(frames)} frames in {args.out_extxyz}, curve in {args.out_csv}")
    return 0


def register(subparsers) -> None:
    import argparse

    from .cli import add_lammps_args

    p = subparsers.add_parser(
        "aqs-mode", help="athermal quasi-static deformation of one structure in one loading mode",
        description="Minimise the structure at fixed box (inherent structure), then strain the box step by "
                    "step along the mode with a conjugate-gradient minimisation after every step "
                    "(lammps_inputs/aqs.in). Writes the stress-strain curve (CSV) and the structures at "
                    "strain 0 and the label strains (extxyz).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--system-json", required=True,
                   help="the system's potential and aqs deformation settings as JSON "
                        "(amorphous_ml.simulate.aqs.aqs_mode_params)")
    p.add_argument("--structure", required=True, help="extxyz with one structure (the glass)")
    p.add_argument("--mode", required=True, choices=ALL_MODES)
    p.add_argument("--sample", default=None, help="sample id, for the log")
    p.add_argument("--out-extxyz", required=True, help="frames at strain 0 and at each label strain")
    p.add_argument("--out-csv", required=True, help="stress-strain curve of every step")
    p.add_argument("--log", required=True, help="LAMMPS log file")
    add_lammps_args(p)
    p.set_defaults(func=_aqs_mode_cmd)
