"""AMShortcut Table 1 at our scale (a-Si), speed-up over MD, and conditioning MAE (a-SiO2 small cells).

Part 1 (``--part steps``): train the material SDE (kind amden: AMDEN's VE/VP score SDE), the material ODE and
AMShortcut (kind amshortcut, method ode / shortcut) on the a-Si ``quench`` set with the laptop settings of
config.yaml (same backbone size, same training steps), then for each number of sampling steps generate
``--samples`` structures with the same seeds and report, against the training set (as the paper does) and
against the ``anneal`` set: RMSD of the mean total RDF (5 A, 100 bins) and ADF (3 A, 1 deg) of the generated
structures (unrefined, as in the paper's Table 1), the energy per atom after a LAMMPS minimisation, and the
sampler wall time per 1000 structures (the sampler call only; model already loaded once before). Noise
floors: the same RMSD between two disjoint halves of the reference set. Speed-up over MD: the wall time of
one anneal structure by LAMMPS at the same size and cooling rate (from the dataset rule's Snakemake
benchmark file, or --md-seconds) divided by the sampler time per structure.

Part 2 (``--part conditioning``): one AMShortcut trained on all labels of ``small_cells``, generation
conditioned on all properties, on each single one and on none (null embeddings) with the labels of the
training frames as targets; achieved properties after a short refine with the dataset's label functions;
MAE per property and conditioning subset.

Run from the repository root after building the datasets (``snakemake -c2 results/si/datasets/quench.extxyz
results/si/datasets/anneal.extxyz [results/sio2/datasets/small_cells.extxyz]``). Timings are wall times on
whatever machine and load it runs on: state both with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import yaml

from amorphous_ml import io
from amorphous_ml.config import validate_config
from amorphous_ml.validate.structure import distribution_rmsd, minimized_energy_per_atom, total_adf, total_rdf

ROOT = Path(__file__).resolve().parent.parent


def _config():
    return validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()))


def _curves(frames):
    rdf = np.mean([total_rdf(a, 5.0, 100)[1] for a in frames if len(a) > 1], axis=0)
    adf = np.mean([total_adf(a, 3.0, 180)[1] for a in frames if len(a) > 1], axis=0)
    return rdf, adf


def _noise(frames):
    a, b = frames[0::2], frames[1::2]
    (ra, aa), (rb, ab) = _curves(a), _curves(b)
    return distribution_rmsd(ra, rb), distribution_rmsd(aa, ab)


def _train(kind, section, frames, work: Path, train_steps: int | None):
    from amorphous_ml import registry

    out = work / "models" / section["name"] / "model.pt"
    if out.exists():
        return out
    params = {k: v for k, v in section.items() if k != "name"}
    if train_steps:
        params["training"] = {**params.get("training", {}), "steps": int(train_steps)}
    params = {k: v for k, v in params.items() if k not in registry.AMDEN_WORKFLOW_KEYS}
    t0 = time.perf_counter()
    if kind == "amden":
        from amorphous_ml.learn.amden import train_amden as fn
    else:
        from amorphous_ml.learn.amshortcut import train_amshortcut as fn
    fn(frames, out, work / "models" / section["name"] / "work", params, progress=False)
    print(f"trained {section['name']} ({kind}) in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def _generate(kind, model, n, targets, gen, seed):
    if kind == "amden":
        from amorphous_ml.generate.amden import generate_amden as fn
    else:
        from amorphous_ml.generate.amshortcut import generate_amshortcut as fn
    t0 = time.perf_counter()
    frames, _ = fn(model, n, targets, {"generation": gen}, seed, progress=False)
    return frames, time.perf_counter() - t0


def part_steps(args, cfg):
    import torch

    torch.set_num_threads(1)
    si = cfg["systems"]["si"]
    quench = io.read_structures(ROOT / "results/si/datasets/quench.extxyz")
    work = Path(args.work)
    methods = {"sde": ("amden", si["models"]["amden"]), "ode": ("amshortcut", si["models"]["amshortcut_ode"]),
               "shortcut": ("amshortcut", si["models"]["amshortcut"])}
    models = {m: _train(kind, {**sec, "name": m}, quench, work, args.train_steps) for m, (kind, sec) in methods.items()}
    anneal_file = ROOT / "results/si/datasets/anneal.extxyz"
    while not anneal_file.exists():  # the reference set may still be simulating while the models train
        time.sleep(10)
    anneal = io.read_structures(anneal_file)
    q_rdf, q_adf = _curves(quench)
    a_rdf, a_adf = _curves(anneal)
    noise_q, noise_a = _noise(quench), _noise(anneal)
    e_ref = {name: [minimized_energy_per_atom(a, si["potential"]) for a in s[: args.samples]]
             for name, s in (("quench", quench), ("anneal", anneal))} if args.energy else {}
    md = args.md_seconds
    if md is None:
        tsv = sorted((ROOT / "results/si/benchmarks/datasets/anneal").glob("p*.tsv"))
        if tsv:
            import pandas as pd

            per_job = si["datasets"]["anneal"].get("samples_per_job", 1)
            md = float(np.mean([pd.read_csv(f, sep="\t")["s"].iloc[0] for f in tsv])) / per_job
    rows = []
    for steps in args.steps:
        for m, (kind, _) in methods.items():
            # warm-up call (thread pools, graph code paths) outside the timing
            _generate(kind, models[m], 1, None, {"steps": 1}, 0)
            frames, seconds = _generate(kind, models[m], args.samples, None, {"steps": steps}, args.seed)
            rdf, adf = _curves(frames)
            row = {"method": m, "steps": steps, "n": len(frames),
                   "rdf_rmsd_train": distribution_rmsd(rdf, q_rdf), "adf_rmsd_train": distribution_rmsd(adf, q_adf),
                   "rdf_rmsd_anneal": distribution_rmsd(rdf, a_rdf), "adf_rmsd_anneal": distribution_rmsd(adf, a_adf),
                   "seconds_per_1000": 1000 * seconds / len(frames),
                   "n_atoms_mean": float(np.mean([len(a) for a in frames]))}
            if args.energy:
                row["energy_min_eV"] = float(np.mean([minimized_energy_per_atom(a, si["potential"]) for a in frames
                                                      if len(a) > 1]))
            if md:
                row["speedup_vs_md"] = md / (seconds / len(frames))
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"rows": rows, "noise_floor": {"train": {"rdf": noise_q[0], "adf": noise_q[1]},
                                            "anneal": {"rdf": noise_a[0], "adf": noise_a[1]}},
              "reference_energy_min_eV": {k: float(np.mean(v)) for k, v in e_ref.items()},
              "md_seconds_per_anneal_structure": md, "samples": args.samples,
              "load_average": os.getloadavg(), "cpu_count": os.cpu_count()}
    return result


def part_conditioning(args, cfg):
    import torch

    from amorphous_ml.simulate.refine import refine_structure
    from amorphous_ml.validate.labels import compute_labels

    torch.set_num_threads(1)
    sio2 = cfg["systems"]["sio2"]
    frames = io.read_structures(ROOT / "results/sio2/datasets/small_cells.extxyz")
    sec = sio2["models"]["amshortcut"]
    props = list(sec["properties"])
    work = Path(args.work)
    model = _train("amshortcut", {**sec, "name": "sio2_shortcut"}, frames, work, args.train_steps)
    subsets = {"all": props, **{p: [p] for p in props}, "none": []}
    rows = []
    for k, frame in enumerate(frames[: args.targets]):
        truth = {p: float(frame.info[p]) for p in props}
        for name, sub in subsets.items():
            gen = {"steps": args.cond_steps, "max_extrapolation": 5.0}
            out, _ = _generate("amshortcut", model, 1, {p: truth[p] for p in sub} or None, gen, args.seed + k)
            a = out[0]
            if len(a) < 2:
                rows.append({"target_frame": k, "subset": name, "empty": True})
                continue
            ref = refine_structure(a, sio2["potential"], nvt_ps=1.0, npt_ps=1.0, log_path=work / "refine" / f"{k}_{name}.log")
            got = compute_labels(ref, props, sio2, log_dir=work / "labels")
            rows.append({"target_frame": k, "subset": name, **{f"target_{p}": truth[p] for p in props},
                         **{f"achieved_{p}": got[p] for p in props}})
            print(json.dumps(rows[-1]), flush=True)
    mae = {}
    for name, sub in subsets.items():
        for p in props:
            errs = [abs(r[f"achieved_{p}"] - r[f"target_{p}"]) for r in rows if r["subset"] == name and f"achieved_{p}" in r]
            mae[f"{name}:{p}"] = {"mae": float(np.mean(errs)) if errs else None, "n": len(errs),
                                  "conditioned": p in sub}
    return {"rows": rows, "mae": mae, "steps": args.cond_steps, "load_average": os.getloadavg()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["steps", "conditioning"], default="steps")
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 5, 10, 25, 50, 100])
    p.add_argument("--samples", type=int, default=8, help="structures per method and step count")
    p.add_argument("--train-steps", type=int, default=None, help="override the config's training steps")
    p.add_argument("--energy", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--md-seconds", type=float, default=None, help="MD wall time per anneal structure")
    p.add_argument("--targets", type=int, default=3, help="conditioning: training frames used as targets")
    p.add_argument("--cond-steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=9001)
    p.add_argument("--work", default="benchmarks/out/amshortcut")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    cfg = _config()
    result = part_steps(args, cfg) if args.part == "steps" else part_conditioning(args, cfg)
    out = Path(args.out or f"benchmarks/out/amshortcut_{args.part}.json")
    io.write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
