"""Potentials the toolkit ships, compositions, and random starting structures for LAMMPS.

A potential is an ``include`` file in ``potentials/`` shared by every protocol; it fixes the LAMMPS
type order (``species``). Structures are exchanged with LAMMPS as data files whose types follow that
order, so a composition with an element missing still maps to the same types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ase
import ase.io
import numpy as np
from pymatgen.core import Composition

from ..units import mass_g
from .lammps import POTENTIAL_DIR

__all__ = ["Potential", "POTENTIALS", "get_potential", "atom_counts", "random_packing",
           "write_lammps_data", "read_lammps_data"]


@dataclass(frozen=True)
class Potential:
    name: str
    species: tuple[str, ...]
    include: str
    parameter_files: tuple[str, ...] = ()
    timestep_ps: float = 0.001
    citation: str = ""
    #: neighbour-list skin (A): no physics (lists are rebuilt once an atom has moved half of it), only
    #: list size vs rebuild count; the fastest measured by benchmarks/bench_neighbor_skin.py
    skin: float = 2.0

    def include_path(self, potdir: Path | None = None) -> Path:
        return Path(potdir or POTENTIAL_DIR) / self.include

    def lammps_vars(self, potdir: Path | None = None) -> dict:
        """The ``-var`` values every input in ``lammps_inputs/`` takes for its potential."""
        include = self.include_path(Path(potdir).resolve() if potdir else None)
        return {"potential": include, "potdir": include.parent, "skin": self.skin}

    def files(self, potdir: Path | None = None) -> list[Path]:
        """Every file the potential reads (include + parameter files), for hashing and checks."""
        potdir = Path(potdir or POTENTIAL_DIR)
        return [potdir / self.include] + [potdir / f for f in self.parameter_files]


POTENTIALS: dict[str, Potential] = {
    "sio2_bjp": Potential(
        "sio2_bjp", ("Si", "O"), "sio2_bjp.lmp", (), 0.001,
        "Bouhadja, Jakse & Pasturel, J. Chem. Phys. 138, 224510 (2013)", skin=1.0,
    ),
    "cuzr_mendelev": Potential(
        "cuzr_mendelev", ("Cu", "Zr"), "cuzr_mendelev.lmp", ("CuZr_mm.eam.fs",), 0.002,
        "Mendelev, Sordelet & Kramer, J. Appl. Phys. 102, 043501 (2007)", skin=1.0,
    ),
    "si_sw": Potential(
        "si_sw", ("Si",), "si_sw.lmp", ("Si.sw",), 0.001,
        "Stillinger & Weber, Phys. Rev. B 31, 5262 (1985)",
    ),
}


def get_potential(name: str) -> Potential:
    try:
        return POTENTIALS[name]
    except KeyError:
        raise ValueError(f"unknown potential {name!r}; known: {', '.join(POTENTIALS)}") from None


def atom_counts(composition: str, n_atoms: int) -> dict[str, int]:
    """Whole formula units closest to ``n_atoms`` (keeps SiO2 charge-neutral, Cu64Zr36 exact).

    >>> atom_counts("SiO2", 375)
    {'Si': 125, 'O': 250}
    """
    comp = Composition(composition)
    reduced, _ = comp.get_reduced_composition_and_factor()
    per_unit = int(round(reduced.num_atoms))
    n_units = max(1, int(round(n_atoms / per_unit)))
    return {str(el): int(round(amt)) * n_units for el, amt in reduced.items()}


def random_packing(counts: dict[str, int], density_gcc: float, aspect=(1.0, 1.0, 1.0), seed: int = 0,
                   jitter: float = 0.15) -> ase.Atoms:
    """Atoms on randomly chosen sites of a jittered simple-cubic grid, species shuffled.

    Unlike uniform random positions this never puts two atoms on top of each other (minimum distance
    about (1 - 2*jitter) grid spacings), so short-ranged repulsions cannot blow up at the first step;
    the melt erases the grid within picoseconds.
    """
    rng = np.random.default_rng(seed)
    symbols = [el for el, n in counts.items() for _ in range(n)]
    n = len(symbols)
    volume = mass_g(symbols) / density_gcc * 1e24  # A^3
    aspect = np.asarray(aspect, float)
    lengths = aspect * (volume / np.prod(aspect)) ** (1.0 / 3.0)
    spacing = (volume / n) ** (1.0 / 3.0)
    grid = np.maximum(1, np.floor(lengths / spacing).astype(int))
    while np.prod(grid) < n:
        grid[np.argmin(grid * spacing / lengths)] += 1
    idx = np.stack(np.meshgrid(*[np.arange(g) for g in grid], indexing="ij"), -1).reshape(-1, 3)
    sites = idx[rng.choice(len(idx), size=n, replace=False)]
    frac = (sites + 0.5 + rng.uniform(-jitter, jitter, size=(n, 3))) / grid
    rng.shuffle(symbols)
    return ase.Atoms(symbols=symbols, scaled_positions=frac, cell=np.diag(lengths), pbc=True)


def write_lammps_data(path: str | Path, atoms: ase.Atoms, species: tuple[str, ...]) -> None:
    """Data file with ``atom_style charge`` and LAMMPS types in the potential's species order."""
    unknown = set(atoms.get_chemical_symbols()) - set(species)
    if unknown:
        raise ValueError(f"elements {sorted(unknown)} are not in the potential's species {list(species)}")
    atoms = atoms.copy()
    atoms.set_initial_charges(np.zeros(len(atoms)))  # the potential include sets charges per type
    ase.io.write(path, atoms, format="lammps-data", atom_style="charge", specorder=list(species),
                 masses=True, units="metal")


def read_lammps_data(path: str | Path, species: tuple[str, ...], atom_style: str | None = None) -> ase.Atoms:
    """A data file (``atom_style charge`` unless the file or ``atom_style`` says otherwise) as Atoms.

    Atom types are mapped to elements by the file's Masses section, so a file whose type 1 is O is read
    as O whatever the potential's order; a mass that is none of the potential's ``species`` is a
    one-line ``ValueError``. Without a Masses section the types follow ``species``' order.
    """
    from ..io import _lammps_data_header, read_lammps_data_file

    style, _, masses = _lammps_data_header(Path(path))
    atom_style = atom_style or style or "charge"
    if masses:
        return read_lammps_data_file(path, atom_style=atom_style, candidates=list(species))
    return read_lammps_data_file(path, atom_style=atom_style, species=list(species))
