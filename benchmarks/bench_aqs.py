"""Cost of one 12-mode AQS evaluation per atom count, and how alike the modes' ln(D2min) labels are.

    python benchmarks/bench_aqs.py scaling [--sizes 250 500 1000] [--modes shear_xy_plus] [--out f.json]
    python benchmarks/bench_aqs.py labels results/cuzr/aqs/*.extxyz [--strain 0.05]
    python benchmarks/bench_aqs.py dag results/cuzr/benchmarks/aqs

``scaling``: for each size a Cu50Zr50 glass (melt-quench at 500 K/ps, 2 + 2 ps melt at 2000 K) is deformed
in ``--modes`` with the laptop settings (2.5e-3 steps to ``--coarse-strain``, 14 %, ftol 1e-5) and with the paper's 1e-4 steps
over the first ``--fine-strain`` (1 %). Counted from the LAMMPS log (load cannot change them): CG force
evaluations per strain step; timed (the machine's load changes it): LAMMPS loop seconds per
atom-evaluation. The paper's evaluation (16,000 atoms, 1e-4 steps to 14 %, 12 modes) is *extrapolated*:
evaluations per step fitted as a power of N and multiplied by 1400 steps x 12 modes x the per-atom cost.
Two estimates bracket it: the fine-step count of the 0-1 % window (mostly elastic steps, a low estimate),
and that count scaled by the ratio of the coarse run's mean over its whole range to its mean over the
fine window (plastic steps cost more; a high estimate).

``labels``: at one label strain, the spread of ln(D2min) between modes (per-atom standard deviation over
the 12 modes, averaged over atoms), the spread between atoms of the mode average, and the Pearson
correlation between modes (every pair, and each mode against the mean of the other 11).

``dag``: per sample, the summed job times of the 12 ``aqs_mode`` jobs of a workflow run (Snakemake's
benchmark files): the CPU time of one 12-mode evaluation at the configured size.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import resource
import statistics
import tempfile
from pathlib import Path

import numpy as np

EVALS = re.compile(r"Iterations, force evaluations = (\d+) (\d+)")


def _glass(n: int, tmp: Path, seed: int = 1):
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.protocols import melt_quench

    system = copy.deepcopy(load_config()["systems"]["cuzr"])
    system.update(n_atoms=n, melt={"temperature": 2000, "nvt_ps": 2, "npt_ps": 2},
                  quench={"final_temperature": 300, "anneal_ps": 2, "pressure_bar": 0.0})
    glass = melt_quench("cuzr", system, "Cu50Zr50", 500, seed, tmp / f"g{n}.extxyz", tmp / f"g{n}.data",
                        tmp / f"g{n}.log")
    return system, glass


def _run(system, glass, mode, step, max_strain, log, threads):
    from amorphous_ml.simulate.aqs import run_aqs_mode
    from amorphous_ml.simulate.lammps import Accelerator, parse_loop_times
    from amorphous_ml.simulate.protocols import LammpsSettings

    s = dict(system, aqs={"strain_step": step, "max_strain": max_strain, "label_strains": [step],
                          "minimize": {"etol": 0.0, "ftol": 1e-5, "maxiter": 50000, "maxeval": 500000, "dmax": 0.1}})
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    _, curve = run_aqs_mode(s, glass, mode, log, LammpsSettings(Accelerator.parse("omp", threads)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)  # in-process LAMMPS
    text = Path(log).read_text()
    evals = np.array([int(e) for _, e in EVALS.findall(text)])
    loops = parse_loop_times(text)
    seconds = sum(lp.seconds for lp in loops)
    return {"evals_per_step": evals[1:].tolist(), "loop_s": seconds, "cpu_s": cpu,
            "s_per_atom_eval": seconds / (evals.sum() * len(glass)),
            "cpu_s_per_atom_eval": cpu / (evals.sum() * len(glass)), "strain": curve["strain"].tolist()}


def scaling(args) -> dict:
    out = {"sizes": {}, "load_note": "timed while other helpers loaded the 2-core machine (see README)"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.sizes:
            system, glass = _glass(n, tmp)
            rec = {"n_atoms": len(glass)}
            for mode in args.modes:
                coarse = _run(system, glass, mode, 2.5e-3, args.coarse_strain, tmp / f"c{n}{mode}.log", args.threads)
                fine = _run(system, glass, mode, 1e-4, args.fine_strain, tmp / f"f{n}{mode}.log", args.threads)
                c = np.array(coarse["evals_per_step"])
                k = int(round(args.fine_strain / 2.5e-3))
                rec[mode] = {
                    "coarse_evals_per_step_mean": float(c.mean()), "coarse_evals_per_step_window": float(c[:k].mean()),
                    "fine_evals_per_step_window": float(np.mean(fine["evals_per_step"])),
                    "coarse_loop_s": coarse["loop_s"], "fine_loop_s": fine["loop_s"],
                    "coarse_cpu_s": coarse["cpu_s"], "fine_cpu_s": fine["cpu_s"],
                    "s_per_atom_eval": (coarse["loop_s"] + fine["loop_s"]) / (
                        (c.sum() + sum(fine["evals_per_step"])) * len(glass)),
                    "cpu_s_per_atom_eval": (coarse["cpu_s"] + fine["cpu_s"]) / (
                        (c.sum() + sum(fine["evals_per_step"])) * len(glass)),
                }
                print(f"N={len(glass):6d} {mode}: evals/step 2.5e-3 {c.mean():7.1f} (0-{args.fine_strain:g} "
                      f"{c[:k].mean():6.1f}), 1e-4 over 0-{args.fine_strain:g} {rec[mode]['fine_evals_per_step_window']:6.1f}; "
                      f"{rec[mode]['s_per_atom_eval'] * 1e6:.2f} us wall, {rec[mode]['cpu_s_per_atom_eval'] * 1e6:.2f} us CPU "
                      f"per atom-evaluation; coarse run {coarse['loop_s']:.1f} s wall, {coarse['cpu_s']:.1f} s CPU", flush=True)
            out["sizes"][len(glass)] = rec
    ns = np.array(sorted(out["sizes"]), float)

    def fit(key):
        y = np.array([np.mean([out["sizes"][int(n)][m][key] for m in args.modes]) for n in ns])
        slope, icpt = np.polyfit(np.log(ns), np.log(y), 1)
        return lambda n: float(np.exp(icpt) * n ** slope), float(slope)

    fine, b_fine = fit("fine_evals_per_step_window")
    coarse_all, _ = fit("coarse_evals_per_step_mean")
    coarse_win, _ = fit("coarse_evals_per_step_window")
    # CPU seconds: the machine's load stretches wall time, much less the CPU time of the work itself
    cost = statistics.median(out["sizes"][int(n)][m]["cpu_s_per_atom_eval"] for n in ns for m in args.modes)
    target, steps, modes = args.target_atoms, int(round(0.14 / 1e-4)), 12
    low = fine(target) * steps * modes * target * cost
    high = low * coarse_all(target) / coarse_win(target)
    default = {int(n): np.mean([out["sizes"][int(n)][m]["coarse_cpu_s"] for m in args.modes]) * 12
               * (0.14 / args.coarse_strain) for n in ns}
    out["extrapolation"] = {
        "target_atoms": target, "steps": steps, "modes": modes, "fine_evals_per_step_exponent": b_fine,
        "fine_evals_per_step_at_target": fine(target), "s_per_atom_eval_median": cost,
        "cpu_hours_low": low / 3600, "cpu_hours_high": high / 3600,
        "laptop_12_mode_cpu_s_by_size": default,
    }
    print(f"extrapolated (not measured): {target} atoms, 1e-4 steps to 14 %, 12 modes: "
          f"{fine(target):.0f} evaluations per step (N^{b_fine:.2f}), {cost * 1e6:.2f} us CPU per atom-evaluation -> "
          f"{low / 3600:.0f}-{high / 3600:.0f} CPU hours (one thread)")
    for n, s in default.items():
        print(f"12-mode evaluation at laptop settings, {n} atoms: {s:.0f} CPU s (one thread"
              f"{'' if args.coarse_strain == 0.14 else f', scaled from 0-{args.coarse_strain:g} to 0-0.14'})")
    return out


def labels(args) -> dict:
    from amorphous_ml import io
    from amorphous_ml.validate.aqs import label_name

    rows = []
    for f in args.files:
        a = io.read_structure(f)
        modes = a.info["aqs_modes"]
        L = np.array([a.arrays[label_name(args.strain, m)] for m in modes])
        ok = np.isfinite(L).all(axis=0)
        L = L[:, ok]
        mean = L.mean(axis=0)
        C = np.corrcoef(L)
        pairs = C[np.triu_indices(len(modes), 1)]
        loo = [np.corrcoef(L[i], (L.sum(axis=0) - L[i]) / (len(modes) - 1))[0, 1] for i in range(len(modes))]
        rec = {"file": str(f), "n_atoms": int(ok.sum()), "strain": args.strain,
               "mode_spread_per_atom": float(L.std(axis=0, ddof=1).mean()),
               "atom_spread_of_mode_mean": float(mean.std(ddof=1)),
               "mode_means": dict(zip(modes, L.mean(axis=1).round(3).tolist())),
               "pair_corr_mean": float(pairs.mean()), "pair_corr_min": float(pairs.min()),
               "pair_corr_max": float(pairs.max()),
               "mode_vs_rest_corr_mean": float(np.mean(loo)), "mode_vs_rest_corr_min": float(np.min(loo))}
        rows.append(rec)
        print(f"{Path(f).name}: {rec['n_atoms']} atoms at strain {args.strain:g}: ln(D2min) spread between modes "
              f"{rec['mode_spread_per_atom']:.2f} (per atom), between atoms of the mode mean "
              f"{rec['atom_spread_of_mode_mean']:.2f}; Pearson r between modes {rec['pair_corr_mean']:.2f} "
              f"(min {rec['pair_corr_min']:.2f}, max {rec['pair_corr_max']:.2f}); mode vs mean of the other 11 "
              f"{rec['mode_vs_rest_corr_mean']:.2f} (min {rec['mode_vs_rest_corr_min']:.2f})")
    return {"labels": rows}


def dag(args) -> dict:
    import pandas as pd

    root = Path(args.benchmarks)
    out = {}
    for sample in sorted(p for p in root.iterdir() if p.is_dir()):
        tables = {f.stem: pd.read_csv(f, sep="\t") for f in sample.glob("*.tsv") if f.stem != "labels"}
        times = {k: float(t["s"].iloc[0]) for k, t in tables.items()}
        cpu = {k: float(t["cpu_time"].iloc[0]) for k, t in tables.items()}
        lab = sample / "labels.tsv"
        out[sample.name] = {"modes": len(times), "mode_s_sum": sum(times.values()), "mode_s_max": max(times.values()),
                            "mode_cpu_s_sum": sum(cpu.values()), "mode_cpu_s": cpu,
                            "labels_s": float(pd.read_csv(lab, sep="\t")["s"].iloc[0]) if lab.exists() else None}
        print(f"{sample.name}: {len(times)} mode jobs, {sum(times.values()):.0f} s wall summed (longest "
              f"{max(times.values()):.0f} s), {sum(cpu.values()):.0f} s CPU summed; labels "
              f"{out[sample.name]['labels_s']} s wall")
    return {"dag": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("scaling")
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    p.add_argument("--modes", nargs="+", default=["shear_xy_plus"])
    p.add_argument("--fine-strain", type=float, default=0.01, help="strain window of the 1e-4-step runs")
    p.add_argument("--coarse-strain", type=float, default=0.14, help="last strain of the 2.5e-3-step runs")
    p.add_argument("--target-atoms", type=int, default=16000)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=scaling)
    p = sub.add_parser("labels")
    p.add_argument("files", nargs="+")
    p.add_argument("--strain", type=float, default=0.05)
    p.set_defaults(func=labels)
    p = sub.add_parser("dag")
    p.add_argument("benchmarks", help="results/<system>/benchmarks/aqs")
    p.set_defaults(func=dag)
    for p in sub.choices.values():
        p.add_argument("--out", default=None, help="write the figures as JSON")
    args = ap.parse_args()
    result = args.func(args)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
