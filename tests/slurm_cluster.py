"""A real single-node Slurm on localhost for tests: start it (tests/slurm/start_slurm.sh) and read its job
history (``squeue --states=all`` and ``scontrol show job``; there is no slurmdbd, so no sacct).

Finished jobs stay visible for MinJobAge = 600 s (set by start_slurm.sh), long enough to inspect them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

START_SCRIPT = Path(__file__).resolve().parent / "slurm" / "start_slurm.sh"
#: the private directory start_slurm.sh keeps slurm.conf (and state, logs) in; nothing goes to /etc/slurm
SLURM_DIR = Path(os.environ.get("AMORPHOUS_ML_SLURM_DIR", "/tmp/amorphous-ml-slurm"))
#: exit status of start_slurm.sh when slurm-wlm/munge cannot be installed (not root, no apt, no registry)
CANNOT_INSTALL = 2


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed here; the message says why."""


def start_slurm(timeout: float = 300) -> str:
    """Install (if needed) and start Slurm; return the script's report. Raises :class:`SlurmUnavailable`
    where the packages cannot be installed, ``RuntimeError`` where Slurm was installed but does not work."""
    proc = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=timeout)
    report = (proc.stdout + proc.stderr).strip()
    if proc.returncode == CANNOT_INSTALL:
        raise SlurmUnavailable(report.splitlines()[-1] if report else "start_slurm.sh: cannot install Slurm")
    if proc.returncode != 0:
        raise RuntimeError(f"start_slurm.sh failed (exit {proc.returncode}):\n{report}")
    # every Slurm client started from here on (sbatch by Snakemake, squeue, scontrol) reads this config
    os.environ["SLURM_CONF"] = str(SLURM_DIR / "slurm.conf")
    return report


def jobs_named(name: str) -> list[dict[str, str]]:
    """Every job (pending, running or finished within MinJobAge) whose name is ``name``."""
    fmt = "%i|%j|%P|%T|%C|%k"
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--name={name}", f"--format={fmt}"],
        capture_output=True, text=True, check=True,
    ).stdout
    keys = ("job_id", "name", "partition", "state", "cpus", "comment")
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]


def show_job(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (``JobState``, ``Partition``, ``NumCPUs``, ``MinMemoryNode``...)."""
    out = subprocess.run(["scontrol", "show", "job", str(job_id)], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))
