"""The one registry of per-structure labels (properties) and the dataset tables built from them.

A label is ``name -> function(structure, system) -> float``; the name is used verbatim as the extxyz info
key, the ``dataset.csv`` column and the conditioning name of the models. A dataset lists the labels it
wants (``systems.<sys>.datasets.<name>.labels``); the label rule computes exactly those, so a label added
to the config (or a new function registered here) is computed without any new rule. The same functions
measure the achieved properties of generated structures (inverse design).

Registered labels:

* ``shear_modulus_GPa``: Voigt-Reuss-Hill shear modulus G from the elastic protocol
  (:func:`amorphous_ml.simulate.protocols.elastic`, ``lammps_inputs/elastic.in``; strain from
  ``systems.<sys>.elastic.strain``).
* ``mean_ring_size``: mean shortest-path ring size from the ring analysis
  (:func:`amorphous_ml.validate.structure.ring_size_distribution` with ``analysis.bond_cutoffs`` and
  ``analysis.ring_max_length``). For a network whose bonds all join different species (Si-O) the size is
  counted in network formers (Si atoms per ring, AMDEN's convention), otherwise in atoms.
* ``density_g_cm3``: mass density of the cell.
* ``energy_per_atom_eV``: potential energy per atom of the structure as stored (calculator result).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import ase

__all__ = ["Label", "LABELS", "register_label", "label_names", "check_labels", "compute_labels",
           "label_frames", "gather_dataset", "dataset_table", "TABLE_ID_COLUMNS"]


@dataclass(frozen=True)
class Label:
    name: str
    unit: str
    description: str
    fn: Callable
    #: keys of the system config the label reads (its rule params carry exactly these)
    needs: tuple[str, ...] = ()
    #: whether the function runs LAMMPS (then it takes ``lammps=`` settings and ``log_path=``)
    lammps: bool = False


LABELS: dict[str, Label] = {}


def register_label(name: str, unit: str, description: str, needs=(), lammps: bool = False):
    """Decorator: add ``fn(structure, system, **kwargs) -> float`` to the registry under ``name``."""

    def deco(fn):
        if name in LABELS:
            raise ValueError(f"label {name!r} is registered twice")
        LABELS[name] = Label(name, unit, description, fn, tuple(needs), lammps)
        return fn

    return deco


def label_names() -> list[str]:
    return sorted(LABELS)


def check_labels(names, system: dict | None = None, key: str = "labels") -> None:
    """Raise ``ValueError`` (one line naming ``key``) for an unknown label or one the system cannot compute."""
    for i, name in enumerate(names):
        if name not in LABELS:
            raise ValueError(f"{key}[{i}]: unknown label {name!r}; known labels: {', '.join(label_names())}")
        if system is not None and name == "mean_ring_size":
            a = system.get("analysis", {})
            if not a.get("bond_cutoffs") or not a.get("ring_max_length"):
                raise ValueError(f"{key}[{i}]: label 'mean_ring_size' needs the system's analysis.bond_cutoffs "
                                 "and analysis.ring_max_length")


def label_params(system: dict, names) -> dict:
    """The slices of the system config the given labels depend on (for the label rule's params)."""
    needs = sorted({k for n in names for k in LABELS[n].needs})
    return {"labels": list(names), "system": {k: system[k] for k in needs if k in system}}


# ------------------------------------------------------------------------------------------ labels
@register_label("shear_modulus_GPa", "GPa", "Voigt-Reuss-Hill shear modulus from finite deformations",
                needs=("potential", "potential_dir", "elastic"), lammps=True)
def shear_modulus(structure: ase.Atoms, system: dict, *, lammps=None, log_path=None) -> float:
    import tempfile

    from ..simulate.protocols import LammpsSettings, elastic

    with tempfile.TemporaryDirectory(prefix="amorphous-ml-label-") as tmp:
        result = elastic(system, structure, log_path or Path(tmp) / "elastic.log", lammps or LammpsSettings())
    return float(result["G_GPa"])


@register_label("mean_ring_size", "Si atoms (Si-O networks) or atoms", "mean shortest-path ring size",
                needs=("analysis",))
def mean_ring_size(structure: ase.Atoms, system: dict, **_) -> float:
    from .structure import analysis_settings, ring_size_distribution

    a = analysis_settings(system.get("analysis"))
    rings = ring_size_distribution(structure, a["bond_cutoffs"], a["ring_max_length"])
    total = sum(rings.values())
    return float(sum(k * v for k, v in rings.items()) / total) if total else float("nan")


@register_label("density_g_cm3", "g/cm^3", "mass density of the cell")
def density(structure: ase.Atoms, system: dict, **_) -> float:
    from .structure import density_gcc

    return density_gcc(structure)


@register_label("energy_per_atom_eV", "eV/atom", "potential energy per atom of the stored structure")
def energy_per_atom(structure: ase.Atoms, system: dict, **_) -> float:
    if structure.calc is None or "energy" not in structure.calc.results:
        raise ValueError("energy_per_atom_eV needs a structure with a stored energy")
    return float(structure.calc.results["energy"] / len(structure))


def compute_labels(structure: ase.Atoms, names, system: dict, *, lammps=None, log_dir=None,
                   timings: dict | None = None) -> dict[str, float]:
    """The named labels of one structure, in order; LAMMPS labels log to ``log_dir/<sample>.<label>.log``."""
    import time

    check_labels(names)
    out = {}
    for name in names:
        label = LABELS[name]
        kwargs = {}
        if label.lammps:
            kwargs["lammps"] = lammps
            if log_dir is not None:
                kwargs["log_path"] = Path(log_dir) / f"{structure.info.get('sample', 'structure')}.{name}.lammps.log"
        t0 = time.perf_counter()
        out[name] = float(label.fn(structure, system, **kwargs))
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
    return out


def label_frames(frames_file, names, system: dict, out_json, *, lammps=None, log_dir=None,
                 progress: bool = False) -> list[dict]:
    """Label every frame of an extxyz; writes ``[{"sample": ..., labels...}, ...]`` plus settings as JSON."""
    from .. import io
    from ..provenance import provenance

    frames = io.read_structures(frames_file)
    timings: dict = {}
    rows = []
    iterator = frames
    if progress:
        from tqdm import tqdm

        iterator = tqdm(frames, desc=f"labels {Path(frames_file).stem}", unit="frame")
    for atoms in iterator:
        values = compute_labels(atoms, names, system, lammps=lammps, log_dir=log_dir, timings=timings)
        rows.append({"sample": atoms.info.get("sample"), **values})
    io.write_json(out_json, {"frames_file": str(frames_file), "labels": list(names), "rows": rows,
                             "timings_s": timings,
                             "provenance": provenance(seed=None, params=label_params(system, names))})
    return rows


# --------------------------------------------------------------------------- gathering and the table
TABLE_ID_COLUMNS = ["dataset", "sample", "seed", "composition", "n_atoms", "protocol"]


def gather_dataset(frame_files, label_files, out_extxyz, names, expect: int | None = None) -> list[ase.Atoms]:
    """Concatenate a dataset's parts (in order) and put each frame's labels into its info."""
    from .. import io

    labels: dict[str, dict] = {}
    for f in label_files:
        for row in io.read_json(f)["rows"]:
            labels[row["sample"]] = row
    frames = []
    for f in frame_files:
        frames += io.read_structures(f)
    if expect is not None and len(frames) != expect:
        raise ValueError(f"{out_extxyz}: the parts hold {len(frames)} frames, the dataset has {expect} samples")
    for atoms in frames:
        for name in LABELS:  # labels no longer configured do not linger
            atoms.info.pop(name, None)
        row = labels.get(atoms.info["sample"]) if names else {}
        if names and row is None:
            raise ValueError(f"no labels for sample {atoms.info['sample']!r} in {list(map(str, label_files))}")
        for name in names:
            atoms.info[name] = float(row[name])
        atoms.info["labels"] = json.dumps(list(names))
    io.write_structures(out_extxyz, frames)
    return frames


def dataset_table(dataset_files, out_csv):
    """One row per frame of every dataset (id columns, energy per atom, every label column found)."""
    import pandas as pd

    from .. import io

    rows, label_cols = [], []
    for f in dataset_files:
        for atoms in io.read_structures(f):
            names = atoms.info.get("labels") or []
            names = json.loads(names) if isinstance(names, str) else list(names)
            label_cols += [n for n in names if n not in label_cols]
            row = {k: atoms.info.get(k) for k in TABLE_ID_COLUMNS}
            row["n_atoms"] = len(atoms)
            row["energy_per_atom_eV"] = (float(atoms.calc.results["energy"]) / len(atoms)
                                         if atoms.calc is not None and "energy" in atoms.calc.results else float("nan"))
            row.update({n: atoms.info.get(n) for n in names})
            row["code_version"] = atoms.info.get("code_version")
            row["file"] = str(f)
            rows.append(row)
    cols = TABLE_ID_COLUMNS + ["energy_per_atom_eV"] + [c for c in label_cols if c != "energy_per_atom_eV"] + [
        "code_version", "file"]
    table = pd.DataFrame(rows, columns=cols)
    io.write_table(out_csv, table)
    return table


# ------------------------------------------------------------------------------------------------ CLI
def _labels_cmd(args) -> int:
    from ..cli import UserError
    from ..simulate.cli import lammps_settings

    params = json.loads(args.params_json)
    try:
        check_labels(params["labels"], params["system"])
    except ValueError as exc:
        raise UserError(str(exc)) from None
    rows = label_frames(args.frames, params["labels"], params["system"], args.out, lammps=lammps_settings(args),
                        log_dir=args.log_dir, progress=args.progress)
    print(f"{args.out}: {len(params['labels'])} labels of {len(rows)} frames")
    return 0


def _gather_cmd(args) -> int:
    from ..cli import UserError

    try:
        frames = gather_dataset(args.frames, args.labels_json or [], args.out, args.labels, args.expect)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"{args.out}: {len(frames)} frames, labels {', '.join(args.labels) or 'none'}")
    return 0


