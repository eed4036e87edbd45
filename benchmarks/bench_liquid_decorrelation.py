"""How far apart must the snapshots of the a-Si `melt` set be? Measured on the SW liquid at 2500 K.

Runs the dataset liquid protocol (``amorphous_ml.simulate.datasets.liquid_snapshots``, the same input the
`melt` rule runs) with snapshots every ``--every`` ps and reports, from the snapshots:

* the self-diffusion coefficient D (slope of the MSD since the start of production / 6) and the time for
  the MSD to reach one nearest-neighbour distance squared (2.35 A)^2: after it every atom has, on average,
  left its neighbour shell, so the local structure is renewed;
* the integrated autocorrelation time of the potential energy per atom (tau_int = dt (1/2 + sum_k rho_k),
  summed to the first negative rho_k).

Both are load-independent physics (step counts, not seconds).

    python benchmarks/bench_liquid_decorrelation.py --atoms 64 256 --ps 20
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def measure(n_atoms: int, total_ps: float, every_ps: float, seed: int, temperature: float) -> dict:
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.datasets import generation_params, liquid_snapshots

    cfg = load_config()
    si = cfg["systems"]["si"]
    ds = dict(si["datasets"]["melt"], n_atoms=n_atoms, samples=int(round(total_ps / every_ps)),
              snapshot_every_ps=every_ps, seed=seed)
    ds["melt"] = dict(ds["melt"], temperature=temperature)
    si = dict(si, datasets={"melt": ds})
    with tempfile.TemporaryDirectory() as tmp:
        frames = liquid_snapshots("si", generation_params(si, "melt"), Path(tmp) / "liquid.extxyz",
                                  Path(tmp) / "liquid.log")
    t = np.array([f.info["time_ps"] for f in frames])
    t = t - t[0] + every_ps
    msd = np.array([f.info["msd_A2"] for f in frames])
    e = np.array([f.get_potential_energy() / len(f) for f in frames])
    late = t > 0.5  # past the ballistic regime
    slope = np.polyfit(t[late], msd[late], 1)[0]
    t_bond = float(np.interp(2.35**2, msd, t)) if msd.max() > 2.35**2 else float("nan")
    x = e - e.mean()
    rho = np.correlate(x, x, "full")[len(x) - 1:] / (x @ x)
    k_end = int(np.argmax(rho < 0)) if (rho < 0).any() else len(rho)
    tau = every_ps * (0.5 + rho[1:k_end].sum())
    return {"n_atoms": n_atoms, "T_K": temperature, "D_A2_per_ps": slope / 6, "t_msd_bond2_ps": t_bond,
            "tau_int_energy_ps": float(tau), "frames": len(frames), "every_ps": every_ps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--atoms", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--ps", type=float, default=20.0, help="production time (ps)")
    ap.add_argument("--every", type=float, default=0.1, help="snapshot interval (ps)")
    ap.add_argument("--temperature", type=float, default=2500.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    for n in args.atoms:
        r = measure(n, args.ps, args.every, args.seed, args.temperature)
        print(f"{r['n_atoms']:4d} atoms, {r['T_K']:.0f} K: D = {r['D_A2_per_ps']:.2f} A^2/ps, MSD reaches "
              f"(2.35 A)^2 after {r['t_msd_bond2_ps']:.2f} ps, energy autocorrelation time "
              f"{r['tau_int_energy_ps']:.3f} ps ({r['frames']} snapshots every {r['every_ps']} ps)")


if __name__ == "__main__":
    main()
