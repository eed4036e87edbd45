"""The GNN rules end to end at tiny scale: two glasses -> AQS labels (2 modes) -> train_model (kind gnn) ->
gnn_scores (gnn.csv) and generate_model (swap MC design from the test glass) -> design_table (design.csv)."""

import numpy as np
import pandas as pd
import pytest
import yaml

from amorphous_ml import io
from conftest import TINY, models_off, run_snakemake

pytestmark = pytest.mark.slow

TRAIN, TEST = "Cu50Zr50_500Kps_s1", "Cu50Zr50_500Kps_s2"  # s2 is not in the system's sample list: built on demand
TARGETS = ["results/cuzr/gnn.csv", "results/cuzr/gnn.png", "results/cuzr/design.csv", "results/cuzr/design.png"]


def _config(tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    for system in cfg["systems"].values():
        system["models"] = models_off()
    cuzr = cfg["systems"]["cuzr"]
    cuzr["aqs"] = {"strain_step": 0.01, "max_strain": 0.02, "label_strains": [0.01, 0.02], "d2min_cutoff": 4.0,
                   "modes": ["shear_xy_plus", "tension_x"], "minimize": {"ftol": 1e-5}, "cooling_rates": None}
    cuzr["models"]["gnn"] = {
        "kind": "gnn", "enabled": True, "strains": [0.01, 0.02], "split": {"train": [TRAIN], "test": [TEST],
                                                                    "heldout_rate": [], "heldout_composition": []},
        "n_layers": 1, "hidden": 8, "edge_hidden": 8, "readout_hidden": 8,
        "training": {"steps": 20, "val_every": 10, "checkpoint_every": 10},
        "design": {"strain": 0.02, "trials": 3, "validate_every": 0, "seed": 4001},
        "refine": {"nvt_ps": 0, "npt_ps": 0}}
    # configs merge into config.yaml key by key: its split's held-out glasses must be emptied, not left out
    path = tmp_path / "gnn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_gnn_rules_score_the_split_and_trace_the_design_against_aqs_labels(tmp_path):
    run_snakemake(tmp_path, *TARGETS, "--configfile", _config(tmp_path))
    scores = pd.read_csv(tmp_path / "results/cuzr/gnn.csv", comment="#")
    assert sorted(zip(scores["set"], scores["strain"])) == [("test", 0.01), ("test", 0.02),
                                                             ("train", 0.01), ("train", 0.02)]
    assert scores["pearson"].between(-1, 1).all() and (scores["n_atoms"] == 200).all()
    assert set(scores["glasses"]) == {TRAIN, TEST}

    test_glass = io.read_structure(tmp_path / f"results/cuzr/aqs/{TEST}.extxyz")
    design = pd.read_csv(tmp_path / "results/cuzr/design.csv", comment="#")
    assert list(design["trial"]) == [0, 1, 2, 3]
    # the start's true value is its own AQS label (12-mode mean over the configured modes), not a model output
    np.testing.assert_allclose(design["true_mean"].iloc[0], np.nanmean(test_glass.arrays["ln_d2min_0.02"]),
                               rtol=1e-9)
    assert design["n_accepted"].is_monotonic_increasing
    if design["n_accepted"].iloc[-1] > 0:  # the final accepted state is validated by real AQS
        assert np.isfinite(design.loc[design["accepted"], "true_mean"].iloc[-1])
    (designed,) = (tmp_path / "results/cuzr/generated/gnn").glob("*.extxyz")
    assert io.read_structure(designed).get_chemical_formula() == test_glass.get_chemical_formula()
    assert (tmp_path / "results/cuzr/design.png").stat().st_size > 5000
