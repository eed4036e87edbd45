"""AMDEN sampler: reverse SDE with ghost atoms, guidance, HMC denoising and charge-balance retries.

* Each sample starts from nodes uniform in its cell (positions) and ``sigma_E(t_max) N(0, I)``
  (element features); the number of nodes is ``floor(ghost_density V)`` (at least the real atoms the
  cell is sized for), and the model decides which are ghosts (element ``X``).
* Euler-Maruyama on the reverse SDE from ``t_max`` (0.99) to ``t_min`` (0.01) in ``steps`` equal steps
  (paper eqs. 6-7): ``X <- X + g_X^2 s_X dt + g_X sqrt(dt) z`` with ``g_X^2 = 2 sigma_max^2 t`` (VE) and
  ``E <- E - (f(t) E - g_E^2 s_E) dt + g_E sqrt(dt) z`` (VP cosine), positions wrapped into the cell,
  then a final step to t = 0 (``X_0 = X - sigma_X eps_X``, ``E_0 = (E - sigma_E eps_E) / alpha``).
  The score is ``-eps/sigma`` with classifier-free guidance ``eps = (1 + w) eps_c - w eps_u``.
* HMC denoising (energy variant): before every step with ``t <= hmc.t_max`` one HMC move on the
  positions of the noise energy at that t: momenta ~ N(0, I), ``leapfrog_steps`` velocity-Verlet steps
  of ``dt = dt0 sigma_X(t)``, Metropolis accept/reject per structure (a rejected structure gets back its
  positions bit for bit). Acceptance is counted per t band and returned in the report.
* Elements are the argmax over classes; ghosts are removed and never leave this module (the returned
  ASE structures contain real atoms only). When every species has a formal charge of known sign and
  both signs occur (SiO2: Si +4, O -2), a sample that is not charge neutral is re-noised to
  ``renoise_t`` (0.4) and denoised again, up to ``max_retries`` times; retries and final failures are in
  the report and in each structure's info (``charge_balanced``, ``charge_retries``), never hidden.
* Every sample has its own generator seeded with ``seed + k``: results are reproducible, and a sample
  does not depend on which others share its batch beyond floating-point summation order.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import ase
import numpy as np
import torch
from ase.data import atomic_masses, atomic_numbers
from tqdm.auto import tqdm

from ..io import atomic_path
from ..learn.models.amden import AMDEN, GHOST, wrap_positions
from ..learn.train import load_model

__all__ = ["FORMAL_CHARGES", "GENERATION_DEFAULTS", "hmc_move", "segment_sum", "check_targets", "is_charge_balanced",
           "retry_unbalanced", "reverse_sde", "generate_amden"]

# formal charges of common glass constituents (oxides, halides); config formal_charges overrides
FORMAL_CHARGES = {"O": -2, "F": -1, "Cl": -1, "S": -2, "N": -3, "Si": 4, "Ge": 4, "Ti": 4, "Zr": 4, "B": 3, "Al": 3,
                  "P": 5, "Li": 1, "Na": 1, "K": 1, "Be": 2, "Mg": 2, "Ca": 2, "Sr": 2, "Ba": 2, "Zn": 2}

GENERATION_DEFAULTS = {
    "steps": 100, "guidance_w": 0.0, "n_atoms": None, "density": None, "aspect": [1.0, 1.0, 1.0],
    "ghost_density": 0.1, "batch_size": 4, "max_extrapolation": 1.0, "dtype": "float32",
    "hmc": {"enabled": False, "t_max": 0.5, "leapfrog_steps": 15, "dt0": 0.4, "band_width": 0.1},
    "charge_balance": {"enabled": True, "max_retries": 4, "renoise_t": 0.4, "formal_charges": {}},
}


def _merged(params: dict | None) -> dict:
    g = {**GENERATION_DEFAULTS, **(params or {})}
    for k in ("hmc", "charge_balance"):
        g[k] = {**GENERATION_DEFAULTS[k], **((params or {}).get(k) or {})}
    return g


def segment_sum(values: torch.Tensor, batch: torch.Tensor, n: int) -> torch.Tensor:
    """Sum of per-node ``values`` (N,) or (N, ...) into (n,) per structure."""
    v = values.reshape(values.shape[0], -1).sum(1)
    return torch.zeros(n, dtype=v.dtype, device=v.device).index_add(0, batch, v)


def _randn(gens: Sequence[torch.Generator], counts: Sequence[int], width: int, dtype, device) -> torch.Tensor:
    return torch.cat([torch.randn((n, width), generator=g, dtype=torch.float64) for g, n in zip(gens, counts)]
                     ).to(dtype=dtype, device=device)


def hmc_move(energy_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor,
             batch: torch.Tensor, counts: Sequence[int], dt: torch.Tensor, n_steps: int,
             gens: Sequence[torch.Generator], wrap: Callable[[torch.Tensor], torch.Tensor] | None = None,
             metropolis: bool = True):
    """One Hamiltonian Monte Carlo move per structure (unit masses, k_B T = 1).

    ``energy_grad(x) -> (E (B,), dE/dx (N, 3))``; ``dt`` (B,) time step per structure. Velocity Verlet
    for ``n_steps`` steps, then accept with probability ``min(1, exp(-(H_new - H_old)))``.
    Returns ``(x_new, accepted (B,) bool)``; rejected structures keep their input positions exactly.
    ``metropolis=False`` accepts every trajectory (biased by the integration error: tests only).
    """
    b = len(counts)
    dt_n = dt.to(x.dtype)[batch][:, None]
    p = _randn(gens, counts, 3, x.dtype, x.device)
    e0, g = energy_grad(x)
    h0 = e0.detach() + 0.5 * segment_sum(p * p, batch, b)
    force = -g
    xn = x
    for _ in range(n_steps):
        xn = xn + p * dt_n + 0.5 * force * dt_n ** 2
        if wrap is not None:
            xn = wrap(xn)
        e1, g = energy_grad(xn)
        p = p + 0.5 * (force - g) * dt_n
        force = -g
    h1 = e1.detach() + 0.5 * segment_sum(p * p, batch, b)
    u = torch.tensor([float(torch.rand((), generator=gg, dtype=torch.float64)) for gg in gens], dtype=torch.float64)
    dh = (h1 - h0).detach().cpu().to(torch.float64)
    accepted = torch.log(u) < -dh  # NaN energy differences compare False: rejected
    if not metropolis:
        accepted = torch.ones_like(accepted)
    keep = accepted.to(x.device)[batch][:, None]
    return torch.where(keep, xn.detach(), x), accepted


def check_targets(model_config, targets: dict | None, max_extrapolation: float = 1.0) -> dict:
    """Validate ``targets`` against the model's properties; ValueError naming ``targets.<name>``.

    A target is unreachable when it is not finite or lies further outside the training range
    [min, max] than ``max_extrapolation`` times the width of that range.
    """
    targets = dict(targets or {})
    props = list(model_config.properties)
    stats = model_config.extra.get("property_stats", {})
    for name, value in targets.items():
        if name not in props:
            raise ValueError(f"targets.{name}: not a property of this model (conditioned on {props or 'nothing'})")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"targets.{name} = {value!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"targets.{name} = {value!r} is not finite")
        if name in stats:
            lo, hi = stats[name]["min"], stats[name]["max"]
            width = max(hi - lo, 1e-12 + 0.05 * abs(stats[name]["mean"]))
            if v < lo - max_extrapolation * width or v > hi + max_extrapolation * width:
                raise ValueError(f"targets.{name} = {v:g} is unreachable: training range {lo:g}-{hi:g}, at most "
                                 f"{max_extrapolation:g} x its width outside (generation.max_extrapolation)")
        targets[name] = v
    return targets


def charge_table(species: Sequence[str], overrides: dict | None) -> dict | None:
    """Formal charges of ``species`` if every one is known and both signs occur, else None."""
    table = {**FORMAL_CHARGES, **(overrides or {})}
    if not all(s in table for s in species):
        return None
    q = [table[s] for s in species]
    if not (any(c > 0 for c in q) and any(c < 0 for c in q)):
        return None
    return {s: table[s] for s in species}


def is_charge_balanced(symbols: Sequence[str], charges: dict) -> bool:
    """Net formal charge of the real atoms is zero (ghosts and unknown symbols ignored); empty -> False."""
    real = [s for s in symbols if s != GHOST]
    return bool(real) and abs(sum(charges.get(s, 0) for s in real)) < 1e-9


def retry_unbalanced(n: int, balanced: Callable[[int], bool], redenoise: Callable[[list[int]], None],
                     max_retries: int) -> tuple[list[int], list[int]]:
    """Re-denoise the samples that are not balanced until they are, at most ``max_retries`` times each.

    ``redenoise(indices)`` re-noises and denoises those samples in place. Returns (retries per sample,
    indices unbalanced after the first pass).
    """
    retries = [0] * n
    todo = [k for k in range(n) if not balanced(k)]
    first = list(todo)
    for _ in range(max_retries):
        if not todo:
            break
        redenoise(todo)
        for k in todo:
            retries[k] += 1
        todo = [k for k in todo if not balanced(k)]
    return retries, first


class _Chunk:
    """Nodes of a few samples, concatenated."""

    def __init__(self, x, e, cells, counts, props, gens):
        self.x, self.e, self.cells, self.counts, self.props, self.gens = x, e, cells, list(counts), props, list(gens)
        dev = x.device
        self.batch = torch.repeat_interleave(torch.arange(len(counts), device=dev), torch.as_tensor(counts, device=dev))

    def slices(self):
        off = 0
        for n in self.counts:
            yield slice(off, off + n)
            off += n


class _HMCStats:
    def __init__(self, band_width: float):
        self.bw = band_width
        self.accepted: dict[int, int] = {}
        self.total: dict[int, int] = {}

    def add(self, t: float, accepted: torch.Tensor):
        # bands are (lo, hi]: t = 0.5 belongs to 0.40-0.50
        band = max(0, math.ceil(t / self.bw - 1e-9) - 1)
        self.accepted[band] = self.accepted.get(band, 0) + int(accepted.sum())
        self.total[band] = self.total.get(band, 0) + int(accepted.numel())

    def report(self) -> dict:
        out = {}
        for band in sorted(self.total):
            key = f"{band * self.bw:.2f}-{(band + 1) * self.bw:.2f}"
            out[key] = {"moves": self.total[band], "accepted": self.accepted[band],
                        "rate": self.accepted[band] / self.total[band]}
        return out


def reverse_sde(model: AMDEN, chunk: _Chunk, t_start: float, t_end: float, n_steps: int, w: float, hmc: dict,
                hmc_stats: _HMCStats | None, progress: bool = False, desc: str = "amden denoise"):
    """Integrate the reverse SDE on ``chunk`` in place from ``t_start`` to ``t_end``, then step to t = 0."""
    sch = model.schedule
    dtype, device = chunk.x.dtype, chunk.x.device
    b = len(chunk.counts)
    ts = np.linspace(t_start, t_end, n_steps + 1)
    x, e = chunk.x, chunk.e
    wrap = lambda p: wrap_positions(p, chunk.cells, chunk.batch)  # noqa: E731
    args = (chunk.cells, chunk.batch, chunk.counts)
    for k in tqdm(range(n_steps), desc=desc, disable=not progress, mininterval=2.0):
        t, dt = float(ts[k]), float(ts[k] - ts[k + 1])
        tt = torch.full((b,), t, dtype=dtype, device=device)
        if hmc.get("enabled") and t <= hmc["t_max"]:
            el = e

            def energy_grad(pos, tt=tt, el=el):
                return model.guided_energy_and_grad_x(pos, el, *args, tt, chunk.props, w)

            step = torch.full((b,), hmc["dt0"] * sch.sigma_x(t), dtype=dtype)
            x, acc = hmc_move(energy_grad, x, chunk.batch, chunk.counts, step, hmc["leapfrog_steps"], chunk.gens, wrap)
            if hmc_stats is not None:
                hmc_stats.add(t, acc)
        with torch.no_grad():
            ex, ee = model.guided_eps(x, e, *args, tt, chunk.props, w)
            sx, se = -ex / sch.sigma_x(t), -ee / sch.sigma_e(t)
            g2x, g2e = sch.g2_x(t), sch.g2_e(t)
            zx = _randn(chunk.gens, chunk.counts, 3, dtype, device)
            ze = _randn(chunk.gens, chunk.counts, e.shape[1], dtype, device)
            x = wrap(x + g2x * sx * dt + math.sqrt(g2x * dt) * zx)
            e = e - (sch.drift_e(t) * e - g2e * se) * dt + math.sqrt(g2e * dt) * ze
        x, e = x.detach(), e.detach()
    with torch.no_grad():
        tt = torch.full((b,), float(t_end), dtype=dtype, device=device)
        ex, ee = model.guided_eps(x, e, *args, tt, chunk.props, w)
        chunk.x = wrap(x - sch.sigma_x(t_end) * ex).detach()
        chunk.e = ((e - sch.sigma_e(t_end) * ee) / sch.alpha_e(t_end)).detach()


def _run_key(model_path, n_samples, targets, g, seed, dtype) -> str:
    """Hash of everything that determines the samples: model files, settings, targets, seed."""
    h = hashlib.sha256()
    for p in (Path(model_path), Path(model_path).with_suffix(".json")):
        h.update(p.read_bytes())
    h.update(json.dumps([n_samples, targets, g, int(seed), str(dtype)], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _cells_for(model: AMDEN, n_samples: int, g: dict, targets: dict) -> list[tuple[np.ndarray, int]]:
    """(cell, real atoms it is sized for) per sample."""
    extra = model.cfg.extra
    if g["n_atoms"] is None:
        cells = extra.get("cells") or []
        if not cells:
            raise ValueError("generation.n_atoms is null but the model stores no training cells")
        return [(np.asarray(cells[k % len(cells)]["cell"], float), int(cells[k % len(cells)]["n_atoms"]))
                for k in range(n_samples)]
    density = g["density"] or targets.get("density_g_cm3") or extra.get("density_gcc_mean")
    comp = extra.get("composition") or {s: 1.0 / len(model.cfg.species) for s in model.cfg.species}
    mass_g = g["n_atoms"] * sum(f * atomic_masses[atomic_numbers[s]] for s, f in comp.items()) / 6.02214076e23
    volume = mass_g / float(density) * 1e24
    aspect = np.asarray(g["aspect"], float)
    lengths = aspect * (volume / aspect.prod()) ** (1.0 / 3.0)
    return [(np.diag(lengths), int(g["n_atoms"]))] * n_samples


def generate_amden(model_path: str | os.PathLike, n_samples: int, targets: dict[str, float] | None, params: dict,
                   seed: int, device: str = "cpu", progress: bool = True,
                   work_dir: str | os.PathLike | None = None) -> tuple[list[ase.Atoms], dict]:
    """Generate ``n_samples`` structures (real atoms only) and a report (CONTRACT9.md).

    ``params`` is the model's config section; its ``generation`` sub-section (schema defaults) sets the
    sampler. ``targets``: property -> value (properties not given are unconditioned); None: unconditional.
    With ``work_dir``, every finished batch of samples is kept there (keyed by a hash of the model
    files, settings, targets and seed) until all are done, so an interrupted run resumes after the
    last finished batch with identical results.
    """
    t_start_wall = time.perf_counter()
    g = _merged((params or {}).get("generation"))
    dtype = {"float32": torch.float32, "float64": torch.float64}[g["dtype"]]
    device = torch.device(device)
    model: AMDEN = load_model(Path(model_path), device=device, dtype=dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = model.cfg
    targets = check_targets(cfg, targets, float(g["max_extrapolation"]))
    hmc = dict(g["hmc"])
    if hmc["enabled"] and not cfg.energy:
        raise ValueError("generation.hmc.enabled needs the energy-based variant (energy: true) of AMDEN")
    w = float(g["guidance_w"])
    t_min, t_max = float(cfg.extra.get("t_min", 0.01)), float(cfg.extra.get("t_max", 0.99))
    steps = int(g["steps"])
    cb = dict(g["charge_balance"])
    charges = charge_table(cfg.species, cb["formal_charges"]) if cb["enabled"] else None
    classes = cfg.classes
    cells = _cells_for(model, n_samples, g, targets)
    hmc_stats = _HMCStats(float(hmc["band_width"])) if hmc["enabled"] else None
    sch = model.schedule

    structures, retries_all, balanced_all, ghosts_all = [], [], [], []
    unbalanced_first = 0
    state_dir = None
    if work_dir is not None:
        key = _run_key(model_path, n_samples, targets, g, seed, dtype)
        state_dir = Path(work_dir) / f"amden_generate_{key}"

    def run_chunk(idx: list[int]) -> dict:
        xs, es, cl, counts, gens = [], [], [], [], []
        for k in idx:
            cell, n_real = cells[k]
            volume = abs(float(np.linalg.det(cell)))
            n_nodes = max(n_real, int(math.floor(float(g["ghost_density"]) * volume))) if cfg.ghost else n_real
            gen = torch.Generator(device="cpu").manual_seed(int(seed) + k)
            frac = torch.rand((n_nodes, 3), generator=gen, dtype=torch.float64)
            xs.append(frac @ torch.as_tensor(cell))
            es.append(sch.sigma_e(t_max) * torch.randn((n_nodes, len(classes)), generator=gen, dtype=torch.float64))
            cl.append(cell)
            counts.append(n_nodes)
            gens.append(gen)
        props = model.standardise(targets, len(idx), dtype, device)
        chunk = _Chunk(torch.cat(xs).to(dtype=dtype, device=device), torch.cat(es).to(dtype=dtype, device=device),
                       torch.as_tensor(np.stack(cl), dtype=dtype, device=device), counts, props, gens)
        stats = _HMCStats(float(hmc["band_width"]))
        reverse_sde(model, chunk, t_max, t_min, steps, w, hmc, stats, progress, desc=f"amden samples {idx[0]}-{idx[-1]}")
        xs = [chunk.x[s].clone() for s in chunk.slices()]
        es = [chunk.e[s].clone() for s in chunk.slices()]

        def redenoise(js: list[int]):
            tr = float(cb["renoise_t"])
            sub_gens = [gens[j] for j in js]
            sub_counts = [counts[j] for j in js]
            x0 = torch.cat([xs[j] for j in js])
            onehot = torch.cat([torch.nn.functional.one_hot(es[j].argmax(1), len(classes)).to(dtype) for j in js])
            sub = _Chunk(x0, onehot, chunk.cells[js], sub_counts, props[js], sub_gens)
            sub.x = wrap_positions(x0 + sch.sigma_x(tr) * _randn(sub_gens, sub_counts, 3, dtype, device),
                                   sub.cells, sub.batch)
            sub.e = sch.alpha_e(tr) * onehot + sch.sigma_e(tr) * _randn(sub_gens, sub_counts, len(classes), dtype, device)
            n_sub = max(1, int(round(steps * (tr - t_min) / (t_max - t_min))))
            reverse_sde(model, sub, tr, t_min, n_sub, w, hmc, stats, False)
            for j, s in zip(js, sub.slices()):
                xs[j], es[j] = sub.x[s].clone(), sub.e[s].clone()

        retries, first = [0] * len(idx), []
        if charges is not None:
            retries, first = retry_unbalanced(
                len(idx), lambda j: is_charge_balanced([classes[c] for c in es[j].argmax(1).tolist()], charges),
                redenoise, int(cb["max_retries"]))
        return {"x": [v.detach().cpu().double() for v in xs], "classes": [v.argmax(1).cpu() for v in es],
                "cells": cl, "counts": counts, "retries": retries, "first_unbalanced": len(first),
                "hmc_accepted": stats.accepted, "hmc_total": stats.total}

    for start in range(0, n_samples, int(g["batch_size"])):
        idx = list(range(start, min(n_samples, start + int(g["batch_size"]))))
        path = state_dir / f"samples_{idx[0]:06d}-{idx[-1]:06d}.pt" if state_dir is not None else None
        if path is not None and path.exists():
            res = torch.load(path, map_location="cpu", weights_only=False)
        else:
            res = run_chunk(idx)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    torch.save(res, tmp)
        if hmc_stats is not None:
            for band, n in res["hmc_total"].items():
                hmc_stats.total[band] = hmc_stats.total.get(band, 0) + n
                hmc_stats.accepted[band] = hmc_stats.accepted.get(band, 0) + res["hmc_accepted"][band]
        unbalanced_first += res["first_unbalanced"]
        xs, cl, counts, retries = res["x"], res["cells"], res["counts"], res["retries"]

        def symbols(j):
            return [classes[c] for c in res["classes"][j].tolist()]

        for j, k in enumerate(idx):
            sym = symbols(j)
            real = [i for i, s in enumerate(sym) if s != GHOST]
            pos = xs[j].numpy()[real]
            atoms = ase.Atoms(symbols=[sym[i] for i in real], positions=pos, cell=cl[j], pbc=True)
            if (atoms.numbers == 0).any():  # never let a ghost (element X) out of the sampler
                raise RuntimeError("internal error: a ghost atom survived into a generated structure")
            balanced = is_charge_balanced(sym, charges) if charges is not None else None
            atoms.info.update({
                "source": "generated", "model": "amden", "seed": int(seed) + k, "sample_index": k,
                "n_nodes": counts[j], "n_ghosts_removed": counts[j] - len(real), "steps": steps,
                "guidance_w": w, "hmc": bool(hmc["enabled"]), "charge_retries": retries[j],
            })
            if balanced is not None:
                atoms.info["charge_balanced"] = bool(balanced)
            for name, v in targets.items():
                atoms.info[f"target_{name}"] = float(v)
            structures.append(atoms)
            retries_all.append(retries[j])
            balanced_all.append(balanced)
            ghosts_all.append(counts[j] - len(real))
    if state_dir is not None and state_dir.exists():
        shutil.rmtree(state_dir)  # every sample is done: the caller writes the outputs
    seconds = time.perf_counter() - t_start_wall
    report = {
        "n_samples": n_samples, "seed": int(seed), "steps": steps, "guidance_w": w, "targets": targets,
        "n_atoms": [len(a) for a in structures], "ghosts_removed": ghosts_all,
        "empty_structures": sum(1 for a in structures if len(a) == 0),
        "hmc": {"enabled": bool(hmc["enabled"]), **({k: hmc[k] for k in ("t_max", "leapfrog_steps", "dt0")}),
                "acceptance": hmc_stats.report() if hmc_stats is not None else {}},
        "charge_balance": {
            "checked": charges is not None, "formal_charges": charges or {}, "max_retries": int(cb["max_retries"]),
            "renoise_t": float(cb["renoise_t"]),
            "unbalanced_first_pass": unbalanced_first,
            "retries": int(sum(retries_all)), "per_sample_retries": retries_all,
            "final_failures": sum(1 for b in balanced_all if b is False),
        },
        "seconds": seconds, "seconds_per_structure": seconds / max(1, n_samples), "device": str(device),
    }
    return structures, report
