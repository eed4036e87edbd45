"""GlassVAE subcommands: train-glassvae, generate-glassvae, glassvae-table (registered into ``amorphous-ml``)."""

from __future__ import annotations

import json
from pathlib import Path

# keys of a GlassVAE config section that are workflow settings, not model or training parameters
WORKFLOW_KEYS = {"enabled", "kind", "dataset", "generation", "refine"}


def glassvae_training_section(section: dict) -> dict:
    """The part of a GlassVAE section that determines the trained model (for Snakemake params)."""
    return {k: v for k, v in section.items() if k not in WORKFLOW_KEYS}


def energy_window(model, gen: dict) -> tuple[float, float]:
    """The requested window (eV/atom): ``energy_window`` or ``window_quantiles`` of the training energies."""
    if gen.get("energy_window"):
        lo, hi = (float(v) for v in gen["energy_window"])
        return lo, hi
    import numpy as np

    q = model.cfg.extra.get("energy_quantiles")
    if not q:
        raise ValueError("the model carries no training energy quantiles: give generation.energy_window")
    grid = np.linspace(0, 1, len(q))
    lo, hi = gen.get("window_quantiles", [0.1, 0.4])
    return float(np.interp(lo, grid, q)), float(np.interp(hi, grid, q))


def _train(args) -> int:
    import torch

    from ..cli import UserError
    from ..io import read_structures
    from .train import resolve_device
    from .vae import train_glassvae

    section = glassvae_training_section(json.loads(args.params_json))
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        frames = read_structures(args.dataset)
        device = resolve_device(args.device)
        history = train_glassvae(frames, args.out, args.work_dir, section, device=str(device),
                                 progress=not args.no_progress)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    val = history["val_loss"][-1] if history["val_loss"] else float("nan")
    print(f"trained glassvae for {history['step'][-1]} steps; final validation loss {val:.4g} -> {args.out}")
    return 0


def _generate(args) -> int:
    import torch

    from ..cli import UserError
    from ..generate.glassvae import generate_glassvae
    from ..io import write_structures
    from ..provenance import provenance
    from ..simulate.systems import atom_counts
    from .train import load_model, resolve_device

    section = json.loads(args.params_json)
    gen = dict(section.get("generation", {}))
    if len(args.seeds) != len(args.out):
        raise UserError("give one --out file per --seeds value")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        model = load_model(args.model, device=device)
        composition = args.composition or gen.get("composition")
        symbols = None
        if composition:
            counts = atom_counts(composition, model.cfg.n_atoms)
            symbols = [el for el, n in counts.items() for _ in range(n)]
        targets = None
        if args.mode == "window":
            lo, hi = energy_window(model, gen)
            targets = {"energy_min": lo, "energy_max": hi}
        frames, report = generate_glassvae(model, len(args.seeds), targets, gen, seed=args.seeds[0], device=str(device),
                                           symbols=symbols, seeds=args.seeds)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    params = {"model": str(args.model), "mode": args.mode, "generation": gen, "targets": targets}
    for atoms, seed, out in zip(frames, args.seeds, args.out):
        atoms.info.update(provenance(seed=seed, params=params))
        atoms.info.update({"system": args.system, "composition": atoms.get_chemical_formula(mode="metal"),
                           "source": "generated", "model": args.model_name, "mode": args.mode})
        write_structures(out, atoms)
    if args.report:
        from ..io import write_json

        write_json(args.report, report)
    print(f"generated {len(frames)} structure(s) ({args.mode}); predicted energies "
          f"{', '.join(f'{e:.4f}' for e in report['energy_pred'])} eV/atom")
    return 0


def _table(args) -> int:
    from ..cli import UserError
    from ..validate.glassvae import glassvae_table

    if len(args.names) != len(args.models):
        raise UserError("give one --names value per --models file")
    try:
        table = glassvae_table(dict(zip(args.names, args.models)), args.dataset, args.refined or [],
                               potential=args.potential, log_dir=args.log_dir, n_reference=args.n_reference)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from ..io import write_table

    write_table(args.out, table)
    print(table.to_string(index=False))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-glassvae", help="train GlassVAE on MD snapshots (extxyz); resumes from --work-dir",
        description="Train the hierarchical graph VAE (latent -> species, periodic positions, volume; energy head "
        "on the latent). Writes OUT (.pt state_dict) and OUT with .json (model config); held out: the end of "
        "each temperature's trajectory.")
    p.add_argument("--dataset", required=True, help="multi-frame extxyz of snapshots (energies; temperature, snapshot)")
    p.add_argument("--params-json", default="{}", help="the model's config section as JSON")
    p.add_argument("--out", required=True, help="model file (.pt); its config goes next to it as .json")
    p.add_argument("--work-dir", required=True, help="directory for the resumable training state")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = subparsers.add_parser(
        "generate-glassvae", help="decode structures from GlassVAE's prior or into an energy window",
        description="prior: z ~ N(0, I) (and the learned edge-level prior); window: gradient steps on z of the paper's "
        "L(z) from a training snapshot's posterior mean. One structure per --seeds value.")
    p.add_argument("--model", required=True, help="model .pt written by train-glassvae")
    p.add_argument("--model-name", default="glassvae", help="name recorded in the outputs")
    p.add_argument("--system", default="", help="system name recorded in the outputs")
    p.add_argument("--mode", choices=["prior", "window"], required=True)
    p.add_argument("--composition", default=None, help="formula (default: generation.composition or the training one)")
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="one seed per structure")
    p.add_argument("--out", nargs="+", required=True, help="one extxyz per seed")
    p.add_argument("--params-json", default="{}", help="the model's config section as JSON (uses 'generation')")
    p.add_argument("--report", default=None, help="JSON report (window, predicted energies, starts)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=_generate)

    p = subparsers.add_parser(
        "glassvae-table", help="GlassVAE's Table 1 (held-out snapshots) and generation checks, one row per model",
        description="Energy RMSE/R^2, paired-distance RMSE/R^2 and node accuracy on each model's held-out snapshots; "
        "for refined generated structures the LAMMPS energy against the requested window, the energy head's "
        "prediction and the RDF distance to the held-out snapshots (next to that of minimised held-out snapshots).")
    p.add_argument("--models", nargs="+", required=True, help="model .pt files")
    p.add_argument("--names", nargs="+", required=True, help="one name per model")
    p.add_argument("--dataset", required=True, help="the snapshots the models were trained on (extxyz)")
    p.add_argument("--refined", nargs="*", default=[], help="refined generated structures (extxyz; info model, mode)")
    p.add_argument("--potential", default="cuzr_mendelev", help="potential of the reference minimisations")
    p.add_argument("--log-dir", required=True, help="LAMMPS logs of the reference minimisations")
    p.add_argument("--n-reference", type=int, default=4, help="held-out snapshots minimised as the RDF baseline")
    p.add_argument("--out", required=True, help="CSV")
    p.set_defaults(func=_table)
