"""Speed-up of AMShortcut over MD, robust to a machine whose speed drifts: interleaved rounds.

For each round, every model given (``--model NAME=PATH``, e.g. two cutoffs) makes ``--samples`` structures at
``--steps`` Euler steps (one thread, batches of ``--batch-size``, model loading included), and LAMMPS makes
one 64-atom structure of the a-Si ``anneal`` protocol (the dataset rule's code, as ``bench_amshortcut.py``).
Reports per model the min / median / max CPU ms per structure over the rounds and the speed-up of the medians.
Interleaving puts every model and the MD through the same drift; a single pair of timings minutes apart can
differ by 40 % on a shared 2-core machine. LAMMPS in this process leaves OpenMP threads whose CPU time counts
in the samplers' rounds after the first MD (bench_amshortcut.py measured +35 % at one step), so the speed-up is,
if anything, understated.

    python benchmarks/bench_amshortcut_speed.py --model old=/tmp/a/model.pt --model new=/tmp/b/model.pt --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from amorphous_ml import io


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="NAME=PATH of a model.pt (repeat)")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--samples", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--md-rounds", type=int, default=3, help="MD timings (one per round, the first rounds)")
    p.add_argument("--work", default="benchmarks/out/amshortcut_speed")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import torch

    from amorphous_ml.generate.amshortcut import generate_amshortcut
    from bench_amshortcut import _config, md_cpu_seconds

    torch.set_num_threads(1)
    models = dict(m.split("=", 1) for m in args.model)
    gen = {"generation": {"steps": args.steps, "batch_size": args.batch_size}}
    for path in models.values():  # warm-up outside the timing
        generate_amshortcut(path, 1, None, {"generation": {"steps": 1}}, 0, progress=False)
    cpu = {name: [] for name in models}
    md = []
    cfg = _config()
    for r in range(args.rounds):
        for name, path in models.items():
            c0 = time.process_time()
            generate_amshortcut(path, args.samples, None, gen, 9001, progress=False)
            cpu[name].append(1000 * (time.process_time() - c0) / args.samples)
        if r < args.md_rounds:
            md.append(md_cpu_seconds(cfg, Path(args.work) / f"round{r}"))
        print(json.dumps({"round": r, **{k: v[-1] for k, v in cpu.items()}, "md_s": md[-1] if md else None}),
              flush=True)
    md_median = statistics.median(md) if md else None
    result = {"steps": args.steps, "samples": args.samples, "batch_size": args.batch_size, "md_cpu_s": md,
              "md_median_s": md_median, "load_average": os.getloadavg(), "models": {}}
    for name, v in cpu.items():
        med = statistics.median(v)
        result["models"][name] = {"cpu_ms": v, "min": min(v), "median": med, "max": max(v),
                                  "speedup_median": md_median / (med / 1000) if md_median else None}
        print(f"{name}: {min(v):.2f} / {med:.2f} / {max(v):.2f} CPU ms per structure (min / median / max); "
              f"speed-up of the medians over MD ({md_median:.1f} CPU s): {md_median / (med / 1000):.3g}")
    out = Path(args.out or f"{args.work}/speed.json")
    io.write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
