"""Subcommands of the generate stage (registered into ``amorphous-ml``): generate (every model kind), refine."""

from __future__ import annotations

import json
from pathlib import Path


def _generate(args) -> int:
    import torch

    from ..cli import UserError
    from ..learn.train import resolve_device
    from .batch import generate_samples

    try:
        params = json.loads(args.params_json)
    except json.JSONDecodeError as exc:
        raise UserError(f"--params-json: not JSON ({exc})") from None
    if len(args.samples) != len(args.out):
        raise UserError("give one --out file per --samples value")
    if all(Path(o).exists() for o in args.out):
        print("all outputs exist")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        frames = generate_samples(args.model, args.name, args.samples, args.out, params, system=args.system,
                                  kind=args.kind, device=str(device), work_dir=args.work_dir,
                                  progress=not args.no_progress)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    sizes = sorted({len(a) for a in frames})
    print(f"generated {len(frames)} structure(s) of {', '.join(map(str, sizes))} atoms with {args.name}")
    return 0


def _refine(args) -> int:
    from ..cli import UserError
    from ..config import schema_defaults
    from ..io import read_structure, write_structures
    from ..simulate.cli import lammps_settings
    from ..simulate.refine import refine_structure  # imported here: it loads LAMMPS

    section = json.loads(args.params_json)
    ref = {**schema_defaults("refine"), **section.get("refine", {})}  # defaults: the schema only
    settings = lammps_settings(args)
    atoms = read_structure(args.input)
    try:
        refined = refine_structure(
            atoms, args.potential, temperature=float(ref["temperature"]), nvt_ps=float(ref["nvt_ps"]),
            npt_ps=float(ref["npt_ps"]), pressure_bar=float(ref["pressure_bar"]), min_distance=float(ref["min_distance"]),
            seed=int(atoms.info.get("seed", 1)), log_path=args.log, data_out=args.out_data,
            accelerator=settings.accelerator, binary=settings.binary, mpi_launch=settings.mpi_launch,
            potential_dir=args.potential_dir,
        )
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    write_structures(args.out_extxyz, refined)
    return 0


def register(subparsers) -> None:
    """Add this stage's subcommands to the ``amorphous-ml`` parser."""
    from ..simulate.cli import add_lammps_args

    p = subparsers.add_parser(
        "generate", help="generate structures with a trained model of any kind (batched over seeds)",
        description="Generate one structure per sample id (<composition>[_<value><Tag>]..._s<seed>, e.g. "
        "SiO2_100Kps_s1001: composition, the conditions such as a target cooling rate, and the seed) with the "
        "model's sampler (its kind is read from the model's .json). Ids with the same composition and "
        "conditions run as one batch; existing outputs are skipped; an interrupted run resumes from "
        "--work-dir only with the same model bytes, generation parameters and seeds.")
    p.add_argument("--model", required=True, help="model .pt written by 'train' (config in the .json beside it)")
    p.add_argument("--name", required=True, help="the model's config section name (recorded as 'model')")
    p.add_argument("--kind", default=None, help="the section's kind: refuse a model file of another kind")
    p.add_argument("--system", default="", help="system name recorded in the output")
    p.add_argument("--samples", nargs="+", required=True, help="sample ids, one structure each")
    p.add_argument("--out", nargs="+", required=True, help="one extxyz per sample id")
    p.add_argument("--params-json", default="{}", help="the generation part of the model's section as JSON")
    p.add_argument("--work-dir", default=None, help="resumable state (default: .state next to the outputs)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_generate)

    p = subparsers.add_parser(
        "refine", help="refine a generated structure: push apart overlaps, minimise, NVT + NPT (LAMMPS)",
        description="Refine a generated structure with the ground-truth potential (DM2: 25 ps NVT + 25 ps NPT "
        "at 300 K; lengths from the 'refine' part of --params-json).")
    p.add_argument("--input", required=True, help="generated structure (extxyz)")
    p.add_argument("--potential", required=True, help="potential name, e.g. sio2_bjp")
    p.add_argument("--potential-dir", default=None, help="directory of the potential files (default: potentials/)")
    p.add_argument("--params-json", default="{}", help="the model's config section as JSON (uses 'refine')")
    p.add_argument("--out-extxyz", required=True)
    p.add_argument("--out-data", required=True, help="LAMMPS data file of the refined structure")
    p.add_argument("--log", required=True, help="LAMMPS log file")
    add_lammps_args(p)
    p.set_defaults(func=_refine)
