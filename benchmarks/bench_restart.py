"""What restartable melt-quenches cost: the restart write per interval, and the time a kill loses.

    python benchmarks/bench_restart.py [--atoms 300 3000] [--steps 3000] [--every 100] [--rounds 3]

The melt-quench input (lammps_inputs/melt_quench.in) runs a glass (from a short melt-quench made once,
so the minimisation converges at once) through its stages for ``--steps`` MD steps in three variants,
each a fresh ``python -c 'run_lammps(...)'`` process timed from outside, in rotated order every round:

* plain:   no restart files (``restart_every 0``);
* restart: a restart file every ``--every`` steps (write_restart to a temporary name + rename, and
  the re-initialisation of the next chunk: a neighbour-list build and one force evaluation);
* resume:  the restart file of the last step read back (``resume 1``): everything a resumed job
  pays before its first new MD step (interpreter, imports, read_restart, setup), plus writing the glass.

Reported (median over rounds): per restart interval, the extra time each run spends outside LAMMPS's MD
loop ("Loop time" lines), (fixed_restart - fixed_plain) / intervals, in ms and as MD steps of the same run
(a ratio, which machine load changes far less than seconds); the fixed cost of a
resumption; and the expected time a kill loses, half an interval of MD on average (a whole one at
most) plus that fixed cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amorphous_ml.simulate.lammps import INPUT_DIR, parse_loop_times  # noqa: E402
from amorphous_ml.simulate.systems import get_potential, write_lammps_data  # noqa: E402

RUN = """
import sys, json
sys.path.insert(0, {root!r})
from amorphous_ml.simulate.lammps import run_lammps
run_lammps({input!r}, json.loads({vars!r}), {log!r})
"""


def _glass(n_atoms: int, work: Path) -> Path:
    """A 10,000 K/ps BJP a-SiO2 glass of n_atoms (seconds), the start of every run."""
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.protocols import melt_quench

    s = load_config()["systems"]["sio2"]
    s = dict(s, n_atoms=n_atoms, melt=dict(s["melt"], nvt_ps=0.5, npt_ps=0.5),
             quench=dict(s["quench"], anneal_ps=0.5))
    g = melt_quench("bench", s, "SiO2", 10000, 1, work / "g.extxyz", work / "g.data", work / "g.log")
    write_lammps_data(work / "start.data", g, ("Si", "O"))
    return work / "start.data"


def _variables(data: Path, work: Path, steps: int, every: int, resume: bool) -> dict:
    pot = get_potential("sio2_bjp")
    third = steps // 3  # melt NVT, melt NPT, cooling from 5000 K over the rest; no anneal
    return {
        **{k: str(v) for k, v in pot.lammps_vars().items()}, "data_in": str(data),
        "data_out": str(work / "out.data"), "dt": 0.001, "t_melt": 5000, "t_final": 300,
        "melt_nvt_ps": third * 0.001, "melt_npt_ps": third * 0.001,
        "cool_rate": 4700 / ((steps - 2 * third) * 0.001), "anneal_ps": 0, "thermo_every": 1000,
        "restart_every": every, "restart_file": str(work / "mq.restart"),
        "resume": int(resume), "restart_in": str(work / "mq.restart"),
    }


def _timed(variables: dict, log: Path, threads: int) -> tuple[float, float]:
    code = RUN.format(root=str(ROOT), input=str(INPUT_DIR / "melt_quench.in"), vars=json.dumps(variables),
                      log=str(log))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    wall = time.perf_counter() - t0
    loop = sum(lt.seconds for lt in parse_loop_times(log.read_text()))
    return wall, loop


def bench(n_atoms: int, steps: int, every: int, rounds: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        tmp = Path(tmp)
        data = _glass(n_atoms, tmp)
        rows = {"plain": [], "restart": [], "resume": []}
        order = list(rows)
        last_restart = None
        for r in range(rounds):
            for name in order[r % 3:] + order[: r % 3]:
                work = tmp / f"{name}{r}"
                work.mkdir()
                if name == "resume":  # the last-step restart file of the latest restart run
                    if last_restart is None:
                        _timed(_variables(data, work, steps, every, False), work / "prep.log", threads)
                    else:
                        (work / "mq.restart").write_bytes(last_restart.read_bytes())
                    rows[name].append(_timed(_variables(data, work, steps, every, True), work / "log", threads))
                else:
                    rows[name].append(_timed(_variables(data, work, steps, every if name == "restart" else 0,
                                                        False), work / "log", threads))
                    if name == "restart":
                        last_restart = work / "mq.restart"
        n_intervals = sum(-(-n // every) for n in (steps // 3, steps // 3, steps - 2 * (steps // 3)))
        plain_wall = statistics.median(w for w, _ in rows["plain"])
        restart_wall = statistics.median(w for w, _ in rows["restart"])
        # the MD loop is the same work in both variants and what machine load inflates most: compare what
        # each run spends outside it (process start, setups, I/O), paired by round
        paired = [((rw - rl) - (pw - pl)) / n_intervals for (rw, rl), (pw, pl) in zip(rows["restart"], rows["plain"])]
        in_steps = [((rw - rl) - (pw - pl)) / n_intervals / (rl / steps)
                    for (rw, rl), (pw, pl) in zip(rows["restart"], rows["plain"])]
        per_step = statistics.median(loop for _, loop in rows["plain"]) / steps
        per_interval = statistics.median(paired)
        resume_fixed = statistics.median(w for w, _ in rows["resume"])
        restart_bytes = last_restart.stat().st_size if last_restart is not None else None
        return {
            "atoms": n_atoms, "steps": steps, "every": every, "rounds": rounds, "threads": threads,
            "intervals": n_intervals, "plain_wall_s": round(plain_wall, 3), "restart_wall_s": round(restart_wall, 3),
            "md_step_ms": round(1e3 * per_step, 4),
            "restart_cost_ms_per_interval": round(1e3 * per_interval, 2),
            "restart_cost_md_steps_per_interval": round(statistics.median(in_steps), 2),
            "restart_overhead_percent": round(100 * statistics.median(in_steps) / every, 2),
            "restart_file_bytes": restart_bytes,
            "resume_fixed_s": round(resume_fixed, 3),
            "lost_per_kill_mean_s": round(0.5 * every * per_step + resume_fixed, 3),
            "lost_per_kill_max_s": round(every * per_step + resume_fixed, 3),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[300, 3000])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=100, help="MD steps between restart files")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    for n in args.atoms:
        print(json.dumps(bench(n, args.steps, args.every, args.rounds, args.threads)), flush=True)


if __name__ == "__main__":
    main()
