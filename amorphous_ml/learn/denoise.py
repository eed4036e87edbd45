"""DM2's training objective and the end-to-end "train a denoiser on glasses" entry point.

Objective (DM2): for each structure one sigma ~ U[sigma_min, sigma_max] Å, x_noisy = x + sigma * eps,
loss = MSE(D(x_noisy), sigma * eps), where D predicts the displacement per atom.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import torch

from ..config import schema_defaults
from ..io import write_json
from .data import Batch, fit_density_vs_log_rate, load_glasses, split_stratified, structures_from_atoms
from .graphs import build_graph
from .models.dm2 import DM2Config, DM2Denoiser
from .train import TrainConfig, save_model, train

__all__ = ["make_denoising_loss", "train_dm2"]


def make_denoising_loss(sigma_min: float, sigma_max: float):
    def loss_fn(model, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        dtype, device = batch.positions.dtype, batch.positions.device
        sigma = sigma_min + (sigma_max - sigma_min) * torch.rand(batch.num_graphs, generator=gen, dtype=dtype)
        eps = torch.randn(batch.positions.shape, generator=gen, dtype=dtype)
        target = (sigma.to(device)[batch.batch, None] * eps.to(device))
        graph = build_graph(batch.positions + target, batch.species, batch.cells, batch.batch, model.cutoff,
                            batch.counts)
        cond = batch.labels if model.cfg.conditional else None
        pred = model(graph, cond)
        return torch.mean((pred - target) ** 2)

    return loss_fn


def train_dm2(glass_paths: Sequence[str | os.PathLike], model_path: str | os.PathLike, work_dir: str | os.PathLike,
              model_params: dict, train_params: dict, device: str = "cpu", progress: bool = True,
              stop_after: int | None = None) -> dict:
    """Train a DM2 denoiser on extxyz glasses and write ``model_path`` (.pt + .json) and a history JSON.

    ``model_params``: :class:`DM2Config` fields (``species`` required) plus ``sigma_min``,
    ``sigma_max``, ``val_fraction``; ``train_params``: :class:`TrainConfig` fields.
    The density-vs-log10(rate) fit of the training glasses is stored in the model config (``extra``),
    where the sampler finds it.
    """
    frames = load_glasses(glass_paths)
    defaults = schema_defaults("dm2")
    params = dict(model_params)
    sigma_min = float(params.pop("sigma_min", defaults["sigma_min"]))
    sigma_max = float(params.pop("sigma_max", defaults["sigma_max"]))
    val_fraction = float(params.pop("val_fraction", defaults["val_fraction"]))
    cfg = DM2Config.from_dict(params)
    tcfg = TrainConfig.from_dict(train_params)
    label_key = "cooling_rate" if cfg.conditional else None
    items = structures_from_atoms(frames, cfg.species, label_key=label_key)
    tr, va = split_stratified([it.label for it in items], val_fraction, tcfg.seed)  # by cooling rate
    density = fit_density_vs_log_rate(frames) if cfg.conditional else fit_density_vs_log_rate(frames, "__none__")
    cfg.extra = {
        "density_fit": density,
        "composition_counts_per_atom": _composition(frames),
        "sigma_min": sigma_min, "sigma_max": sigma_max,
        "train_structures": [items[i].name for i in tr], "val_structures": [items[i].name for i in va],
        "train_config": train_params,
    }
    torch.manual_seed(tcfg.seed)
    model = DM2Denoiser(cfg)
    history = train(model, "dm2", make_denoising_loss(sigma_min, sigma_max), [items[i] for i in tr],
                    [items[i] for i in va], tcfg, work_dir, device=device, progress=progress, stop_after=stop_after)
    if history["step"] and history["step"][-1] >= tcfg.steps:
        save_model(model_path, model, "dm2")
        write_json(Path(model_path).with_suffix(".history.json"), history)
    return history


def _composition(frames) -> dict:
    counts = Counter(s for a in frames for s in a.get_chemical_symbols())
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())}
