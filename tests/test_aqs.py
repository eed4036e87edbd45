"""AQS deformation (12 modes) and per-atom D2min labels.

D2min unit tests use crystals with known answers (affine maps give exactly zero; one displaced atom
disturbs only the neighbourhoods that contain it). LAMMPS tests deform a tiny Cu50Zr50 glass (200 atoms)
for a few strain steps.
"""

import copy

import ase
import numpy as np
import pytest
from ase.build import bulk

from amorphous_ml import io
from amorphous_ml.simulate.aqs import ALL_MODES, MODES, aqs_mode, label_steps, run_aqs_mode
from amorphous_ml.simulate.lammps import LammpsError
from amorphous_ml.simulate.protocols import elastic, melt_quench
from amorphous_ml.validate.aqs import aqs_labels, aqs_table, d2min, label_name, plot_aqs

# ------------------------------------------------------------------------------------ D2min (OVITO)
DEFORMATIONS = {
    "shear_xy_0.1": [[1, 0.1, 0], [0, 1, 0], [0, 0, 1]],
    "tension_x_0.14": [[1.14, 0, 0], [0, 1, 0], [0, 0, 1]],
    "general": [[1.03, 0.05, -0.02], [0.01, 0.97, 0.08], [0.0, -0.04, 1.1]],
}


def _disordered_crystal(seed=0, sigma=0.1):
    a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 5))
    a.positions += np.random.default_rng(seed).normal(0, sigma, a.positions.shape)
    a.wrap()
    return a


def _deform(atoms, F):
    b = atoms.copy()
    b.set_cell(atoms.cell[:] @ np.asarray(F, float).T, scale_atoms=True)
    b.wrap()  # atoms cross the periodic boundaries: D2min must use the minimum image
    return b


@pytest.mark.parametrize("name", sorted(DEFORMATIONS))
def test_d2min_of_an_affinely_deformed_structure_is_zero(name):
    ref = _disordered_crystal()
    values, n_invalid = d2min(ref, _deform(ref, DEFORMATIONS[name]), cutoff=3.0)
    assert n_invalid == 0
    # exact in arithmetic; float rounding of ~1e-15 A in positions gives D2min ~ 1e-28 A^2
    assert np.nanmax(values) < 1e-20


def test_one_displaced_atom_has_nonzero_d2min_only_within_the_cutoff_around_it():
    ref = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 4))
    cur = _deform(ref, DEFORMATIONS["shear_xy_0.1"])  # an affine background does not matter
    cur.positions[0] += [0.2, -0.1, 0.05]
    cutoff = 3.0  # fcc first shell at 2.55 A, second at 3.6 A
    values, _ = d2min(ref, cur, cutoff)
    dist = ref.get_distances(0, range(len(ref)), mic=True)
    near = dist < cutoff  # atom 0 and the 12 atoms that count it as a neighbour
    assert near.sum() == 13
    assert np.all(values[near] > 1e-4), values[near]
    assert np.all(values[~near] < 1e-20)


def test_atoms_with_too_few_neighbours_are_nan_and_counted_not_zero():
    ref = _disordered_crystal(sigma=0.05)
    ref.cell[2, 2] += 12.0  # vacuum above the crystal
    lone = ase.Atoms("Cu", positions=[[3.0, 3.0, ref.cell[2, 2] - 6.0]])
    ref += lone
    values, n_invalid = d2min(ref, _deform(ref, DEFORMATIONS["general"]), cutoff=3.0)
    assert n_invalid == 1 and np.isnan(values[-1]) and np.all(np.isfinite(values[:-1]))


