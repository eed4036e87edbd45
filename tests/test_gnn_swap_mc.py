"""GNN surrogate of ln(D2min) and GNN-guided swap Monte Carlo (Wang & Zhang 2021).

Model tests use an untrained (seeded) network: invariance and the graph-local update are properties of
the architecture, not of training. Swap MC tests run real LAMMPS CG minimisations of a tiny Cu50Zr50 cell.
"""

import copy
import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from amorphous_ml.config import load_config
from amorphous_ml.generate.swap_mc import DesignSettings, SwapMC, selection_probabilities, true_mean_ln_d2min
from amorphous_ml.learn.models.gnn import AttentionGNN, GNNConfig, affected_nodes
from amorphous_ml.simulate.systems import random_packing


def _model(n_layers=2, seed=0):
    torch.manual_seed(seed)
    return AttentionGNN(GNNConfig(species=["Cu", "Zr"], strains=[0.02, 0.05], n_layers=n_layers, hidden=16,
                                  edge_hidden=16, readout_hidden=16, heads=2, target_mean=[-1.0, 0.5],
                                  target_std=[0.7, 1.3])).eval()


def _packing(n, seed=0):
    return random_packing({"Cu": n // 2, "Zr": n - n // 2}, 6.8, (1.0, 1.0, 1.2), seed=seed)


def _predict(model, atoms):
    return model.predict(model.species_index(atoms.get_chemical_symbols()), atoms.positions, atoms.cell[:])


# ---------------------------------------------------------------------------- GNN invariances
def test_gnn_prediction_invariant_to_rotation_translation_and_permutation():
    model = _model()
    atoms = _packing(160)
    ref = _predict(model, atoms)
    assert np.std(ref[:, 0]) > 1e-3  # a non-trivial function of the structure

    rot = atoms.copy()
    R = Rotation.from_euler("zyx", [31, -47, 12], degrees=True).as_matrix()
    rot.set_cell(atoms.cell[:] @ R.T, scale_atoms=False)
    rot.positions = atoms.positions @ R.T
    np.testing.assert_allclose(_predict(model, rot), ref, atol=2e-5)

    shifted = atoms.copy()
    shifted.positions += np.array([3.3, -7.1, 0.4])
    shifted.wrap()
    np.testing.assert_allclose(_predict(model, shifted), ref, atol=2e-5)

    perm = np.random.default_rng(1).permutation(len(atoms))
    np.testing.assert_allclose(_predict(model, atoms[perm]), ref[perm], atol=2e-5)


def test_local_update_equals_full_recomputation_after_a_swap():
    """Swap two atoms and relax their surroundings: recomputing only the atoms within n_layers hops
    equals a full evaluation of the new structure, and the other atoms are indeed unchanged."""
    model = _model(n_layers=2)
    atoms = _packing(1200, seed=3)
    spec = model.species_index(atoms.get_chemical_symbols())
    old_graph = model.graph(atoms.positions, atoms.cell[:])
    old = model.predict(spec, atoms.positions, atoms.cell[:], old_graph)
    i = 0
    j = int(np.flatnonzero(spec != spec[i])[0])
    new_spec = spec.copy()
    new_spec[i], new_spec[j] = spec[j], spec[i]
    new = atoms.copy()
    near = np.flatnonzero((atoms.get_distances(i, range(len(atoms)), mic=True) < 4.0)
                          | (atoms.get_distances(j, range(len(atoms)), mic=True) < 4.0))
    new.positions[near] += np.random.default_rng(2).normal(0, 0.15, (len(near), 3))
    new_graph = model.graph(new.positions, new.cell[:])
    changed = np.union1d(near, [i, j])
    affected = affected_nodes(changed, old_graph[0], new_graph[0], len(atoms), model.cfg.n_layers)
    assert 0 < affected.sum() < len(atoms) // 2  # the update is local in this cell
    local, n_eval = model.predict_local(new_spec, new_graph, old, affected)
    full = model.predict(new_spec, new.positions, new.cell[:], new_graph)
    assert n_eval < len(atoms)
    np.testing.assert_allclose(local, full, atol=2e-5)
    assert np.abs(full - old)[affected].max() > 1e-3  # the swap did change the affected atoms


def test_selection_probability_is_softmax_to_the_power_n_within_a_species():
    z = np.array([0.0, 1.0, 2.0, 5.0])
    mask = np.array([True, True, True, False])
    p = selection_probabilities(z, mask, 6.0)
    sm = np.exp(z[mask]) / np.exp(z[mask]).sum()
    np.testing.assert_allclose(p, sm ** 6 / (sm ** 6).sum())


# ---------------------------------------------------------------------------- swap MC with LAMMPS
SETTINGS = dict(strain=0.05, trials=10, bias_power=6.0, validate_every=0, quantiles=[0.5, 0.9],
                temperatures={"mean": 1e-5, "max": 1e-3, "q0.9": 1e-4}, seed=7,
                minimize={"etol": 0.0, "ftol": 1e-4, "maxiter": 2000, "maxeval": 20000, "dmax": 0.1})


@pytest.fixture(scope="module")
def cuzr():
    system = copy.deepcopy(load_config()["systems"]["cuzr"])
    return system, _packing(96, seed=5)


def test_rejected_swap_leaves_state_bit_identical_and_accepted_conserves_composition(cuzr, tmp_path):
    system, start = cuzr
    mc = SwapMC(_model(), system, start, DesignSettings.from_dict(SETTINGS), tmp_path)
    counts = np.bincount(mc.types)
    seen = set()
    try:
        for _ in range(SETTINGS["trials"]):
            before = (mc.positions.copy(), mc.types.copy(), mc.pred.copy(), mc.energy)
            row = mc.trial()
            seen.add(row["accepted"])
            if row["accepted"]:
                np.testing.assert_array_equal(np.bincount(mc.types), counts)
                assert (mc.types != before[1]).sum() == 2
            else:
                assert mc.positions.tobytes() == before[0].tobytes()
                assert mc.types.tobytes() == before[1].tobytes()
                assert mc.pred.tobytes() == before[2].tobytes() and mc.energy == before[3]
    finally:
        mc.close()
    assert seen == {True, False}, "the settings must give both accepted and rejected trials"


def test_energy_target_accepts_by_the_metropolis_factor_of_the_inherent_energy(cuzr, tmp_path):
    """``temperatures: {energy: C}`` alone is energy-guided swap MC: p = min(1, exp(-dE/C)), E in eV/atom."""
    system, start = cuzr
    c = 2e-3
    settings = DesignSettings.from_dict({**SETTINGS, "trials": 6, "temperatures": {"energy": c}})
    mc = SwapMC(_model(), system, start, settings, tmp_path)
    try:
        for _ in range(settings.trials):
            e_old = mc.energy / len(mc.types)
            row = mc.trial()
            d = row["trial_energy_per_atom_eV"] - e_old
            assert row["acceptance_probability"] == pytest.approx(min(1.0, float(np.exp(-d / c))), rel=1e-9, abs=1e-300)
            assert row["energy_per_atom_eV"] == (row["trial_energy_per_atom_eV"] if row["accepted"] else e_old)
    finally:
        mc.close()


def test_design_resumes_from_last_accepted_state_with_identical_results(cuzr, tmp_path):
    system, start = cuzr
    settings = DesignSettings.from_dict(SETTINGS)
    full = SwapMC(_model(), system, start, settings, tmp_path / "a")
    try:
        trace_a = full.run()
        pos_a = full.positions.copy()
    finally:
        full.close()
    first = SwapMC(_model(), system, start, settings, tmp_path / "b")
    try:
        first.run(stop_after=6)
    finally:
        first.close()
    resumed = SwapMC(_model(), system, start, settings, tmp_path / "b")  # a new process would do the same
    assert resumed.trial_index <= 6 and resumed.trace[-1]["accepted"]
    try:
        trace_b = resumed.run()
    finally:
        resumed.close()
    assert sum(r["accepted"] for r in trace_a) >= 2
    assert json.dumps(trace_b) == json.dumps(trace_a)  # NaN (not validated) compares equal as text
    assert resumed.positions.tobytes() == pos_a.tobytes()


def test_true_aqs_validation_gives_finite_mean_ln_d2min(cuzr, tmp_path):
    system, start = cuzr
    system = copy.deepcopy(system)
    system["aqs"].update(modes=["shear_xy_plus", "tension_x"], strain_step=0.01)
    value = true_mean_ln_d2min(system, start, 0.02, tmp_path)
    assert np.isfinite(value) and -12 < value < 3


# ---------------------------------------------------------------------------- training, scores, plumbing
def _labelled(seed, n=96, strains=(0.02, 0.05)):
    """A packing labelled with a known local function: ln(D2min) := -(neighbours within 3.2 A) + Zr term."""
    from amorphous_ml.validate.aqs import label_name

    a = _packing(n, seed=seed)
    d = a.get_all_distances(mic=True)
    coord = ((d > 0) & (d < 3.2)).sum(axis=1).astype(float)
    zr = np.array([s == "Zr" for s in a.get_chemical_symbols()], float)
    for k, s in enumerate(strains):
        a.arrays[label_name(s)] = -0.3 * coord + 0.5 * zr + 0.1 * k
    a.info.update(composition="Cu50Zr50", cooling_rate=10.0, seed=seed)
    return a


SPLIT = {"train": ["Cu50Zr50_10Kps_s1", "Cu50Zr50_10Kps_s2"], "validation": ["Cu50Zr50_10Kps_s3"],
         "test": ["Cu50Zr50_10Kps_s4"]}


@pytest.fixture(scope="module")
def labelled_files(tmp_path_factory):
    from amorphous_ml import io

    d = tmp_path_factory.mktemp("aqs")
    files = []
    for k in range(1, 5):
        files.append(d / f"Cu50Zr50_10Kps_s{k}.extxyz")
        io.write_structures(files[-1], _labelled(10 + k))
    return files


def test_gnn_learns_a_local_structural_label_and_scores_unseen_glasses(labelled_files, tmp_path):
    from amorphous_ml.learn.data import load_glasses
    from amorphous_ml.learn.gnn import score_gnn, train_gnn
    from amorphous_ml.learn.train import load_model

    params = {"strains": [0.02, 0.05], "split": SPLIT, "n_layers": 2, "hidden": 16, "edge_hidden": 16,
              "readout_hidden": 16, "seed": 1, "training": {"steps": 150, "lr": 0.005, "val_every": 50,
                                                            "checkpoint_every": 50}}
    history = train_gnn(load_glasses(labelled_files), tmp_path / "m.pt", tmp_path / "work", params, ["Cu", "Zr"],
                        progress=False)
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    model = load_model(tmp_path / "m.pt")
    assert model.cfg.target_std[0] > 0  # z-score statistics travel with the model
    scores = score_gnn(model, load_glasses(labelled_files), SPLIT)
    test = scores[scores["set"] == "test"]
    assert list(test["strain"]) == [0.02, 0.05]
    assert (test["pearson"] > 0.7).all(), test


def test_validation_slab_is_a_periodic_slab_that_training_never_sees(labelled_files, tmp_path):
    """validation_slab: the atoms in a slab across z of each training glass are the validation set. Garbage in
    their labels changes the validation losses but not one bit of training (loss history, weights)."""
    from amorphous_ml.learn.data import load_glasses
    from amorphous_ml.learn.gnn import train_gnn, validation_slab_mask
    from amorphous_ml.validate.aqs import label_name

    glass = load_glasses(labelled_files[:1])[0]
    inside = validation_slab_mask(glass, 0.25)
    assert 0.1 < inside.mean() < 0.4
    shifted = glass.copy()
    shifted.positions += glass.cell[2] * 3.0  # whole periods along z: the same slab
    assert (validation_slab_mask(shifted, 0.25) == inside).all()

    split = {"train": ["Cu50Zr50_10Kps_s1"], "test": ["Cu50Zr50_10Kps_s4"]}
    params = {"strains": [0.02, 0.05], "split": split, "validation_slab": 0.25, "n_layers": 1, "hidden": 8,
              "edge_hidden": 8, "readout_hidden": 8, "seed": 1,
              "training": {"steps": 30, "lr": 0.005, "val_every": 10, "checkpoint_every": 10, "select": "last"}}
    runs = []
    for k, garbage in enumerate((False, True)):
        frames = load_glasses(labelled_files)
        if garbage:
            for s in (0.02, 0.05):
                frames[0].arrays[label_name(s)][inside] = 40.0
        runs.append(train_gnn(frames, tmp_path / f"m{k}.pt", tmp_path / f"work{k}", params, ["Cu", "Zr"],
                              progress=False))
    clean, dirty = runs
    assert clean["train_loss"] == dirty["train_loss"] and len(clean["val_loss"]) == 3
    assert all(d > 10 * c for c, d in zip(clean["val_loss"], dirty["val_loss"]))
    a = torch.load(tmp_path / "m0.pt")
    b = torch.load(tmp_path / "m1.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)

    with pytest.raises(ValueError, match="validation_slab"):
        train_gnn(load_glasses(labelled_files), tmp_path / "x.pt", tmp_path / "x", {**params, "split": SPLIT},
                  ["Cu", "Zr"], progress=False)


def test_gnn_kind_trains_from_labels_and_designs_through_the_generic_generation(labelled_files, tmp_path, cuzr):
    """registry kind gnn: train on the labelled files, generate (= swap MC design from the test glass with a
    real 2-mode AQS validation) and collect design.csv."""
    from amorphous_ml import registry
    from amorphous_ml.generate.batch import generate_samples
    from amorphous_ml.validate.design import design_table

    system, _ = cuzr
    system = copy.deepcopy(system)
    system["aqs"].update(modes=["shear_xy_plus", "tension_x"], strain_step=0.01, label_strains=[0.02, 0.05])
    section = {"kind": "gnn", "strains": [0.02, 0.05], "split": SPLIT, "n_layers": 1, "hidden": 8,
               "edge_hidden": 8, "readout_hidden": 8, "seed": 1, "training": {"steps": 20},
               "design": dict(SETTINGS, trials=4, validate_every=2, seed=4001, start="Cu50Zr50_10Kps_s4")}
    kind = registry.get_kind("gnn")
    model = tmp_path / "model.pt"
    kind.train(labelled_files, model, tmp_path / "work", registry.training_params("gnn", section), ["Cu", "Zr"],
               progress=False)
    params = registry.generation_params("gnn", section, system, "cuzr")
    params["start_file"] = str(labelled_files[3])
    (req,) = registry.model_requests(system, "gnn", section)
    assert req.sample == "Cu50Zr50_10Kps_s4001"
    out = tmp_path / "gen" / f"{req.sample}.extxyz"
    (designed,) = generate_samples(model, "gnn", [req.sample], [out], params, system="cuzr", kind="gnn",
                                   work_dir=tmp_path / "state", progress=False)
    assert designed.get_chemical_formula() == _labelled(14).get_chemical_formula()
    table = design_table([out])
    assert list(table["trial"]) == list(range(5))
    validated = table[np.isfinite(table["true_mean"])]
    assert validated["trial"].iloc[0] == 0 and len(validated) >= 2  # start (its labels) and a real AQS check


@pytest.mark.parametrize("edit, key", [
    (lambda g: g["design"].update(strain=0.03), "models.gnn.design.strain"),
    (lambda g: g["design"].update(temperatures={"q0.33": 0.1}), "models.gnn.design.temperatures.q0.33"),
    (lambda g: g["design"].update(bias_power=-1), "models.gnn.design.bias_power"),
    (lambda g: g["split"].update(test=["not_a_glass"]), "models.gnn.split.test"),
    (lambda g: g.update(validation_slab=0.2, split={**g["split"], "validation": ["Cu50Zr50_20Kps_s3"]}),
     "models.gnn.validation_slab"),
])
def test_bad_gnn_config_fails_naming_the_key(edit, key):
    import yaml

    from amorphous_ml.config import DEFAULT_CONFIG, ConfigError, validate_config

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    edit(config["systems"]["cuzr"]["models"]["gnn"])
    with pytest.raises(ConfigError) as exc:
        validate_config(config)
    assert key in str(exc.value) and "\n" not in str(exc.value)



def test_tiny_test_config_switches_off_the_gnn_merged_over_config_yaml():
    """Snakemake merges tests/configs/tiny.yaml over config.yaml key by key: the gnn section (and its 48 AQS label
    jobs of 500-atom glasses) must be off there, and in the `models_off()` section the workflow tests use."""
    import yaml
    from snakemake.utils import update_config

    from amorphous_ml.config import DEFAULT_CONFIG
    from conftest import TINY, models_off

    merged = yaml.safe_load(DEFAULT_CONFIG.read_text())
    assert merged["systems"]["cuzr"]["models"]["gnn"].get("enabled", True)  # on in the default
    update_config(merged, yaml.safe_load(TINY.read_text()))
    enabled = [(s, m) for s, sys_ in merged["systems"].items() for m, sec in (sys_.get("models") or {}).items()
               if sec.get("enabled", True)]
    assert enabled == []
    assert models_off()["gnn"] == {"kind": "gnn", "enabled": False}
