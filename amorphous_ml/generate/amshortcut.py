"""AMShortcut / material-ODE sampler: Euler steps of the learned velocity from noise (t = 1) to t = 0.

* Cells and node counts exactly as AMDEN's sampler (:func:`amorphous_ml.generate.amden._cells_for`):
  ``floor(ghost_density V)`` nodes per cell, the model decides which are ghosts (element ``X``), ghosts
  are removed before anything leaves this module.
* Noise as in training: positions uniform in the cell, element features ``N(0, I)``.
* ``steps`` equal steps ``d = 1/steps``: ``M <- M - d u_theta(M, t, d)`` (positions wrapped), the
  shortcut model gets ``d`` as input, the material ODE ``d = 0`` (plain Euler on the flow).
* Targets: properties not given use their null embedding (generation conditioned on any subset).
* Every sample has its own generator seeded with ``seed + k`` (reproducible, independent of batching
  beyond floating-point summation order). Charge balance is checked and reported per structure
  (``charge_balanced``) but not retried.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import ase
import numpy as np
import torch
from tqdm.auto import tqdm

from ..learn.models.amden import GHOST, wrap_positions
from ..learn.models.amshortcut import AMShortcut
from ..learn.train import load_model
from .amden import _cells_for, charge_table, check_targets, is_charge_balanced

__all__ = ["GENERATION_DEFAULTS", "euler_flow", "generate_amshortcut"]

GENERATION_DEFAULTS = {"steps": 10, "n_atoms": None, "density": None, "aspect": [1.0, 1.0, 1.0],
                       "ghost_density": 0.1, "batch_size": 8, "max_extrapolation": 1.0, "dtype": "float32"}


def euler_flow(model: AMShortcut, x, e, cells, batch, counts, props, steps: int, progress: bool = False):
    """Integrate t = 1 -> 0 in ``steps`` Euler steps of size 1/steps; returns (x, e)."""
    b = len(counts)
    d = 1.0 / int(steps)
    dd = torch.full((b,), d, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for k in tqdm(range(int(steps)), desc="amshortcut", disable=not progress, mininterval=2.0):
            t = torch.full((b,), 1.0 - k * d, dtype=x.dtype, device=x.device)
            ux, ue = model.velocity(x, e, cells, batch, counts, t, dd, props)
            x = wrap_positions(x - d * ux, cells, batch)
            e = e - d * ue
    return x, e


def generate_amshortcut(model_path: str | os.PathLike, n_samples: int, targets: dict[str, float] | None, params: dict,
                        seed: int, device: str = "cpu", progress: bool = True,
                        work_dir: str | os.PathLike | None = None) -> tuple[list[ase.Atoms], dict]:
    """``n_samples`` structures (real atoms only) and a report; ``params`` is the model's config section."""
    g = {**GENERATION_DEFAULTS, **((params or {}).get("generation") or {})}
    dtype = {"float32": torch.float32, "float64": torch.float64}[g["dtype"]]
    device = torch.device(device)
    model: AMShortcut = load_model(Path(model_path), device=device, dtype=dtype)
    model.eval()
    t0 = time.perf_counter()  # sampling only (the model load is not part of the per-structure cost)
    cfg = model.cfg
    targets = check_targets(cfg, targets, float(g["max_extrapolation"]))
    steps = int(g["steps"])
    if steps < 1:
        raise ValueError(f"generation.steps: {steps} (at least 1)")
    classes = cfg.classes
    charges = charge_table(cfg.species, None)
    cells = _cells_for(model, n_samples, g, targets)
    structures = []
    for start in range(0, n_samples, int(g["batch_size"])):
        idx = list(range(start, min(n_samples, start + int(g["batch_size"]))))
        xs, es, counts = [], [], []
        for k in idx:
            cell, n_real = cells[k]
            volume = abs(float(np.linalg.det(cell)))
            n_nodes = max(n_real, int(math.floor(float(g["ghost_density"]) * volume))) if cfg.ghost else n_real
            gen = torch.Generator(device="cpu").manual_seed(int(seed) + k)
            xs.append(torch.rand((n_nodes, 3), generator=gen, dtype=torch.float64) @ torch.as_tensor(cell))
            es.append(torch.randn((n_nodes, len(classes)), generator=gen, dtype=torch.float64))
            counts.append(n_nodes)
        cl = torch.as_tensor(np.stack([cells[k][0] for k in idx]), dtype=dtype, device=device)
        batch = torch.repeat_interleave(torch.arange(len(idx), device=device), torch.as_tensor(counts, device=device))
        props = model.standardise(targets, len(idx), dtype, device)
        x, e = euler_flow(model, torch.cat(xs).to(dtype=dtype, device=device),
                          torch.cat(es).to(dtype=dtype, device=device), cl, batch, counts, props, steps, progress)
        off = 0
        for j, k in enumerate(idx):
            n = counts[j]
            sym = [classes[c] for c in e[off:off + n].argmax(1).tolist()]
            pos = x[off:off + n].detach().cpu().double().numpy()
            off += n
            real = [i for i, s in enumerate(sym) if s != GHOST]
            atoms = ase.Atoms([sym[i] for i in real], positions=pos[real], cell=cells[k][0], pbc=True)
            if (atoms.numbers == 0).any():
                raise RuntimeError("internal error: a ghost atom survived into a generated structure")
            atoms.info.update({"source": "generated", "model": "amshortcut", "method": cfg.method, "seed": int(seed) + k,
                               "sample_index": k, "n_nodes": n, "n_ghosts_removed": n - len(real), "steps": steps})
            if charges is not None:
                atoms.info["charge_balanced"] = bool(is_charge_balanced(sym, charges))
            for name, v in targets.items():
                atoms.info[f"target_{name}"] = float(v)
            structures.append(atoms)
    seconds = time.perf_counter() - t0
    for a in structures:
        a.info["sampler_seconds_per_structure"] = seconds / max(1, n_samples)
    report = {"n_samples": n_samples, "seed": int(seed), "steps": steps, "method": cfg.method, "targets": targets,
              "n_atoms": [len(a) for a in structures], "empty_structures": sum(1 for a in structures if len(a) == 0),
              "seconds": seconds, "seconds_per_structure": seconds / max(1, n_samples), "device": str(device)}
    return structures, report
