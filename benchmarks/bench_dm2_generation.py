"""DM2 generation cost on this machine, against melt-quench MD with the same potential (paper Fig. 3d).

Prints measured numbers (nothing is asserted):

1. denoiser step time for 3000-atom a-SiO2 (graph build and model separately), the graph share of a
   step, throughput in atom-steps/s, and the wall time of a full generation (``--steps`` model calls,
   default 3000 = 2900 noisy + 100 clean) extrapolated from the measured steps;
2. generation time per step vs atom count (300 ... 100,000) and the fitted exponent t ~ N^k;
3. LAMMPS throughput (katom-step/s, from the log) for 3000-atom BJP a-SiO2 and the melt-quench time
   of the DM2 protocol at 0.01, 0.1, 1 K/ps extrapolated from it, and the speed-up of generation.

    python benchmarks/bench_dm2_generation.py [--model results/sio2/models/dm2/model.pt] [--device cuda]

Without ``--model`` both the paper-size and the laptop-size networks are timed with random weights
(timing does not depend on the weights, only on sizes and the neighbour count at the glass density).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from amorphous_ml.generate.dm2 import Schedule, generate_structures
from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser
from amorphous_ml.learn.train import load_model
from amorphous_ml.simulate.lammps import INPUT_DIR, Accelerator, parse_loop_times, run_lammps
from amorphous_ml.simulate.systems import atom_counts, get_potential, random_packing, write_lammps_data

DENSITY = 2.2
LAPTOP = dict(hidden_irreps="16x0e+8x1o", cutoff=4.0)


def symbols(n):
    counts = atom_counts("SiO2", n)
    return [el for el, k in counts.items() for _ in range(k)]


def time_steps(model, n_atoms, steps, device, batch=1):
    """Median seconds per denoising step (graph, model, whole step) for ``batch`` structures of ``n_atoms``.

    One warm-up step, then ``steps`` separately timed steps; the median resists other jobs on the machine.
    """
    sched = Schedule(noisy_steps=steps + 1, clean_steps=0)
    rows = []
    for k in range(steps + 1):
        t = {}
        generate_structures(model, symbols(n_atoms), list(range(batch)), 1.0, sched, density=DENSITY,
                            device=device, progress=False, timings=t, stop_after=1)
        if k:
            rows.append((t["graph_s"], t["model_s"], t["graph_s"] + t["model_s"]))
    return tuple(float(v) for v in np.median(np.array(rows), axis=0))


def lammps_throughput(n_atoms=3000, steps=300, threads=2):
    """katom-step/s of BJP a-SiO2 MD (NVT at 5000 K after a minimisation), parsed from the LAMMPS log."""
    pot = get_potential("sio2_bjp")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_lammps_data(tmp / "init.data", random_packing(atom_counts("SiO2", n_atoms), DENSITY, seed=1), pot.species)
        # melt_quench.in with only a short NVT melt: the per-step cost is the same in every stage
        run_lammps(INPUT_DIR / "melt_quench.in",
                   dict(data_in=tmp / "init.data", data_out=tmp / "out.data", **pot.lammps_vars(),
                        melt_nvt_ps=steps * 0.001, melt_npt_ps=0, cool_rate=1e9,
                        anneal_ps=0, thermo_every=100),
                   tmp / "log.lammps", accelerator=Accelerator.parse("omp", threads))
        text = (tmp / "log.lammps").read_text()
    # "Loop time of T on P procs for S steps with A atoms" per run; the NVT run is the longest
    nvt = [loop for loop in parse_loop_times(text) if loop.steps == steps][-1]  # the NVT run, not the minimisation
    steps, atoms, seconds = nvt.steps, nvt.atoms, nvt.seconds
    perf = re.findall(r"([0-9.]+) katom-step/s", text)
    print(f"LAMMPS log: {steps} steps x {atoms} atoms in {seconds:.2f} s; katom-step/s lines: {perf}")
    return steps * atoms / seconds / 1e3


def md_protocol_steps(rate_k_per_ps, dt_ps=0.001):
    """DM2 a-SiO2 protocol: 50 ps NVT + 50 ps NPT at 300 K, 50 ps NPT at 5000 K, cool 5000 -> 300 K, 100 ps NPT."""
    return (50 + 50 + 50 + 100) / dt_ps + (5000 - 300) / rate_k_per_ps / dt_ps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="trained model .pt (default: random weights, two sizes)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000, help="model calls of one full generation")
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000, 10000, 30000, 100000])
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = {}
    if args.model:
        models["trained"] = load_model(args.model, device=device)
    else:
        torch.manual_seed(0)
        models["paper-size"] = DM2Denoiser(DM2Config(species=["Si", "O"])).eval()
        models["laptop-size"] = DM2Denoiser(DM2Config(species=["Si", "O"], **LAPTOP)).eval()
    for m in models.values():
        m.cfg.extra = {"density_fit": {"slope": 0.0, "intercept": DENSITY}}
    out = {"device": str(device), "threads": args.threads, "models": {}}

    print(f"== 1. 3000-atom a-SiO2, {args.device}, {args.threads} threads ==")
    for name, model in models.items():
        g, m, wall = time_steps(model, 3000, 5, device)
        per_structure = wall * args.steps
        rec = {"graph_s_per_step": g, "model_s_per_step": m, "step_s": wall, "graph_share": g / (g + m),
               "atom_steps_per_s": 3000 / wall, "generation_s_per_structure": per_structure}
        out["models"][name] = {"n3000": rec}
        print(f"{name:12s} step {wall:.3f} s (graph {g:.4f} s = {100 * g / (g + m):.1f} %), "
              f"{3000 / wall:,.0f} atom-steps/s, generation ({args.steps} steps) {per_structure / 60:.1f} min/structure")

    print("== 2. step time vs atom count ==")
    name = "trained" if "trained" in models else "laptop-size"
    model = models[name]
    sizes, times = [], []
    for n in args.sizes:
        steps = 5 if n <= 10000 else 1
        try:
            g, m, wall = time_steps(model, n, steps, device)
        except RuntimeError as exc:  # out of memory
            print(f"{n:7d} atoms: failed ({str(exc).splitlines()[0]})")
            break
        sizes.append(len(symbols(n)))
        times.append(wall)
        print(f"{sizes[-1]:7d} atoms: {wall:.3f} s/step (graph {100 * g / (g + m):.1f} %), {sizes[-1] / wall:,.0f} atom-steps/s")
    k, _ = np.polyfit(np.log(sizes), np.log(times), 1)
    out["scaling"] = {"model": name, "n_atoms": sizes, "s_per_step": times, "exponent": float(k)}
    big = [i for i, n in enumerate(sizes) if n >= 3000]
    k_big = float(np.polyfit(np.log(np.array(sizes)[big]), np.log(np.array(times)[big]), 1)[0]) if len(big) > 1 else float("nan")
    out["scaling"]["exponent_n_ge_3000"] = k_big
    print(f"fit t ~ N^k: k = {k:.3f} over all sizes, k = {k_big:.3f} for N >= 3000 "
          f"(fixed per-step overhead dominates small cells) ({name} model)")

    print("== 3. melt-quench MD, 3000 atoms, BJP, LAMMPS OPENMP ==")
    katom = lammps_throughput(threads=args.threads)
    out["lammps_katom_step_per_s"] = katom
    print(f"LAMMPS throughput {katom:.1f} katom-step/s")
    gen_s = {n: r["n3000"]["generation_s_per_structure"] for n, r in out["models"].items()}
    out["md"] = {}
    for rate in (0.01, 0.1, 1.0):
        steps = md_protocol_steps(rate)
        md_s = steps * 3000 / (katom * 1e3)
        out["md"][str(rate)] = md_s
        speedups = ", ".join(f"{md_s / s:,.0f}x vs {n}" for n, s in gen_s.items())
        print(f"{rate:5g} K/ps: {steps:.3g} steps, {md_s / 3600:,.1f} h  (generation speed-up {speedups})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
