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


# ------------------------------------------------------------------------------------------------
from ase.build import make_supercell  # noqa: E402

from amorphous_ml.validate.structure import (  # noqa: E402
    analyze,
    bond_angle_distributions,
    coordination_summary,
    density_gcc,
    distribution_rmsd,
    first_peak_position,
    information_entropy,
    minimized_energy_per_atom,
    partial_rdfs,
    quests_descriptors,
    quests_overlap,
    ring_size_distribution,
    total_adf,
    total_rdf,
    voronoi_analysis,
)


def ideal_cristobalite(a: float = 7.16) -> ase.Atoms:
    """Ideal (Fd-3m) beta-cristobalite: Si on diamond sites, O at every Si-Si bond midpoint (Si-O = a*sqrt(3)/8)."""
    si = bulk("Si", "diamond", a=a, cubic=True)
    i, j, d = __import__("matscipy.neighbours", fromlist=["x"]).neighbour_list("ijD", si, a * np.sqrt(3) / 4 + 0.1)
    o = si.positions[i[i < j]] + d[i < j] / 2
    atoms = ase.Atoms(f"Si8O{len(o)}", positions=np.vstack([si.positions, o]), cell=si.cell, pbc=True)
    atoms.wrap()
    return atoms


def sheared_equivalent(atoms: ase.Atoms) -> ase.Atoms:
    """The same periodic structure in a triclinic cell of the same lattice (unimodular change of basis)."""
    tri = make_supercell(atoms, [[1, 0, 0], [1, 1, 0], [0, 1, 1]])
    assert not np.allclose(tri.cell.angles(), 90)
    return tri


def disordered_silicon(seed: int = 0) -> ase.Atoms:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True) * (3, 3, 3)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.12, atoms.positions.shape)
    atoms.wrap()
    return atoms


def random_box_like(atoms: ase.Atoms, seed: int = 1) -> ase.Atoms:
    rng = np.random.default_rng(seed)
    return ase.Atoms(atoms.get_chemical_symbols(), scaled_positions=rng.random((len(atoms), 3)),
                     cell=atoms.cell, pbc=True)


SIO2 = {"Si-O": 2.0}


def test_cristobalite_network_has_only_six_membered_rings_twelve_per_silicon():
    crist = ideal_cristobalite()
    rings = ring_size_distribution(crist, SIO2, max_length=24)  # 7.2 A cell: replicated internally
    assert set(rings) == {6}
    assert rings[6] == pytest.approx(8 * 12 / 6)  # per original cell: 8 Si, 12 rings through each, 6 Si each
    assert ring_size_distribution(crist * (2, 2, 2), SIO2, 24)[6] == pytest.approx(8 * rings[6])


def test_cristobalite_is_a_perfect_tetrahedral_network():
    crist = ideal_cristobalite()
    summary = coordination_summary(crist, {"Si-O": 4, "O-Si": 2}, SIO2)
    assert summary == {"cn_Si_O": 4.0, "defect_Si_O": 0.0, "cn_O_Si": 2.0, "defect_O_Si": 0.0}
    theta, p = bond_angle_distributions(crist, SIO2, bins=180, triplets=["O-Si-O", "Si-O-Si"])
    assert theta[np.argmax(p["O-Si-O"])] == pytest.approx(np.degrees(np.arccos(-1 / 3)), abs=1.0)
    # OVITO's histogram ends just below 180 degrees: nudge O off the straight Si-O-Si line
    bent = crist.copy()
    bent.positions[bent.symbols == "O"] += np.random.default_rng(0).normal(0, 0.03, (16, 3))
    theta, p = bond_angle_distributions(bent, SIO2, bins=180, triplets=["O-Si-O", "Si-O-Si"])
    assert 170.0 < np.sum(theta * p["Si-O-Si"]) / np.sum(p["Si-O-Si"]) < 180.0
    assert np.sum(p["O-Si-O"]) * (theta[1] - theta[0]) == pytest.approx(1.0)


def test_rdf_first_peak_sits_at_the_crystal_bond_length():
    crist = ideal_cristobalite() * (2, 2, 2)
    r, g = partial_rdfs(crist, cutoff=6.0, bins=240)
    assert set(g) == {"O-O", "O-Si", "Si-Si"}
    width = r[1] - r[0]
    assert first_peak_position(r, g["O-Si"]) == pytest.approx(7.16 * np.sqrt(3) / 8, abs=width)
    assert first_peak_position(r, g["Si-Si"]) == pytest.approx(7.16 * np.sqrt(3) / 4, abs=width)
    r, g = partial_rdfs(bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (2, 2, 2), cutoff=6.0, bins=120)
    assert first_peak_position(r, g["Cl-Na"]) == pytest.approx(2.82, abs=r[1] - r[0])


