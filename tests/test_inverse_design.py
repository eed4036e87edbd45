"""Inverse-design table (target vs achieved per model and property, MAE/RMSE inside and outside the training
range) and the configurable reference set of benchmark.csv."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk

from amorphous_ml import io
from amorphous_ml.validate.compare import benchmark_table, choose_reference
from amorphous_ml.validate.inverse import inverse_design_table, summary_table, training_ranges


def _training_set(path, values):
    frames = []
    for k, g in enumerate(values):
        a = bulk("Si", "diamond", a=5.43, cubic=True)
        a.info.update(sample=f"set_{k:04d}", shear_modulus_GPa=g)
        frames.append(a)
    io.write_structures(path, frames)
    return path


def test_errors_mae_and_rmse_per_model_and_property_inside_and_outside_the_training_range(tmp_path):
    train = _training_set(tmp_path / "set.extxyz", [30.0, 33.0, 36.0])
    assert training_ranges([train], ["shear_modulus_GPa"]) == {"shear_modulus_GPa": (30.0, 36.0)}
    # (target, achieved): two inside 30-36 GPa, one 20 % of the range above it (37.2) and one far above
    pairs = [(30.0, 31.0), (36.0, 33.0), (37.2, 35.0), (43.2, 38.4)]
    files = []
    for k, (target, achieved) in enumerate(pairs):
        files.append(tmp_path / f"m{k}.json")
        io.write_json(files[-1], {"model": "amden", "sample": f"Si_{target:g}ShearModulusGPa_s{k}", "seed": k,
                                  "targets": {"shear_modulus_GPa": target}, "achieved": {"shear_modulus_GPa": achieved}})
    table = inverse_design_table(files, {"amden": [str(train)]})
    errors = np.array([a - t for t, a in pairs])
    np.testing.assert_allclose(table["error"], errors)
    assert list(table["in_range"]) == [True, True, False, False]
    assert math.isclose(table["mae"].iloc[0], np.abs(errors).mean())
    assert math.isclose(table["rmse"].iloc[0], math.sqrt((errors ** 2).mean()))
    summary = summary_table(table).set_index("targets")
    assert summary.loc["inside", "n"] == 2 and math.isclose(summary.loc["inside", "mae"], 2.0)
    assert summary.loc["outside", "n"] == 2 and math.isclose(summary.loc["outside", "mae"], (2.2 + 4.8) / 2)
    assert math.isclose(summary.loc["all", "rmse"], math.sqrt((errors ** 2).mean()))


def _rec(source, comp="Si", rate=None):
    return {"id": {"source": source, "composition": comp, "cooling_rate": rate}}


def test_reference_set_is_the_configured_dataset_or_the_matching_simulated_glasses():
    records = [_rec("simulated", rate=10.0), _rec("simulated", rate=100.0), _rec("anneal"), _rec("anneal"),
               _rec("quench"), _rec("amden"), _rec("amden_hmc"), _rec("dm2", rate=100.0)]
    refs = {"amden": "anneal", "amden_hmc": "anneal"}
    assert choose_reference("amden", "Si", None, records, refs) == [records[2], records[3]]
    assert choose_reference("dm2", "Si", 100.0, records, refs) == [records[1]]
    assert choose_reference("amden_hmc", "Si", None, records, refs) == [records[2], records[3]]
    # a dataset that is no model's reference is compared with the glasses of its composition
    assert choose_reference("quench", "Si", None, records, refs) == records[:2]
    with pytest.raises(ValueError, match="needs 'melt' reference structures"):
        benchmark_table([_rec("amden")], references={"amden": "melt"})


def test_achieved_values_come_from_the_dataset_label_functions():
    from amorphous_ml.validate.inverse import measure_targets

    diamond = bulk("Si", "diamond", a=5.431, cubic=True)  # 2.329 g/cm^3 (8 x 28.0855 u in 5.431^3 A^3)
    diamond.info.update(target_density_g_cm3=2.2, model="amden")
    result = measure_targets(diamond, {})
    assert result["targets"] == {"density_g_cm3": 2.2}
    assert math.isclose(result["achieved"]["density_g_cm3"], 8 * 28.0855 / 6.02214076e23 / (5.431e-8) ** 3, rel_tol=1e-4)
    with pytest.raises(ValueError, match="no target_<property>"):
        measure_targets(bulk("Si", "diamond", a=5.431, cubic=True), {})
