"""Small structures and untrained AMDEN models shared by the AMDEN tests."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from amorphous_ml.learn.amden import model_config
from amorphous_ml.learn.models.amden import AMDEN
from amorphous_ml.learn.train import save_model

TINY = dict(hidden=16, channels=3, layers=2, cutoff=4.0, property_embed=4)


def rattled_si(n_frames=4, rattle=0.1, repeat=2, seed=0, labels=True):
    """Diamond Si (a = 5.43 Å) rattled; ``density_g_cm3`` and a fake ``shear_modulus_GPa`` as labels."""
    frames = []
    for k in range(n_frames):
        a = bulk("Si", "diamond", a=5.43, cubic=True).repeat((repeat,) * 3)
        a.rattle(rattle, seed=seed + k)
        if labels:
            a.info["density_g_cm3"] = 2.30 + 0.02 * k
            a.info["shear_modulus_GPa"] = 30.0 + 2.0 * k
        a.info["sample"] = f"si{k}"
        frames.append(a)
    return frames


def random_silica(n_frames=3, n_si=8, seed=0):
    """Random SiO2 stoichiometry at 2.2 g/cm^3 (no structure needed for sampler tests)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        symbols = ["Si"] * n_si + ["O"] * (2 * n_si)
        mass = n_si * (28.0855 + 2 * 15.999) / 6.02214076e23
        length = (mass / 2.2 * 1e24) ** (1 / 3)
        cell = np.diag([length] * 3)
        a = Atoms(symbols, positions=rng.uniform(0, length, (3 * n_si, 3)), cell=cell, pbc=True)
        a.info["shear_modulus_GPa"] = 28.0 + k
        frames.append(a)
    return frames


def tiny_model(frames, seed=0, **params) -> AMDEN:
    cfg = model_config(frames, {**TINY, **params})
    torch.manual_seed(seed)
    return AMDEN(cfg)


def saved_tiny_model(path, frames, seed=0, **params):
    model = tiny_model(frames, seed, **params)
    save_model(path, model, "amden")
    return path
