"""The one place structures and tables are read and written.

Structures are ``ase.Atoms`` in memory and extended XYZ on disk; per-structure metadata lives in
``atoms.info`` and per-atom data in ``atoms.arrays``. Every writer is atomic: it writes a temporary
file in the destination directory and renames it into place, so an interrupted job never leaves a
partial file that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import ase
import ase.io
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = [
    "InputFileError",
    "atomic_path",
    "read_structures",
    "read_structure",
    "write_structures",
    "write_json",
    "read_json",
    "write_table",
]


class InputFileError(ValueError):
    """An input file is missing, empty or unreadable; the message is one line naming the file."""


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _jsonable_info(atoms: ase.Atoms) -> ase.Atoms:
    """extxyz stores scalars, strings and arrays; nested dicts are serialised to JSON strings."""
    calc = atoms.calc
    atoms = atoms.copy()  # Atoms.copy() drops the calculator: carry its results (energy, stress) over
    if calc is not None and getattr(calc, "results", None):
        results = {k: v for k, v in calc.results.items() if k in ("energy", "free_energy", "stress", "forces")}
        atoms.calc = SinglePointCalculator(atoms, **results)
        for key in results:  # the calculator is authoritative; extxyz refuses the same key twice
            atoms.info.pop(key, None)
            if key == "forces":
                atoms.arrays.pop(key, None)
    for key, value in list(atoms.info.items()):
        if isinstance(value, (dict, list, tuple)) and not _is_numeric_sequence(value):
            atoms.info[key] = json.dumps(value, sort_keys=True)
        elif value is None:
            atoms.info[key] = "None"
    return atoms


def _is_numeric_sequence(value) -> bool:
    if isinstance(value, dict):
        return False
    try:
        return len(value) > 0 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    except TypeError:
        return False


def write_structures(path: str | os.PathLike, structures: ase.Atoms | Iterable[ase.Atoms]) -> None:
    """Write one or more structures to an extxyz file atomically."""
    if isinstance(structures, ase.Atoms):
        structures = [structures]
    structures = [_jsonable_info(a) for a in structures]
    if not structures:
        raise ValueError(f"refusing to write an empty structure file: {path}")
    with atomic_path(path) as tmp:
        ase.io.write(tmp, structures, format="extxyz")


def read_structures(path: str | os.PathLike) -> list[ase.Atoms]:
    """Read every frame of an extxyz (or any ASE-readable) file; JSON-encoded info is decoded."""
    path = Path(path)
    fmt = "extxyz" if path.suffix in {".extxyz", ".xyz"} else None
    if not path.is_file():
        raise InputFileError(f"{path}: structure file does not exist")
    try:
        frames = ase.io.read(path, index=":", format=fmt)
    except Exception as exc:  # ASE raises ValueError, XYZError (an OSError), IndexError... on bad files
        raise InputFileError(f"{path}: not a readable {fmt or 'structure'} file ({_one_line(exc)})") from None
    if not frames:
        raise InputFileError(f"{path}: structure file holds no structure (empty file?)")
    for atoms in frames:
        for key, value in list(atoms.info.items()):
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    atoms.info[key] = json.loads(value)
                except json.JSONDecodeError:
                    pass
    return frames


def read_structure(path: str | os.PathLike) -> ase.Atoms:
    """Read a file that holds exactly one structure."""
    frames = read_structures(path)
    if len(frames) != 1:
        raise InputFileError(f"{path}: expected one structure, found {len(frames)}")
    return frames[0]


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputFileError(f"{path}: file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not valid JSON ({_one_line(exc)})") from None


def write_table(path: str | os.PathLike, table) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
