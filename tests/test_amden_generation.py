"""AMDEN training and sampling: loss goes down, ghosts never leave the sampler, seeds, guidance, targets,
HMC bookkeeping, charge-balance retries; an end-to-end run whose structure LAMMPS (SW) minimises."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from matscipy.neighbours import neighbour_list

from amorphous_ml.generate.amden import check_targets, generate_amden, is_charge_balanced, retry_unbalanced
from amorphous_ml.learn.amden import train_amden
from amorphous_ml.learn.train import load_model

sys.path.insert(0, str(Path(__file__).parent))
from amden_fixtures import TINY, random_silica, rattled_si, saved_tiny_model  # noqa: E402

FAST = {"steps": 8, "batch_size": 2}


@pytest.fixture(scope="module")
def si_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("amden") / "si.pt"
    return saved_tiny_model(path, rattled_si(3), properties=["shear_modulus_GPa"])


@pytest.fixture(scope="module")
def si_energy_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("amden") / "si_e.pt"
    return saved_tiny_model(path, rattled_si(2), energy=True)


def test_no_ghost_atom_survives_and_every_node_is_accounted_for(si_model):
    structures, report = generate_amden(si_model, 3, None, {"generation": FAST}, seed=4, progress=False)
    assert len(structures) == 3
    volume = structures[0].get_volume()
    for atoms, ghosts in zip(structures, report["ghosts_removed"]):
        assert "X" not in atoms.get_chemical_symbols() and (atoms.numbers > 0).all()
        assert set(atoms.get_chemical_symbols()) <= {"Si"}
        assert len(atoms) + ghosts == atoms.info["n_nodes"] == int(0.1 * volume)  # ghost density 0.1 / A^3
        assert atoms.info["n_ghosts_removed"] == ghosts
        frac = atoms.get_scaled_positions(wrap=False)
        assert (frac >= -1e-9).all() and (frac < 1 + 1e-9).all()
    assert sum(report["ghosts_removed"]) > 0  # the untrained model does make ghosts: they were removed


def test_generation_is_reproducible_with_a_seed(si_model):
    a, _ = generate_amden(si_model, 2, {"shear_modulus_GPa": 31.0}, {"generation": FAST}, seed=11, progress=False)
    b, _ = generate_amden(si_model, 2, {"shear_modulus_GPa": 31.0}, {"generation": FAST}, seed=11, progress=False)
    c, _ = generate_amden(si_model, 2, {"shear_modulus_GPa": 31.0}, {"generation": FAST}, seed=12, progress=False)
    for x, y in zip(a, b):
        assert x.get_chemical_symbols() == y.get_chemical_symbols()
        assert np.array_equal(x.positions, y.positions)
    assert not np.array_equal(a[0].positions[:5], c[0].positions[:5])
    assert a[0].info["seed"] == 11 and a[1].info["seed"] == 12 and a[0].info["target_shear_modulus_GPa"] == 31.0


def test_interrupted_generation_resumes_after_the_last_finished_batch(si_model, tmp_path, monkeypatch):
    import amorphous_ml.generate.amden as sampler

    params = {"generation": {**FAST, "batch_size": 1}}
    full, rep_full = generate_amden(si_model, 3, {"shear_modulus_GPa": 31.0}, params, 8, progress=False)
    real = sampler.reverse_sde
    calls = []

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(sampler, "reverse_sde", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_amden(si_model, 3, {"shear_modulus_GPa": 31.0}, params, 8, progress=False, work_dir=tmp_path)
    assert len(list(tmp_path.glob("amden_generate_*/samples_*.pt"))) == 1
    calls.clear()
    monkeypatch.setattr(sampler, "reverse_sde", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    again, rep = generate_amden(si_model, 3, {"shear_modulus_GPa": 31.0}, params, 8, progress=False, work_dir=tmp_path)
    assert len(calls) == 2  # the first batch (one sample) was not recomputed
    for x, y in zip(full, again):
        assert x.get_chemical_symbols() == y.get_chemical_symbols() and np.array_equal(x.positions, y.positions)
    assert rep["n_atoms"] == rep_full["n_atoms"] and not list(tmp_path.glob("amden_generate_*"))


def test_guidance_weight_changes_the_samples_only_when_positive(si_model):
    kw = dict(targets={"shear_modulus_GPa": 33.0}, seed=3, progress=False)
    plain, _ = generate_amden(si_model, 1, kw["targets"], {"generation": FAST}, 3, progress=False)
    w0, _ = generate_amden(si_model, 1, kw["targets"], {"generation": {**FAST, "guidance_w": 0.0}}, 3, progress=False)
    w2, rep = generate_amden(si_model, 1, kw["targets"], {"generation": {**FAST, "guidance_w": 2.0}}, 3, progress=False)
    assert np.array_equal(plain[0].positions, w0[0].positions)
    assert len(w2[0]) != len(plain[0]) or not np.allclose(w2[0].positions, plain[0].positions)
    assert rep["guidance_w"] == 2.0


def test_bad_property_name_and_unreachable_target_are_one_line_errors_naming_the_key(si_model):
    cfg = load_model(si_model).cfg
    lo, hi = cfg.extra["property_stats"]["shear_modulus_GPa"]["min"], cfg.extra["property_stats"]["shear_modulus_GPa"]["max"]
    check_targets(cfg, {"shear_modulus_GPa": hi + 0.2 * (hi - lo)})  # 20 % outside the range: allowed
    with pytest.raises(ValueError, match=r"^targets\.young_modulus_GPa: not a property") as err:
        generate_amden(si_model, 1, {"young_modulus_GPa": 50.0}, {"generation": FAST}, 0, progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"^targets\.shear_modulus_GPa = 500 is unreachable") as err:
        generate_amden(si_model, 1, {"shear_modulus_GPa": 500.0}, {"generation": FAST}, 0, progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="targets.shear_modulus_GPa = nan"):
        check_targets(cfg, {"shear_modulus_GPa": float("nan")})


def test_hmc_needs_the_energy_variant_and_reports_acceptance_per_t_band(si_model, si_energy_model):
    hmc = {**FAST, "steps": 10, "hmc": {"enabled": True, "leapfrog_steps": 3}}
    with pytest.raises(ValueError, match="generation.hmc.enabled needs the energy-based variant"):
        generate_amden(si_model, 1, None, {"generation": hmc}, 0, progress=False)
    structures, report = generate_amden(si_energy_model, 2, None, {"generation": hmc}, 0, progress=False)
    acc = report["hmc"]["acceptance"]
    # t grid 0.99 -> 0.01 in 10 steps: the steps starting at t = 0.5, 0.402, 0.304, 0.206, 0.108 get one
    # move each (bands are (lo, hi])
    assert {k: v["moves"] for k, v in acc.items()} == {"0.10-0.20": 2, "0.20-0.30": 2, "0.30-0.40": 2, "0.40-0.50": 4}
    for band in acc.values():
        assert 0 <= band["accepted"] <= band["moves"] and band["rate"] == band["accepted"] / band["moves"]
    assert all("X" not in a.get_chemical_symbols() for a in structures)


def test_retry_counting_follows_each_sample():
    """Sample 0 balanced at once, 1 after two re-denoisings, 2 never (gives up after max_retries)."""
    state = {0: 0, 1: -2, 2: -99}
    calls = []

    def redenoise(idx):
        calls.append(list(idx))
        for k in idx:
            state[k] += 1

    retries, first = retry_unbalanced(3, lambda k: state[k] >= 0, redenoise, max_retries=4)
    assert retries == [0, 2, 4] and first == [1, 2]
    assert calls == [[1, 2], [1, 2], [2], [2]]
    assert retry_unbalanced(2, lambda k: False, lambda idx: None, 0) == ([0, 0], [0, 1])


def test_charge_balance_is_judged_on_real_atoms_only():
    q = {"Si": 4, "O": -2}
    assert is_charge_balanced(["Si", "O", "O", "X", "X"], q)
    assert not is_charge_balanced(["Si", "O", "O", "O"], q)
    assert not is_charge_balanced(["X", "X"], q)


def test_silica_sampler_reports_retries_and_failures_it_cannot_hide(tmp_path):
    model = saved_tiny_model(tmp_path / "sio2.pt", random_silica(2))
    gen = {**FAST, "charge_balance": {"max_retries": 2}}
    structures, report = generate_amden(model, 4, None, {"generation": gen}, 5, progress=False)
    cb = report["charge_balance"]
    assert cb["checked"] and cb["formal_charges"] == {"O": -2, "Si": 4}
    assert cb["retries"] == sum(a.info["charge_retries"] for a in structures) == sum(cb["per_sample_retries"])
    balanced = [is_charge_balanced(a.get_chemical_symbols(), cb["formal_charges"]) for a in structures]
    assert [a.info["charge_balanced"] for a in structures] == balanced
    assert cb["final_failures"] == balanced.count(False)
    for a, ok in zip(structures, balanced):
        assert a.info["charge_retries"] <= 2
        assert ok or a.info["charge_retries"] == 2  # a failure has used every retry
    assert cb["unbalanced_first_pass"] >= cb["final_failures"]
    assert cb["unbalanced_first_pass"] == sum(1 for r in cb["per_sample_retries"] if r > 0)
    json.dumps(report)  # the report is plain JSON


def test_training_on_a_toy_set_lowers_the_loss_and_writes_the_model(tmp_path):
    frames = rattled_si(4, rattle=0.05)
    params = {**TINY, "properties": ["shear_modulus_GPa"], "val_fraction": 0.25, "seed": 3,
              "training": {"steps": 60, "batch_size": 2, "lr": 0.003, "val_every": 10, "val_repeats": 6}}
    history = train_amden(frames, tmp_path / "m.pt", tmp_path / "work", params, progress=False)
    assert history["step"][-1] == 60 and len(history["val_loss"]) == 6
    first, last = history["val_loss"][0], history["val_loss"][-1]
    assert last < 0.95 * first, history["val_loss"]  # fixed validation noise: a real decrease
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["kind"] == "amden" and meta["config"]["properties"] == ["shear_modulus_GPa"]
    assert (tmp_path / "m.history.json").exists()
    with pytest.raises(ValueError, match="properties: 'ring_size' is not a label"):
        train_amden(frames, tmp_path / "m2.pt", tmp_path / "work", {**params, "properties": ["ring_size"]},
                    progress=False)


def test_joint_property_dropout_trains_the_unconditional_score():
    """With property_dropout_all = 1 the loss is that of the same structures without any label."""
    import torch

    from amorphous_ml.learn.amden import amden_structures, make_amden_loss
    from amorphous_ml.learn.data import collate
    from amden_fixtures import tiny_model

    frames = rattled_si(2)
    model = tiny_model(frames, properties=["shear_modulus_GPa", "density_g_cm3"]).double()
    cfg = model.cfg
    stats = cfg.extra["property_stats"]
    batch = collate(amden_structures(frames, cfg.species, cfg.properties, stats), torch.float64)
    unlabelled = collate(amden_structures(frames, cfg.species, cfg.properties, stats), torch.float64)
    unlabelled.labels = torch.full_like(unlabelled.labels, float("nan"))
    dropped = make_amden_loss(property_dropout=0.0, property_dropout_all=1.0)(model, batch, torch.Generator().manual_seed(1))
    none = make_amden_loss(property_dropout=0.0, property_dropout_all=0.0)(model, unlabelled, torch.Generator().manual_seed(1))
    kept = make_amden_loss(property_dropout=0.0, property_dropout_all=0.0)(model, batch, torch.Generator().manual_seed(1))
    assert float(dropped.detach()) == float(none.detach()) and float(kept.detach()) != float(none.detach())


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    """Every random draw of the loss (t, noise, ghosts, dropout) comes from the loop's saved generator."""
    import torch

    frames = rattled_si(3)
    params = {**TINY, "properties": ["shear_modulus_GPa"], "val_fraction": 0.0, "energy": True,
              "training": {"steps": 6, "batch_size": 2, "val_every": 3, "checkpoint_every": 3}}
    train_amden(frames, tmp_path / "a.pt", tmp_path / "wa", params, progress=False)
    part = train_amden(frames, tmp_path / "b.pt", tmp_path / "wb", params, progress=False, stop_after=3)
    assert part["step"][-1] == 3 and not (tmp_path / "b.pt").exists()
    train_amden(frames, tmp_path / "b.pt", tmp_path / "wb", params, progress=False)
    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_end_to_end_tiny_si_model_generates_a_structure_lammps_minimises(tmp_path):
    """Train on rattled diamond Si, generate in a training cell, minimise with Stillinger-Weber."""
    from amorphous_ml.simulate.refine import refine_structure

    frames = rattled_si(4, rattle=0.1, labels=False)
    params = {**TINY, "training": {"steps": 40, "batch_size": 2, "val_every": 20}, "val_fraction": 0.25}
    train_amden(frames, tmp_path / "si.pt", tmp_path / "work", params, progress=False)
    structures, report = generate_amden(tmp_path / "si.pt", 1, None, {"generation": {"steps": 20}}, 1, progress=False)
    atoms = structures[0]
    assert len(atoms) > 10 and set(atoms.get_chemical_symbols()) == {"Si"}
    relaxed = refine_structure(atoms, "si_sw", nvt_ps=0.0, npt_ps=0.0, temperature=300.0, pressure_bar=0.0,
                               min_distance=1.0, seed=1, log_path=tmp_path / "min.log")
    e = relaxed.get_potential_energy() / len(relaxed)
    assert np.isfinite(e) and -4.34 < e < -2.5  # above diamond (-4.34 eV/atom), a bound Si network
    assert neighbour_list("d", relaxed, 3.0).min() > 1.8
    assert len(relaxed) == len(atoms)
