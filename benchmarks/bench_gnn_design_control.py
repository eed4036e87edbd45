"""Does GNN-guided swap Monte Carlo beat random swaps? Seeds of the design against a matched random control.

    python benchmarks/bench_gnn_design_control.py RESULTS [--seeds 4001 4002 4003 4004] [--workers 2]
                                                  [--config config.yaml] [--out benchmarks/out/gnn_design_control.json]

RESULTS is a workflow results directory that holds the cuzr GNN (``RESULTS/cuzr/models/<model>/model.pt``, the first
enabled gnn model of the config) and its AQS-labelled start glass (``RESULTS/cuzr/aqs/<start>.extxyz``). For each seed:

* ``guided``: the design of the config (its ``design`` section, this seed), exactly what ``generate_model`` runs;
* ``random``: as many swaps as the guided run accepted, each pair drawn uniformly (``bias_power: 0``) and every one
  accepted, from the same start and with the same minimisation;
* ``energy``: classic energy-guided swap MC, the baseline the paper argues against: uniform pairs, the same number
  of trials, accepted by the inherent-structure energy alone (``temperatures: {energy: C}``, ``--energy-c`` eV/atom;
  default 5e-5 = kT/N at 300 K for 500 atoms);
* ``guided_energy``: the guided design with that energy term beside its ln(D2min) terms.

Both final structures get the true mean ln(D2min) at the design strain from the same 12-mode AQS function the design
validates with (``generate/swap_mc.true_mean_ln_d2min``), and the GNN's predicted mean. One design run in the workflow
is one draw; this says how far one run's true change is from what random swaps of the same count give, and whether the
surrogate tells the two apart. Prints a table and writes the JSON record.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


ARMS = ("guided", "random", "energy", "guided_energy")


def _setup(results: Path, config: str | None):
    from amorphous_ml.config import load_config
    from amorphous_ml.registry import gnn_design_start

    cfg = load_config(config) if config else load_config()
    system = cfg["systems"]["cuzr"]
    name, section = next((k, v) for k, v in system["models"].items() if v.get("kind") == "gnn" and v.get("enabled", True))
    start = gnn_design_start(section)
    sys_sub = {k: system[k] for k in ("potential", "potential_dir", "aqs") if system.get(k) is not None}
    return (name, section, sys_sub, results / "cuzr" / "models" / name / "model.pt",
            results / "cuzr" / "aqs" / f"{start}.extxyz")


def _one_seed(args) -> dict:
    import torch

    torch.set_num_threads(1)
    from amorphous_ml.generate.swap_mc import run_design, true_mean_ln_d2min

    seed, model_path, system, start_file, design, arm_names, energy_c = args
    out = {"seed": seed}
    temps = dict(design.get("temperatures") or {"max": 0.05, "mean": 0.002, "q0.5": 0.005, "q0.75": 0.005,
                                                 "q0.9": 0.005})
    with tempfile.TemporaryDirectory(prefix=f"design-control-{seed}-") as tmp:
        tmp = Path(tmp)
        arms = {"guided": dict(design, seed=seed, validate_every=0),
                "energy": dict(design, seed=seed, validate_every=0, bias_power=0.0, temperatures={"energy": energy_c}),
                "guided_energy": dict(design, seed=seed, validate_every=0, temperatures={**temps, "energy": energy_c})}
        for arm in arm_names:
            if arm == "random":
                n = out["guided"]["accepted"]
                arms["random"] = dict(design, seed=seed, validate_every=0, trials=n, bias_power=0.0,
                                      temperatures={"mean": 1e12})  # uniform pairs, every swap accepted
            t0 = time.perf_counter()
            frame, record = run_design(model_path, system, start_file, arms[arm], tmp / arm, progress=False,
                                       validate=False)
            trace = json.loads(frame.info["design_trace"])
            true = true_mean_ln_d2min(system, frame, float(design["strain"]), tmp / arm / "aqs")
            out[arm] = {"trials": record["trials"], "accepted": record["accepted"],
                        "pred_start": trace["pred_mean"][0], "pred_end": trace["pred_mean"][-1],
                        "true_end": true, "energy_start": trace["energy_per_atom_eV"][0],
                        "energy_end": trace["energy_per_atom_eV"][-1], "cpu_s": time.perf_counter() - t0}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="a workflow results directory with the cuzr GNN and its start glass")
    ap.add_argument("--seeds", type=int, nargs="+", default=[4001, 4002, 4003, 4004])
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS),
                    help="which arms to run (random needs guided: it copies its number of accepted swaps)")
    ap.add_argument("--energy-c", type=float, default=5e-5, help="C of the energy term, eV/atom")
    ap.add_argument("--config", default=None, help="config file of that run (default: the embedded config.yaml)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/gnn_design_control.json"))
    a = ap.parse_args(argv)

    from scipy import stats

    from amorphous_ml.io import read_structure
    from amorphous_ml.validate.aqs import label_name

    name, section, system, model_path, start_file = _setup(a.results.resolve(), a.config)
    design = copy.deepcopy(section.get("design") or {})
    design.setdefault("strain", 0.05)
    start = read_structure(start_file)
    true_start = float(np.nanmean(start.arrays[label_name(float(design["strain"]))]))
    if "random" in a.arms and "guided" not in a.arms:
        ap.error("--arms random needs guided (it takes the guided run's number of accepted swaps)")
    arm_names = [x for x in ARMS if x in a.arms]
    jobs = [(s, model_path, system, start_file, design, arm_names, a.energy_c) for s in a.seeds]
    t0 = time.time()
    with ProcessPoolExecutor(a.workers) as pool:
        rows = list(pool.map(_one_seed, jobs))
    wall = time.time() - t0

    print(f"model {model_path}, start {start_file.name}: true mean ln(D2min) at {design['strain']:g} = {true_start:.3f}")
    print("| seed | arm | swaps accepted / trials | predicted mean start -> end | true mean end (change) | energy eV/atom change |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        for arm in arm_names:
            x = r[arm]
            print(f"| {r['seed']} | {arm} | {x['accepted']} / {x['trials']} | {x['pred_start']:.3f} -> {x['pred_end']:.3f} "
                  f"| {x['true_end']:.3f} ({x['true_end'] - true_start:+.3f}) "
                  f"| {1000 * (x['energy_end'] - x['energy_start']):+.1f} meV |")
    summary = {}
    for arm in arm_names:
        d = np.array([r[arm]["true_end"] - true_start for r in rows])
        p = np.array([r[arm]["pred_end"] - r[arm]["pred_start"] for r in rows])
        summary[arm] = {"true_change_mean": float(d.mean()), "true_change_sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                        "pred_change_mean": float(p.mean())}
        print(f"{arm}: true change {d.mean():+.3f} +/- {summary[arm]['true_change_sd']:.3f} (sd over {len(d)} seeds), "
              f"predicted change {p.mean():+.3f}")
    for x, y in (("guided", "random"), ("guided", "energy"), ("guided_energy", "guided"), ("energy", "random")):
        if x in arm_names and y in arm_names and len(rows) > 1:
            gx, gy = [r[x]["true_end"] for r in rows], [r[y]["true_end"] for r in rows]
            t = stats.ttest_rel(gx, gy)
            summary[f"{x}-{y}"] = {"mean": float(np.mean(np.subtract(gx, gy))), "paired_t_p": float(t.pvalue)}
            print(f"{x} - {y}, paired over seeds: {np.mean(np.subtract(gx, gy)):+.3f}, p = {t.pvalue:.3f}")
    print(f"wall {wall:.0f} s with {a.workers} workers")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"model": str(model_path), "start": str(start_file), "true_start": true_start,
                                 "design": design, "energy_c": a.energy_c, "rows": rows, "summary": summary, "wall_s": wall}, indent=1))


if __name__ == "__main__":
    main()
