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
    # Modules with end-to-end (slow) tests first: pytest-xdist (`-n auto --dist loadfile`, pyproject.toml)
    # hands whole modules to its workers in this order, so the long workflow modules start at once instead
    # of one of them starting last and running alone on one worker. Stable: the order within a group stays.
    slow_modules = {item.path for item in items if "slow" in item.keywords}
    items.sort(key=lambda item: item.path not in slow_modules)
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


def models_off() -> dict:
    """A ``models`` section that switches off every model ``config.yaml`` defines in any system (``--configfile``
    merges over config.yaml key by key, so a tiny config must switch each one off by name)."""
    import yaml

    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    kinds = {"dm2": "dm2"}
    for s in default["systems"].values():
        kinds.update({m: sec.get("kind", m) for m, sec in (s.get("models") or {}).items()})
    return {name: {"kind": kind, "enabled": False} for name, kind in sorted(kinds.items())}


def run_snakemake(workdir, *args, check=True, python=None):
    """Run the real workflow in ``workdir`` with the tiny config; returns the CompletedProcess.

    Put targets before any extra ``--configfile`` (it takes several values). ``python``: the interpreter to
    launch Snakemake with (default: this one)."""
    cmd = [python or sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(TINY), "-c2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc
