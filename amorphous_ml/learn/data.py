"""Datasets of glasses for training: the workflow's extxyz structures with per-structure labels.

A structure is stored once (positions, cell, species indices, label); noise or any other augmentation
is drawn afresh in the training loop, *after* :func:`split_by_structure` has assigned whole structures
to the training or the validation set, so no structure leaks into both (the DM2 public code split
after duplicating structures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import ase
import numpy as np
import torch

from ..io import read_structures
from ..units import density_gcc

__all__ = ["Structure", "Batch", "structures_from_atoms", "load_glasses", "split_by_structure", "split_stratified",
           "collate",
           "density_gcc", "fit_density_vs_log_rate"]


@dataclass
class Structure:
    """One glass: positions (n, 3) Å, cell (3, 3) Å, species indices (n,), a label and a name.

    ``label`` is a scalar (DM2: log10 cooling rate) or a vector of equal length for every structure
    (AMDEN: standardised properties, NaN where missing); :func:`collate` stacks them to (B,) or (B, m).
    """

    positions: np.ndarray
    cell: np.ndarray
    species: np.ndarray
    label: float | np.ndarray
    name: str = ""

    @property
    def n_atoms(self) -> int:
        return len(self.species)


@dataclass
class Batch:
    """Structures concatenated for a model call (see :class:`amorphous_ml.learn.graphs.Graph`)."""

    positions: torch.Tensor  # (N, 3)
    species: torch.Tensor  # (N,)
    cells: torch.Tensor  # (B, 3, 3)
    batch: torch.Tensor  # (N,)
    counts: list[int]
    labels: torch.Tensor  # (B,) or (B, m)

    @property
    def num_graphs(self) -> int:
        return len(self.counts)


def structures_from_atoms(frames: Sequence[ase.Atoms], species: Sequence[str], label_key: str | None = "cooling_rate",
                          log10_label: bool = True) -> list[Structure]:
    """Convert ASE structures; ``label_key`` from ``atoms.info`` (log10 of it when ``log10_label``)."""
    index = {s: i for i, s in enumerate(species)}
    out = []
    for k, atoms in enumerate(frames):
        symbols = atoms.get_chemical_symbols()
        unknown = sorted(set(symbols) - set(index))
        if unknown:
            raise ValueError(f"structure {k} has elements {unknown} outside the model species {list(species)}")
        label = float("nan")
        if label_key is not None:
            if label_key not in atoms.info:
                raise ValueError(f"structure {k} has no {label_key!r} in its info (needed as the label)")
            label = float(atoms.info[label_key])
            if log10_label:
                label = math.log10(label)
        out.append(Structure(positions=np.asarray(atoms.positions, float), cell=np.asarray(atoms.cell[:], float),
                             species=np.array([index[s] for s in symbols], dtype=np.int64), label=label,
                             name=str(atoms.info.get("name", k))))
    return out


def load_glasses(paths: Sequence[str | Path]) -> list[ase.Atoms]:
    """Every frame of every file, in the order given (each tagged with its file name)."""
    frames = []
    for p in paths:
        for i, atoms in enumerate(read_structures(p)):
            atoms.info.setdefault("name", Path(p).stem if i == 0 else f"{Path(p).stem}#{i}")
            frames.append(atoms)
    if not frames:
        raise ValueError("no training structures given")
    return frames


def split_by_structure(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Assign whole structures to train/validation (at least one each when n >= 2)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n).tolist()
    if n < 2 or val_fraction <= 0:
        return sorted(order), []
    n_val = min(n - 1, max(1, int(round(val_fraction * n))))
    return sorted(order[n_val:]), sorted(order[:n_val])


def split_stratified(labels: Sequence[float], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Like :func:`split_by_structure`, with the held-out structures spread over the label values.

    ``round(val_fraction * n)`` structures (at least one) are held out, taken one per label value in turn
    (values in a seeded order, members drawn at random), and never the last structure of a value: every
    cooling rate keeps training glasses (fewer are held out if need be; none when every rate has one
    glass) and the validation set covers as many rates as it has members. NaN labels form one group.
    """
    n = len(labels)
    rng = np.random.default_rng(seed)
    if n < 2 or val_fraction <= 0:
        return list(range(n)), []
    keys = ["nan" if (isinstance(v, float) and math.isnan(v)) else round(float(v), 9) for v in labels]
    groups: dict = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    n_val = min(n - len(groups), max(1, int(round(val_fraction * n))))  # every value keeps one glass
    order = [list(rng.permutation(members)) for _, members in sorted(groups.items(), key=lambda kv: str(kv[0]))]
    order = [order[i] for i in rng.permutation(len(order))]
    val: list[int] = []
    while len(val) < n_val:
        for members in order:
            if len(val) < n_val and len(members) > 1:
                val.append(int(members.pop()))
    val_set = set(val)
    return [i for i in range(n) if i not in val_set], sorted(val)


def collate(items: Sequence[Structure], dtype=torch.float32, device="cpu") -> Batch:
    counts = [s.n_atoms for s in items]
    return Batch(
        positions=torch.as_tensor(np.concatenate([s.positions for s in items]), dtype=dtype, device=device),
        species=torch.as_tensor(np.concatenate([s.species for s in items]), device=device),
        cells=torch.as_tensor(np.stack([s.cell for s in items]), dtype=dtype, device=device),
        batch=torch.repeat_interleave(torch.arange(len(items), device=device),
                                      torch.as_tensor(counts, device=device)),
        counts=counts,
        labels=torch.as_tensor(np.asarray([s.label for s in items], dtype=np.float64), dtype=dtype, device=device),
    )


def fit_density_vs_log_rate(frames: Sequence[ase.Atoms], rate_key: str = "cooling_rate") -> dict:
    """Least-squares density (g/cm^3) = intercept + slope * log10(rate); slope 0 with a single rate."""
    x = np.array([math.log10(float(a.info[rate_key])) for a in frames if rate_key in a.info])
    y = np.array([density_gcc(a) for a in frames if rate_key in a.info])
    if len(y) == 0:
        y = np.array([density_gcc(a) for a in frames])
        return {"slope": 0.0, "intercept": float(y.mean()), "n": len(y)}
    if len(np.unique(x)) < 2:
        return {"slope": 0.0, "intercept": float(y.mean()), "n": len(y)}
    slope, intercept = np.polyfit(x, y, 1)
    return {"slope": float(slope), "intercept": float(intercept), "n": len(y),
            "log10_rate_range": [float(x.min()), float(x.max())]}