def _table_cmd(args) -> int:
    table = dataset_table(args.datasets, args.out)
    print(f"{args.out}: {len(table)} frames of {table['dataset'].nunique()} datasets")
    return 0


def _list_cmd(args) -> int:
    for name in label_names():
        lab = LABELS[name]
        print(f"{name:24s} {lab.unit:36s} {lab.description}")
    return 0


def register(subparsers) -> None:
    from ..simulate.cli import add_lammps_args

    p = subparsers.add_parser("dataset-labels", help="compute a dataset part's labels (the label registry)",
                              description="Every frame of an extxyz labelled with the named labels "
                                          "(amorphous_ml/validate/labels.py); writes one JSON.")
    p.add_argument("--frames", required=True, help="extxyz of one dataset part")
    p.add_argument("--params-json", required=True,
                   help='{"labels": [...], "system": {...}}: the label names and the system slices they need')
    p.add_argument("--out", required=True, help="output JSON (one row per frame)")
    p.add_argument("--log-dir", default=None, help="directory for the LAMMPS logs of LAMMPS labels")
    p.add_argument("--progress", action="store_true", help="progress bar")
    add_lammps_args(p)
    p.set_defaults(func=_labels_cmd)

    p = subparsers.add_parser("dataset-gather", help="a dataset's parts + labels -> one multi-frame extxyz",
                              description="Concatenate the parts of a dataset in order and put each frame's "
                                          "labels into its extxyz info.")
    p.add_argument("--frames", nargs="+", required=True, help="part extxyz files, in order")
    p.add_argument("--labels-json", nargs="*", default=[], help="label JSONs of the parts")
    p.add_argument("--labels", nargs="*", default=[], help="label names (info keys) to attach")
    p.add_argument("--expect", type=int, default=None, help="number of frames the dataset must have")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_gather_cmd)

    p = subparsers.add_parser("dataset-table", help="datasets of a system -> dataset.csv (one row per frame)",
                              description="dataset, sample, seed, composition, n_atoms, protocol, energy per "
                                          "atom and every label column.")
    p.add_argument("datasets", nargs="+", help="results/<system>/datasets/<name>.extxyz files")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_table_cmd)

    p = subparsers.add_parser("list-labels", help="the label names a dataset's `labels:` may list",
                              description="Print every registered label with its unit.")
    p.set_defaults(func=_list_cmd)
