"""Subcommands of the validate stage (registered into ``amorphous-ml``).

* ``structure-metrics``: every structure metric of one sample -> JSON (+ QUESTS descriptors .npy).
* ``structure-table``: per-sample JSONs -> ``structure.csv`` (one row per source and sample).
* ``benchmark-table``: per-sample JSONs -> ``benchmark.csv`` (one row per source, stage, composition,
  target rate and metric: permutation test against the simulated glasses of that rate, or a trend check).
* ``plot-structure``: RDF / angle / ring / Voronoi figure from per-sample JSONs.
* ``plot-parity``: parity plot of properties (structure.csv, elastic.csv, fracture.csv).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..cli import UserError
from ..provenance import provenance
from ..simulate.cli import add_lammps_args, lammps_settings
from .compare import benchmark_table, load_records, sample_identity, structure_table
from .structure import analysis_settings, analyze


def _settings_arg(p) -> None:
    p.add_argument("--settings-json", default="{}",
                   help="analysis settings as JSON (the system's `analysis` config block); defaults fill the rest")


def _load_settings(args) -> dict:
    try:
        return analysis_settings(json.loads(args.settings_json))
    except (json.JSONDecodeError, ValueError) as exc:
        raise UserError(f"--settings-json: {exc}") from None


def _structure_metrics(args) -> int:
    settings = _load_settings(args)
    try:
        atoms = io.read_structure(args.structure, atom_style=args.atom_style, species=args.species)
        identity = sample_identity(atoms.info, args.source, args.sample, args.structure, stage=args.stage)
    except ValueError as exc:
        raise UserError(f"{args.structure}: {exc}") from None
    lmp = lammps_settings(args)
    timings: dict = {}
    extras: dict = {}
    try:
        scalars, dists = analyze(
            atoms, settings, potential=args.potential, log_path=args.log, timings=timings, extras=extras,
            lammps_kwargs={"accelerator": lmp.accelerator, "binary": lmp.binary, "mpi_launch": lmp.mpi_launch,
                           "potential_dir": args.potential_dir or None},
        )
    except ValueError as exc:
        raise UserError(f"{args.structure}: {exc}") from None
    record = {
        "id": identity,
        "scalars": scalars,
        "distributions": dists,
        "timings_s": timings,
        "settings": settings,
        "provenance": provenance(seed=settings["seed"], params=settings),
    }
    if args.descriptors:
        with io.atomic_path(args.descriptors) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, extras["quests_descriptors"].astype(np.float32))
        # relative to the JSON, so a moved results/ tree stays readable
        record["descriptors_file"] = os.path.relpath(Path(args.descriptors).resolve(), Path(args.out).resolve().parent)
    io.write_json(args.out, record)
    print(f"{args.out}: {len(scalars)} scalar metrics in {sum(timings.values()):.1f} s")
    return 0


def _structure_table(args) -> int:
    table = structure_table(load_records(args.inputs))
    io.write_table(args.out, table)
    print(f"{args.out}: {len(table)} samples")
    return 0


def _benchmark_table(args) -> int:
    try:
        table = benchmark_table(load_records(args.inputs), _load_settings(args), json.loads(args.references_json))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    io.write_table(args.out, table)
    print(f"{args.out}: {len(table)} rows, {table['source'].nunique() if len(table) else 0} sources")
    return 0


def _plot_structure(args) -> int:
    from .plots import PLOTS  # matplotlib: only the plotting commands import it

    kwargs = {"title": args.title} if args.title else {}
    PLOTS[args.kind](load_records(args.inputs), args.out, **kwargs)
    print(f"{args.out}: {args.kind} plot")
    return 0


def _plot_parity(args) -> int:
    from .plots import plot_parity  # matplotlib: only the plotting commands import it

    tables = [pd.read_csv(f) for f in args.tables if Path(f).stat().st_size > 0]
    frame = plot_parity(tables, args.out)
    print(f"{args.out}: {len(frame)} parity points")
    return 0


def register(subparsers) -> None:
    """Add this stage's subcommands to the ``amorphous-ml`` parser."""
    p = subparsers.add_parser(
        "structure-metrics", help="every structure metric of one structure -> JSON",
        description="Partial RDFs, bond angles, coordination defects, rings, Voronoi, density, QUESTS "
                    "entropy and (with --potential) the minimised energy per atom of one structure.")
    p.add_argument("--structure", required=True,
                   help="one structure: extxyz, or a LAMMPS data file (.data/.lmp/.dat, types mapped by mass)")
    p.add_argument("--out", required=True, help="output JSON (scalars, distributions, timings)")
    p.add_argument("--descriptors", default=None, help="output .npy of QUESTS descriptors (for overlaps)")
    p.add_argument("--source", default=None, help="'simulated' or a model name (default: from the file)")
    p.add_argument("--sample", default=None, help="sample id {composition}_{rate}Kps_s{seed}")
    p.add_argument("--stage", default=None, choices=["md", "refined", "raw", "as_given"],
                   help="md (simulated), refined (generated + refinement MD), raw (generated, minimised only); "
                        "default: from the structure's info")
    p.add_argument("--atom-style", default=None,
                   help="LAMMPS data files (.data/.lmp/.dat): atom style (default: from the Atoms section comment)")
    p.add_argument("--species", nargs="+", default=None,
                   help="LAMMPS data files: element of each atom type in order (default: from the Masses section)")
    p.add_argument("--potential", default=None, help="potential name for the minimised energy (e.g. sio2_bjp)")
    p.add_argument("--potential-dir", default=None, help="directory of the potential files (default: potentials/)")
    p.add_argument("--log", default=None, help="LAMMPS log of the minimisation")
    _settings_arg(p)
    add_lammps_args(p)
    p.set_defaults(func=_structure_metrics)

    p = subparsers.add_parser("structure-table", help="per-sample metric JSONs -> structure.csv",
                              description="One row per source and sample with every scalar structure metric.")
    p.add_argument("inputs", nargs="+", help="JSONs from `amorphous-ml structure-metrics`")
    p.add_argument("--out", required=True, help="output CSV")
    p.set_defaults(func=_structure_table)

    p = subparsers.add_parser(
        "benchmark-table", help="per-sample metric JSONs -> benchmark.csv (permutation tests, trend checks)",
        description="One row per source, stage (raw/refined), composition, target cooling rate and metric: "
                    "the distance to the simulated glasses of the same composition and rate with a permutation "
                    "test at matched sample sizes (noise median, 95th percentile, p-value, verdict); target "
                    "rates without simulated glasses get a trend check of density and energy in log10(rate).")
    p.add_argument("inputs", nargs="+", help="JSONs from `amorphous-ml structure-metrics`")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--references-json", default="{}",
                   help="source -> its reference source (e.g. a dataset name) where it is not 'simulated'")
    _settings_arg(p)
    p.set_defaults(func=_benchmark_table)

    p = subparsers.add_parser("plot-structure", help="RDF / angle / ring / Voronoi figure of every source",
                              description="Overlay the mean distribution of each source and cooling rate.")
    p.add_argument("inputs", nargs="+", help="JSONs from `amorphous-ml structure-metrics`")
    p.add_argument("--kind", required=True, choices=["rdf", "angles", "rings", "voronoi"])
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--title", default="")
    p.set_defaults(func=_plot_structure)

    p = subparsers.add_parser("plot-parity", help="generated vs simulated property means (parity plot)",
                              description="Per composition and cooling rate: simulated mean (x) against each "
                                          "model's mean (y) for every property column found in the tables.")
    p.add_argument("tables", nargs="+", help="structure.csv, elastic.csv, fracture.csv (any subset)")
    p.add_argument("--out", required=True, help="output PNG")
    p.set_defaults(func=_plot_parity)

    p = subparsers.add_parser("extract-frame", help="one frame of a multi-frame extxyz (by its 'sample' info)",
                              description="Write the frame whose info 'sample' equals --sample to --out.")
    p.add_argument("--input", required=True, help="multi-frame extxyz (e.g. a dataset)")
    p.add_argument("--sample", required=True, help="the frame's 'sample' id")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_extract_frame)


def _extract_frame(args) -> int:
    from .. import io
    from ..cli import UserError

    frames = [a for a in io.read_structures(args.input) if str(a.info.get("sample")) == args.sample]
    if len(frames) != 1:
        raise UserError(f"{args.input}: {len(frames)} frames have sample {args.sample!r} (expected one)")
    atoms = frames[0]
    atoms.info.setdefault("source", atoms.info.get("dataset"))
    atoms.info.setdefault("model", "md")
    io.write_structures(args.out, atoms)
    return 0
