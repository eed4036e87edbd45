"""Subcommands of the generate stage (registered into ``amorphous-ml``): generate-dm2, refine."""

from __future__ import annotations

import json
from pathlib import Path


def _generate_dm2(args) -> int:
    import torch

    from ..cli import UserError
    from ..io import write_structures
    from ..learn.train import load_model, resolve_device
    from ..provenance import provenance
    from ..simulate.systems import atom_counts
    from .dm2 import Schedule, generate_structures

    section = json.loads(args.params_json)
    gen = dict(section.get("generation", {}))
    if len(args.seeds) != len(args.out):
        raise UserError("give one --out file per --seeds value")
    todo = [(s, o) for s, o in zip(args.seeds, args.out) if not Path(o).exists()]
    if not todo:
        print("all outputs exist")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        model = load_model(args.model, device=device)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    try:
        schedule = Schedule(noisy_steps=int(gen.get("noisy_steps", 2900)), clean_steps=int(gen.get("clean_steps", 100)),
                            s_max=float(gen.get("s_max", 1.0)), s_min=float(gen.get("s_min", 0.001)),
                            noise_rule=str(gen.get("noise", "fixed")))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    n_atoms = args.n_atoms or int(gen.get("n_atoms", 300))
    counts = atom_counts(args.composition, n_atoms)
    symbols = [el for el, n in counts.items() for _ in range(n)]
    density = args.density if args.density is not None else gen.get("density")
    aspect = tuple(args.aspect or gen.get("aspect", [1.0, 1.0, 1.0]))
    angles = tuple(args.angles or gen.get("angles", [90.0, 90.0, 90.0]))
    pore = args.pore_radius if args.pore_radius is not None else float(gen.get("pore_radius", 0.0))
    seeds = [s for s, _ in todo]
    work_dir = Path(args.work_dir or Path(todo[0][1]).parent / ".dm2_state") / f"{Path(todo[0][1]).stem}"
    try:
        frames = generate_structures(model, symbols, seeds, args.rate, schedule, density=density, aspect=aspect,
                                     angles=angles, pore_radius=pore, device=device, work_dir=work_dir,
                                     checkpoint_every=int(gen.get("checkpoint_every", 200)),
                                     progress=not args.no_progress)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    params = {"model": str(args.model), "schedule": schedule.__dict__, "n_atoms": len(symbols), "aspect": aspect,
              "angles": angles, "pore_radius": pore, "density": frames[0].info["density_gcc"]}
    for atoms, (seed, out) in zip(frames, todo):
        atoms.info.update(provenance(seed=seed, params=params))
        atoms.info.update({"system": args.system, "composition": args.composition, "cooling_rate": float(args.rate),
                           "source": "generated", "model": "dm2"})
        write_structures(out, atoms)
    print(f"generated {len(frames)} structure(s) of {len(symbols)} atoms at {args.rate:g} K/ps")
    return 0


def _refine(args) -> int:
    from ..cli import UserError
    from ..io import read_structure, write_structures
    from ..simulate.cli import lammps_settings
    from ..simulate.refine import refine_structure

    section = json.loads(args.params_json)
    ref = dict(section.get("refine", {}))
    settings = lammps_settings(args)
    atoms = read_structure(args.input)
    try:
        refined = refine_structure(
            atoms, args.potential, temperature=float(ref.get("temperature", 300.0)),
            nvt_ps=float(ref.get("nvt_ps", 25.0)), npt_ps=float(ref.get("npt_ps", 25.0)),
            pressure_bar=float(ref.get("pressure_bar", 0.0)), min_distance=float(ref.get("min_distance", 1.0)),
            seed=int(atoms.info.get("seed", 1)), log_path=args.log, data_out=args.out_data,
            accelerator=settings.accelerator, binary=settings.binary, mpi_launch=settings.mpi_launch,
        )
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    write_structures(args.out_extxyz, refined)
    return 0


def register(subparsers) -> None:
    """Add this stage's subcommands to the ``amorphous-ml`` parser."""
    from ..simulate.cli import add_lammps_args

    p = subparsers.add_parser(
        "generate-dm2", help="generate structures with a trained DM2 denoiser (batched over seeds)",
        description="Denoise uniformly random atoms (optionally outside a cylindrical pore) into glasses at a "
        "target cooling rate. One structure per --seeds value, all in one batch; existing outputs are "
        "skipped and an interrupted run resumes from the state in --work-dir.")
    p.add_argument("--model", required=True, help="model .pt written by train-dm2 (config in the .json beside it)")
    p.add_argument("--system", default="", help="system name recorded in the output")
    p.add_argument("--composition", required=True, help="formula, e.g. SiO2 or Cu50Zr50")
    p.add_argument("--rate", type=float, required=True, help="target cooling rate (K/ps)")
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="one seed per structure")
    p.add_argument("--out", nargs="+", required=True, help="one extxyz per seed")
    p.add_argument("--params-json", default="{}", help="the models.dm2 config section as JSON (uses 'generation')")
    p.add_argument("--n-atoms", type=int, default=None, help="atom count (default: generation.n_atoms)")
    p.add_argument("--density", type=float, default=None, help="g/cm^3 (default: the model's fit at --rate)")
    p.add_argument("--aspect", type=float, nargs=3, default=None, help="cell length ratios a b c")
    p.add_argument("--angles", type=float, nargs=3, default=None, help="cell angles alpha beta gamma (degrees)")
    p.add_argument("--pore-radius", type=float, default=None, help="cylindrical pore along c (Å); 0 = none")
    p.add_argument("--work-dir", default=None, help="resumable denoising state (default: next to the outputs)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_generate_dm2)

    p = subparsers.add_parser(
        "refine", help="refine a generated structure: push apart overlaps, minimise, NVT + NPT (LAMMPS)",
        description="Refine a generated structure with the ground-truth potential (DM2: 25 ps NVT + 25 ps NPT "
        "at 300 K; lengths from the 'refine' part of --params-json).")
    p.add_argument("--input", required=True, help="generated structure (extxyz)")
    p.add_argument("--potential", required=True, help="potential name, e.g. sio2_bjp")
    p.add_argument("--params-json", default="{}", help="the model's config section as JSON (uses 'refine')")
    p.add_argument("--out-extxyz", required=True)
    p.add_argument("--out-data", required=True, help="LAMMPS data file of the refined structure")
    p.add_argument("--log", required=True, help="LAMMPS log file")
    add_lammps_args(p)
    p.set_defaults(func=_refine)
