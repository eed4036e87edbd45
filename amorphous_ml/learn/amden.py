"""AMDEN's training objective and the ``train_amden`` entry point (CONTRACT9.md).

Per structure and step (all drawn from the training loop's seeded generator): ghost atoms (element
``X``) fill the cell up to ``floor(rho_ghost V)`` nodes with ``rho_ghost ~ U[ghost_density]`` atoms/Å^3
at uniform random positions; ``t ~ U[t_min, t_max]``; ``X_t = wrap(X + sigma_X(t) eps_X)``,
``E_t = alpha(t) E + sigma_E(t) eps_E``; each property is replaced by its null embedding with
probability ``property_dropout``, and all of a structure's properties at once with probability
``property_dropout_all`` (so the same model gives the unconditional score for guidance).
Loss = ``w_pos * MSE(eps_X - mean, pred_X) + w_el * MSE(eps_E, pred_E)`` (weights 1.0 / 0.5); the
position target has its per-structure mean removed, since a common translation of a periodic
structure cannot be predicted.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import ase
import numpy as np
import torch

from ..io import write_json
from .data import Batch, Structure, density_gcc, split_by_structure, structures_from_atoms
from .models.amden import AMDEN, AMDENConfig, wrap_positions
from .train import TrainConfig, save_model, train

__all__ = ["add_ghosts", "make_amden_loss", "amden_structures", "train_amden", "MAX_STORED_CELLS"]

MAX_STORED_CELLS = 64


def ghost_count(n_real: int, volume: float, density: float) -> int:
    return max(0, int(math.floor(density * volume)) - int(n_real))


def add_ghosts(batch: Batch, n_species: int, ghost_density: tuple[float, float] | None, gen: torch.Generator):
    """Real atoms followed by ghosts per structure -> (positions, classes (N,), node batch, counts)."""
    pos, cls, counts = [], [], []
    off = 0
    cells = batch.cells.detach().cpu().to(torch.float64)
    for g, n in enumerate(batch.counts):
        p = batch.positions[off:off + n]
        s = batch.species[off:off + n]
        off += n
        n_ghost = 0
        if ghost_density is not None:
            lo, hi = ghost_density
            rho = lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))
            n_ghost = ghost_count(n, float(abs(torch.linalg.det(cells[g]))), rho)
        frac = torch.rand((n_ghost, 3), generator=gen, dtype=torch.float64)
        ghost_pos = (frac @ cells[g]).to(p.dtype).to(p.device)
        pos.append(torch.cat([p, ghost_pos]))
        cls.append(torch.cat([s, torch.full((n_ghost,), n_species, dtype=s.dtype, device=s.device)]))
        counts.append(n + n_ghost)
    device = batch.positions.device
    node_batch = torch.repeat_interleave(torch.arange(len(counts), device=device), torch.as_tensor(counts, device=device))
    return torch.cat(pos), torch.cat(cls), node_batch, counts


def make_amden_loss(ghost_density=(0.09, 0.11), t_min: float = 0.01, t_max: float = 0.99, property_dropout: float = 0.1,
                    weight_position: float = 1.0, weight_element: float = 0.5, property_dropout_all: float = 0.1):
    def loss_fn(model: AMDEN, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        dtype, device = batch.positions.dtype, batch.positions.device
        cfg = model.cfg
        gd = tuple(ghost_density) if cfg.ghost else None
        x0, cls, node_batch, counts = add_ghosts(batch, len(cfg.species), gd, gen)
        n, b = x0.shape[0], len(counts)
        t = (t_min + (t_max - t_min) * torch.rand(b, generator=gen, dtype=torch.float64)).to(dtype).to(device)
        eps_x = torch.randn((n, 3), generator=gen, dtype=torch.float64).to(dtype).to(device)
        eps_e = torch.randn((n, model.n_classes), generator=gen, dtype=torch.float64).to(dtype).to(device)
        sch = model.schedule
        xt = wrap_positions(x0 + sch.sigma_x(t)[node_batch][:, None] * eps_x, batch.cells, node_batch)
        e0 = torch.nn.functional.one_hot(cls, model.n_classes).to(dtype)
        et = sch.alpha_e(t)[node_batch][:, None] * e0 + sch.sigma_e(t)[node_batch][:, None] * eps_e
        props = batch.labels.reshape(b, -1).clone()
        if props.shape[1]:
            # each property alone (partial conditioning) and all at once (the unconditional score of
            # guidance, which per-property dropout alone would train with probability p^m only)
            drop = torch.rand(props.shape, generator=gen, dtype=torch.float64) < property_dropout
            drop |= (torch.rand((b, 1), generator=gen, dtype=torch.float64) < property_dropout_all)
            props = torch.where(drop.to(device), torch.full_like(props, float("nan")), props)
        pred_x, pred_e = model.eps(xt, et, batch.cells, node_batch, counts, t, props, create_graph=True)
        mean = torch.zeros((b, 3), dtype=dtype, device=device).index_add(0, node_batch, eps_x)
        mean = mean / torch.as_tensor(counts, dtype=dtype, device=device)[:, None]
        target_x = eps_x - mean[node_batch]
        return (weight_position * torch.mean((pred_x - target_x) ** 2)
                + weight_element * torch.mean((pred_e - eps_e) ** 2))

    return loss_fn


def _label(atoms: ase.Atoms, name: str) -> float:
    v = atoms.info.get(name)
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def property_stats(frames: Sequence[ase.Atoms], properties: Sequence[str]) -> dict:
    """mean / std / min / max of each property over the frames that carry it; error naming a missing one."""
    stats = {}
    for name in properties:
        vals = np.array([_label(a, name) for a in frames])
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            keys = sorted({k for a in frames for k in a.info})
            raise ValueError(f"properties: {name!r} is not a label of the training frames (info keys: {keys})")
        std = float(vals.std())
        stats[name] = {"mean": float(vals.mean()), "std": std if std > 0 else 1.0,
                       "min": float(vals.min()), "max": float(vals.max()), "n": int(len(vals))}
    return stats


def amden_structures(frames: Sequence[ase.Atoms], species: Sequence[str], properties: Sequence[str],
                     stats: dict) -> list[Structure]:
    """Structures whose label is the vector of standardised properties (NaN where a frame lacks one)."""
    base = structures_from_atoms(frames, species, label_key=None)  # positions, cell, species (checked)
    return [dataclasses.replace(
        st, label=np.array([(_label(atoms, p) - stats[p]["mean"]) / stats[p]["std"] for p in properties], dtype=float),
        name=str(atoms.info.get("sample", atoms.info.get("name", k))))
        for k, (st, atoms) in enumerate(zip(base, frames))]


def model_config(frames: Sequence[ase.Atoms], params: dict) -> AMDENConfig:
    """The model config (architecture + training-set metadata in ``extra``) for ``params``."""
    if not frames:
        raise ValueError("no training structures given")
    for k, a in enumerate(frames):
        if not all(a.pbc) or a.cell.volume <= 0:
            raise ValueError(f"structure {k} is not a periodic 3-d cell (AMDEN needs a box)")
    species = list(params.get("species") or sorted({s for a in frames for s in a.get_chemical_symbols()}))
    if "X" in species:
        raise ValueError("species: 'X' is reserved for ghost atoms")
    properties = list(params.get("properties") or [])
    stats = property_stats(frames, properties)
    arch = {k: v for k, v in params.items() if k not in ("species", "properties", "extra")}
    cfg = AMDENConfig.from_dict({**arch, "species": species, "properties": properties})
    cfg.property_mean = [stats[p]["mean"] for p in properties]
    cfg.property_std = [stats[p]["std"] for p in properties]
    counts = Counter(s for a in frames for s in a.get_chemical_symbols())
    total = sum(counts.values())
    cells, seen = [], set()
    for a in frames:
        key = (len(a), tuple(np.round(np.asarray(a.cell[:]), 3).ravel()))
        if key not in seen and len(cells) < MAX_STORED_CELLS:
            seen.add(key)
            cells.append({"cell": np.asarray(a.cell[:]).tolist(), "n_atoms": len(a)})
    cfg.extra = {
        "property_stats": stats,
        "composition": {k: v / total for k, v in sorted(counts.items())},
        "density_gcc_mean": float(np.mean([density_gcc(a) for a in frames])),
        "number_density_mean": float(np.mean([len(a) / a.get_volume() for a in frames])),
        "n_atoms_range": [min(len(a) for a in frames), max(len(a) for a in frames)],
        "cells": cells,
        "ghost_density": list(params.get("ghost_density", [0.09, 0.11])),
        "t_min": float(params.get("t_min", 0.01)), "t_max": float(params.get("t_max", 0.99)),
    }
    return cfg


def train_amden(frames: list[ase.Atoms], out_model: str | os.PathLike, work_dir: str | os.PathLike, params: dict,
                device: str = "cpu", progress: bool = True, stop_after: int | None = None) -> dict:
    """Train AMDEN on ``frames`` (labels in ``info``) and write ``out_model`` (.pt + .json + .history.json).

    ``params`` is the model's config section (schema defaults filled; missing keys take the schema
    defaults too). Returns the history ``{"step", "train_loss", "val_step", "val_loss"}``; interrupted
    runs resume from ``work_dir``.
    """
    params = dict(params)
    ghost_density = ghost_density_range(params)
    loss = make_amden_loss(ghost_density, float(params.get("t_min", 0.01)), float(params.get("t_max", 0.99)),
                           float(params.get("property_dropout", 0.1)), float(params.get("loss_weight_position", 1.0)),
                           float(params.get("loss_weight_element", 0.5)), float(params.get("property_dropout_all", 0.1)))
    return train_egnn_kind(frames, model_config(frames, params), AMDEN, "amden", loss, out_model, work_dir, params,
                           default_seed=2001, device=device, progress=progress, stop_after=stop_after)


def ghost_density_range(params: dict) -> list[float]:
    """The configured [low, high] ghost density range of training (an error if low > high)."""
    ghost_density = params.get("ghost_density", [0.09, 0.11])
    if ghost_density[0] > ghost_density[1]:
        raise ValueError(f"ghost_density: lower bound {ghost_density[0]} above upper {ghost_density[1]}")
    return ghost_density


def train_egnn_kind(frames: list[ase.Atoms], cfg, model_cls, kind: str, loss, out_model, work_dir, params: dict,
                    default_seed: int, device: str = "cpu", progress: bool = True,
                    stop_after: int | None = None) -> dict:
    """The training run every EGNN-backbone kind (AMDEN, AMShortcut / material ODE) shares: the labelled
    structures of ``frames``, a by-structure validation split, ``train`` (resumable from ``work_dir``), and
    ``out_model`` (+ ``.history.json``) written only once the last step is reached."""
    items = amden_structures(frames, cfg.species, cfg.properties, cfg.extra["property_stats"])
    tparams = dict(params.get("training") or {})
    tparams.setdefault("seed", int(params.get("seed", default_seed)))
    defaults = {"steps": 1500, "batch_size": 2, "lr": 1e-3, "val_every": 250, "checkpoint_every": 250}
    tcfg = TrainConfig.from_dict({**defaults, **tparams})
    tr, va = split_by_structure(len(items), float(params.get("val_fraction", 0.1)), tcfg.seed)
    cfg.extra.update({"train_structures": [items[i].name for i in tr], "val_structures": [items[i].name for i in va],
                      "train_config": tparams})
    torch.manual_seed(tcfg.seed)
    model = model_cls(cfg)
    history = train(model, kind, loss, [items[i] for i in tr], [items[i] for i in va], tcfg, work_dir,
                    device=device, progress=progress, stop_after=stop_after)
    if history["step"] and history["step"][-1] >= tcfg.steps:
        save_model(out_model, model, kind)
        write_json(Path(out_model).with_suffix(".history.json"), history)
    return history
