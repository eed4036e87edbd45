"""AMDEN cost on the CPU at the laptop config's sizes: training CPU seconds per step and generation CPU
seconds per structure (standard and HMC energy variant), through the registry (the code the rules run).

    python benchmarks/bench_amden_cost.py FRAMES.extxyz [--system si] [--model amden amden_hmc] [--steps 20]

FRAMES: a dataset file (e.g. results/si/datasets/quench.extxyz). Times are ``time.process_time()`` of this
single-threaded process (torch 1 thread), so load from other processes on a shared machine changes them
little (it still costs cache); wall times are printed beside them. Training cost is extrapolated from
``--steps`` steps to the config's ``training.steps`` (the loop's cost per step is constant).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from amorphous_ml import registry
from amorphous_ml.config import load_config
from amorphous_ml.generate.batch import generate_samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("frames", help="training frames (extxyz)")
    ap.add_argument("--system", default="si")
    ap.add_argument("--model", nargs="+", default=["amden", "amden_hmc"])
    ap.add_argument("--steps", type=int, default=20, help="training steps to time")
    ap.add_argument("--samples", type=int, default=2, help="structures to generate per model")
    args = ap.parse_args()
    torch.set_num_threads(1)
    system = load_config()["systems"][args.system]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.model:
            section = system["models"][name]
            kind = registry.section_kind(name, section)
            params = registry.training_params(name, section)
            full_steps = params["training"]["steps"]
            params = {**params, "training": {**params["training"], "steps": args.steps, "val_every": args.steps,
                                             "checkpoint_every": args.steps}}
            model = Path(tmp) / f"{name}.pt"
            c0, w0 = time.process_time(), time.perf_counter()
            kind.train([args.frames], model, Path(tmp) / f"work_{name}", params, ["Si"], progress=False)
            train_cpu, train_wall = time.process_time() - c0, time.perf_counter() - w0
            gen = registry.generation_params(name, section)
            reqs = registry.model_requests(system, name, section)[: args.samples]
            outs = [Path(tmp) / f"{name}_{r.sample}.extxyz" for r in reqs]
            c0, w0 = time.process_time(), time.perf_counter()
            frames = generate_samples(model, name, [r.sample for r in reqs], outs, gen, system=args.system,
                                      progress=False)
            gen_cpu, gen_wall = time.process_time() - c0, time.perf_counter() - w0
            out[name] = {
                "train_cpu_s_per_step": train_cpu / args.steps, "train_wall_s_per_step": train_wall / args.steps,
                "train_cpu_s_config": train_cpu / args.steps * full_steps, "config_steps": full_steps,
                "gen_cpu_s_per_structure": gen_cpu / len(frames), "gen_wall_s_per_structure": gen_wall / len(frames),
                "gen_steps": gen["generation"].get("steps"), "hmc": bool(gen["generation"].get("hmc", {}).get("enabled")),
                "atoms": [len(a) for a in frames],
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
