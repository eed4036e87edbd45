"""AMShortcut Table 1 at our scale (a-Si), speed-up over MD, and conditioning MAE (a-SiO2 small cells).

Part 1 (``--part steps``): train the material SDE (kind amden: AMDEN's VE/VP score SDE), the material ODE and
AMShortcut (kind amshortcut, method ode / shortcut) on the a-Si ``quench`` set with the laptop settings of
config.yaml (sections amden, amshortcut_ode, amshortcut; ``--train-steps`` overrides the training length), then
for each number of sampling steps generate ``--samples`` structures with the same seeds and report, against the
training set (as the paper does) and, when it exists, the ``anneal`` set: RMSD of the mean total RDF (5 A,
100 bins) and ADF (3 A, 1 deg) of the generated structures (unrefined, as in the paper's Table 1), the energy
per atom after a LAMMPS minimisation, and the sampler's CPU and wall time per 1000 structures (one thread,
``--batch-size`` structures per batch, model loading included). Noise floors: the same RMSD between
``--samples`` reference frames and the rest of the set, averaged over disjoint subsets (what a generator
drawing from the reference distribution itself would score with that many structures).

Speed-up over MD: the CPU seconds LAMMPS needs for one structure of the a-Si ``anneal`` protocol (melt, cool at
its rate, the slowest of the 64-atom a-Si sets, hold; the dataset rule's code, run here once) divided by the
sampler's CPU seconds per structure. CPU time, not wall time, so that other jobs on a shared machine change
neither side much.

Part 2 (``--part conditioning``): one AMShortcut trained on all labels of ``small_cells``, generation
conditioned on all properties, on each single one and on none (null embeddings) with the labels of the
training frames as targets; achieved properties after a short refine with the dataset's label functions;
MAE per property and conditioning subset.

Build the datasets first (``snakemake -c2 results/si/datasets/quench.extxyz
[results/sio2/datasets/small_cells.extxyz]``, in any ``--directory``; pass its ``results/`` as ``--results``).
Models already in ``--work``/models/<sde|ode|shortcut>/model.pt are reused (e.g. the workflow's). Timings depend
on the machine and its load: state both with the numbers.
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


def _noise(frames, n):
    """RDF and ADF RMSD of ``n`` reference frames against the others, averaged over disjoint subsets (what a
    generator drawing ``n`` structures from the reference distribution itself would score)."""
    if 2 * n >= len(frames):
        subsets = [(frames[0::2], frames[1::2])]
    else:
        subsets = [(frames[k * n:(k + 1) * n], frames[:k * n] + frames[(k + 1) * n:]) for k in range(len(frames) // n)]
    out = []
    for a, b in subsets:
        (ra, aa), (rb, ab) = _curves(a), _curves(b)
        out.append((distribution_rmsd(ra, rb), distribution_rmsd(aa, ab)))
    return tuple(float(v) for v in np.mean(out, axis=0))


def _minimise(frames, potential: str, work: Path, tag: str):
    """The workflow's raw stage: pairs closer than 1 A pushed apart, then CG at fixed cell (nvt_ps = npt_ps = 0)."""
    from amorphous_ml.simulate.refine import refine_structure

    work.mkdir(parents=True, exist_ok=True)
    out, failed = [], 0
    for k, a in enumerate(frames):
        if len(a) < 2:
            continue
        try:
            out.append(refine_structure(a, potential, temperature=300.0, nvt_ps=0.0, npt_ps=0.0, pressure_bar=0.0,
                                        min_distance=1.0, seed=k + 1, log_path=work / f"{tag}_{k}.log"))
        except RuntimeError as exc:  # push_apart gave up: the workflow's minimise job would fail on it too
            print(f"{tag} structure {k}: {exc}", flush=True)
            failed += 1
    return out, failed


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
    """(frames, CPU seconds, wall seconds) of one sampler call (one thread, model loading included)."""
    if kind == "amden":
        from amorphous_ml.generate.amden import generate_amden as fn
    else:
        from amorphous_ml.generate.amshortcut import generate_amshortcut as fn
    c0, t0 = time.process_time(), time.perf_counter()
    frames, _ = fn(model, n, targets, {"generation": gen}, seed, progress=False)
    return frames, time.process_time() - c0, time.perf_counter() - t0


def md_cpu_seconds(cfg, work: Path) -> float:
    """CPU seconds of LAMMPS making one structure of the a-Si ``anneal`` set (melt, cool at its rate, hold), the
    slowest cooling rate among the 64-atom a-Si sets: the same code as the dataset rule, in this process."""
    from amorphous_ml.simulate.datasets import dataset_part, part_params

    si = {**cfg["systems"]["si"]}
    si["datasets"] = {"anneal": {**si["datasets"]["anneal"], "samples": 1, "samples_per_job": 1}}
    params = part_params(si, "anneal", "p0000")
    c0 = time.process_time()
    dataset_part("si", params, work / "md" / "anneal.extxyz", work / "md" / "logs")
    seconds = time.process_time() - c0
    ds = si["datasets"]["anneal"]
    print(f"MD: one {ds['n_atoms']}-atom anneal structure at {ds['cooling_rate']} K/ps: {seconds:.1f} CPU s", flush=True)
    return seconds


