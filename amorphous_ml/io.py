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
from typing import Iterable, Iterator, Sequence

import ase
import ase.io
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = [
    "InputFileError",
    "atomic_path",
    "read_structures",
    "read_structure",
    "read_lammps_data_file",
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


LAMMPS_DATA_SUFFIXES = {".data", ".lmp", ".dat"}


def read_structures(path: str | os.PathLike, *, atom_style: str | None = None,
                    species: Sequence[str] | None = None) -> list[ase.Atoms]:
    """Read every frame of an extxyz (or any ASE-readable) file; JSON-encoded info is decoded.

    ``.data``/``.lmp``/``.dat`` files are LAMMPS data files (:func:`read_lammps_data_file`; ``atom_style``
    and ``species`` apply to them only).
    """
    path = Path(path)
    if path.suffix.lower() in LAMMPS_DATA_SUFFIXES:
        return [read_lammps_data_file(path, atom_style=atom_style, species=species)]
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


def read_structure(path: str | os.PathLike, **kwargs) -> ase.Atoms:
    """Read a file that holds exactly one structure (``kwargs``: see :func:`read_structures`)."""
    frames = read_structures(path, **kwargs)
    if len(frames) != 1:
        raise InputFileError(f"{path}: expected one structure, found {len(frames)}")
    return frames[0]


def _json_default(value):
    """numpy scalars and arrays as JSON numbers and lists (a numpy seed must not become a string)."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


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


# ------------------------------------------------------------------------------- LAMMPS data files
_STYLE_BY_FIELDS = {5: "atomic", 8: "atomic", 7: "full", 10: "full"}  # 6/9 fields: charge or molecular


def _lammps_data_header(path: Path) -> tuple[str | None, int | None, dict[int, float]]:
    """(atom style from the ``Atoms # style`` comment, fields of the first atom line, Masses by type)."""
    lines = path.read_text(errors="replace").splitlines()
    style, nfields, masses = None, None, {}
    section = None
    for line in lines:
        text, _, comment = line.partition("#")
        words = text.split()
        if not words:
            continue
        if words[0] in ("Atoms", "Masses", "Velocities", "Bonds", "Angles", "Dihedrals", "Impropers",
                        "Pair", "PairIJ", "Bond", "Angle", "Dihedral", "Improper", "Ellipsoids", "Lines",
                        "Triangles", "Bodies") and not words[0][0].isdigit() and len(words) <= 2:
            section = words[0]
            if section == "Atoms" and comment.strip():
                style = comment.split()[0]
            continue
        if section == "Masses" and len(words) >= 2:
            masses[int(words[0])] = float(words[1])
        elif section == "Atoms" and nfields is None:
            nfields = len(words)
    return style, nfields, masses


def _element_of_mass(mass: float, candidates: Sequence[str]) -> str | None:
    from ase.data import atomic_masses, atomic_numbers

    best = min(candidates, key=lambda el: abs(atomic_masses[atomic_numbers[el]] - mass))
    ref = atomic_masses[atomic_numbers[best]]
    return best if abs(ref - mass) <= max(0.1, 0.005 * ref) else None


def read_lammps_data_file(path: str | os.PathLike, *, atom_style: str | None = None,
                          species: Sequence[str] | None = None, candidates: Sequence[str] | None = None,
                          units: str = "metal") -> ase.Atoms:
    """A LAMMPS data file as periodic ``ase.Atoms``, atom types mapped to elements by their masses.

    * ``atom_style``: given, else from the ``Atoms # style`` comment, else from the number of columns
      (atomic, full); a 6-column file (charge or molecular) without the comment needs it given.
    * Elements: ``species`` (one element per type, in type order) if given, checked against the Masses
      section; else each type's mass picks its element (among ``candidates`` if given, e.g. the
      potential's species). Any disagreement, a mass that matches no element, or no Masses and no
      ``species`` is a one-line ``ValueError``.
    """
    from ase.data import atomic_masses, atomic_numbers, chemical_symbols

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such LAMMPS data file")
    style, nfields, masses = _lammps_data_header(path)
    atom_style = atom_style or style or _STYLE_BY_FIELDS.get(nfields or 0)
    if atom_style is None:
        raise ValueError(f"{path}: cannot tell the atom style of a {nfields}-column Atoms section "
                         "(charge or molecular?): give it (--atom-style)")
    types = sorted(masses)
    if species:
        species = list(species)
        unknown = [el for el in species if el not in atomic_numbers]
        if unknown:
            raise ValueError(f"{path}: {unknown} are not element symbols")
        z_of_type = {t + 1: atomic_numbers[el] for t, el in enumerate(species)}
        for t, m in masses.items():
            if t > len(species):
                raise ValueError(f"{path}: atom type {t} has no element in species {species}")
            ref = atomic_masses[z_of_type[t]]
            if abs(ref - m) > max(0.1, 0.005 * ref):
                guess = _element_of_mass(m, [el for el in chemical_symbols[1:] if el in atomic_numbers]) or "?"
                raise ValueError(f"{path}: atom type {t} has mass {m:g} ({guess}) but species says "
                                 f"{species[t - 1]} ({ref:.4g})")
    elif masses:
        pool = list(candidates) if candidates else [el for el in chemical_symbols[1:]]
        z_of_type = {}
        for t in types:
            el = _element_of_mass(masses[t], pool)
            if el is None:
                anywhere = _element_of_mass(masses[t], chemical_symbols[1:])
                where = f" ({anywhere}, not one of {list(pool)})" if anywhere and candidates else ""
                raise ValueError(f"{path}: atom type {t} has mass {masses[t]:g}{where}, which matches no "
                                 "element" + ("" if where else "; give the species of each type"))
            z_of_type[t] = atomic_numbers[el]
    else:
        raise ValueError(f"{path}: no Masses section: give the element of each atom type (species)")
    try:
        atoms = ase.io.read(path, format="lammps-data", atom_style=atom_style, Z_of_type=z_of_type, units=units)
    except Exception as exc:  # ASE raises bare ValueError/KeyError/IndexError on malformed sections
        raise ValueError(f"{path}: not a readable LAMMPS data file with atom style {atom_style!r}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if candidates:
        outside = sorted(set(atoms.get_chemical_symbols()) - set(candidates))
        if outside:
            raise ValueError(f"{path}: elements {outside} are not among {list(candidates)}")
    atoms.pbc = True
    atoms.wrap()
    for key in ("mmcharges", "type", "mol-id"):  # duplicates of initial_charges / species
        if key in atoms.arrays:
            del atoms.arrays[key]
    return atoms
