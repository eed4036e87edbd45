"""Inverse design: did a property-conditioned model make structures with the properties it was asked for?

* :func:`measure_targets` (``amorphous-ml measure-targets``): the achieved value of every target of one
  refined generated structure (its ``target_<name>`` info keys), measured with the very label functions
  the training datasets were labelled with (:mod:`amorphous_ml.validate.labels`), so target and achieved
  value mean the same thing.
* :func:`inverse_design_table` (``amorphous-ml inverse-design-table``): ``inverse_design.csv``, one row
  per structure and property (model, sample, seed, property, target, achieved, error = achieved - target,
  the training range of that property and whether the target lies inside it), with the MAE and RMSE of
  each model and property; ``inverse_design_summary.csv`` splits them inside / outside the training range.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..samples import TARGET_PREFIX, target_columns

__all__ = ["measure_targets", "training_ranges", "inverse_design_table", "summary_table", "register"]

COLUMNS = ["model", "sample", "seed", "property", "target", "achieved", "error", "train_min", "train_max",
           "in_range", "mae", "rmse"]


def measure_targets(structure, system: dict, *, lammps=None, log_dir=None) -> dict:
    """``{"targets": {...}, "achieved": {...}}`` of one structure from its ``target_*`` info keys."""
    from .labels import compute_labels

    targets = {k[len(TARGET_PREFIX):]: float(v) for k, v in target_columns(structure.info).items()}
    if not targets:
        raise ValueError("the structure carries no target_<property> in its info (not a conditioned sample)")
    achieved = compute_labels(structure, list(targets), system, lammps=lammps, log_dir=log_dir)
    return {"targets": targets, "achieved": achieved}


def training_ranges(files, names) -> dict[str, tuple[float, float]]:
    """(min, max) of each property over the frames of a model's training files (their info labels)."""
    values: dict[str, list[float]] = {n: [] for n in names}
    for f in files:
        for atoms in io.read_structures(f):
            for n in names:
                v = atoms.info.get(n)
                if v is not None and math.isfinite(float(v)):
                    values[n].append(float(v))
    return {n: (min(v), max(v)) if v else (float("nan"), float("nan")) for n, v in values.items()}


def inverse_design_table(measure_files, training: dict[str, list] | None = None) -> pd.DataFrame:
    """One row per (structure, property); ``training`` maps a model to its training files (for the ranges)."""
    records = [io.read_json(f) for f in measure_files]
    rows = []
    ranges: dict[str, dict] = {}
    for rec in records:
        model = rec["model"]
        if model not in ranges:
            names = sorted({p for r in records if r["model"] == model for p in r["targets"]})
            ranges[model] = training_ranges((training or {}).get(model, []), names)
        for prop, target in rec["targets"].items():
            lo, hi = ranges[model].get(prop, (float("nan"), float("nan")))
            achieved = float(rec["achieved"][prop])
            rows.append({"model": model, "sample": rec["sample"], "seed": rec.get("seed"), "property": prop,
                         "target": float(target), "achieved": achieved, "error": achieved - float(target),
                         "train_min": lo, "train_max": hi,
                         "in_range": bool(lo <= target <= hi) if math.isfinite(lo) else None})
    table = pd.DataFrame(rows, columns=COLUMNS[:-2])
    if table.empty:
        return table.reindex(columns=COLUMNS)
    err = table.groupby(["model", "property"])["error"]
    table["mae"] = err.transform(lambda e: float(np.nanmean(np.abs(e))))
    table["rmse"] = err.transform(lambda e: float(np.sqrt(np.nanmean(np.square(e)))))
    return table.sort_values(["model", "property", "target", "seed"], ignore_index=True)[COLUMNS]


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """MAE and RMSE per model and property: all targets, inside and outside the training range."""
    rows = []
    for (model, prop), g in table.groupby(["model", "property"], sort=True):
        for where, sel in (("all", g), ("inside", g[g.in_range == True]),  # noqa: E712 (None = unknown)
                           ("outside", g[g.in_range == False])):  # noqa: E712
            e = sel["error"].to_numpy(float)
            rows.append({"model": model, "property": prop, "targets": where, "n": len(e),
                         "mae": float(np.mean(np.abs(e))) if len(e) else float("nan"),
                         "rmse": float(np.sqrt(np.mean(e ** 2))) if len(e) else float("nan")})
    return pd.DataFrame(rows, columns=["model", "property", "targets", "n", "mae", "rmse"])


def _measure_cmd(args) -> int:
    from ..cli import UserError
    from ..provenance import provenance
    from ..simulate.cli import lammps_settings

    structure = io.read_structure(args.structure)
    system = json.loads(args.system_json)
    try:
        result = measure_targets(structure, system, lammps=lammps_settings(args), log_dir=args.log_dir)
    except ValueError as exc:
        raise UserError(f"{args.structure}: {exc}") from None
    result.update({"model": args.model or structure.info.get("model"), "sample": args.sample or Path(args.structure).stem,
                   "seed": structure.info.get("seed"), "structure": str(args.structure),
                   "provenance": provenance(seed=structure.info.get("seed"), params={"system": system})})
    io.write_json(args.out, result)
    print(f"{args.out}: " + ", ".join(f"{k} target {v:g} achieved {result['achieved'][k]:.4g}"
                                      for k, v in result["targets"].items()))
    return 0


def _table_cmd(args) -> int:
    from ..cli import UserError

    try:
        training = json.loads(args.training_json)
        table = inverse_design_table(args.inputs, training)
    except (ValueError, KeyError) as exc:
        raise UserError(str(exc)) from None
    io.write_table(args.out, table)
    if args.summary:
        io.write_table(args.summary, summary_table(table))
    print(f"{args.out}: {len(table)} rows")
    return 0


def register(subparsers) -> None:
    from ..simulate.cli import add_lammps_args

    p = subparsers.add_parser(
        "measure-targets", help="measure the target properties of a generated structure (inverse design)",
        description="Read the target_<property> info keys of a (refined) generated structure and measure each "
        "property with the dataset label functions (amorphous_ml/validate/labels.py). Writes JSON.")
    p.add_argument("--structure", required=True, help="refined generated structure (extxyz)")
    p.add_argument("--system-json", required=True, help="the slices of the system config the labels need (JSON)")
    p.add_argument("--model", default=None, help="model name (default: from the structure's info)")
    p.add_argument("--sample", default=None, help="sample id (default: the file's stem)")
    p.add_argument("--out", required=True, help="output JSON")
    p.add_argument("--log-dir", default=None, help="directory for the LAMMPS logs of LAMMPS-based labels")
    add_lammps_args(p)
    p.set_defaults(func=_measure_cmd)

    p = subparsers.add_parser(
        "inverse-design-table", help="measured targets -> inverse_design.csv (target, achieved, error, MAE, RMSE)",
        description="One row per generated structure and property: target, achieved, error, the training range "
        "and whether the target lies in it, MAE and RMSE per model and property; --summary splits them "
        "inside / outside the training range.")
    p.add_argument("inputs", nargs="+", help="JSONs from `amorphous-ml measure-targets`")
    p.add_argument("--training-json", default="{}", help="model -> its training extxyz files (for the ranges)")
    p.add_argument("--out", required=True, help="inverse_design.csv")
    p.add_argument("--summary", default=None, help="inverse_design_summary.csv")
    p.set_defaults(func=_table_cmd)
