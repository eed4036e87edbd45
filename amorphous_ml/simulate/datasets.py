"""Training sets simulated with LAMMPS: a system's ``datasets:`` (AMDEN's a-Si melt/quench/anneal sets and
small-cell a-SiO2), one structure per frame.

A dataset's ``protocol`` is one of three kinds:

* ``liquid``: snapshots of one liquid run (``lammps_inputs/liquid.in``): random packing, equilibration at
  ``melt.temperature`` (NVT ``melt.nvt_ps``, then NPT ``melt.npt_ps``), then an NPT production run with one
  snapshot every ``snapshot_every_ps``. Each frame carries the mean-squared displacement since the start of
  production (``msd_A2``), so the decorrelation between snapshots is measured (tests, README).
* ``quench``: per sample, a start structure is quenched instantaneously by a local minimisation and then held
  at ``hold.temperature`` (``lammps_inputs/quench_hold.in``). The start is either a snapshot of the dataset's
  own liquid run (``start: liquid``, AMDEN's a-Si quench set) or a random packing melted per sample at
  ``melt.temperature`` (``start: random``, AMDEN's small-cell a-SiO2 set, sizes from ``n_atoms``).
* ``melt_quench``: per sample, the glass protocol itself (:func:`~amorphous_ml.simulate.protocols.melt_quench`,
  ``lammps_inputs/melt_quench.in``): melt, cool at ``cooling_rate`` K/ps (NPT), hold ``hold.npt_ps`` (NPT).
* ``npt_snapshots`` (GlassVAE's data, :mod:`amorphous_ml.simulate.trajectory`): ``trajectories`` independent
  NPT trajectories, each melted from its own random packing (seed ``seed + k``) and cooled through
  ``temperatures`` with ``snapshots_per_temperature`` snapshots at each. A trajectory is sequential, so it is
  one part (``p{k:04d}``); its samples are consecutive ids (``samples`` = trajectories x temperatures x
  snapshots, set by the config validation).

Work is split into *parts*: the liquid run is one part (``liquid``, it is sequential); per-sample protocols
have ``ceil(samples / samples_per_job)`` parts ``p0000``, ``p0001``, ... whose params list exactly their
samples, so adding samples reruns only the new (and the last partial) part. Sample ``i`` of dataset ``d`` is
``d_{i:04d}``; its seed is ``seed + i`` (the liquid run of a dataset uses ``seed``; quench holds from liquid
snapshots use ``seed + 1 + i``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import ase
import numpy as np

from .. import io
from ..provenance import provenance
from .lammps import LammpsResult
from .systems import atom_counts, random_packing, read_lammps_data, write_lammps_data

__all__ = ["KINDS", "DatasetSample", "dataset_settings", "dataset_samples", "dataset_parts", "part_samples",
           "uses_liquid", "generation_params", "part_params", "liquid_snapshots", "dataset_part",
           "frame_identity"]

KINDS = ("liquid", "quench", "melt_quench", "npt_snapshots")
_SYSTEM_KEYS = ("potential", "potential_dir", "timestep_ps", "initial_density", "compositions", "n_atoms")
#: settings that do not change a dataset's frames (labels are computed afterwards, batching is scheduling)
_NOT_GENERATION = ("labels", "samples_per_job")


@dataclass(frozen=True)
class DatasetSample:
    index: int
    sample: str
    seed: int
    n_atoms: int


def dataset_settings(system: dict, name: str) -> dict:
    try:
        return system["datasets"][name]
    except KeyError:
        known = ", ".join(system.get("datasets", {})) or "none"
        raise ValueError(f"unknown dataset {name!r}; configured datasets: {known}") from None


def uses_liquid(ds: dict) -> bool:
    """Whether the dataset's frames (liquid) or its start structures (quench from liquid) need a liquid run."""
    return ds["protocol"] == "liquid" or (ds["protocol"] == "quench" and ds["start"] == "liquid")


def _sizes(system: dict, ds: dict) -> list[int]:
    n = ds.get("n_atoms", system.get("n_atoms"))
    return [int(v) for v in (n if isinstance(n, list) else [n])]


