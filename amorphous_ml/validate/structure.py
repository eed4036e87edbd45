"""Structure metrics of one glass (an ``ase.Atoms``): neighbours, RDFs, angles, rings, Voronoi, QUESTS.

Every metric accepts triclinic periodic cells with any number of species, and raises ``ValueError``
with a clear message on an empty structure or one that is not periodic in all three directions.
Neighbour lists come from vesin, RDFs/Voronoi from OVITO, rings from matscipy, entropy from QUESTS.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_structure",
    "neighbor_pairs",
    "coordination_numbers",
    "coordination_fraction",
    "min_pair_distance",
]


def check_structure(atoms) -> None:
    """Raise ``ValueError`` unless ``atoms`` has atoms and a 3D-periodic cell of non-zero volume."""
    if atoms is None or len(atoms) == 0:
        raise ValueError("structure metrics need a non-empty structure (got 0 atoms)")
    if not all(atoms.pbc):
        raise ValueError(f"structure metrics need a cell periodic in x, y and z (pbc = {list(atoms.pbc)})")
    if abs(atoms.cell.volume) < 1e-9:
        raise ValueError("structure metrics need a cell with non-zero volume")


def neighbor_pairs(atoms, cutoff: float, quantities: str = "ijd"):
    """Full (both directions) periodic neighbour list within ``cutoff`` (Å), via vesin."""
    import vesin

    check_structure(atoms)
    if cutoff <= 0:
        raise ValueError(f"neighbour cutoff must be positive, got {cutoff}")
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    return nl.compute(
        points=atoms.get_positions(), box=atoms.cell.array, periodic=True, quantities=quantities
    )


def _species_mask(atoms, symbol: str) -> np.ndarray:
    symbols = np.asarray(atoms.get_chemical_symbols())
    mask = symbols == symbol
    if not mask.any():
        raise ValueError(f"no {symbol} atoms in structure {atoms.get_chemical_formula()}")
    return mask


def coordination_numbers(atoms, center: str, neighbor: str, cutoff: float) -> np.ndarray:
    """Number of ``neighbor`` atoms within ``cutoff`` (Å) of each ``center`` atom, in atom order."""
    centers = _species_mask(atoms, center)
    neighbors = np.asarray(atoms.get_chemical_symbols()) == neighbor
    i, j = neighbor_pairs(atoms, cutoff, "ij")
    keep = neighbors[j]
    counts = np.bincount(i[keep], minlength=len(atoms))
    return counts[centers]


def coordination_fraction(atoms, center: str, neighbor: str, cutoff: float, n: int) -> float:
    """Fraction of ``center`` atoms with exactly ``n`` ``neighbor`` atoms within ``cutoff``."""
    return float(np.mean(coordination_numbers(atoms, center, neighbor, cutoff) == n))


def min_pair_distance(atoms) -> float:
    """Shortest interatomic distance (Å) including periodic images; periodic images of an atom count."""
    check_structure(atoms)
    cutoff = 3.0
    max_cutoff = 2.0 * float(np.max(atoms.cell.cellpar()[:3])) + 1.0
    while True:
        (d,) = neighbor_pairs(atoms, cutoff, "d")
        if len(d):
            return float(d.min())
        if cutoff > max_cutoff:
            return float("inf")
        cutoff *= 2.0
