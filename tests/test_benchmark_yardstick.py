"""The benchmark's yardstick: a permutation test at matched sizes, per-rate rows, trend checks, QUESTS both ways.

Must hold (issue 15): two halves of one simulated set are inside the noise, glasses a decade of cooling
rate apart are not (real LAMMPS melt-quenches, made here); a target rate without simulated glasses is
never scored against other rates (it gets a trend check in log10(rate) instead).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from amorphous_ml.validate.compare import (SetFeatures, benchmark_table, permutation_test, sample_identity,
                                           trend_check)


def _record(source, rate, seed, **scalars):
    return {"id": {"source": source, "model": "md" if source == "simulated" else source,
                   "stage": "md" if source == "simulated" else "refined", "composition": "SiO2",
                   "cooling_rate": float(rate), "seed": seed, "sample": f"SiO2_{rate:g}Kps_s{seed}"},
            "scalars": scalars, "distributions": {}}


def _trend_set(rng, rates=(100.0, 50.0, 25.0), per_rate=3, slope=-0.02, noise=0.003):
    """Simulated densities on a line in log10(rate) with Gaussian sample noise."""
    recs = []
    for rate in rates:
        for k in range(per_rate):
            rho = 2.2 + slope * math.log10(rate) + rng.normal(0, noise)
            recs.append(_record("simulated", rate, len(recs) + 1, density_gcc=rho, energy_per_atom_min=-18.4 + rho))
    return recs


def test_out_of_range_targets_get_a_trend_check_and_never_an_in_range_row():
    rng = np.random.default_rng(0)
    sims = _trend_set(rng)
    gen = [_record("dm2", 100, 1000 + k, density_gcc=2.16 + rng.normal(0, 0.003), energy_per_atom_min=-16.24)
           for k in range(4)]
    # 5 K/ps lies outside the simulated 25-100 K/ps: on the trend, and far off it
    on_trend = 2.2 - 0.02 * math.log10(5)
    gen += [_record("dm2", 5, 2000 + k, density_gcc=on_trend + rng.normal(0, 0.003),
                    energy_per_atom_min=-18.4 + on_trend) for k in range(3)]
    gen += [_record("far", 5, 3000 + k, density_gcc=on_trend + 0.1, energy_per_atom_min=-18.0) for k in range(3)]
    table = benchmark_table(sims + gen, {"quests_max_environments": 0})
    five = table[table["cooling_rate"] == 5.0]
    assert set(five["test"]) == {"trend"} and not five["in_range"].any()
    assert set(five["metric"]) == {"density_gcc", "energy_per_atom_min"}
    perm = table[table["test"] == "permutation"]
    assert set(perm["cooling_rate"]) == {100.0}  # only the rate that has simulated glasses
    assert (perm["n_reference"] == 3).all()  # the 3 glasses at 100 K/ps, not all 9
    on = five[(five["source"] == "dm2")].set_index("metric")
    off = five[(five["source"] == "far")].set_index("metric")
    assert on.loc["density_gcc", "expected"] == pytest.approx(on_trend, abs=0.01)
    assert on.loc["density_gcc", "expected_sd"] > 0
    assert on.loc["density_gcc", "verdict"] == "inside" and off.loc["density_gcc", "verdict"] == "outside"
    assert off.loc["density_gcc", "p_value"] < 1e-3


def test_raw_and_refined_structures_get_their_own_rows_and_the_refinement_change():
    rng = np.random.default_rng(2)
    sims = [_record("simulated", 100, k, energy_per_atom_min=-18.43 + rng.normal(0, 0.01)) for k in range(1, 4)]
    refined = [_record("dm2", 100, 1000 + k, energy_per_atom_min=-18.40 + rng.normal(0, 0.01)) for k in range(4)]
    raw = [_record("dm2", 100, 1000 + k, energy_per_atom_min=-18.0 + rng.normal(0, 0.01)) for k in range(4)]
    for r in raw:
        r["id"]["stage"] = "raw"
    table = benchmark_table(sims + refined + raw, {"quests_max_environments": 0})
    e = table[(table["metric"] == "d_energy_per_atom_min") & (table["source"] == "dm2")].set_index("stage")
    assert set(e.index) == {"raw", "refined"}
    assert e.loc["raw", "distance"] > 0.35 and e.loc["refined", "distance"] < 0.1
    assert e.loc["refined", "raw_distance"] == pytest.approx(e.loc["raw", "distance"])
    assert e.loc["refined", "refinement_change"] == pytest.approx(e.loc["refined", "distance"] - e.loc["raw", "distance"])


def test_a_structure_scored_twice_as_raw_counts_once():
    """Refinement with 0 ps MD is minimisation only: its 'refined' records are stage raw, the same structures
    as the minimised-only records. The benchmark must count each sample once."""
    rng = np.random.default_rng(3)
    sims = [_record("simulated", 100, k, energy_per_atom_min=-18.43 + rng.normal(0, 0.01)) for k in range(1, 5)]
    raw = [_record("dm2", 100, 1000 + k, energy_per_atom_min=-18.40 + rng.normal(0, 0.01)) for k in range(4)]
    for r in raw:
        r["id"]["stage"] = "raw"
    twice = raw + [{**r, "id": dict(r["id"])} for r in raw]
    once = benchmark_table(sims + raw, {"quests_max_environments": 0})
    table = benchmark_table(sims + twice, {"quests_max_environments": 0})
    e = table[(table["metric"] == "d_energy_per_atom_min") & (table["source"] == "dm2")]
    assert list(e["n_samples"]) == [4]
    assert e["p_value"].iloc[0] == pytest.approx(
        once[(once["metric"] == "d_energy_per_atom_min") & (once["source"] == "dm2")]["p_value"].iloc[0])


def test_trend_check_uncertainty_grows_with_the_extrapolation_distance():
    sims = _trend_set(np.random.default_rng(1))
    gen = [_record("dm2", 1, 1, density_gcc=2.2)]
    near = trend_check(gen, sims, 20.0, "density_gcc")
    far = trend_check(gen, sims, 0.01, "density_gcc")
    assert far["expected_sd"] > 3 * near["expected_sd"]
    assert trend_check(gen, sims[:2], 5.0, "density_gcc") is None  # 2 samples carry no uncertainty


def test_too_few_samples_to_reach_significance_are_untestable_not_inside():
    sims = [_record("simulated", 100, k, density_gcc=2.2 + 0.001 * k) for k in range(1, 3)]
    gen = [_record("dm2", 100, 1001, density_gcc=3.0)]  # absurd, but 1 vs 2 samples: 3 splits
    row = {r["metric"]: r for r in permutation_test(gen, sims, {"quests_max_environments": 0})}["d_density_gcc"]
    assert row["n_splits"] == 3 and row["p_min"] == pytest.approx(1 / 3)
    assert row["verdict"] == "untestable"


def test_quests_overlap_uses_equal_environment_counts_and_both_directions(tmp_path):
    """A narrow set is 'covered' by a broad one but not the reverse; unequal set sizes are equalised."""
    from test_analysis_compare import cristobalite_like

    from amorphous_ml.validate.structure import quests_descriptors

    recs = []
    for k, rattle in enumerate([0.05] * 2 + [0.2] * 4):
        d = tmp_path / f"{k}.npy"
        np.save(d, quests_descriptors(cristobalite_like(k, rattle=rattle)))
        recs.append({**_record("simulated" if rattle > 0.1 else "narrow", 100, k), "descriptors_file": str(d)})
    feats = SetFeatures(recs, {"quests_overlap_bandwidths": [0.05]})
    a, b = np.array([0, 1]), np.array([2, 3, 4, 5])
    ea, eb = feats.environment_indices(a, b)
    assert len(ea) == len(eb) == 2 * 192  # 2 narrow structures' environments against as many broad ones
    d = feats.distances(a, b)
    assert d["quests_nonoverlap_gen_h0.05"] < 0.1 < 0.3 < d["quests_nonoverlap_ref_h0.05"]


def test_sample_ids_must_parse_unambiguously_and_seeds_are_ints():
    ident = sample_identity({"seed": np.int64(7)}, "dm2", "SiO2_0.1Kps_s7")
    assert ident["seed"] == 7 and type(ident["seed"]) is int and ident["cooling_rate"] == 0.1
    assert sample_identity({"seed": "12"}, "simulated", "Cu64Zr36_1e-2Kps_s12")["seed"] == 12
    for bad in ("SiO2_0_1Kps_s0", "SiO2_Kps_s1", "SiO2_1.2.3Kps_s1", "sio2_1Kps_s1", "SiO2_1Kps_sx"):
        with pytest.raises(ValueError, match="does not parse"):
            sample_identity({}, "dm2", bad)


# ------------------------------------------------------------- must hold, on real melt-quenched glass
def _glasses(tmp_path, rate, seeds):
    """Real a-SiO2 (BJP, 300 atoms) melt-quenched by LAMMPS from 5000 K at ``rate`` K/ps (1 ps melt)."""
    from conftest import TINY

    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.protocols import melt_quench
    from amorphous_ml.validate.structure import analyze

    system = load_config(TINY)["systems"]["sio2"]
    system["n_atoms"] = 300
    system["melt"].update(nvt_ps=0.5, npt_ps=0.5)
    system["quench"].update(anneal_ps=0.5)
    settings = {"bond_cutoffs": {"Si-O": 2.0}, "coordination": {"Si-O": 4, "O-Si": 2}, "ring_max_length": 0,
                "quests_max_environments": 0}
    recs = []
    for seed in seeds:
        g = melt_quench("sio2", system, "SiO2", rate, seed, tmp_path / f"{rate:g}_{seed}.extxyz",
                        tmp_path / f"{rate:g}_{seed}.data", tmp_path / "log.lammps")
        scalars, dists = analyze(g, settings, potential="sio2_bjp")
        recs.append({"id": sample_identity(g.info, "simulated", f"SiO2_{rate:g}Kps_s{seed}"),
                     "scalars": scalars, "distributions": dists})
    return recs, settings


@pytest.mark.slow
def test_permutation_test_separates_a_decade_of_cooling_rate_but_not_two_halves_of_one_set(tmp_path):
    """Fast quenches (1e4 and 1e3 K/ps, 10 glasses of 300 atoms, ~1 min of MD on an idle core; 12 min
    measured at a load of 9 on 2 cores) keep the test cheap: the slower glass relaxes to a lower minimised
    energy. At 150 atoms the sample spread (0.03 eV/atom) was as large as the decade's shift: 300 atoms."""
    fast, settings = _glasses(tmp_path, 10000.0, range(1, 7))
    slow, _ = _glasses(tmp_path, 1000.0, range(11, 15))
    halves = {r["metric"]: r for r in permutation_test(fast[0::2], fast[1::2], settings)}
    for metric in ("d_energy_per_atom_min", "d_density_gcc", "rdf_rmsd", "adf_rmsd"):
        assert halves[metric]["n_splits"] == 20
        assert halves[metric]["p_value"] > 0.05, (metric, halves[metric])
        assert halves[metric]["verdict"] == "inside"
    decade = {r["metric"]: r for r in permutation_test(slow, fast, settings)}
    energy = decade["d_energy_per_atom_min"]
    assert energy["n_splits"] == 210
    assert energy["p_value"] < 0.05 and energy["verdict"] == "outside", energy
    assert energy["difference"] < 0  # the slower quench relaxed to a lower energy


