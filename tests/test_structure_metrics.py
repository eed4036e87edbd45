"""Structure metrics checked on crystals and ideal motifs with known answers."""

from __future__ import annotations

import ase
import numpy as np
import pytest
from ase.build import bulk

from amorphous_ml.validate.structure import coordination_fraction, coordination_numbers, min_pair_distance


def test_diamond_silicon_is_fourfold_coordinated_at_its_bond_length():
    si = bulk("Si", "diamond", a=5.431, cubic=True)
    assert np.all(coordination_numbers(si, "Si", "Si", 2.6) == 4)
    assert min_pair_distance(si) == pytest.approx(5.431 * np.sqrt(3) / 4, rel=1e-9)


def test_rocksalt_cation_has_six_anion_neighbours_in_a_triclinic_primitive_cell():
    nacl = bulk("NaCl", "rocksalt", a=5.64)  # primitive fcc cell: triclinic (60 degree angles)
    assert not np.allclose(nacl.cell.angles(), 90)
    assert np.all(coordination_numbers(nacl, "Na", "Cl", 3.0) == 6)
    assert np.all(coordination_numbers(nacl, "Na", "Na", 3.0) == 0)
    assert coordination_fraction(nacl * (2, 2, 2), "Na", "Cl", 3.0, 6) == 1.0
    assert min_pair_distance(nacl) == pytest.approx(2.82)


def test_min_pair_distance_of_a_one_atom_cell_is_the_shortest_lattice_vector():
    cu = bulk("Cu", "fcc", a=3.6)
    assert len(cu) == 1
    assert min_pair_distance(cu) == pytest.approx(3.6 / np.sqrt(2))


@pytest.mark.parametrize(
    "atoms, message",
    [
        (ase.Atoms(cell=[5, 5, 5], pbc=True), "non-empty"),
        (ase.Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]]), "periodic"),
        (ase.Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=[5, 5, 5], pbc=[True, True, False]), "periodic"),
    ],
)
def test_metrics_reject_empty_or_non_periodic_structures(atoms, message):
    with pytest.raises(ValueError, match=message):
        min_pair_distance(atoms)
    with pytest.raises(ValueError):
        coordination_numbers(atoms, "H", "H", 1.5)


def test_coordination_of_a_missing_species_is_an_error():
    with pytest.raises(ValueError, match="no O atoms"):
        coordination_numbers(bulk("Si", "diamond", a=5.431), "O", "Si", 2.0)
