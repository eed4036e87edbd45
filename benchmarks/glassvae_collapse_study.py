"""Posterior collapse of GlassVAE on the laptop data: Table 1 and collapse diagnostics per training variant.

    PYTHONPATH=. python benchmarks/glassvae_collapse_study.py [--dataset results/cuzr/datasets/glassvae.extxyz]
        [--trajectories 1 6] [--variants "base:" "fix:kl_warmup_steps=200,free_bits=0.05,energy_input=mean"]

Each variant is the default section ``systems.cuzr.models.glassvae`` of config.yaml with ``key=value``
overrides (values parsed as YAML; ``training.steps=300`` reaches into a sub-section), trained on the first
``--trajectories`` trajectories of the dataset (info ``trajectory``). Printed per variant (one JSON line):

* Table 1 on the held-out snapshots (the last 20 % of each trajectory's run at each temperature);
* ``active_units``: latent dimensions whose posterior mean varies over the held-out snapshots by more than
  0.01 (variance; Burda et al. 2016), of ``z_dim``; ``kl_nats``: mean KL per structure;
* ``prior_decode_rms_A``: RMS distance between the atoms of structures decoded from 4 prior draws (slots
  matched by position, Hungarian, up to a translation), averaged over pairs: 0 when every draw decodes to the
  same glass;
* baselines without a model: the training-mean energy and the mean energy of the snapshot's temperature.

CPU seconds (``time.process_time``) are the training cost; load from other processes barely changes them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time

import numpy as np
import torch
import yaml

from amorphous_ml.config import load_config
from amorphous_ml.io import read_structures
from amorphous_ml.learn.data import collate
from amorphous_ml.learn.graphs import build_graph
from amorphous_ml.learn.models.glassvae import match_structures
from amorphous_ml.learn.train import load_model
from amorphous_ml.learn.vae import reconstruction_metrics, snapshot_items, split_by_trajectory, train_glassvae
from amorphous_ml.registry import training_params


def _override(section: dict, spec: str) -> dict:
    out = json.loads(json.dumps(section))
    for item in filter(None, spec.split(",")):
        key, value = item.split("=", 1)
        node = out
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(value)
    return out


@torch.no_grad()
def _diagnostics(model, frames) -> dict:
    items = snapshot_items(frames, model.cfg.species, model.cfg.extra["energy_label"])
    batch = collate(items, next(model.parameters()).dtype)
    graph = build_graph(batch.positions, batch.species, batch.cells, batch.batch, model.cutoff, batch.counts)
    enc = model.encode(graph)
    mu, kl = model.latent(enc, None)
    active = int((mu.var(dim=0) > 0.01).sum())
    gen = torch.Generator().manual_seed(0)
    z = model.sample_prior(4, gen)
    dec = model.decode(z)
    frac = dec["frac"].double().numpy() % 1.0
    cell = model.decoded_cells(dec["logvol"]).double().numpy()
    flat = np.zeros((model.cfg.n_atoms, 2))
    rms = []
    for a, b in itertools.combinations(range(len(z)), 2):
        perm, t = match_structures(frac[a], flat, frac[b], np.zeros(model.cfg.n_atoms, int), cell[a], 0.0, 3)
        d = frac[a][perm] - (frac[b] + t)
        d = (d - np.round(d)) @ cell[a]
        rms.append(float(np.sqrt((d ** 2).sum(-1).mean())))
    return {"active_units": active, "z_dim": model.cfg.z_dim, "kl_nats": float(kl.mean()),
            "posterior_mean_std": float(mu.std(dim=0).mean()),
            "posterior_sigma": float((0.5 * enc["logvar"]).exp().mean()), "prior_decode_rms_A": float(np.mean(rms))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="results/cuzr/datasets/glassvae.extxyz")
    ap.add_argument("--trajectories", type=int, nargs="+", default=[None])
    ap.add_argument("--variants", nargs="+", default=["default:"])
    args = ap.parse_args()
    all_frames = read_structures(args.dataset)
    base = training_params("glassvae", load_config()["systems"]["cuzr"]["models"]["glassvae"])
    for n_traj, variant in itertools.product(args.trajectories, args.variants):
        name, _, spec = variant.partition(":")
        frames = [a for a in all_frames if n_traj is None or int(a.info.get("trajectory", 0)) < n_traj]
        section = _override(base, spec)
        tr, va = split_by_trajectory(frames, section["val_fraction"])
        label = section["energy_label"]
        e = lambda a: (a.get_potential_energy() if label == "energy" else a.info["inherent_energy"]) / len(a)  # noqa: E731
        y_tr, y_va = np.array([e(frames[k]) for k in tr]), np.array([e(frames[k]) for k in va])
        t_tr = np.array([frames[k].info["temperature_K"] for k in tr])
        t_va = np.array([frames[k].info["temperature_K"] for k in va])
        by_t = np.array([y_tr[t_tr == t].mean() for t in t_va])
        r2 = lambda p: float(1 - ((p - y_va) ** 2).sum() / ((y_va - y_va.mean()) ** 2).sum())  # noqa: E731
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.process_time()
            w0 = time.time()
            train_glassvae(frames, f"{tmp}/m.pt", f"{tmp}/work", section, progress=False)
            cpu, wall = time.process_time() - t0, time.time() - w0
            model = load_model(f"{tmp}/m.pt")
            held = [frames[k] for k in va]
            m = reconstruction_metrics(model, held)
            diag = _diagnostics(model, held)
        print(json.dumps({"variant": name, "overrides": spec, "trajectories": n_traj or "all",
                          "n_train": len(tr), "n_heldout": len(va), "steps": section["training"]["steps"],
                          "train_cpu_s": round(cpu, 1), "train_wall_s": round(wall, 1),
                          **{k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()
                             if k in ("energy_rmse_eV_per_atom", "energy_r2", "distance_rmse_A", "distance_r2",
                                      "node_accuracy", "position_rmse_A", "rdf_mse")},
                          **{k: round(v, 4) if isinstance(v, float) else v for k, v in diag.items()},
                          "baseline_train_mean_rmse": round(float(np.sqrt(np.mean((y_tr.mean() - y_va) ** 2))), 4),
                          "baseline_temperature_mean_rmse": round(float(np.sqrt(np.mean((by_t - y_va) ** 2))), 4),
                          "baseline_temperature_mean_r2": round(r2(by_t), 3)}), flush=True)


if __name__ == "__main__":
    main()
