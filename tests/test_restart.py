"""Long jobs survive a kill: a melt-quench, a training and a generation job, each SIGKILLed through the
real workflow after its first restart/checkpoint file appears, are resubmitted by Snakemake (--retries 1,
as after a Slurm wall-time kill), resume from that file (their logs say so) and complete.

The melt-quench is killed in the cooling ramp, in the glass (below ~1300 K): its resumed glass equals an
uninterrupted run of the same seed to round-off. LAMMPS restarts are not bit-exact in general (the
re-initialised run sums forces in another order, ~1e-15 relative); in a liquid that difference grows
chaotically into another sample of the same ensemble, in the glass it stays at round-off (measured here:
positions within 1e-12 A after 1300 K -> 300 K), hence the tolerance 1e-8 A.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from amorphous_ml import io
from amorphous_ml.config import workflow_config
from amorphous_ml.simulate.lammps import parse_thermo_yaml
from amorphous_ml.simulate.params import melt_quench_params
from amorphous_ml.simulate.protocols import melt_quench
from conftest import ROOT, TINY

pytestmark = pytest.mark.slow

RATE, SEED = 1000, 3  # K/ps; 150-atom a-SiO2: melt 1+1 ps, cool 4.7 ps, anneal 1 ps = 7700 steps
SAMPLE = f"SiO2_{RATE}Kps_s{SEED}"
RESTART_PS = 0.5
DT = 0.001
KILL_AFTER_STEP = 2000 + 3800  # in the ramp where the target is 5000 - 1000 * 3.8 = 1200 K
GEN = "results/sio2/generated/dm2/SiO2_1000Kps_s1001.extxyz"


def _config(tmp_path) -> Path:
    cfg = {
        "lammps": {"accelerator": "none", "threads": 1, "restart_every_ps": RESTART_PS},
        "systems": {"sio2": {
            "cooling_rates": [RATE], "samples_per_rate": 2,
            "melt": {"temperature": 5000, "nvt_ps": 1, "npt_ps": 1},
            "quench": {"final_temperature": 300, "anneal_ps": 1},
            "models": {"dm2": {
                "enabled": True, "target_cooling_rates": [RATE], "samples_per_rate": 1, "seed": 1001,
                "hidden_irreps": "4x0e+2x1o", "num_layers": 1, "radial_hidden": 8, "cutoff": 4.0,
                "val_fraction": 0.5,
                "training": {"steps": 80, "batch_size": 1, "lr": 0.001, "val_every": 40, "checkpoint_every": 10},
                "generation": {"n_atoms": 150, "noisy_steps": 40, "clean_steps": 5, "checkpoint_every": 5},
                "refine": {"nvt_ps": 0.1, "npt_ps": 0.1},
            }},
        }},
    }
    path = tmp_path / "restart.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _job_pids(workdir: Path, needle: str) -> list[int]:
    """Processes of the package's CLI running in ``workdir`` with ``needle`` in their command line."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().decode().split("\0")
            cwd = Path(os.readlink(d / "cwd"))
        except OSError:
            continue
        cmd = " ".join(argv)
        # the python process itself (not its bash wrapper); LAMMPS runs in the log directory
        if ("-m amorphous_ml" in cmd and needle in cmd and not argv[0].endswith("sh")
                and (cwd == workdir or workdir in cwd.parents)):
            pids.append(int(d.name))
    return pids


def kill_job_and_let_snakemake_retry(workdir: Path, config: Path, target: str, needle: str, ready,
                                     timeout: float = 400) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``target`` with --retries 1; SIGKILL the job's process once ``ready()``; wait for the retry."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "-c2",
           "--retries", "1", target, "--configfile", str(TINY), str(config)]
    out, err = workdir / "snakemake.out", workdir / "snakemake.err"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(cmd, stdout=o, stderr=e)
        killed_at = None
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if killed_at is None and ready():
                pids = _job_pids(workdir, needle)
                assert pids, f"no running job matches {needle!r}"
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed_at = time.monotonic()
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    result = subprocess.CompletedProcess(cmd, proc.returncode, out.read_text(), err.read_text())
    assert killed_at is not None, f"{target} finished before its job could be killed:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"snakemake failed after the kill:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert "Trying to restart" in result.stdout + result.stderr, result.stderr[-3000:]
    return result, killed_at


def _last_step(log: Path) -> int:
    try:
        steps = re.findall(r"^  - \[(\d+),", log.read_text(errors="replace"), re.M)
    except OSError:
        return -1
    return int(steps[-1]) if steps else -1


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("restart")
    return workdir, _config(workdir)


@pytest.fixture(scope="module")
def killed_melt_quench(workflow):
    workdir, config = workflow
    log = workdir / "logs" / "sio2" / "melt_quench" / f"{SAMPLE}.lammps.log"
    chunk = round(RESTART_PS / DT)
    running = workdir / "results" / "sio2" / "glasses" / ".restart"  # where a running attempt logs

    def past_a_restart_in_the_ramp():  # the log has run a whole chunk past KILL_AFTER_STEP
        return any(_last_step(f) >= KILL_AFTER_STEP + chunk for f in running.glob(f"{SAMPLE}-*/attempt-*.lammps.log"))

    result, _ = kill_job_and_let_snakemake_retry(
        workdir, config, f"results/sio2/glasses/{SAMPLE}.extxyz", f"glasses/{SAMPLE}.extxyz",
        past_a_restart_in_the_ramp)
    return workdir, config, log, result


