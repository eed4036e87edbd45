"""Datasets simulated with LAMMPS (AMDEN's a-Si melt/quench/anneal sets, labelled small-cell a-SiO2) and the
label registry: sample plans, labels of structures with known answers, config errors (fast), and the real
workflow at tiny scale (slow)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from ase.build import bulk

from amorphous_ml.config import ConfigError, validate_config
from amorphous_ml.simulate.datasets import dataset_parts, dataset_samples, part_params, part_samples
from amorphous_ml.validate.labels import LABELS, check_labels, compute_labels, label_names
from conftest import ROOT


@pytest.fixture
def good():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _system(cfg, name):
    return validate_config(copy.deepcopy(cfg), source="config")["systems"][name]


# --------------------------------------------------------------------------------------- sample plans
def test_parts_cover_every_sample_once_with_distinct_seeds_and_cycled_sizes(good):
    sio2 = _system(good, "sio2")
    ds = sio2["datasets"]["small_cells"]
    samples = dataset_samples(sio2, "small_cells")
    assert len(samples) == ds["samples"]
    assert len({s.seed for s in samples}) == len(samples)
    assert [s.n_atoms for s in samples[:3]] == ds["n_atoms"]  # sizes cycle over the samples
    covered = [s.sample for p in dataset_parts(sio2, "small_cells") for s in part_samples(sio2, "small_cells", p)]
    assert covered == [s.sample for s in samples]
    si = _system(good, "si")
    assert dataset_parts(si, "melt") == ["liquid"]  # one sequential liquid run
    assert {s.seed for s in dataset_samples(si, "melt")} == {si["datasets"]["melt"]["seed"]}


def test_adding_samples_changes_only_the_params_of_the_last_and_new_parts(good):
    sio2 = _system(good, "sio2")
    before = {p: part_params(sio2, "small_cells", p) for p in dataset_parts(sio2, "small_cells")}
    more = copy.deepcopy(good)
    more["systems"]["sio2"]["datasets"]["small_cells"]["samples"] += 1  # 6 -> 7 with 2 per job
    sio2_more = _system(more, "sio2")
    after = {p: part_params(sio2_more, "small_cells", p) for p in dataset_parts(sio2_more, "small_cells")}
    changed = sorted(p for p in after if before.get(p) != after[p])
    assert changed == ["p0003"]
    # labels and batching are not generation params: changing them never reruns a simulation
    lab = copy.deepcopy(good)
    lab["systems"]["sio2"]["datasets"]["small_cells"]["labels"].append("energy_per_atom_eV")
    sio2_lab = _system(lab, "sio2")
    assert all(part_params(sio2_lab, "small_cells", p) == before[p] for p in before)


# ------------------------------------------------------------------------ labels with known answers
def _cristobalite():
    """Ideal beta-cristobalite: Si on the diamond sites of an a = 7.16 A cube, O on every Si-Si bond centre."""
    si = bulk("Si", "diamond", a=7.16, cubic=True)
    from ase import Atoms

    pos = si.get_positions()
    d = si.get_all_distances(mic=True, vector=True)
    oxygens = []
    for i in range(len(si)):
        for j in range(len(si)):
            if i < j and abs(np.linalg.norm(d[i, j]) - 7.16 * np.sqrt(3) / 4) < 1e-6:
                oxygens.append(pos[i] + d[i, j] / 2)
    atoms = Atoms("Si8" + f"O{len(oxygens)}", positions=np.vstack([pos, oxygens]), cell=si.cell, pbc=True)
    atoms.wrap()
    return atoms


def test_density_and_ring_labels_of_crystals_with_known_answers(good):
    sio2, si = _system(good, "sio2"), _system(good, "si")
    diamond = bulk("Si", "diamond", a=5.431, cubic=True)
    # diamond Si: 8 x 28.0855 u in (5.431 A)^3 = 2.329 g/cm^3; every shortest ring has 6 atoms
    got = compute_labels(diamond, ["density_g_cm3", "mean_ring_size"], si)
    assert got["density_g_cm3"] == pytest.approx(2.329, abs=0.002)
    assert got["mean_ring_size"] == pytest.approx(6.0)
    crist = _cristobalite()
    assert crist.get_chemical_formula() == "O16Si8"
    got = compute_labels(crist, ["density_g_cm3", "mean_ring_size"], sio2)
    # beta-cristobalite: 8 SiO2 in (7.16 A)^3 = 2.18 g/cm^3; six-membered rings counted in Si (12 atoms)
    assert got["density_g_cm3"] == pytest.approx(8 * 60.0843 / 7.16**3 * 1.66054, rel=1e-4)
    assert got["mean_ring_size"] == pytest.approx(6.0)


def test_shear_modulus_label_of_sw_diamond_matches_its_elastic_constants(good):
    # SW silicon (LAMMPS examples/ELASTIC): C11 151.4, C12 76.4, C44 56.4 GPa (relaxed); Voigt-Reuss-Hill G:
    c11, c12, c44 = 151.4, 76.4, 56.4
    gv = (c11 - c12 + 3 * c44) / 5
    gr = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    si = _system(good, "si")
    g = compute_labels(bulk("Si", "diamond", a=5.431, cubic=True).repeat(2), ["shear_modulus_GPa"], si)
    assert g["shear_modulus_GPa"] == pytest.approx((gv + gr) / 2, rel=0.02)


def test_label_registry_names_match_the_contract():
    assert {"shear_modulus_GPa", "mean_ring_size", "density_g_cm3"} <= set(label_names())
    assert all(lab.name == name for name, lab in LABELS.items())
    with pytest.raises(ValueError, match=r"labels\[0\]: unknown label 'G'"):
        check_labels(["G"])


# -------------------------------------------------------------------------------- bad config values
def _ds(cfg, system="sio2", name="small_cells"):
    return cfg["systems"][system]["datasets"][name]


BAD = {
    "unknown label": (lambda c: _ds(c)["labels"].append("youngs"), "systems.sio2.datasets.small_cells.labels[3]"),
    "unknown dataset key": (lambda c: _ds(c).update(frames=3), "systems.sio2.datasets.small_cells.frames"),
    "unknown protocol": (lambda c: _ds(c).update(protocol="anneal"), "systems.sio2.datasets.small_cells.protocol"),
    "zero samples": (lambda c: _ds(c).update(samples=0), "systems.sio2.datasets.small_cells.samples"),
    "bad dataset name": (lambda c: c["systems"]["sio2"]["datasets"].update({"Big-Cells": {"protocol": "liquid"}}),
                         "systems.sio2.datasets"),
    "melt_quench without a rate": (lambda c: _ds(c, "si", "anneal").pop("cooling_rate"),
                                   "systems.si.datasets.anneal.cooling_rate"),
    "melt_quench hold in NVT": (lambda c: _ds(c, "si", "anneal")["hold"].update(nvt_ps=1),
                                "systems.si.datasets.anneal.hold.nvt_ps"),
    "several sizes from one liquid": (lambda c: _ds(c, "si", "melt").update(n_atoms=[64, 128]),
                                      "systems.si.datasets.melt.n_atoms"),
    "rings without ring analysis": (lambda c: c["systems"]["cuzr"].setdefault("datasets", {}).update(
        x={"protocol": "liquid", "labels": ["mean_ring_size"]}), "systems.cuzr.datasets.x.labels[0]"),
    "element not in potential": (lambda c: _ds(c).update(composition="Na2O"),
                                 "systems.sio2.datasets.small_cells.composition"),
    "negative snapshot interval": (lambda c: _ds(c, "si", "melt").update(snapshot_every_ps=-1),
                                   "systems.si.datasets.melt.snapshot_every_ps"),
}


@pytest.mark.parametrize("case", sorted(BAD), ids=lambda s: s.replace(" ", "_"))
def test_bad_dataset_config_fails_with_one_line_naming_the_key(good, case):
    mutate, key = BAD[case]
    mutate(good)
    with pytest.raises(ConfigError) as err:
        validate_config(good, source="config.yaml")
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert f" {key}" in msg or f"{key}:" in msg, msg


# ------------------------------------------------------------------------------------ LAMMPS failure
def test_failed_lammps_part_raises_lammps_error_and_leaves_no_output(good, tmp_path):
    from amorphous_ml.simulate.datasets import dataset_part
    from amorphous_ml.simulate.lammps import LammpsError

    cfg = copy.deepcopy(good)
    cfg["systems"]["sio2"]["timestep_ps"] = 0.01  # 10 fs at 3500 K: atoms fly apart
    ds = cfg["systems"]["sio2"]["datasets"]["small_cells"]
    ds.update(n_atoms=[48], samples=1)
    sio2 = _system(cfg, "sio2")
    out = tmp_path / "parts" / "p0000.extxyz"
    with pytest.raises(LammpsError) as err:
        dataset_part("sio2", part_params(sio2, "small_cells", "p0000"), out, tmp_path / "logs")
    assert "ERROR" in str(err.value) and "tail of" in str(err.value)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # the scratch directory is gone too
