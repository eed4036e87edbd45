"""Cost of one GNN-guided swap trial against one 12-mode AQS evaluation, and what the workflow measured.

    python benchmarks/bench_gnn_swap.py trial [--n-atoms 500] [--trials 10] [--aqs-mode shear_xy_plus] [--out f.json]
    python benchmarks/bench_gnn_swap.py report results/cuzr/gnn.csv results/cuzr/design.csv

``trial``: a Cu50Zr50 glass (melt-quench at 500 K/ps, 2 + 2 ps melt at 2000 K, like bench_aqs.py) is the start of
``--trials`` swap trials with an untrained GNN of the laptop size (2 layers, 32 features) and of the paper size
(4 layers, 64 features, 4 heads): wall time per trial split into LAMMPS minimisation (persistent instance) and
graph + prediction, and the CG iterations per trial (load cannot change that count). Then one AQS mode of the same
structure at the laptop AQS settings (config.yaml) is timed; the 12-mode evaluation is 12 such runs (modes cost
alike within ~20 %, benchmarks/bench_aqs.py), so the ratio is the surrogate's speed-up per decision.

``report``: Pearson per strain and split from gnn.csv; from design.csv the acceptance rate and the true mean
ln(D2min) (12-mode AQS) of the start and of the last validated state.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _glass(n: int, tmp: Path):
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.protocols import melt_quench

    system = copy.deepcopy(load_config()["systems"]["cuzr"])
    system.update(n_atoms=n, melt={"temperature": 2000, "nvt_ps": 2, "npt_ps": 2},
                  quench={"final_temperature": 300, "anneal_ps": 2, "pressure_bar": 0.0})
    glass = melt_quench("cuzr", system, "Cu50Zr50", 500, 1, tmp / "g.extxyz", tmp / "g.data", tmp / "g.log")
    return system, glass


def _trials(system, glass, size: dict, n_trials: int, tmp: Path) -> dict:
    import torch

    from amorphous_ml.generate.swap_mc import DesignSettings, SwapMC
    from amorphous_ml.learn.models.gnn import AttentionGNN, GNNConfig

    torch.manual_seed(0)
    model = AttentionGNN(GNNConfig(species=["Cu", "Zr"], strains=[0.05], **size)).eval()
    settings = DesignSettings.from_dict({"strain": 0.05, "trials": n_trials, "seed": 1,
                                         "temperatures": {"mean": 1e-4}})
    mc = SwapMC(model, system, glass, settings, tmp / f"mc{size['n_layers']}")
    t_min, t_pred, iters, evaluated = [], [], [], []
    real_min = mc.minimizer.minimize
    real_predict = model.predict_local

    def timed_min(*a):
        t = time.perf_counter()
        out = real_min(*a)
        t_min.append(time.perf_counter() - t)
        return out

    def timed_predict(*a):
        t = time.perf_counter()
        out = real_predict(*a)
        t_pred.append(time.perf_counter() - t)
        return out

    mc.minimizer.minimize = timed_min
    model.predict_local = timed_predict
    try:
        t0 = time.perf_counter()
        for _ in range(n_trials):
            row = mc.trial()
            iters.append(row["cg_iterations"])
            evaluated.append(row["evaluated_atoms"])
        total = time.perf_counter() - t0
    finally:
        mc.close()
    return {"size": size, "parameters": sum(p.numel() for p in model.parameters()),
            "trial_s": total / n_trials, "minimize_s": float(np.mean(t_min)), "predict_s": float(np.mean(t_pred)),
            "cg_iterations_per_trial": float(np.mean(iters)), "evaluated_atoms_per_trial": float(np.mean(evaluated))}


def trial(args) -> dict:
    from amorphous_ml.simulate.aqs import run_aqs_mode

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        system, glass = _glass(args.n_atoms, tmp)
        out = {"n_atoms": args.n_atoms, "trials": args.trials, "sizes": []}
        for size in ({"n_layers": 2, "hidden": 32, "edge_hidden": 32, "heads": 2, "readout_hidden": 32},
                     {"n_layers": 4, "hidden": 64, "edge_hidden": 64, "heads": 4, "readout_hidden": 64}):
            out["sizes"].append(_trials(system, glass, size, args.trials, tmp))
            print(json.dumps(out["sizes"][-1]))
        t = time.perf_counter()
        run_aqs_mode(system, glass, args.aqs_mode, tmp / "aqs.log")
        one = time.perf_counter() - t
        out.update(aqs_mode=args.aqs_mode, aqs_settings=system["aqs"], aqs_one_mode_s=one, aqs_12_modes_s=12 * one,
                   speedup_vs_trial=[12 * one / s["trial_s"] for s in out["sizes"]])
    print(f"{args.n_atoms} atoms: one swap trial {out['sizes'][0]['trial_s']:.3f} s (laptop GNN) / "
          f"{out['sizes'][1]['trial_s']:.3f} s (paper-size GNN); one AQS mode {one:.1f} s -> 12 modes {12 * one:.0f} s; "
          f"speed-up {out['speedup_vs_trial'][0]:.0f}x / {out['speedup_vs_trial'][1]:.0f}x")
    return out


def report(args) -> dict:
    import pandas as pd

    scores = pd.read_csv(args.gnn_csv, comment="#")
    design = pd.read_csv(args.design_csv, comment="#")
    print(scores.pivot_table(index="strain", columns="set", values="pearson").round(3).to_string())
    out = {"pearson": scores[["set", "strain", "pearson"]].to_dict("records")}
    for sample, sub in design.groupby("sample"):
        val = sub[np.isfinite(sub["true_mean"])]
        acc = int(sub["n_accepted"].max())
        rec = {"sample": sample, "trials": int(sub["trial"].max()), "accepted": acc,
               "true_mean_start": float(val["true_mean"].iloc[0]) if len(val) else None,
               "true_mean_end": float(val["true_mean"].iloc[-1]) if len(val) > 1 else None,
               "pred_mean_start": float(sub["pred_mean"].iloc[0]), "pred_mean_end": float(sub["pred_mean"].iloc[-1]),
               "energy_change_meV_per_atom": 1000 * float(sub["energy_per_atom_eV"].iloc[-1]
                                                          - sub["energy_per_atom_eV"].iloc[0])}
        print(json.dumps(rec))
        out.setdefault("designs", []).append(rec)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("trial")
    p.add_argument("--n-atoms", type=int, default=500)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--aqs-mode", default="shear_xy_plus")
    p.add_argument("--out", default=None)
    p.set_defaults(func=trial)
    p = sub.add_parser("report")
    p.add_argument("gnn_csv")
    p.add_argument("design_csv")
    p.add_argument("--out", default=None)
    p.set_defaults(func=report)
    args = ap.parse_args()
    result = args.func(args)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