def test_killed_melt_quench_resumes_from_its_last_restart_in_the_cooling_ramp(killed_melt_quench):
    workdir, _, log, _ = killed_melt_quench
    # the rule's log holds both attempts' LAMMPS logs (Snakemake deletes a failed job's log)
    attempts = re.split(r"^# amorphous-ml melt-quench: LAMMPS log of attempt \d+\n", log.read_text(), flags=re.M)
    assert len(attempts) == 3 and attempts[0] == "", [a[:200] for a in attempts]
    killed, text = attempts[1], attempts[2]
    m = re.search(r"^amorphous-ml: resuming melt-quench from (\S+) at step (\d+) of (\d+)", text, re.M)
    assert m, text[:3000]
    step, total = int(m.group(2)), int(m.group(3))
    assert KILL_AFTER_STEP <= step < total == 7700
    assert step % round(RESTART_PS / DT) == 0  # restarts on the 0.5 ps grid of the ramp (it starts at 2000)
    # the killed attempt's log is kept; the resumed run starts from exactly its state at that step
    before = [b for b in parse_thermo_yaml(killed) if b.get("Step") and step in b["Step"]][-1]
    after = parse_thermo_yaml(text)[0]
    i, j = before["Step"].index(step), after["Step"].index(step)
    for key in ("Temp", "PotEng", "Volume", "Press"):
        assert after[key][j] == pytest.approx(before[key][i], rel=1e-9), key
    # resumed in the ramp: the thermostat target continues from 5000 - 1000 K/ps * t, not from 5000 K
    t_target = 5000 - RATE * (step - 2000) * DT
    assert after["Temp"][j] == pytest.approx(t_target, rel=0.35)
    glass = io.read_structure(workdir / "results" / "sio2" / "glasses" / f"{SAMPLE}.extxyz")
    assert glass.info["md_resumed"] == 1 and glass.info["restart_every_ps"] == RESTART_PS
    # the restart directory is gone, no scratch left next to the outputs
    glasses = workdir / "results" / "sio2" / "glasses"
    assert not list((glasses / ".restart").glob("*")) and not list(glasses.glob(f".{SAMPLE}*"))


def test_resumed_glass_equals_an_uninterrupted_run(killed_melt_quench, tmp_path):
    workdir, config, _, _ = killed_melt_quench
    system = workflow_config([TINY, config])["systems"]["sio2"]
    system = json.loads(json.dumps(melt_quench_params(system)))  # what the rule passes as --system-json
    ref = melt_quench("sio2", system, "SiO2", RATE, SEED, tmp_path / "g.extxyz", tmp_path / "g.data",
                      tmp_path / "g.log", work_dir=tmp_path / "work", restart_every_ps=RESTART_PS)
    resumed = io.read_structure(workdir / "results" / "sio2" / "glasses" / f"{SAMPLE}.extxyz")
    d = resumed.get_positions() - ref.get_positions()
    d -= np.round(d @ np.linalg.inv(ref.cell.array)) @ ref.cell.array
    assert np.abs(d).max() < 1e-8
    np.testing.assert_allclose(resumed.cell.array, ref.cell.array, atol=1e-8)
    assert resumed.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-10)
    assert ref.info["md_resumed"] == 0


def _new_files(root: Path, pattern: str, exclude=()) -> list[Path]:
    return [p for p in root.glob(pattern) if p.name not in exclude] if root.exists() else []


def _logs_mention(workdir: Path, pattern: str) -> list[str]:
    hits = []
    for f in (workdir / "logs").rglob("*"):
        if f.is_file() and re.search(pattern, f.read_text(errors="replace")):
            hits.append(str(f.relative_to(workdir)))
    return hits


@pytest.fixture(scope="module")
def killed_training(killed_melt_quench):
    workdir, config, _, _ = killed_melt_quench
    models = workdir / "results" / "sio2" / "models" / "dm2"
    # the first checkpoint: any training state file next to the model (wherever the rule keeps it)
    result, _ = kill_job_and_let_snakemake_retry(
        workdir, config, "results/sio2/models/dm2/model.pt", "models/dm2",
        lambda: bool(_new_files(models, "**/*.pt", exclude={"model.pt"})))
    return workdir, config, result


def test_killed_training_resumes_from_its_checkpoint_and_completes(killed_training):
    workdir, _, _ = killed_training
    assert (workdir / "results" / "sio2" / "models" / "dm2" / "model.pt").stat().st_size > 0
    hits = _logs_mention(workdir, r"resuming from \S+ at step [1-9]\d* of 80")
    assert hits, "no log says the training resumed"


def test_killed_generation_resumes_from_its_denoising_state_and_completes(killed_training):
    workdir, config, _ = killed_training
    generated = workdir / "results" / "sio2" / "generated"
    kill_job_and_let_snakemake_retry(
        workdir, config, GEN, "generated/dm2", lambda: bool(_new_files(generated, "**/*.pt")))
    (structure,) = io.read_structures(workdir / GEN)
    assert len(structure) == 150 and np.isfinite(structure.get_positions()).all()
    assert _logs_mention(workdir, r"resuming from \S+ at step [1-9]\d* of 45"), "no log says generation resumed"