def test_first_peak_agrees_with_scipy_find_peaks_on_noisy_curves_with_flat_tops():
    from scipy.signal import find_peaks

    rng = np.random.default_rng(3)
    r = np.linspace(0.05, 6.0, 120)
    checked = 0
    for k in range(200):
        g = np.round(np.clip(rng.normal(1.0, 0.6, r.size).cumsum() / 8.0, 0.0, None), 1)  # rounding: flat tops
        if k % 3 == 0:
            g[40:44] = 1.7  # a flat-topped peak
        padded = np.concatenate([[0.0], g, [0.0]])
        peaks, _ = find_peaks(padded, height=1.0)
        expected = r[peaks[0] - 1] if len(peaks) else np.nan
        np.testing.assert_equal(first_peak_position(r, g), expected)
        checked += bool(len(peaks))
    assert checked > 100
    assert np.isnan(first_peak_position(r, np.full(r.size, 0.5)))  # never reaches the threshold
    assert first_peak_position(r, np.linspace(0, 3, r.size)) == r[-1]  # rising to the last bin


def test_triclinic_cell_gives_the_same_metrics_as_its_orthogonal_equivalent():
    glass = disordered_silicon()
    tri = sheared_equivalent(glass)
    np.testing.assert_allclose(partial_rdfs(tri)[1]["Si-Si"], partial_rdfs(glass)[1]["Si-Si"], atol=1e-9)
    np.testing.assert_allclose(total_rdf(tri)[1], total_rdf(glass)[1], atol=1e-9)
    np.testing.assert_allclose(total_adf(tri)[1], total_adf(glass)[1], atol=1e-9)
    assert ring_size_distribution(tri, {"Si-Si": 2.7}, 12) == pytest.approx(ring_size_distribution(glass, {"Si-Si": 2.7}, 12))
    vol_tri = np.sort(voronoi_analysis(tri)[1])
    np.testing.assert_allclose(vol_tri, np.sort(voronoi_analysis(glass)[1]), rtol=1e-6)
    assert density_gcc(tri) == pytest.approx(density_gcc(glass))
    # multi-species in a triclinic cell: sheared cristobalite keeps its perfect network
    crist_tri = sheared_equivalent(ideal_cristobalite() * (2, 2, 1))
    assert ring_size_distribution(crist_tri, SIO2, 24) == pytest.approx({6: 2 * 2 * 16.0})


def test_voronoi_indices_fcc_is_rhombic_dodecahedron_and_icosahedron_is_twelve_pentagons():
    index, volume = voronoi_analysis(bulk("Cu", "fcc", a=3.6, cubic=True) * (3, 3, 3))
    assert np.all(index == [0, 12, 0, 0])
    np.testing.assert_allclose(volume, 3.6**3 / 4)
    # one ideal 13-atom icosahedron (Zr centre, Cu shell) alone in a large periodic box
    phi = (1 + 5**0.5) / 2
    verts = np.array([(0, s1, s2 * phi) for s1 in (-1, 1) for s2 in (-1, 1)], float)
    verts = np.vstack([np.roll(verts, k, axis=1) for k in range(3)])
    verts *= 2.7 / np.linalg.norm(verts[0])
    ico = ase.Atoms("ZrCu12", positions=np.vstack([[0, 0, 0], verts]) + 15.0, cell=[30, 30, 30], pbc=True)
    index, _ = voronoi_analysis(ico, radii={"Cu": 1.28, "Zr": 1.60})
    assert index[0].tolist() == [0, 0, 12, 0]


def test_quests_overlap_is_one_with_itself_and_low_with_a_random_box():
    glass = disordered_silicon()
    x = quests_descriptors(glass)
    assert quests_overlap(x, x, bandwidth=0.05) == 1.0
    assert quests_overlap(random_box_like(glass), glass, bandwidth=0.05) < 0.3
    crystal = bulk("Si", "diamond", a=5.431, cubic=True) * (3, 3, 3)
    assert information_entropy(crystal) < information_entropy(glass) < information_entropy(random_box_like(glass))
    assert len(quests_descriptors(glass, max_environments=50, seed=3)) == 50


def test_stillinger_weber_diamond_minimised_energy_is_the_cohesive_energy(tmp_path):
    si = bulk("Si", "diamond", a=5.431, cubic=True) * (2, 2, 2)
    assert minimized_energy_per_atom(si, "si_sw", tmp_path / "min.log") == pytest.approx(-4.3366, abs=1e-3)
    assert density_gcc(si) == pytest.approx(2.329, abs=1e-3)


