"""DM2 sampler: denoise uniformly random atoms into glasses, many structures at once.

Generation (Yang & Schwalbe-Koda 2025): atoms start uniformly random in a fixed cell (or outside a
cylindrical pore); each step is ``x <- x - D(x) + sigma * eps`` with ``s_t`` decreasing linearly from
``s_max`` to ``s_min`` over ``noisy_steps`` steps, followed by ``clean_steps`` steps without noise;
``sigma`` is ``s_t`` (``noise_rule="fixed"``) or drawn from U[s_min, s_t] per structure and step
(``"uniform"``, DM2's released sampler).
The graph is rebuilt every step for the whole batch (vesin, on the model's device).

* Any atom count, cell shape (lengths + angles, e.g. hexagonal) and density; the density defaults to
  the linear fit density = a + b log10(rate) stored in the model by training.
* Every structure has its own random generator seeded by its own seed, so a structure does not depend
  on which others share its batch.
* With ``work_dir``, the state (positions, step, generators) is saved every ``checkpoint_every``
  steps and a rerun resumes from it; outputs are written atomically by the caller.
"""

from __future__ import annotations

import math
import os
import time
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import ase
import numpy as np
import torch
from ase.geometry import cellpar_to_cell
from tqdm.auto import tqdm

from ..config import schema_defaults
from ..io import atomic_path
from ..units import mass_g
from ..learn.graphs import build_graph

__all__ = ["Schedule", "cell_for_density", "initial_positions", "density_from_fit", "denoise", "generate_structures"]

_GENERATION = schema_defaults("dm2", "generation")  # the schema's defaults, the one definition


NOISE_RULES = ("uniform", "fixed")


@dataclass
class Schedule:
    noisy_steps: int = _GENERATION["noisy_steps"]
    clean_steps: int = _GENERATION["clean_steps"]
    s_max: float = _GENERATION["s_max"]
    s_min: float = _GENERATION["s_min"]
    #: per-step noise scale: "uniform" draws sigma ~ U[s_min, s_t] per structure and step (DM2's released
    #: sampler, graphite RattleParticles with sigma_max = s_t: ~1/3 of the variance); "fixed" uses s_t
    noise_rule: str = _GENERATION["noise"]

    def __post_init__(self):
        if self.noise_rule not in NOISE_RULES:
            raise ValueError(f"generation.noise must be one of {list(NOISE_RULES)}, got {self.noise_rule!r}")

    def step_sigma(self, s_t: float, generator: torch.Generator) -> float:
        """This step's noise standard deviation (Å) for one structure, drawn from its own generator."""
        if self.noise_rule == "fixed" or s_t <= self.s_min:
            return s_t
        u = float(torch.rand((), generator=generator))
        return self.s_min + (s_t - self.s_min) * u

    def noise(self, step: int) -> float:
        """Extra-noise standard deviation (Å) at ``step`` (0-based); 0 in the clean phase."""
        if step >= self.noisy_steps:
            return 0.0
        if self.noisy_steps == 1:
            return self.s_max
        return self.s_max + (self.s_min - self.s_max) * step / (self.noisy_steps - 1)

    @property
    def total(self) -> int:
        return self.noisy_steps + self.clean_steps


def cell_for_density(symbols: Sequence[str], density_gcc: float, aspect=(1.0, 1.0, 1.0), angles=(90.0, 90.0, 90.0),
                     pore_radius: float = 0.0) -> np.ndarray:
    """Cell (rows = lattice vectors) with lengths in ratio ``aspect`` and the given angles (degrees).

    Without a pore the cell volume is mass / density. With a cylindrical pore of radius
    ``pore_radius`` (Å) along c, the *wall* has that density: volume = mass/density + pi r^2 L_c * sin-factor
    is solved for the scale of the cell.
    """
    unit = cellpar_to_cell([*aspect, *angles])
    unit_vol = abs(np.linalg.det(unit))
    v_wall = mass_g(symbols) / density_gcc * 1e24
    if pore_radius <= 0:
        scale = (v_wall / unit_vol) ** (1.0 / 3.0)
    else:
        # pore volume = pi r^2 * (height of the cell along c's normal to the ab plane) = pi r^2 * c_perp * s
        c_perp = unit_vol / np.linalg.norm(np.cross(unit[0], unit[1]))
        # unit_vol s^3 - pi r^2 c_perp s - v_wall = 0 has one positive root
        roots = np.roots([unit_vol, 0.0, -math.pi * pore_radius ** 2 * c_perp, -v_wall])
        scale = max(r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0)
        ab_short = min(np.linalg.norm(unit[0]), np.linalg.norm(unit[1])) * scale
        if 2 * pore_radius >= ab_short:
            raise ValueError(f"pore diameter {2 * pore_radius} Å does not fit in a cell {ab_short:.1f} Å wide")
    return unit * scale


