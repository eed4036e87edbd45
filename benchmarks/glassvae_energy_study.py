"""How well GlassVAE's energy head predicts held-out energies, by label and by what the head sees in training.

    PYTHONPATH=. python benchmarks/glassvae_energy_study.py [--dataset results/cuzr/datasets/glassvae.extxyz]
        [--steps 600] [--variants inherent_energy:sample energy:mean ...]

Each variant trains the laptop model (systems.cuzr.models.glassvae of the default config) with
``energy_label`` and ``energy_input`` set, then reports Table 1 on its held-out snapshots, next to two
baselines that need no model: the training mean, and the mean energy of the snapshot's temperature
(held-out = the last 20 % of each temperature's trajectory). Prints one JSON line per variant.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from amorphous_ml.config import load_config
from amorphous_ml.io import read_structures
from amorphous_ml.learn.vae import reconstruction_metrics, split_by_trajectory, train_glassvae
from amorphous_ml.registry import training_params


def _energy(a, label):
    return (a.get_potential_energy() if label == "energy" else a.info["inherent_energy"]) / len(a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="results/cuzr/datasets/glassvae.extxyz")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--variants", nargs="+", default=["energy:mean", "inherent_energy:mean"])
    args = ap.parse_args()
    frames = read_structures(args.dataset)
    section = training_params("glassvae", load_config()["systems"]["cuzr"]["models"]["glassvae"])
    tr, va = split_by_trajectory(frames, section["val_fraction"])
    temp = lambda a: a.info.get("temperature_K", a.info.get("temperature"))  # noqa: E731
    for variant in args.variants:
        label, energy_input = variant.split(":")
        y_tr = np.array([_energy(frames[k], label) for k in tr])
        y_va = np.array([_energy(frames[k], label) for k in va])
        t_tr, t_va = np.array([temp(frames[k]) for k in tr]), np.array([temp(frames[k]) for k in va])
        by_t = np.array([y_tr[t_tr == t].mean() for t in t_va])
        r2 = lambda p: float(1 - ((p - y_va) ** 2).sum() / ((y_va - y_va.mean()) ** 2).sum())  # noqa: E731
        params = {**section, "energy_label": label, "energy_input": energy_input,
                  "training": {**section["training"], "steps": args.steps}}
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.process_time()
            train_glassvae(frames, f"{tmp}/m.pt", f"{tmp}/work", params, progress=False)
            from amorphous_ml.learn.train import load_model

            m = reconstruction_metrics(load_model(f"{tmp}/m.pt"), [frames[k] for k in va])
        print(json.dumps({"energy_label": label, "energy_input": energy_input, "steps": args.steps,
                          "train_cpu_s": round(time.process_time() - t0, 1),
                          "baseline_train_mean_rmse": float(np.sqrt(np.mean((y_tr.mean() - y_va) ** 2))),
                          "baseline_temperature_mean_rmse": float(np.sqrt(np.mean((by_t - y_va) ** 2))),
                          "baseline_temperature_mean_r2": r2(by_t),
                          **{k: m[k] for k in ("energy_rmse_eV_per_atom", "energy_r2", "distance_rmse_A",
                                               "distance_r2", "node_accuracy")}}), flush=True)


if __name__ == "__main__":
    main()