def test_distribution_rmsd_is_zero_for_identical_curves_and_rejects_different_binning():
    assert distribution_rmsd([1, 2, 3], [1, 2, 3]) == 0.0
    assert distribution_rmsd([0, 0, 0, 0], [2, 0, 0, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="binning"):
        distribution_rmsd([1, 2], [1, 2, 3])


@pytest.mark.parametrize(
    "bad",
    [ase.Atoms(cell=[8, 8, 8], pbc=True), ase.Atoms("SiO2", positions=[[0, 0, 0], [1.6, 0, 0], [-1.6, 0, 0]])],
    ids=["empty", "non-periodic"],
)
@pytest.mark.parametrize(
    "metric",
    [
        lambda a: partial_rdfs(a),
        lambda a: total_rdf(a),
        lambda a: total_adf(a),
        lambda a: bond_angle_distributions(a, SIO2),
        lambda a: ring_size_distribution(a, SIO2),
        lambda a: voronoi_analysis(a),
        lambda a: density_gcc(a),
        lambda a: quests_descriptors(a),
        lambda a: analyze(a),
    ],
    ids=["partial_rdfs", "total_rdf", "total_adf", "angles", "rings", "voronoi", "density", "quests", "analyze"],
)
def test_every_metric_rejects_empty_or_non_periodic_input(metric, bad):
    with pytest.raises(ValueError, match="non-empty|periodic"):
        metric(bad)


def test_analyze_reports_silica_network_metrics_with_timings():
    crist = ideal_cristobalite() * (2, 2, 2)
    timings = {}
    scalars, dists = analyze(crist, {"bond_cutoffs": SIO2, "coordination": {"Si-O": 4}, "ring_max_length": 24},
                             timings=timings)
    assert scalars["ring_mean_size"] == 6.0
    assert scalars["defect_Si_O"] == 0.0
    assert scalars["rdf_first_peak_O_Si"] == pytest.approx(1.55, abs=0.05)
    assert scalars["density_gcc"] == pytest.approx(8 * 60.08 / 6.02214e23 / (7.16e-8) ** 3, rel=1e-3)
    assert {"rdf", "total_rdf", "total_adf", "adf", "rings"} <= set(dists)
    assert {"partial_rdf", "rings", "quests_entropy"} <= set(timings)
    with pytest.raises(ValueError, match="unknown analysis settings"):
        analyze(crist, {"bond_cutof": SIO2})


def test_ring_counts_of_a_disordered_network_agree_with_matscipy_shortest_path_rings():
    from matscipy.rings import ring_statistics

    net = ideal_cristobalite() * (4, 4, 4)  # 28.6 A: wide enough for matscipy, replicated for OVITO
    net.positions += np.random.default_rng(5).normal(0, 0.15, net.positions.shape)  # breaks some bonds
    net.wrap()
    ours = ring_size_distribution(net, SIO2, max_length=20)
    ref = ring_statistics(net, {("Si", "O"): 2.0, ("O", "Si"): 2.0}, maxlength=21)
    ref = {n // 2: float(c) for n, c in enumerate(ref) if c}
    assert len(ours) > 1  # a distribution, not the crystal's single ring size
    assert ours == pytest.approx(ref)


def test_neighbour_pairs_match_ase_in_a_skewed_cell_with_a_cutoff_beyond_half_the_box():
    """The analysis neighbour list (matscipy) against ASE's reference implementation: same pairs, same
    distances, periodic images of an atom included, in a triclinic cell smaller than twice the cutoff."""
    from ase.neighborlist import neighbor_list

    from amorphous_ml.validate.structure import neighbor_pairs

    rng = np.random.default_rng(5)
    cell = np.array([[6.0, 0.0, 0.0], [1.5, 5.5, 0.0], [0.7, -1.1, 6.2]])
    atoms = ase.Atoms("Si12", scaled_positions=rng.random((12, 3)), cell=cell, pbc=True)
    for cutoff in (2.5, 4.0, 5.0):
        i, j, d = neighbor_pairs(atoms, cutoff)
        ri, rj, rd = neighbor_list("ijd", atoms, cutoff)
        assert len(d) == len(rd) > 0
        assert sorted(zip(i.tolist(), j.tolist(), np.round(d, 9).tolist())) == \
            sorted(zip(ri.tolist(), rj.tolist(), np.round(rd, 9).tolist()))


def test_push_apart_separates_a_close_pair_across_the_periodic_boundary():
    from amorphous_ml.simulate.refine import push_apart

    atoms = ase.Atoms("Si2", positions=[[0.1, 2.0, 2.0], [4.7, 2.0, 2.0]], cell=[4.8, 4.0, 4.0], pbc=True)
    pushed, n_close = push_apart(atoms, 1.5)
    assert n_close == 1
    assert pushed.get_distance(0, 1, mic=True) >= 1.5 - 1e-9
    assert np.allclose(pushed.positions[:, 1:], atoms.positions[:, 1:])  # pushed along the pair's axis only
