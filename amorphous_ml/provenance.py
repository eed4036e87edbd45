"""Metadata that every output carries: code version, LAMMPS version, potential hash, seed, parameters."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path

from . import __version__


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """Package version plus the git commit of the checkout when there is one (``0.1.0+g1a2b3c4``)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():  # an installed wheel: no checkout to ask
        return __version__
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "amorphous_ml"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return f"{__version__}+g{rev}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance(*, seed: int | None, params: dict, potential_files=(), lammps_version: str | None = None,
               **extra) -> dict:
    """Flat metadata dict for ``atoms.info`` or a JSON side file."""
    meta = {
        "code_version": code_version(),
        "seed": -1 if seed is None else int(seed),
        "params": json.dumps(params, sort_keys=True, default=str),
    }
    if lammps_version is not None:
        meta["lammps_version"] = lammps_version
    if potential_files:
        meta["potential_sha256"] = ",".join(file_sha256(p)[:16] for p in potential_files)
    meta.update(extra)
    return meta