def part_steps(args, cfg):
    import torch

    torch.set_num_threads(1)
    si = cfg["systems"]["si"]
    results = Path(args.results)
    quench = io.read_structures(results / "si/datasets/quench.extxyz")
    work = Path(args.work)
    methods = {"sde": ("amden", si["models"]["amden"]), "ode": ("amshortcut", si["models"]["amshortcut_ode"]),
               "shortcut": ("amshortcut", si["models"]["amshortcut"])}
    methods = {m: v for m, v in methods.items() if m in args.methods}
    models = {m: _train(kind, {**sec, "name": m}, quench, work, args.train_steps) for m, (kind, sec) in methods.items()}
    anneal_file = results / "si/datasets/anneal.extxyz"
    anneal = io.read_structures(anneal_file) if anneal_file.exists() else []  # optional second reference
    q_rdf, q_adf = _curves(quench)
    noise_q = _noise(quench, args.samples)
    a_rdf, a_adf = _curves(anneal) if anneal else (None, None)
    noise_a = _noise(anneal, args.samples) if len(anneal) > 1 else (None, None)
    sets = (("quench", quench), ("anneal", anneal))
    e_ref = {name: [minimized_energy_per_atom(a, si["potential"]) for a in s[: args.samples]]
             for name, s in sets if s} if args.energy else {}
    if args.minimised:
        quench_min, _ = _minimise(quench, si["potential"], work / "minimise", "quench")
        qm_rdf, qm_adf = _curves(quench_min)
        noise_qm = _noise(quench_min, args.samples)
    rows = []
    for steps in args.steps:
        for m, (kind, _) in methods.items():
            # warm-up call (thread pools, graph code paths) outside the timing
            _generate(kind, models[m], 1, None, {"steps": 1}, 0)
            # best of --repeats identical calls (same seeds, same structures): the machine's noise only adds time
            runs = [_generate(kind, models[m], args.samples, None, {"steps": steps, "batch_size": args.batch_size},
                              args.seed) for _ in range(max(1, args.repeats))]
            frames = runs[0][0]
            seconds, wall = min(r[1] for r in runs), min(r[2] for r in runs)
            cpu_all = [1000 * r[1] / len(frames) for r in runs]
            rdf, adf = _curves(frames)
            row = {"method": m, "steps": steps, "n": len(frames),
                   "rdf_rmsd_train": distribution_rmsd(rdf, q_rdf), "adf_rmsd_train": distribution_rmsd(adf, q_adf),
                   **({"rdf_rmsd_anneal": distribution_rmsd(rdf, a_rdf), "adf_rmsd_anneal": distribution_rmsd(adf, a_adf)}
                      if anneal else {}),
                   "cpu_seconds_per_1000": 1000 * seconds / len(frames), "wall_seconds_per_1000": 1000 * wall / len(frames),
                   "cpu_seconds_per_1000_all_repeats": cpu_all,
                   "n_atoms_mean": float(np.mean([len(a) for a in frames]))}
            if args.minimised:
                mins, failed = _minimise(frames, si["potential"], work / "minimise", f"{m}_{steps}")
                rdf_m, adf_m = _curves(mins)
                row.update({"minimise_failed": failed,"rdf_rmsd_train_minimised": distribution_rmsd(rdf_m, q_rdf),
                            "adf_rmsd_train_minimised": distribution_rmsd(adf_m, q_adf),
                            "rdf_rmsd_train_both_minimised": distribution_rmsd(rdf_m, qm_rdf),
                            "adf_rmsd_train_both_minimised": distribution_rmsd(adf_m, qm_adf)})
            if args.energy:
                row["energy_min_eV"] = float(np.mean([minimized_energy_per_atom(a, si["potential"]) for a in frames
                                                      if len(a) > 1]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    # the MD runs after the samplers: LAMMPS in this process leaves OpenMP threads that would count in the
    # samplers' process CPU time (measured: +35 % at one step when the MD ran first)
    md = args.md_seconds if args.md_seconds is not None else md_cpu_seconds(cfg, work)
    for row in rows:
        if md:
            row["speedup_vs_md"] = md / (row["cpu_seconds_per_1000"] / 1000)
            print(f"{row['method']} at {row['steps']} steps: {row['cpu_seconds_per_1000'] / 1000 * 1e3:.2f} CPU ms "
                  f"per structure, speed-up over MD {row['speedup_vs_md']:.3g}", flush=True)
    floors = {"train_minimised": {"rdf": noise_qm[0], "adf": noise_qm[1]}} if args.minimised else {}
    result = {"rows": rows, "noise_floor": {"train": {"rdf": noise_q[0], "adf": noise_q[1]}, **floors,
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
    frames = io.read_structures(Path(args.results) / "sio2/datasets/small_cells.extxyz")
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
            out, _, _ = _generate("amshortcut", model, 1, {p: truth[p] for p in sub} or None, gen, args.seed + k)
            a = out[0]
            if len(a) < 2:
                rows.append({"target_frame": k, "subset": name, "empty": True})
                continue
            ref = refine_structure(a, sio2["potential"], temperature=300.0, nvt_ps=1.0, npt_ps=1.0, pressure_bar=0.0,
                                   min_distance=1.0, seed=args.seed + k, log_path=work / "refine" / f"{k}_{name}.log")
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
    p.add_argument("--methods", nargs="+", choices=["sde", "ode", "shortcut"], default=["sde", "ode", "shortcut"],
                   help="which of the three to train (or reuse) and sample")
    p.add_argument("--train-steps", type=int, default=None, help="override the config's training steps")
    p.add_argument("--energy", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--minimised", action="store_true",
                   help="also score the structures after the workflow's raw stage (push apart + minimisation)")
    p.add_argument("--md-seconds", type=float, default=None,
                   help="MD CPU seconds per anneal structure (default: measured here, one structure)")
    p.add_argument("--targets", type=int, default=3, help="conditioning: training frames used as targets")
    p.add_argument("--cond-steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=9001)
    p.add_argument("--batch-size", type=int, default=8, help="structures per sampler batch")
    p.add_argument("--repeats", type=int, default=3, help="timed sampler calls per row (the fastest is reported)")
    p.add_argument("--results", default=str(ROOT / "results"),
                   help="results/ of a workflow run holding the datasets (e.g. a scratch --directory)")
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