def dataset_samples(system: dict, name: str, ds: dict | None = None) -> list[DatasetSample]:
    """Every sample of a dataset: id, seed and atom count (sizes cycle through ``n_atoms`` when it is a list)."""
    ds = ds if ds is not None else dataset_settings(system, name)
    sizes = _sizes(system, ds)
    if ds["protocol"] == "liquid":
        seeds = [ds["seed"]] * ds["samples"]
    elif ds["protocol"] == "npt_snapshots":  # trajectory k: consecutive frames, one seed
        seeds = [ds["seed"] + i // _per_job(ds) for i in range(ds["samples"])]
    elif uses_liquid(ds):
        seeds = [ds["seed"] + 1 + i for i in range(ds["samples"])]
    else:
        seeds = [ds["seed"] + i for i in range(ds["samples"])]
    return [DatasetSample(i, f"{name}_{i:04d}", seeds[i], sizes[i % len(sizes)]) for i in range(ds["samples"])]


def dataset_parts(system: dict, name: str, ds: dict | None = None) -> list[str]:
    """The units of work of a dataset: ``["liquid"]`` for a liquid set, else ``p0000``, ``p0001``, ..."""
    ds = ds if ds is not None else dataset_settings(system, name)
    if ds["protocol"] == "liquid":
        return ["liquid"]
    return [f"p{k:04d}" for k in range(math.ceil(ds["samples"] / _per_job(ds)))]


def _per_job(ds: dict) -> int:
    """Samples per part: one trajectory for ``npt_snapshots``, else ``samples_per_job``."""
    if ds["protocol"] == "npt_snapshots":
        return len(ds["temperatures"]) * int(ds["snapshots_per_temperature"])
    return int(ds["samples_per_job"])


def part_samples(system: dict, name: str, part: str, ds: dict | None = None) -> list[DatasetSample]:
    ds = ds if ds is not None else dataset_settings(system, name)
    samples = dataset_samples(system, name, ds)
    if part == "liquid":
        if ds["protocol"] != "liquid":
            raise ValueError(f"dataset {name!r} ({ds['protocol']}) has no part 'liquid'")
        return samples
    if part not in dataset_parts(system, name, ds):
        raise ValueError(f"dataset {name!r} has no part {part!r}")
    k, per = int(part[1:]), _per_job(ds)
    return samples[k * per:(k + 1) * per]


def _system_slice(system: dict) -> dict:
    return {k: system[k] for k in _SYSTEM_KEYS if k in system}


def generation_params(system: dict, name: str) -> dict:
    """Everything a dataset's frames depend on (the liquid run's params): system slice + dataset settings."""
    ds = dataset_settings(system, name)
    return {"system": _system_slice(system), "name": name,
            "dataset": {k: v for k, v in ds.items() if k not in _NOT_GENERATION}}


def part_params(system: dict, name: str, part: str) -> dict:
    """The params of one part: the generation params with the sample count replaced by the part's samples."""
    p = generation_params(system, name)
    if part != "liquid":
        del p["dataset"]["samples"]
    p["part"] = part
    p["samples"] = [asdict(s) for s in part_samples(system, name, part)]
    return p


# ----------------------------------------------------------------------------------------- protocols
def _composition(params: dict) -> str:
    return params["dataset"].get("composition") or params["system"]["compositions"][0]


def _density(params: dict) -> float:
    return float(params["dataset"].get("initial_density") or params["system"]["initial_density"])


def _start(params: dict, s: DatasetSample) -> ase.Atoms:
    ds = params["dataset"]
    counts = atom_counts(_composition(params), s.n_atoms)
    return random_packing(counts, _density(params), ds["box_aspect"], seed=s.seed)


def _frame(data_file, species, block: dict) -> ase.Atoms:
    """A structure from a data file with energy and stress from one thermo block's last row."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from .protocols import BAR_TO_EV_A3

    atoms = read_lammps_data(data_file, species)
    p = np.array([block[k][-1] for k in ("Pxx", "Pyy", "Pzz", "Pyz", "Pxz", "Pxy")])
    atoms.calc = SinglePointCalculator(atoms, energy=block["PotEng"][-1], stress=-p * BAR_TO_EV_A3)
    return atoms


def frame_identity(system_name: str, params: dict, s: DatasetSample, atoms: ase.Atoms, potfiles, version) -> dict:
    """The info every dataset frame carries (contract: dataset, sample, seed, n_atoms, composition)."""
    ds = params["dataset"]
    meta = provenance(seed=s.seed, params=params, potential_files=potfiles, lammps_version=version or None)
    meta.update(system=system_name, dataset=params["name"], protocol=ds["protocol"], sample=s.sample,
                seed=int(s.seed), n_atoms=len(atoms), composition=_composition(params), source="simulated",
                model="md")
    return meta


def liquid_snapshots(system_name: str, params: dict, out_extxyz, log_path, settings=None) -> list[ase.Atoms]:
    """The liquid run of a dataset (its frames for ``liquid``, its start structures for ``quench``)."""
    from .protocols import LammpsSettings, _potential_vars, scratch_dir

    settings = settings or LammpsSettings()
    system, ds = params["system"], params["dataset"]
    n_frames = ds["samples"]
    seed, n_atoms = int(ds["seed"]), int(_sizes(system, ds)[0])
    potvars, potfiles, species = _potential_vars(system)
    melt = ds["melt"]
    with scratch_dir(out_extxyz) as tmp:
        start = _start(params, DatasetSample(0, "start", seed, n_atoms))
        write_lammps_data(tmp / "init.data", start, species)
        result = settings.run("liquid.in", {
            **potvars, "data_in": tmp / "init.data", "frame_prefix": f"{tmp}/frame_", "seed": seed,
            "dt": system["timestep_ps"], "t_liquid": melt["temperature"], "nvt_ps": melt["nvt_ps"],
            "npt_ps": melt["npt_ps"], "every_ps": ds["snapshot_every_ps"], "n_frames": n_frames,
            "pressure": ds["pressure_bar"],
        }, log_path)
        blocks = _production_blocks(result, n_frames)
        frames = []
        for i, block in enumerate(blocks):
            s = DatasetSample(i, f"{params['name']}_{i:04d}", seed, n_atoms)  # as dataset_samples numbers them
            atoms = _frame(tmp / f"frame_{i + 1}.data", species, block)
            atoms.info.update(frame_identity(system_name, params, s, atoms, potfiles, result.version))
            atoms.info.update(temperature_K=float(melt["temperature"]), time_ps=float(block["Time"][-1]),
                              msd_A2=float(block["c_msd[4]"][-1]), liquid_seed=seed)
            frames.append(atoms)
        io.write_structures(out_extxyz, frames)
    return frames


def _production_blocks(result: LammpsResult, n_frames: int) -> list[dict]:
    blocks = [b for b in result.thermo if "c_msd[4]" in b]
    if len(blocks) != n_frames:
        raise ValueError(f"{result.log_path}: expected {n_frames} production blocks, found {len(blocks)}")
    return blocks


def _quench_hold(system_name: str, params: dict, s: DatasetSample, start: ase.Atoms, tmp: Path, log_path,
                 settings) -> ase.Atoms:
    from .protocols import _potential_vars

    system, ds = params["system"], params["dataset"]
    potvars, potfiles, species = _potential_vars(system)
    melt = ds["melt"] if ds["start"] == "random" else {"temperature": ds["melt"]["temperature"], "nvt_ps": 0, "npt_ps": 0}
    hold = ds["hold"]
    write_lammps_data(tmp / f"{s.sample}.in.data", start, species)
    result = settings.run("quench_hold.in", {
        **potvars, "data_in": tmp / f"{s.sample}.in.data", "data_out": tmp / f"{s.sample}.out.data",
        "seed": s.seed, "dt": system["timestep_ps"], "t_melt": melt["temperature"],
        "melt_nvt_ps": melt["nvt_ps"], "melt_npt_ps": melt["npt_ps"], "t_hold": hold["temperature"],
        "hold_nvt_ps": hold["nvt_ps"], "hold_npt_ps": hold["npt_ps"], "pressure": ds["pressure_bar"],
    }, log_path)
    atoms = _frame(tmp / f"{s.sample}.out.data", species, result.thermo[-1])
    atoms.info.update(frame_identity(system_name, params, s, atoms, potfiles, result.version))
    atoms.info.update(temperature_K=float(hold["temperature"]), quench_energy_eV=float(_quench_energy(result)))
    return atoms


def _quench_energy(result: LammpsResult) -> float:
    """PotEng at the end of the quench minimisation: the last block before the hold runs (3 runs follow it)."""
    return result.thermo[-3]["PotEng"][-1]


def _melt_quench(system_name: str, params: dict, s: DatasetSample, tmp: Path, log_path, settings) -> ase.Atoms:
    from .protocols import _potential_vars, melt_quench

    system, ds = params["system"], params["dataset"]
    _, potfiles, _ = _potential_vars(system)
    glass_system = {
        **system, "n_atoms": s.n_atoms, "initial_density": _density(params), "box_aspect": ds["box_aspect"],
        "melt": ds["melt"],
        "quench": {"final_temperature": ds["hold"]["temperature"], "anneal_ps": ds["hold"]["npt_ps"],
                   "pressure_bar": ds["pressure_bar"]},
    }
    atoms = melt_quench(system_name, glass_system, _composition(params), ds["cooling_rate"], s.seed,
                        tmp / f"{s.sample}.extxyz", tmp / f"{s.sample}.data", log_path, settings)
    atoms.info.update(frame_identity(system_name, params, s, atoms, potfiles, atoms.info.get("lammps_version")))
    atoms.info.update(temperature_K=float(ds["hold"]["temperature"]))
    return atoms


def _npt_snapshots(system_name: str, params: dict, samples: list[DatasetSample], tmp: Path, log_dir: Path,
                   settings) -> list[ase.Atoms]:
    """One trajectory of an ``npt_snapshots`` set (:func:`amorphous_ml.simulate.trajectory.npt_snapshots`)."""
    from .protocols import _potential_vars
    from .trajectory import npt_snapshots

    if len({s.seed for s in samples}) != 1:
        raise ValueError(f"dataset {params['name']!r}: a part of npt_snapshots is one trajectory (one seed)")
    s0 = samples[0]
    ds = {**params["dataset"], "composition": _composition(params), "initial_density": _density(params),
          "n_atoms": s0.n_atoms, "seed": s0.seed}
    _, potfiles, _ = _potential_vars(params["system"])
    frames = npt_snapshots(system_name, params["system"], params["name"], ds, tmp / f"{s0.sample}.extxyz",
                           log_dir / "trajectory", settings)
    if len(frames) != len(samples):
        raise ValueError(f"dataset {params['name']!r}: {len(frames)} snapshots, expected {len(samples)}")
    for atoms, s in zip(frames, samples):
        extra = {k: atoms.info[k] for k in ("temperature_K", "snapshot", "inherent_energy") if k in atoms.info}
        atoms.info.update(frame_identity(system_name, params, s, atoms, potfiles, atoms.info.get("lammps_version")), **extra,
                          trajectory=int(s0.index // len(samples)))
    return frames


def dataset_part(system_name: str, params: dict, out_extxyz, log_dir, settings=None,
                 liquid_file=None, progress: bool = False) -> list[ase.Atoms]:
    """Simulate the samples of one part (``quench`` or ``melt_quench``) and write them as one extxyz."""
    from .protocols import LammpsSettings, scratch_dir

    settings = settings or LammpsSettings()
    ds = params["dataset"]
    samples = [DatasetSample(**s) for s in params["samples"]]
    log_dir = Path(log_dir)
    liquid = io.read_structures(liquid_file) if ds["protocol"] == "quench" and ds["start"] == "liquid" else None
    if liquid is not None and len(liquid) < max(s.index for s in samples) + 1:
        raise ValueError(f"{liquid_file}: {len(liquid)} liquid snapshots, the part needs index {samples[-1].index}")
    frames = []
    iterator = samples
    if progress:
        from tqdm import tqdm

        iterator = tqdm(samples, desc=f"{params['name']} {params['part']}", unit="sample")
    with scratch_dir(out_extxyz) as tmp:
        if ds["protocol"] == "npt_snapshots":  # one sequential trajectory, not one run per sample
            frames = _npt_snapshots(system_name, params, samples, tmp, log_dir, settings)
            io.write_structures(out_extxyz, frames)
            return frames
        for s in iterator:
            log = log_dir / f"{s.sample}.lammps.log"
            if ds["protocol"] == "quench":
                start = liquid[s.index] if liquid is not None else _start(params, s)
                atoms = _quench_hold(system_name, params, s, start, tmp, log, settings)
                if liquid is not None:
                    atoms.info["liquid_seed"] = int(liquid[s.index].info["seed"])
            elif ds["protocol"] == "melt_quench":
                atoms = _melt_quench(system_name, params, s, tmp, log, settings)
            else:
                raise ValueError(f"dataset {params['name']!r}: protocol {ds['protocol']!r} has no per-sample parts")
            frames.append(atoms)
        io.write_structures(out_extxyz, frames)
    return frames


# ------------------------------------------------------------------------------------------------ CLI
def _liquid_cmd(args) -> int:
    import json

    from .cli import lammps_settings

    frames = liquid_snapshots(args.system_name, json.loads(args.params_json), args.out, args.log,
                              lammps_settings(args))
    msd = [f.info["msd_A2"] for f in frames]
    print(f"{args.out}: {len(frames)} liquid snapshots, MSD between snapshots "
          f"{np.mean(np.diff([0.0] + msd)):.2f} A^2 on average")
    return 0


def _part_cmd(args) -> int:
    import json

    from .cli import lammps_settings

    frames = dataset_part(args.system_name, json.loads(args.params_json), args.out, args.log_dir,
                          lammps_settings(args), liquid_file=args.liquid, progress=args.progress)
    e = [f.get_potential_energy() / len(f) for f in frames]
    print(f"{args.out}: {len(frames)} frames, energy {np.mean(e):.4f} eV/atom on average")
    return 0


def register(subparsers) -> None:
    import argparse

    from .cli import add_lammps_args

    common = dict(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p = subparsers.add_parser("dataset-liquid", help="the liquid run of a dataset (snapshots) with LAMMPS",
                              description="Random packing -> equilibrate at the liquid temperature (NVT, NPT) "
                                          "-> NPT production with one snapshot per interval; writes the "
                                          "snapshots (energy, stress, MSD since production start) as extxyz.",
                              **common)
    p.add_argument("--system-name", required=True)
    p.add_argument("--params-json", required=True, help="the dataset's generation params (simulate.datasets)")
    p.add_argument("--out", required=True, help="output extxyz (all snapshots)")
    p.add_argument("--log", required=True, help="LAMMPS log file")
    add_lammps_args(p)
    p.set_defaults(func=_liquid_cmd)

    p = subparsers.add_parser("dataset-part", help="simulate one part (a batch of samples) of a dataset",
                              description="quench: start (liquid snapshot or melted random packing) -> "
                                          "minimise -> hold; melt_quench: the glass protocol at the dataset's "
                                          "cooling rate. Writes the part's frames as one extxyz.", **common)
    p.add_argument("--system-name", required=True)
    p.add_argument("--params-json", required=True, help="the part's params, with its samples (simulate.datasets)")
    p.add_argument("--liquid", default=None, help="liquid snapshots (quench from liquid)")
    p.add_argument("--out", required=True, help="output extxyz (the part's frames)")
    p.add_argument("--log-dir", required=True, help="directory for one LAMMPS log per sample")
    p.add_argument("--progress", action="store_true", help="progress bar")
    add_lammps_args(p)
    p.set_defaults(func=_part_cmd)
