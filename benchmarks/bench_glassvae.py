"""GlassVAE cost: training time per epoch and generation time per structure (prior and energy window).

    PYTHONPATH=. python benchmarks/bench_glassvae.py [--dataset results/cuzr/datasets/glassvae.extxyz]
        [--model results/cuzr/models/glassvae/model.pt] [--steps 20] [--threads 1]

Reports CPU seconds (``time.process_time``: what load from other processes on a shared machine cannot
inflate much) next to wall seconds. An epoch is ceil(n_train / batch_size) optimiser steps of the
configured (laptop) model; the figures are per step x steps per epoch, measured over ``--steps`` steps.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from amorphous_ml.config import load_config
from amorphous_ml.io import read_structures
from amorphous_ml.learn.data import collate
from amorphous_ml.registry import _glassvae_window, training_params
from amorphous_ml.learn.models.glassvae import GlassVAE, GlassVAEConfig
from amorphous_ml.learn.vae import glassvae_loss_terms, snapshot_items, split_by_trajectory


def _refined_energies(frames, targets, refine: dict) -> dict:
    """Minimise each structure as the refine step does; energies per atom against the window."""
    import tempfile

    import numpy as np

    from amorphous_ml.simulate.refine import refine_structure

    e, pred = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, atoms in enumerate(frames):
            r = refine_structure(atoms, "cuzr_mendelev", temperature=refine["temperature"], nvt_ps=refine["nvt_ps"],
                                 npt_ps=refine["npt_ps"], pressure_bar=refine["pressure_bar"],
                                 min_distance=refine["min_distance"], seed=k + 1, log_path=f"{tmp}/{k}.log")
            e.append(r.get_potential_energy() / len(r))
            pred.append(atoms.info["energy_pred_eV_per_atom"])
    e, pred = np.array(e), np.array(pred)
    out = {"n": len(e), "refined_mean": float(e.mean()), "refined_std": float(e.std()),
           "predicted_mean": float(pred.mean()), "refined_minus_predicted_mae": float(np.abs(e - pred).mean())}
    if targets:
        lo, hi = targets["energy_min"], targets["energy_max"]
        out.update(window=[lo, hi], fraction_in_window=float(np.mean((e >= lo) & (e <= hi))),
                   fraction_below=float(np.mean(e < lo)), fraction_above=float(np.mean(e > hi)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="results/cuzr/datasets/glassvae.extxyz")
    ap.add_argument("--model", default="results/cuzr/models/glassvae/model.pt",
                    help="trained model for the generation timings")
    ap.add_argument("--config", default=None, help="config YAML (default: the embedded laptop config)")
    ap.add_argument("--section", default="glassvae", help="model section of systems.cuzr.models")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--samples", type=int, default=8, help="structures per generation mode")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--refine", action="store_true",
                    help="also minimise the window samples with LAMMPS (the refine step's default) and report the "
                         "fraction whose energy lies in the window")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    full = load_config(args.config)["systems"]["cuzr"]["models"][args.section]
    section = {**training_params(args.section, full), "generation": full["generation"]}
    frames = read_structures(args.dataset)
    tr, _ = split_by_trajectory(frames, section["val_fraction"])
    params = {k: v for k, v in section.items() if k not in ("training", "seed", "val_fraction", "energy_label")}
    cfg = GlassVAEConfig.from_dict({**params, "species": ["Cu", "Zr"], "n_atoms": len(frames[0])})
    items = snapshot_items([frames[k] for k in tr], cfg.species, section["energy_label"])
    bs = section["training"]["batch_size"]
    torch.manual_seed(0)
    model = GlassVAE(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=section["training"]["lr"])
    gen = torch.Generator().manual_seed(0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.steps):
        idx = torch.randint(len(items), (bs,), generator=gen).tolist()
        loss = glassvae_loss_terms(model, collate([items[i] for i in idx]), gen)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    cpu, wall = (time.process_time() - cpu0) / args.steps, (time.perf_counter() - wall0) / args.steps
    per_epoch = math.ceil(len(items) / bs)
    out = {"n_train": len(items), "batch_size": bs, "steps_per_epoch": per_epoch,
           "train_cpu_s_per_step": cpu, "train_wall_s_per_step": wall,
           "train_cpu_s_per_epoch": cpu * per_epoch, "train_wall_s_per_epoch": wall * per_epoch,
           "parameters": sum(p.numel() for p in model.parameters()),
           "configured_steps": section["training"]["steps"],
           "configured_training_cpu_s": cpu * section["training"]["steps"]}
    try:
        from amorphous_ml.generate.glassvae import generate_glassvae, resolve_window
        from amorphous_ml.learn.train import load_model

        trained = load_model(args.model)
        g = section["generation"]
        for mode in ("prior", "window"):
            targets = None
            if mode == "window":
                lo, hi = resolve_window(trained, _glassvae_window(g))
                targets = {"energy_min": lo, "energy_max": hi}
            cpu0, wall0 = time.process_time(), time.perf_counter()
            frames, _ = generate_glassvae(trained, args.samples, targets, g, seed=1)
            out[f"generate_{mode}_cpu_s_per_structure"] = (time.process_time() - cpu0) / args.samples
            out[f"generate_{mode}_wall_s_per_structure"] = (time.perf_counter() - wall0) / args.samples
            if args.refine:
                out[f"{mode}_refined"] = _refined_energies(frames, targets, full["refine"])
    except FileNotFoundError:
        out["generation"] = f"no trained model at {args.model}"
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
