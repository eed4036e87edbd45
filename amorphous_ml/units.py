"""Physical constants and unit conversions used across stages (one definition each).

LAMMPS ``metal`` units: pressure in bar, energy in eV, lengths in Å; ASE stresses are eV/Å^3.
"""

from __future__ import annotations

from typing import Sequence

from ase.data import atomic_masses, atomic_numbers

__all__ = ["AVOGADRO", "BAR_TO_GPA", "BAR_TO_EV_A3", "mass_g", "density_gcc"]

AVOGADRO = 6.02214076e23  # 1/mol (exact, SI 2019)
BAR_TO_GPA = 1.0e-4  # 1 bar = 1e5 Pa
BAR_TO_EV_A3 = BAR_TO_GPA / 160.21766208  # 1 eV/Å^3 = 160.2 GPa


def mass_g(symbols: Sequence[str]) -> float:
    """Mass (g) of atoms with these chemical symbols (ASE's standard atomic masses)."""
    return sum(atomic_masses[atomic_numbers[s]] for s in symbols) / AVOGADRO


def density_gcc(atoms) -> float:
    """Mass density (g/cm^3) of a periodic structure."""
    return float(mass_g(atoms.get_chemical_symbols()) / (abs(atoms.cell.volume) * 1e-24))