def density_from_fit(fit: dict, cooling_rate: float | None) -> float:
    if cooling_rate is None or not fit.get("slope"):
        return float(fit["intercept"])
    return float(fit["intercept"] + fit["slope"] * math.log10(cooling_rate))


def _pore_distance(frac: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Distance (Å) of points from the cell's central axis along c, in the plane normal to c."""
    centre = np.array([0.5, 0.5, 0.0])
    d = (frac - centre)
    d[:, 2] = 0.0
    cart = d @ cell
    c_hat = cell[2] / np.linalg.norm(cell[2])
    cart -= np.outer(cart @ c_hat, c_hat)
    return np.linalg.norm(cart, axis=1)


def initial_positions(n_atoms: int, cell: np.ndarray, rng: np.random.Generator, pore_radius: float = 0.0) -> np.ndarray:
    """Uniform random positions in the cell, rejecting points inside a cylindrical pore along c."""
    out = np.empty((0, 3))
    while len(out) < n_atoms:
        frac = rng.uniform(0.0, 1.0, size=(max(16, 2 * (n_atoms - len(out))), 3))
        if pore_radius > 0:
            frac = frac[_pore_distance(frac, cell) > pore_radius]
        out = np.concatenate([out, frac])
    return out[:n_atoms] @ cell


def _wrap(positions: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    inv = torch.linalg.inv(cells)
    frac = torch.einsum("ni,nij->nj", positions, inv[batch])
    frac = frac - torch.floor(frac)
    return torch.einsum("ni,nij->nj", frac, cells[batch])


@torch.no_grad()
def denoise(model, positions: torch.Tensor, species: torch.Tensor, cells: torch.Tensor, counts: list[int],
            condition: torch.Tensor | None, schedule: Schedule, generators: list[torch.Generator],
            work_dir: str | os.PathLike | None = None, checkpoint_every: int = 200, progress: bool = True,
            timings: dict | None = None, stop_after: int | None = None) -> torch.Tensor:
    """Run the DM2 denoising loop on a batch; returns the final positions (N, 3), wrapped into the cells.

    ``timings`` (optional dict) accumulates ``graph_s`` and ``model_s`` and ``steps``.
    """
    device = positions.device
    batch = torch.repeat_interleave(torch.arange(len(counts), device=device), torch.as_tensor(counts, device=device))
    start = 0
    state_path = Path(work_dir) / "denoise_state.pt" if work_dir is not None else None
    if state_path is not None and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["counts"] == list(counts) and state["total"] == schedule.total:
            positions = state["positions"].to(device=device, dtype=positions.dtype)
            for g, s in zip(generators, state["generators"]):
                g.set_state(s)
            start = state["step"]
            print(f"dm2 denoise: resuming from {state_path} at step {start} of {schedule.total}", file=sys.stderr,
                  flush=True)
    x = _wrap(positions, cells, batch) if start == 0 else positions  # resumed positions are already wrapped
    bar = tqdm(range(start, schedule.total), desc="dm2 denoise", disable=not progress, mininterval=2.0)
    done_here = 0
    for step in bar:
        t0 = time.perf_counter()
        graph = build_graph(x, species, cells, batch, model.cutoff, counts)
        if device.type == "cuda" and timings is not None:
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        x = x - model(graph, condition)
        s = schedule.noise(step)
        if s > 0:
            noise = torch.cat([schedule.step_sigma(s, g) * torch.randn((n, 3), generator=g, dtype=x.dtype)
                               for g, n in zip(generators, counts)])
            x = x + noise.to(device)
        x = _wrap(x, cells, batch)
        if timings is not None:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            timings["graph_s"] = timings.get("graph_s", 0.0) + (t1 - t0)
            timings["model_s"] = timings.get("model_s", 0.0) + (t2 - t1)
            timings["steps"] = timings.get("steps", 0) + 1
        done_here += 1
        if state_path is not None and ((step + 1) % checkpoint_every == 0) and step + 1 < schedule.total:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(state_path) as tmp:
                torch.save({"positions": x.cpu(), "step": step + 1, "counts": list(counts), "total": schedule.total,
                            "generators": [g.get_state() for g in generators]}, tmp)
        if stop_after is not None and done_here >= stop_after:
            return x
    if state_path is not None and state_path.exists():
        state_path.unlink()
    return x


def generate_structures(model, symbols: Sequence[str], seeds: Sequence[int], cooling_rate: float | None,
                        schedule: Schedule, density: float | None = None, aspect=(1.0, 1.0, 1.0),
                        angles=(90.0, 90.0, 90.0), pore_radius: float = 0.0, device="cpu",
                        work_dir: str | os.PathLike | None = None, checkpoint_every: int = 200, progress: bool = True,
                        timings: dict | None = None, stop_after: int | None = None) -> list[ase.Atoms]:
    """Generate one structure per seed (all in one batch) with the given atoms (``symbols``) and cell.

    ``density`` (g/cm^3) defaults to the model's density fit at ``cooling_rate``. Returns ASE
    structures with ``info``: cooling_rate, seed, density_gcc, source/model, schedule (no provenance;
    the caller adds it).
    """
    cfg = model.cfg
    if cfg.conditional and cooling_rate is None:
        raise ValueError("this DM2 model is conditional: give a target cooling rate")
    if density is None:
        fit = cfg.extra.get("density_fit")
        if not fit:
            raise ValueError("the model carries no density fit: give the density explicitly")
        density = density_from_fit(fit, cooling_rate if cfg.conditional else None)
    unknown = sorted(set(symbols) - set(cfg.species))
    if unknown:
        raise ValueError(f"elements {unknown} are not among the model species {cfg.species}")
    cell = cell_for_density(symbols, density, aspect, angles, pore_radius)
    index = {s: i for i, s in enumerate(cfg.species)}
    dtype = next(model.parameters()).dtype
    device = torch.device(device)
    pos, spec, gens = [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(symbols))
        pos.append(initial_positions(len(symbols), cell, rng, pore_radius))
        spec.append(np.array([index[symbols[k]] for k in order]))
        gens.append(torch.Generator(device="cpu").manual_seed(int(seed)))
    counts = [len(symbols)] * len(seeds)
    positions = torch.as_tensor(np.concatenate(pos), dtype=dtype, device=device)
    species = torch.as_tensor(np.concatenate(spec), device=device)
    cells = torch.as_tensor(np.stack([cell] * len(seeds)), dtype=dtype, device=device)
    condition = None
    if cfg.conditional:
        condition = torch.full((len(seeds),), math.log10(cooling_rate), dtype=dtype, device=device)
    x = denoise(model.to(device), positions, species, cells, counts, condition, schedule, gens, work_dir,
                checkpoint_every, progress, timings, stop_after).cpu().double().numpy()
    out = []
    for k, seed in enumerate(seeds):
        sl = slice(k * len(symbols), (k + 1) * len(symbols))
        atoms = ase.Atoms(symbols=[cfg.species[i] for i in spec[k]], positions=x[sl], cell=cell, pbc=True)
        atoms.info.update({
            "cooling_rate": float(cooling_rate) if cooling_rate is not None else float("nan"),
            "seed": int(seed), "density_gcc": float(density), "pore_radius": float(pore_radius),
            "source": "generated", "model": "dm2",
            "noisy_steps": schedule.noisy_steps, "clean_steps": schedule.clean_steps,
            "s_max": schedule.s_max, "s_min": schedule.s_min, "noise_rule": schedule.noise_rule,
        })
        out.append(atoms)
    return out
