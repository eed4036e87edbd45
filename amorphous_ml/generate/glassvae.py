"""GlassVAE generation: decode latents drawn from the prior, or steered into an energy window.

* Prior: z_g ~ N(0, scale^2 I) and, for the hierarchical model, z_e ~ p(z_e | z_g) (its learned prior).
* Energy window [E_min, E_max] (eV/atom; the model's energy label): start from the posterior mean of a
  training snapshot (stored in the model) or from a prior draw, and minimise the paper's
  L(z) = max(E_min - E(z), 0)^2 + max(E(z) - E_max, 0)^2 + lambda |z|^2 for ``steps`` Adam steps.
* Decoding: fractional coordinates wrapped into the decoded cell; species assigned to the slots with
  exactly the requested composition (maximum total log-probability, Hungarian assignment).

Every structure has its own generator seeded by its own seed, so a structure does not depend on the
others in its batch. Outputs carry the predicted energy (``energy_pred_eV_per_atom``); the refine step
then relaxes them with the potential and the workflow compares the LAMMPS energy with the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import ase
import numpy as np
import torch

from ..learn.models.glassvae import GlassVAE, assign_species

__all__ = ["steer_to_window", "decode_structures", "generate_glassvae", "resolve_window", "sample_glassvae"]


def steer_to_window(model: GlassVAE, z0: torch.Tensor, e_min: float, e_max: float, steps: int = 200,
                    lr: float = 0.05, lam: float = 1e-3, margin: float = 0.0) -> torch.Tensor:
    """Gradient steps on z of the paper's L(z) (window in eV/atom). Returns the optimised z.

    The window violations are measured in units of the training energies' standard deviation (the energy
    head's own scale): in eV/atom a violation of a few meV squares to ~1e-5, and lambda |z|^2 (~0.02 for
    lambda 1e-3) would then only shrink z towards the prior mean instead of steering it into the window.
    ``margin`` (a fraction of the window's width) moves both hinges inwards: the hinges of L(z) vanish at
    the window's edge, where lambda |z|^2 then holds z just outside it.
    """
    scale = float(model.cfg.extra.get("energy_stats", {}).get("std", 1.0))
    inset = margin * (e_max - e_min)
    e_min, e_max = (e_min + inset) / scale, (e_max - inset) / scale
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            e = model.predict_energy(z) / scale
            loss = (torch.clamp(e_min - e, min=0) ** 2 + torch.clamp(e - e_max, min=0) ** 2).sum() \
                + lam * (z ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return z.detach()


@torch.no_grad()
def decode_structures(model: GlassVAE, z: torch.Tensor, symbols: Sequence[str]) -> list[ase.Atoms]:
    """Structures (ASE, wrapped) with the composition of ``symbols`` from latents ``z`` (B, z_dim)."""
    cfg = model.cfg
    index = {s: i for i, s in enumerate(cfg.species)}
    unknown = sorted(set(symbols) - set(index))
    if unknown:
        raise ValueError(f"elements {unknown} are not among the model species {cfg.species}")
    if len(symbols) != cfg.n_atoms:
        raise ValueError(f"this GlassVAE decodes {cfg.n_atoms} atoms; {len(symbols)} were requested")
    counts = {index[s]: sum(1 for x in symbols if x == s) for s in set(symbols)}
    dec = model.decode(z)
    cells = model.decoded_cells(dec["logvol"]).cpu().double().numpy()
    frac = dec["frac"].cpu().double().numpy()
    logits = dec["logits"].cpu().double().numpy()
    e_pred = model.predict_energy(z).cpu().double().numpy()
    out = []
    for b in range(len(z)):
        spec = assign_species(logits[b], counts)
        atoms = ase.Atoms(symbols=[cfg.species[k] for k in spec], scaled_positions=frac[b] % 1.0, cell=cells[b],
                          pbc=True)
        atoms.info["energy_pred_eV_per_atom"] = float(e_pred[b])
        out.append(atoms)
    return out


def generate_glassvae(model_path, n_samples: int, targets: dict | None, params: dict, seed: int,
                      device: str = "cpu", progress: bool = False, work_dir=None,
                      symbols: Sequence[str] | None = None, seeds: Sequence[int] | None = None
                      ) -> tuple[list[ase.Atoms], dict]:
    """Generate ``n_samples`` structures (seeds ``seed, seed+1, ...`` unless ``seeds``).

    ``targets``: ``{"energy_min": a, "energy_max": b}`` (eV/atom) for window-conditioned generation, or
    None for the prior. ``params``: the model's ``generation`` settings (``scale``, ``steps``, ``lr``,
    ``lam``, ``init``: posterior | prior). ``symbols``: the atoms to decode (default: the training
    composition at the model's atom count). Returns the structures and a report.
    """
    from ..learn.train import load_model

    model = model_path if isinstance(model_path, GlassVAE) else load_model(Path(model_path), device=device)
    cfg = model.cfg
    seeds = list(seeds) if seeds is not None else [int(seed) + k for k in range(n_samples)]
    if symbols is None:
        symbols = _training_symbols(cfg)
    dtype = next(model.parameters()).dtype
    scale = float(params.get("scale", 1.0))
    zs, starts = [], []
    bank = cfg.extra.get("posterior_bank") or []
    for s in seeds:
        gen = torch.Generator(device="cpu").manual_seed(int(s))
        if targets and params.get("init", "posterior") == "posterior" and bank:
            k = int(torch.randint(len(bank), (1,), generator=gen))
            zs.append(torch.as_tensor(bank[k]["z"], dtype=dtype)[None].to(model.template.device))
            starts.append(f"posterior[{k}]")
        else:
            zs.append(model.sample_prior(1, gen, scale))
            starts.append("prior")
    z = torch.cat(zs)
    report = {"mode": "window" if targets else "prior", "seeds": seeds, "start": starts}
    if targets:
        e_min, e_max = float(targets["energy_min"]), float(targets["energy_max"])
        if not e_min <= e_max:
            raise ValueError(f"energy window [{e_min}, {e_max}] is empty")
        with torch.no_grad():
            report["energy_pred_start"] = model.predict_energy(z).tolist()
        z = steer_to_window(model, z, e_min, e_max, int(params.get("steps", 200)), float(params.get("lr", 0.05)),
                            float(params.get("lam", 1e-3)), float(params.get("margin", 0.0)))
        report.update(energy_min=e_min, energy_max=e_max)
    frames = decode_structures(model, z, symbols)
    for atoms, s, st in zip(frames, seeds, starts):
        atoms.info.update({"seed": int(s), "source": "generated", "model": "glassvae", "latent_start": st,
                           "mode": report["mode"], "energy_label": cfg.extra.get("energy_label", "inherent_energy")})
        if targets:
            atoms.info.update({"energy_min": report["energy_min"], "energy_max": report["energy_max"]})
    report["energy_pred"] = [a.info["energy_pred_eV_per_atom"] for a in frames]
    return frames, report


def _training_symbols(cfg) -> list[str]:
    frac = cfg.extra.get("composition_fraction") or {cfg.species[0]: 1.0}
    counts = {s: int(round(f * cfg.n_atoms)) for s, f in frac.items()}
    first = next(iter(counts))
    counts[first] += cfg.n_atoms - sum(counts.values())
    return [s for s, n in counts.items() for _ in range(n)]


def resolve_window(model: GlassVAE, conditions: dict) -> tuple[float, float] | None:
    """The energy window (eV/atom) of a request: ``energy_min``/``energy_max``, or quantiles of the model's
    training energies (``energy_quantile_min``/``_max``); None for a prior request."""
    if "energy_min" in conditions:
        return float(conditions["energy_min"]), float(conditions["energy_max"])
    if "energy_quantile_min" in conditions:
        q = model.cfg.extra.get("energy_quantiles")
        if not q:
            raise ValueError("the model carries no training energy quantiles: give generation.energy_window")
        grid = np.linspace(0, 1, len(q))
        return (float(np.interp(conditions["energy_quantile_min"], grid, q)),
                float(np.interp(conditions["energy_quantile_max"], grid, q)))
    return None


def sample_glassvae(model_path, composition: str, conditions: dict, seeds: Sequence[int], gen: dict,
                    device: str = "cpu") -> tuple[list[ase.Atoms], dict]:
    """The registry's sampler: one structure per seed of ``composition`` (at the model's atom count), from the
    prior (no conditions) or into the requested window; returns the structures and their provenance record."""
    from ..learn.train import load_model
    from ..simulate.systems import atom_counts

    model = load_model(Path(model_path), device=device)
    counts = atom_counts(composition, model.cfg.n_atoms)
    symbols = [el for el, n in counts.items() for _ in range(n)]
    window = resolve_window(model, conditions)
    targets = None if window is None else {"energy_min": window[0], "energy_max": window[1]}
    frames, report = generate_glassvae(model, len(seeds), targets, gen, seed=int(seeds[0]), device=device,
                                       symbols=symbols, seeds=list(seeds))
    record = {"model": str(model_path), "generation": gen, "conditions": conditions, **report}
    return frames, record
