"""Small known structures for the DM2 / learn tests (ideal beta-cristobalite, labelled)."""

from __future__ import annotations

from ase.spacegroup import crystal


def cristobalite(repeat=(1, 1, 1), rattle=0.0, seed=0, cooling_rate=10.0, strain=0.0):
    """Ideal beta-cristobalite SiO2 (Fd-3m, a = 7.16 Å, 24 atoms per cell, Si-O 1.55 Å, every Si 4-fold)."""
    atoms = crystal(["Si", "O"], basis=[(0.0, 0.0, 0.0), (0.125, 0.125, 0.125)], spacegroup=227,
                    cellpar=[7.16, 7.16, 7.16, 90, 90, 90]).repeat(repeat)
    if strain:
        atoms.set_cell(atoms.cell[:] * (1 + strain), scale_atoms=True)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    atoms.pbc = True
    atoms.info.update(cooling_rate=float(cooling_rate), name=f"cristobalite_{seed}")
    return atoms