def test_uts_from_the_smoothed_curve_removes_the_upward_bias_of_a_noisy_maximum():
    """A raw maximum of a noisy curve sits ~2 noise sigmas above the true peak; the smoothed one does not."""
    import pandas as pd

    from amorphous_ml.mechanics import fracture_metrics

    strain = np.arange(0, 0.5, 0.002)
    true = 100 * strain * np.exp(-strain / 0.2)  # peak 7.36 GPa at strain 0.2
    raw_err, smooth_err, where = [], [], []
    for seed in range(20):
        noisy = true + np.random.default_rng(seed).normal(0, 0.5, len(strain))
        m = fracture_metrics(pd.DataFrame({"strain": strain, "szz_GPa": noisy}), 0.03, 0.1, smoothing_strain=0.04)
        raw_err.append(m["UTS_raw_GPa"] - true.max())
        smooth_err.append(m["UTS_GPa"] - true.max())
        where.append(m["strain_at_UTS"])
    assert np.mean(raw_err) > 0.8  # biased upward by the noise
    assert abs(np.mean(smooth_err)) < 0.25 and abs(np.mean(smooth_err)) < np.mean(raw_err) / 4
    assert abs(np.mean(where) - 0.2) < 0.03
    flat = fracture_metrics(pd.DataFrame({"strain": strain, "szz_GPa": true}), 0.03, 0.1, smoothing_strain=0.0)
    assert flat["UTS_GPa"] == pytest.approx(true.max())  # 0: no smoothing
