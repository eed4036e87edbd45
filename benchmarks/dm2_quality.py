"""Train -> generate -> refine a-SiO2 with the DM2 settings of a config, and measure the refined structures.

Runs the same CLI commands as the Snakemake rules (train, generate, refine) on a set of
simulated glasses and prints, per refined structure, the fraction of four-coordinated Si (Si-O
cutoff 2.0 Å) and the shortest interatomic distance; the issue asks for >= 90 % and > 1.2 Å.

    python benchmarks/dm2_quality.py --glasses results/sio2/glasses/*.extxyz --work /tmp/dm2q
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from matscipy.neighbours import neighbour_list

from amorphous_ml.cli import main as cli
from amorphous_ml.config import load_config
from amorphous_ml.io import read_structure
from amorphous_ml.registry import generation_params, training_params
from amorphous_ml.samples import sample_name


def si_coordination(atoms, cutoff=2.0):
    sym = np.array(atoms.get_chemical_symbols())
    i, j = neighbour_list("ij", atoms, cutoff)
    cn = np.bincount(i[(sym[i] == "Si") & (sym[j] == "O")], minlength=len(atoms))[sym == "Si"]
    return float(np.mean(cn == 4)), float(neighbour_list("d", atoms, 3.0).min())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--glasses", nargs="+", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--config", default=None, help="workflow config (default: the embedded config.yaml)")
    ap.add_argument("--system", default="sio2")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cfg = load_config(args.config)
    system = cfg["systems"][args.system]
    dm2 = system["models"]["dm2"]
    work = Path(args.work)
    t0 = time.perf_counter()
    assert cli(["train", "--kind", "dm2", "--name", "dm2", "--inputs", *args.glasses, "--species", "Si", "O",
                "--params-json", json.dumps(training_params("dm2", dm2)), "--out", str(work / "model.pt"), "--work-dir",
                str(work / "train"), "--threads", str(args.threads), "--no-progress"]) == 0
    t_train = time.perf_counter() - t0
    rows = []
    for rate in dm2["target_cooling_rates"]:
        for k in range(dm2["samples_per_rate"]):
            sid = sample_name("SiO2", {"cooling_rate": rate}, dm2["seed"] + k)
            gen, ref = work / "generated" / f"{sid}.extxyz", work / "refined" / f"{sid}.extxyz"
            t1 = time.perf_counter()
            assert cli(["generate", "--model", str(work / "model.pt"), "--name", "dm2", "--samples", sid,
                        "--out", str(gen), "--params-json", json.dumps(generation_params("dm2", dm2)), "--threads", str(args.threads),
                        "--no-progress"]) == 0
            t2 = time.perf_counter()
            assert cli(["refine", "--input", str(gen), "--potential", system["potential"], "--params-json",
                        json.dumps({"refine": dm2["refine"]}), "--out-extxyz", str(ref), "--out-data",
                        str(ref.with_suffix(".data")), "--log", str(ref.with_suffix(".log")),
                        "--accelerator", "omp", "--threads", str(args.threads)]) == 0
            t3 = time.perf_counter()
            raw, refined = read_structure(gen), read_structure(ref)
            rows.append((sid, *si_coordination(raw), *si_coordination(refined), refined.info["density_gcc"],
                         t2 - t1, t3 - t2))
    print(f"training: {t_train:.0f} s")
    print("sample                 Si4(gen)  dmin(gen)  Si4(refined)  dmin(refined)  rho_target  gen_s  refine_s")
    for r in rows:
        print(f"{r[0]:22s} {r[1]:8.3f} {r[2]:10.3f} {r[3]:13.3f} {r[4]:14.3f} {r[5]:11.3f} {r[6]:6.0f} {r[7]:9.0f}")
    ok = all(r[3] >= 0.9 and r[4] > 1.2 for r in rows)
    print("criterion (>= 90 % four-coordinated Si, no pair < 1.2 A):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
