"""MD throughput of each shipped potential vs the neighbour-list skin (no physics: list size vs rebuilds).

    python benchmarks/bench_neighbor_skin.py [--skins 2.0 1.5 1.0 0.5] [--ps 2] [--rounds 2]

For every system of the default config (its first composition, atom count, density, timestep and melt
temperature) one random packing runs the melt-quench input with ``--ps`` ps per stage (NVT and NPT at
the melt temperature, cooling to 300 K, anneal): three quarters of the steps are hot, where atoms move
fastest and lists are rebuilt most often. LAMMPS's loop time (``Loop time of ...``, minimisation
excluded) gives steps/s; ``Neighbor list builds`` counts rebuilds. Rounds run the skins in rotated
order so that drift of the machine falls on all alike; the table shows the median over rounds.
With ``neigh_modify every 1 delay 0 check yes`` every skin gives the same dynamics (a list is rebuilt
as soon as an atom has moved half the skin), so the fastest skin can be chosen freely.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from amorphous_ml.config import load_config
from amorphous_ml.simulate.lammps import INPUT_DIR, Accelerator, parse_loop_times, run_lammps
from amorphous_ml.simulate.systems import atom_counts, get_potential, random_packing, write_lammps_data

BUILDS = re.compile(r"^Neighbor list builds = (\d+)", re.M)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skins", type=float, nargs="+", default=[2.0, 1.5, 1.0, 0.5])
    ap.add_argument("--ps", type=float, default=2.0, help="ps per stage")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--systems", nargs="*", default=None, help="default: every system of config.yaml")
    args = ap.parse_args()
    systems = load_config()["systems"]
    acc = Accelerator.parse("omp", args.threads)
    print(f"{'system':8s} {'skin':>5s} {'steps/s':>9s} {'rel.':>6s} {'builds':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.systems or systems:
            s = systems[name]
            pot = get_potential(s["potential"])
            start = random_packing(atom_counts(s["compositions"][0], s["n_atoms"]), s["initial_density"],
                                   s["box_aspect"], seed=1)
            write_lammps_data(tmp / "init.data", start, pot.species)
            t_melt = s["melt"]["temperature"]
            base = dict(data_in=tmp / "init.data", data_out=tmp / "out.data", **pot.lammps_vars(), seed=1, dt=s["timestep_ps"], t_melt=t_melt,
                        t_final=300, melt_nvt_ps=args.ps, melt_npt_ps=args.ps, cool_rate=(t_melt - 300) / args.ps,
                        anneal_ps=args.ps)
            rate: dict[float, list[float]] = {k: [] for k in args.skins}
            builds: dict[float, list[int]] = {k: [] for k in args.skins}
            for r in range(args.rounds):
                order = args.skins[r % len(args.skins):] + args.skins[:r % len(args.skins)]
                for skin in order:
                    log = tmp / f"{name}_{skin}.log"
                    run_lammps(INPUT_DIR / "melt_quench.in", dict(base, skin=skin), log, accelerator=acc)
                    text = log.read_text()
                    loops = parse_loop_times(text)[1:]  # the first loop is the minimisation
                    rate[skin].append(sum(x.steps for x in loops) / sum(x.seconds for x in loops))
                    builds[skin].append(sum(int(b) for b in BUILDS.findall(text)[1:]))
            ref = statistics.median(rate[args.skins[0]])
            for skin in args.skins:
                med = statistics.median(rate[skin])
                print(f"{name:8s} {skin:5.2f} {med:9.0f} {med / ref:6.2f} {statistics.median(builds[skin]):7.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
