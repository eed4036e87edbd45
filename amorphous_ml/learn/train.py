"""Config-driven training loop shared by every model, with checkpoints that resume after interruption.

* A model file is two files: ``<stem>.pt`` (``state_dict``) and ``<stem>.json`` (``{"kind", "config"}``),
  written atomically; :func:`load_model` rebuilds it without any training code.
* The training state (model, optimiser, step, random generators, history) is saved every
  ``checkpoint_every`` steps to ``<work_dir>/train_state_<config hash>.pt``; rerunning :func:`train` with the same
  work directory continues from there, and the result is the same as an uninterrupted run.
* Batches are whole structures drawn by a seeded generator from the training split only; the loss
  function draws its own noise from the generator it is given.
* The weights kept are those of the lowest validation loss (``select="best_val"``, evaluated every
  ``val_every`` steps on fixed noise draws) or of the last step (``select="last"``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..config import schema_defaults
from ..io import atomic_path, read_json, write_json
from .data import Batch, Structure, collate
from .models import MODELS

__all__ = ["TrainConfig", "resolve_device", "save_model", "load_model", "train"]


_TRAINING = schema_defaults("dm2", "training")  # the schema's defaults, the one definition


@dataclass
class TrainConfig:
    steps: int = _TRAINING["steps"]
    batch_size: int = _TRAINING["batch_size"]
    lr: float = _TRAINING["lr"]
    weight_decay: float = _TRAINING["weight_decay"]
    grad_clip: float = _TRAINING["grad_clip"]
    val_every: int = _TRAINING["val_every"]
    val_repeats: int = _TRAINING["val_repeats"]
    checkpoint_every: int = _TRAINING["checkpoint_every"]
    seed: int = 0  # the models.<name>.seed of the config
    dtype: str = _TRAINING["dtype"]
    #: weights kept at the end: "best_val" (lowest validation loss over the evaluations; the last step
    #: when there is no validation set) or "last"
    select: str = _TRAINING["select"]

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when available)."""
    name = (name or "cpu").lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("torch_device is 'cuda' but this torch build sees no CUDA device")
    return torch.device(name)


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def save_model(path: str | os.PathLike, model: torch.nn.Module, kind: str) -> None:
    """``path`` (.pt): state_dict; ``path`` with suffix .json: {"kind", "config"}."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(path.with_suffix(".json"), {"kind": kind, "config": model.config()})


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    """Rebuild a model from ``path`` (.pt state_dict) and its .json; ``ValueError`` (one line naming the file)
    when either is missing, unreadable or does not fit the architecture the .json describes."""
    path = Path(path)
    meta = read_json(path.with_suffix(".json"))
    model = MODELS[meta["kind"]](meta["config"])
    if not path.is_file():
        raise ValueError(f"{path}: model file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file: pickle/zip errors of many kinds
        raise ValueError(f"{path}: not a readable torch state_dict ({str(exc).strip().splitlines()[0][:200]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    if dtype is not None:
        model = model.to(dtype)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing/unexpected keys or size mismatches, one per line
        problems = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        raise ValueError(f"{path}: weights do not fit the {meta['kind']} model described in "
                         f"{path.with_suffix('.json').name}: {problems[0] if problems else 'mismatch'}"
                         f"{f' (+{len(problems) - 1} more)' if len(problems) > 1 else ''}") from None
    return model.to(device).eval()


def _sample_batch(items: Sequence[Structure], batch_size: int, gen: torch.Generator) -> list[Structure]:
    idx = torch.randint(len(items), (batch_size,), generator=gen).tolist()
    return [items[i] for i in idx]


@torch.no_grad()
def evaluate(model, loss_fn, items: Sequence[Structure], cfg: TrainConfig, device) -> float:
    """Mean loss over every validation structure and ``val_repeats`` fixed noise draws (deterministic)."""
    if not items:
        return float("nan")
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 7919)
    model.eval()
    total, n = 0.0, 0
    for _ in range(cfg.val_repeats):
        for start in range(0, len(items), cfg.batch_size):
            batch = collate(items[start:start + cfg.batch_size], _dtype(cfg.dtype), device)
            total += float(loss_fn(model, batch, gen)) * batch.num_graphs
            n += batch.num_graphs
    model.train()
    return total / n


def train(model: torch.nn.Module, kind: str, loss_fn: Callable[[torch.nn.Module, Batch, torch.Generator], torch.Tensor],
          train_items: Sequence[Structure], val_items: Sequence[Structure], cfg: TrainConfig,
          work_dir: str | os.PathLike, device: str | torch.device = "cpu", progress: bool = True,
          stop_after: int | None = None) -> dict:
    """Train ``model`` in place; returns the history ``{"step", "train_loss", "val_step", "val_loss"}``.

    ``stop_after`` ends the run after that many steps of this call (used to test resuming).
    """
    device = torch.device(device)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    # the state file is keyed by the configuration, so a changed config starts afresh instead of
    # resuming someone else's run
    key = hashlib.sha256(json.dumps([asdict(cfg), model.config()], sort_keys=True, default=str).encode()).hexdigest()
    state_path = work_dir / f"train_state_{key[:12]}.pt"
    torch.manual_seed(cfg.seed)
    model.to(device=device, dtype=_dtype(cfg.dtype)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    if cfg.select not in ("best_val", "last"):
        raise ValueError(f"training.select must be 'best_val' or 'last', got {cfg.select!r}")
    history = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    step = 0
    best: dict = {"step": None, "loss": math.inf, "state": None}  # lowest validation loss so far
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, step = state["history"], state["step"]
        print(f"train {kind}: resuming from {state_path} at step {step} of {cfg.steps}", file=sys.stderr, flush=True)
        best = state.get("best", best)

    def checkpoint():
        with atomic_path(state_path) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                        "torch_rng": torch.get_rng_state(), "history": history, "step": step, "best": best,
                        "train_config": asdict(cfg), "model_config": json.loads(json.dumps(model.config()))}, tmp)

    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {kind}", disable=not progress, mininterval=2.0)
    done_here = 0
    while step < cfg.steps:
        batch = collate(_sample_batch(train_items, cfg.batch_size, gen), _dtype(cfg.dtype), device)
        loss = loss_fn(model, batch, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        done_here += 1
        history["step"].append(step)
        history["train_loss"].append(float(loss.detach()))
        if step % cfg.val_every == 0 or step == cfg.steps:
            history["val_step"].append(step)
            history["val_loss"].append(evaluate(model, loss_fn, val_items, cfg, device))
            if history["val_loss"][-1] < best["loss"]:
                best = {"step": step, "loss": history["val_loss"][-1],
                        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
            bar.set_postfix(loss=f"{float(loss.detach()):.4g}", val=f"{history['val_loss'][-1]:.4g}")
        bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
        if stop_after is not None and done_here >= stop_after:
            break
    bar.close()
    if math.isnan(history["train_loss"][-1] if history["train_loss"] else 0.0):
        raise FloatingPointError("training loss became NaN")
    if step >= cfg.steps:  # finished: keep the selected weights
        if cfg.select == "best_val" and best["state"] is not None:
            model.load_state_dict(best["state"])
            history["selected_step"], history["selected_val_loss"] = best["step"], best["loss"]
        else:
            history["selected_step"] = step
            history["selected_val_loss"] = history["val_loss"][-1] if history["val_loss"] else float("nan")
    return history
