"""Subcommands of the learn stage (registered into ``amorphous-ml``): ``train`` for every model kind."""

from __future__ import annotations

import json


def _train(args) -> int:
    import torch

    from ..cli import UserError
    from ..registry import get_kind
    from .train import resolve_device

    try:
        kind = get_kind(args.kind)
        params = json.loads(args.params_json)
    except (ValueError, json.JSONDecodeError) as exc:
        raise UserError(str(exc)) from None
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        history = kind.train(args.inputs, args.out, args.work_dir, params, list(args.species), device=str(device),
                             progress=not args.no_progress)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    val = history["val_loss"][-1] if history.get("val_loss") else float("nan")
    name = args.name or kind.name
    print(f"trained {name} ({kind.name}) for {history['step'][-1]} steps; final validation loss {val:.4g}; kept the weights "
          f"of step {history.get('selected_step')} -> {args.out}")
    return 0


def register(subparsers) -> None:
    """Add this stage's subcommands to the ``amorphous-ml`` parser."""
    from ..registry import KINDS

    kinds = ", ".join(f"{k}: {v.description}" for k, v in sorted(KINDS.items()))
    p = subparsers.add_parser(
        "train", help="train a generative model of any registered kind; resumes from --work-dir",
        description="Train a model of kind --kind on extxyz structures (melt-quenched glasses or a dataset) "
        "with the training part of its config section (--params-json). Writes OUT (.pt state_dict) and OUT "
        f"with .json (kind and model config). Interrupted runs resume from --work-dir. Kinds: {kinds}.")
    p.add_argument("--kind", required=True, help=f"model kind ({', '.join(sorted(KINDS))})")
    p.add_argument("--name", default=None, help="the model's config section name (for messages)")
    p.add_argument("--inputs", nargs="+", required=True, help="training structures (extxyz, one or more frames each)")
    p.add_argument("--species", nargs="+", required=True, help="element order of the model, e.g. Si O")
    p.add_argument("--params-json", default="{}", help="the model's config section (training part) as JSON")
    p.add_argument("--out", required=True, help="model file (.pt); its config goes next to it as .json")
    p.add_argument("--work-dir", required=True, help="directory for the resumable training state")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)
