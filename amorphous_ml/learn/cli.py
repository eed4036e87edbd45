"""Subcommands of the learn stage (registered into ``amorphous-ml``)."""

from __future__ import annotations

import json

# keys of a models.<name> config section that are workflow settings, not model or training parameters
WORKFLOW_KEYS = {"enabled", "target_cooling_rates", "samples_per_rate", "compositions", "generation", "refine"}


def dm2_training_section(section: dict) -> dict:
    """The part of a models.dm2 section that determines the trained model (for Snakemake params)."""
    return {k: v for k, v in section.items() if k not in WORKFLOW_KEYS}


def split_dm2_params(section: dict) -> tuple[dict, dict]:
    """models.dm2 config section -> (model params incl. sigma range/val_fraction, training params)."""
    from .train import TrainConfig

    section = {k: v for k, v in section.items() if k not in WORKFLOW_KEYS}
    train_params = dict(section.pop("training", {}))
    if "seed" in section:
        train_params.setdefault("seed", section.pop("seed"))
    unknown = set(train_params) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        from ..cli import UserError

        raise UserError(f"unknown training keys {sorted(unknown)}")
    return section, train_params


def _train_dm2(args) -> int:
    import torch

    from ..cli import UserError
    from .denoise import train_dm2
    from .train import resolve_device

    section = json.loads(args.params_json)
    model_params, train_params = split_dm2_params(section)
    model_params["species"] = list(args.species)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        history = train_dm2(args.glasses, args.out, args.work_dir, model_params, train_params, device=str(device),
                            progress=not args.no_progress)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    val = history["val_loss"][-1] if history["val_loss"] else float("nan")
    print(f"trained dm2 for {history['step'][-1]} steps; final validation loss {val:.4g} Å^2; kept the weights "
          f"of step {history.get('selected_step')} (validation loss {history.get('selected_val_loss', val):.4g}) "
          f"-> {args.out}")
    return 0


def register(subparsers) -> None:
    """Add this stage's subcommands to the ``amorphous-ml`` parser."""
    p = subparsers.add_parser(
        "train-dm2", help="train a DM2 denoiser on glasses (extxyz); resumes from --work-dir",
        description="Train the DM2 E(3)-equivariant denoiser (conditioned on log10 cooling rate unless "
        "'conditional: false'). Writes OUT (.pt state_dict) and OUT with .json (model config). "
        "Interrupted runs resume from the training state in --work-dir.")
    p.add_argument("--glasses", nargs="+", required=True, help="training structures (extxyz with cooling_rate in info)")
    p.add_argument("--species", nargs="+", required=True, help="element order of the model, e.g. Si O")
    p.add_argument("--params-json", default="{}", help="the models.dm2 config section as JSON")
    p.add_argument("--out", required=True, help="model file (.pt); its config goes next to it as .json")
    p.add_argument("--work-dir", required=True, help="directory for the resumable training state")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train_dm2)