def _mode_files(tmp_path, ref, strains, rng):
    """One extxyz per mode as `aqs-mode` writes it: strain 0 and each label strain (affine + noise)."""
    files = []
    for mode, (comp, sign) in MODES.items():
        frames = []
        for s in [0.0] + list(strains):
            F = np.eye(3)
            i, j = {"xx": (0, 0), "yy": (1, 1), "zz": (2, 2), "xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}[comp]
            F[i, j] += sign * s
            fr = _deform(ref, F) if s else ref.copy()
            if s:
                fr.positions += rng.normal(0, 0.02 * s, fr.positions.shape)  # non-affine part grows with strain
            fr.info.update(aqs_mode=mode, aqs_strain=s, aqs_step=int(round(s / 0.01)), composition="Cu")
            frames.append(fr)
        path = tmp_path / f"{mode}.extxyz"
        io.write_structures(path, frames)
        files.append(path)
    return files


def test_labels_average_ln_d2min_over_modes_and_exclude_invalid_atoms(tmp_path):
    ref = _disordered_crystal(sigma=0.05)
    ref.cell[2, 2] += 12.0
    ref += ase.Atoms("Cu", positions=[[3.0, 3.0, ref.cell[2, 2] - 6.0]])  # no neighbours: no label
    files = _mode_files(tmp_path, ref, [0.01, 0.05], np.random.default_rng(1))
    out = aqs_labels(files, cutoff=3.0, label_strains=[0.01, 0.05])
    assert out.info["aqs_modes"] == list(ALL_MODES)
    for s in (0.01, 0.05):
        per_mode = np.array([out.arrays[label_name(s, m)] for m in ALL_MODES])
        mean = out.arrays[label_name(s)]
        assert np.isnan(mean[-1]) and np.all(np.isnan(per_mode[:, -1]))
        np.testing.assert_allclose(mean[:-1], per_mode[:, :-1].mean(axis=0))
        assert out.info["d2min_invalid"][f"{s:g}"] == {m: 1 for m in ALL_MODES}
        assert out.info["ln_d2min_nan"][f"{s:g}"] == 1
    # 5x the non-affine noise: 25x the D2min, ln larger by ln 25
    d = np.nanmean(out.arrays[label_name(0.05)] - out.arrays[label_name(0.01)])
    assert d == pytest.approx(np.log(25), abs=0.15)
    np.testing.assert_allclose(out.positions, ref.positions, atol=1e-7)  # labels sit on the undeformed structure
    io.write_structures(tmp_path / "labels.extxyz", out)
    back = io.read_structure(tmp_path / "labels.extxyz")
    np.testing.assert_allclose(back.arrays["ln_d2min_0.05"], out.arrays["ln_d2min_0.05"], atol=1e-7)
    assert back.info["d2min_invalid"]["0.05"]["tension_x"] == 1


def test_labels_refuse_modes_that_started_from_different_structures(tmp_path):
    ref = _disordered_crystal(sigma=0.05)
    files = _mode_files(tmp_path, ref, [0.01], np.random.default_rng(2))
    frames = io.read_structures(files[3])
    frames[0].positions[5] += 0.3  # this mode's inherent structure is another one
    io.write_structures(files[3], frames)
    with pytest.raises(ValueError, match="inherent structures of the modes differ"):
        aqs_labels(files, cutoff=3.0, label_strains=[0.01])


def test_label_strains_must_lie_on_the_strain_grid():
    assert label_steps(0.0025, [0.05, 0.01, 0.14], 0.14) == [4, 20, 56]
    with pytest.raises(ValueError, match="multiple"):
        label_steps(0.0025, [0.011], 0.14)
    with pytest.raises(ValueError, match="exceeds"):
        label_steps(0.0025, [0.15], 0.14)


# --------------------------------------------------------------------------- LAMMPS (tiny glass)
AQS = {"strain_step": 0.001, "max_strain": 0.002, "label_strains": [0.001, 0.002],
       "minimize": {"etol": 0.0, "ftol": 1e-8, "maxiter": 50000, "maxeval": 500000, "dmax": 0.1}}


@pytest.fixture(scope="module")
def cuzr(tiny_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aqs_glass")
    system = copy.deepcopy(tiny_config["systems"]["cuzr"])
    glass = melt_quench("cuzr", system, "Cu50Zr50", 500, 1, tmp / "g.extxyz", tmp / "g.data", tmp / "g.log")
    system["aqs"] = copy.deepcopy(AQS)
    return system, glass


def _stress(curve, comp, strain):
    row = curve[np.isclose(curve["strain"], strain)]
    return float(row[f"s{comp}_GPa"].iloc[0])


def test_aqs_mode_writes_the_curve_and_frames_at_the_label_strains(tmp_path, cuzr):
    system, glass = cuzr
    frames, curve = aqs_mode(system, glass, "shear_xz_plus", tmp_path / "m.extxyz", tmp_path / "m.csv",
                             tmp_path / "m.log")
    assert list(curve["strain"]) == pytest.approx([0.0, 0.001, 0.002])
    assert [f.info["aqs_strain"] for f in frames] == pytest.approx([0.0, 0.001, 0.002])
    lz = frames[0].cell[2, 2]
    assert frames[2].cell[2, 0] == pytest.approx(0.002 * lz, rel=1e-6)  # xz tilt = strain x height
    assert frames[0].cell[1, 0] == frames[0].cell[2, 1] == 0.0
    assert (curve["stop"] != "max iterations").all() and (curve["iterations"] > 0).all()
    back = io.read_structures(tmp_path / "m.extxyz")
    assert back[1].get_potential_energy() == pytest.approx(curve["pe_eV"].iloc[1])
    assert back[0].info["aqs_mode"] == "shear_xz_plus" and "potential_sha256" in back[0].info
    table = aqs_table([tmp_path / "m.csv"], tmp_path / "aqs.csv")
    assert list(table["sample"].unique()) == ["Cu50Zr50_500Kps_s1"] and len(table) == 3
    plot_aqs(table, tmp_path / "aqs.png")
    assert (tmp_path / "aqs.png").stat().st_size > 1000


def test_aqs_tension_x_gives_the_modulus_of_the_elastic_rule(tmp_path, cuzr):
    # Uniaxial strain along x (lateral box fixed): the slope of sigma_xx is C11. The elastic rule takes
    # C11 from +/- 0.2 % deformations of the same inherent structure, so the central difference of
    # tension_x and compression_x at 0.2 % is the same quantity reached in two steps instead of one:
    # equal to 1 % unless a plastic event happens (none at 0.2 % in this glass).
    system, glass = cuzr
    el = elastic(dict(system, elastic={"strain": 0.002}), glass, tmp_path / "el.log")
    C = np.array(el["C_GPa"])
    _, t = run_aqs_mode(system, glass, "tension_x", tmp_path / "t.log")
    _, c = run_aqs_mode(system, glass, "compression_x", tmp_path / "c.log")
    c11 = (_stress(t, "xx", 0.002) - _stress(c, "xx", 0.002)) / (2 * 0.002)
    assert c11 == pytest.approx(C[0, 0], rel=0.01)
    # An isotropic glass: the one-sided slope along x against the isotropic P-wave modulus K + 4G/3
    # (Voigt-Reuss-Hill of the elastic rule). Sampling noise of a 200-atom glass: the diagonal moduli
    # C11, C22, C33 of one sample spread by several per cent; allow 3 of their standard deviations plus
    # 3 % for the first nonlinear term of the one-sided slope.
    slope = (_stress(t, "xx", 0.002) - _stress(t, "xx", 0.0)) / 0.002
    m_iso = el["K_GPa"] + 4 * el["G_GPa"] / 3
    noise = np.std(np.diag(C)[:3], ddof=1)
    assert noise < 0.15 * m_iso  # the glass is isotropic at all
    assert abs(slope - m_iso) < 3 * noise + 0.03 * m_iso, (slope, m_iso, np.diag(C)[:3])
    assert 100 < slope < 250  # GPa: C11 of Cu-Zr glasses is ~140-170 GPa


@pytest.mark.parametrize("plane", ["xy", "xz", "yz"])
def test_opposite_shear_senses_give_stresses_of_opposite_sign(tmp_path, cuzr, plane):
    system, glass = cuzr
    change = {}
    for sense in ("plus", "minus"):
        _, curve = run_aqs_mode(system, glass, f"shear_{plane}_{sense}", tmp_path / f"{sense}.log")
        # stress relative to the inherent structure, which carries a residual shear stress of its own
        change[sense] = _stress(curve, plane, 0.001) - _stress(curve, plane, 0.0)
    assert change["plus"] > 0 > change["minus"]
    # linear response: equal magnitudes (G * 0.001 ~ 0.03 GPa); a fast-quenched 200-atom glass has soft
    # spots whose response is already nonlinear at 0.1 % (measured: up to 7 % apart in yz), so 15 %
    assert change["plus"] == pytest.approx(-change["minus"], rel=0.15)
    assert 0.01 < change["plus"] < 0.06


def test_lammps_failure_in_a_mode_fails_with_the_lammps_error_and_writes_no_output(tmp_path, cuzr):
    system, glass = cuzr
    # 97 % compression in one step: the neighbour list overflows and LAMMPS stops with an ERROR
    bad = dict(system, aqs=dict(system["aqs"], strain_step=0.97, max_strain=0.97, label_strains=[0.97]))
    out, csv = tmp_path / "modes" / "compression_x.extxyz", tmp_path / "modes" / "compression_x.csv"
    with pytest.raises(LammpsError) as err:
        aqs_mode(bad, glass, "compression_x", out, csv, tmp_path / "bad.log")
    assert "ERROR" in str(err.value) and "tail of" in str(err.value)
    assert not out.exists() and not csv.exists()
    assert not list((tmp_path / "modes").iterdir())  # no scratch directory left behind


def test_unconverged_minimisation_fails_the_mode(tmp_path, cuzr):
    system, glass = cuzr
    bad = dict(system, aqs=dict(system["aqs"], minimize=dict(system["aqs"]["minimize"], maxiter=3)))
    with pytest.raises(LammpsError, match="stopped on 'max iterations'"):
        aqs_mode(bad, glass, "tension_y", tmp_path / "m.extxyz", tmp_path / "m.csv", tmp_path / "m.log")
    assert not (tmp_path / "m.extxyz").exists() and not (tmp_path / "m.csv").exists()


def test_aqs_filters_select_glasses_by_composition_rate_and_index():
    from amorphous_ml.simulate.aqs import aqs_samples_filter

    system = {"aqs": {"enabled": True, "compositions": ["Cu64Zr36"], "cooling_rates": [10], "samples_per_rate": 2}}
    assert aqs_samples_filter(system, "Cu64Zr36", 10.0, 1)
    assert not aqs_samples_filter(system, "Cu64Zr36", 10.0, 2)  # only the first 2 per rate
    assert not aqs_samples_filter(system, "Cu50Zr50", 10.0, 0) and not aqs_samples_filter(system, "Cu64Zr36", 100, 0)
    everything = {"aqs": {"enabled": True, "compositions": None, "cooling_rates": None, "samples_per_rate": None}}
    assert aqs_samples_filter(everything, "Cu50Zr50", 500, 7)
    assert not aqs_samples_filter({"aqs": dict(everything["aqs"], enabled=False)}, "Cu50Zr50", 500, 0)
    assert not aqs_samples_filter({}, "Cu50Zr50", 500, 0)
