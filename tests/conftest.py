import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"

os.environ.setdefault("OMP_NUM_THREADS", "1")

#: the real-Slurm tests install Debian packages and start daemons, so they run only when asked for
#: (.ci/run sets this); a user's plain `pytest` leaves the machine alone
SLURM_OPT_IN = "AMORPHOUS_ML_SLURM_TESTS"


def pytest_collection_modifyitems(config, items):
    if os.environ.get(SLURM_OPT_IN) == "1":
        return
    skip = pytest.mark.skip(reason=f"real-Slurm test: installs and starts Slurm, so it runs only with {SLURM_OPT_IN}=1")
    for item in items:
        if "slurm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_config():
    from amorphous_ml.config import load_config

    return load_config(TINY)


def run_snakemake(workdir, *args, check=True):
    """Run the real workflow in ``workdir`` with the tiny config; returns the CompletedProcess.

    Put targets before any extra ``--configfile`` (it takes several values)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(TINY), "-c2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc
