"""Melt-quench jobs of the real workflow go through a real Slurm (single node on localhost) with the
cluster profile, and give the same glasses as a local run.

Slurm is installed and started by tests/slurm/start_slurm.sh (Debian slurm-wlm + munge); the test skips
only where those packages cannot be installed. Job history comes from ``squeue --states=all`` /
``scontrol show job`` (no slurmdbd here, so no sacct; the profile's jobs use the squeue status command).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import units

import slurm_cluster  # tests/slurm_cluster.py
from amorphous_ml.config import workflow_config
from amorphous_ml.io import read_structures
from amorphous_ml.simulate.params import job_resources, melt_quench_atom_steps
from amorphous_ml.simulate.lammps import parse_thermo_yaml

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "tests" / "configs" / "slurm.yaml"
SAMPLES = ("Si_1000Kps_s11", "Si_1000Kps_s12")  # tests/configs/slurm.yaml: si, 1000 K/ps, seeds 11 and 12
SW_DIAMOND_EV_PER_ATOM = -4.3366  # Stillinger-Weber silicon ground state (diamond), eV/atom


def snakemake(workdir: Path, *args: str, configs=(), env=None, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args,
           "--configfile", str(CONFIG), *map(str, configs)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir, env=env)


@pytest.fixture(scope="module")
def slurm():
    try:
        return slurm_cluster.start_slurm()
    except slurm_cluster.SlurmUnavailable as exc:
        pytest.skip(f"a local Slurm cannot be installed here: {exc}")


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    """Two melt-quench jobs submitted with profiles/slurm (threads 1: the machine has 2 real cores)."""
    workdir = tmp_path_factory.mktemp("slurm_run")
    targets = [f"results/si/glasses/{s}.extxyz" for s in SAMPLES]
    proc = snakemake(
        workdir, *targets, "--profile", str(REPO / "profiles" / "slurm"),
        "--set-threads", "melt_quench=1",
        # facts of this test cluster, not of the profile: no accounting database, no accounts
        "--slurm-status-command", "squeue", "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs",
        "--latency-wait", "5", "--retries", "0",
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    run_id = re.search(r"SLURM run ID: (\S+)", log)
    assert run_id, log[-2000:]
    return workdir, run_id.group(1), log


def test_melt_quench_jobs_were_submitted_through_sbatch_with_the_profile_resources(slurm_run):
    workdir, run_id, log = slurm_run
    config = workflow_config([CONFIG])
    si = config["systems"]["si"]
    expected = job_resources(config, "melt_quench", melt_quench_atom_steps(si, 1000), si["n_atoms"], 1, "si_sw")
    jobs = slurm_cluster.jobs_named(run_id)
    assert len(jobs) == len(SAMPLES), (jobs, log[-2000:])
    comments = sorted(j["comment"] for j in jobs)
    assert comments == [f"rule_melt_quench_wildcards_si_Si_1000_{seed}" for seed in (11, 12)]
    for job in jobs:
        info = slurm_cluster.show_job(job["job_id"])
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0"
        assert info["Partition"] == "cpu"  # default-resources slurm_partition
        assert info["NumCPUs"] == "1"  # threads -> --cpus-per-task
        # mem_mb and runtime from the MD cost model (job_resources; the profile sets none for LAMMPS rules)
        assert info["MinMemoryNode"] == f"{expected['mem_mb']}M"
        hours, minutes = divmod(expected["runtime"], 60)
        assert info["TimeLimit"] == f"{hours:02d}:{minutes:02d}:00"
        assert Path(info["WorkDir"]).resolve() == workdir.resolve()
        # the job's own log (kept with --slurm-keep-successful-logs) shows the rule ran inside that job
        job_log = Path(info["StdOut"]).read_text()
        assert "rule melt_quench" in job_log and "Finished jobid" in job_log


def test_slurm_glasses_are_amorphous_silicon_with_their_metadata(slurm_run):
    workdir, _, _ = slurm_run
    for sample in SAMPLES:
        (glass,) = read_structures(workdir / "results" / "si" / "glasses" / f"{sample}.extxyz")
        assert len(glass) == 64 and set(glass.get_chemical_symbols()) == {"Si"}
        assert glass.info["cooling_rate"] == 1000 and glass.info["source"] == "simulated"
        assert glass.info["seed"] == int(sample.rsplit("_s", 1)[1])
        lammps_log = (workdir / "logs" / "si" / "melt_quench" / f"{sample}.lammps.log").read_text()
        e = parse_thermo_yaml(lammps_log)[-1]["PotEng"][-1] / len(glass)
        # bound, and above the diamond ground state: a quenched glass, not a crystal or an exploded box
        assert SW_DIAMOND_EV_PER_ATOM < e < SW_DIAMOND_EV_PER_ATOM + 0.5
        density = glass.get_masses().sum() / units.mol / (glass.get_volume() * 1e-24)
        assert 2.0 < density < 2.8
        # the accelerator the profile chose through the lammps_accelerator resource: OPENMP styles
        assert "pair sw/omp" in lammps_log


def test_slurm_glass_equals_a_local_run_and_switching_accelerator_reruns_nothing(slurm_run, tmp_path):
    workdir, _, _ = slurm_run
    sample = SAMPLES[0]
    target = f"results/si/glasses/{sample}.extxyz"
    local = snakemake(tmp_path, target, "--cores", "1", "--set-threads", "melt_quench=1",
                      "--set-resources", "melt_quench:lammps_accelerator=omp")
    assert local.returncode == 0, (local.stdout + local.stderr)[-3000:]
    (a,) = read_structures(workdir / target)
    (b,) = read_structures(tmp_path / target)
    np.testing.assert_allclose(a.get_positions(), b.get_positions(), atol=1e-6)
    np.testing.assert_allclose(a.cell.array, b.cell.array, atol=1e-9)

    # the accelerator is a resource: asking for another one leaves the finished jobs alone
    dry = snakemake(workdir, *[f"results/si/glasses/{s}.extxyz" for s in SAMPLES], "--profile",
                    str(REPO / "profiles" / "slurm"), "--slurm-no-account", "-n",
                    "--set-resources", "melt_quench:lammps_accelerator=none")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_external_lmp_under_mpirun_gets_the_task_count_of_its_slurm_job(slurm, tmp_path):
    """lammps.binary + lammps.mpi_launch "mpirun -np {nprocs}": {nprocs} is the job's --ntasks."""
    config = tmp_path / "mpi.yaml"
    prefix = Path(sys.prefix) / "bin"
    config.write_text(f'lammps: {{binary: "{prefix / "lmp"}", mpi_launch: "{prefix / "mpirun"} -np {{nprocs}}"}}\n')
    sample = "Si_1000Kps_s13"
    proc = snakemake(
        tmp_path, f"results/si/glasses/{sample}.extxyz", "--profile", str(REPO / "profiles" / "slurm"),
        "--set-threads", "melt_quench=1",
        "--set-resources", "melt_quench:tasks=2", "melt_quench:mpi=mpirun", "melt_quench:lammps_accelerator=omp",
        "--slurm-status-command", "squeue", "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2",
        "--latency-wait", "5", "--retries", "0", configs=[config],
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    (job,) = slurm_cluster.jobs_named(re.search(r"SLURM run ID: (\S+)", log).group(1))
    assert slurm_cluster.show_job(job["job_id"])["NumTasks"] == "2"
    lammps_log = (tmp_path / "logs" / "si" / "melt_quench" / f"{sample}.lammps.log").read_text()
    assert "with 2 MPI tasks x 1 OpenMP threads" in lammps_log and "pair sw/omp" in lammps_log
    (glass,) = read_structures(tmp_path / "results" / "si" / "glasses" / f"{sample}.extxyz")
    assert len(glass) == 64 and glass.info["seed"] == 13
    e = parse_thermo_yaml(lammps_log)[-1]["PotEng"][-1] / len(glass)
    assert SW_DIAMOND_EV_PER_ATOM < e < SW_DIAMOND_EV_PER_ATOM + 0.5


def test_gpu_profile_job_gets_a_gpu_and_fails_early_on_a_lammps_without_kokkos(slurm, tmp_path):
    """profiles/slurm-gpu sends melt_quench to the gpu partition with --gpus=1 and KOKKOS; with the
    wheel's lmp (no KOKKOS) first on PATH the job must stop at the build check, naming the package."""
    env = dict(os.environ, PATH=f"{Path(sys.prefix) / 'bin'}:{os.environ['PATH']}")
    sample = "Si_1000Kps_s14"
    proc = snakemake(
        tmp_path, f"results/si/glasses/{sample}.extxyz", "--profile", str(REPO / "profiles" / "slurm-gpu"),
        "--slurm-status-command", "squeue", "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-keep-successful-logs", "--latency-wait", "5", "--retries", "0", env=env,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    (job,) = slurm_cluster.jobs_named(re.search(r"SLURM run ID: (\S+)", log).group(1))
    info = slurm_cluster.show_job(job["job_id"])
    assert info["Partition"] == "gpu" and info["TresPerJob"] == "gres:gpu:1"  # sbatch --gpus=1
    assert info["JobState"] == "FAILED"
    job_log = Path(info["StdOut"]).read_text()
    assert "needs the KOKKOS package, which this LAMMPS build lacks" in job_log
    lammps_log = tmp_path / "logs" / "si" / "melt_quench" / f"{sample}.lammps.log"
    assert not lammps_log.exists() or "LAMMPS (" not in lammps_log.read_text()  # LAMMPS never started
