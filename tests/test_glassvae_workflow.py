"""GlassVAE through the real workflow: dataset (two LAMMPS trajectories) -> train -> generate (prior, window) -> refine
-> table."""

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY, models_off, run_snakemake

_SMALL = {"hidden": 16, "latent_dim": 8, "decoder_hidden": 32, "kl_warmup_steps": 3, "free_bits": 0.05,
          "training": {"steps": 6, "batch_size": 2, "val_every": 3, "checkpoint_every": 3}}
OVERLAY = {
    "datasets": {"glassvae": {
        "protocol": "npt_snapshots", "composition": "Cu50Zr50", "n_atoms": 32, "temperatures": [1000, 700],
        "trajectories": 2, "melt": {"temperature": 2000, "nvt_ps": 1, "npt_ps": 1}, "cooling_rate": 500,
        "equilibrate_ps": 0.5, "snapshots_per_temperature": 3, "snapshot_every_ps": 0.2}},
    "models": {
        "glassvae": {"kind": "glassvae", "enabled": True, "dataset": "glassvae", "edge_latent_dim": 4, "edge_hidden": 16,
                     "edge_layers": 1, **_SMALL,
                     "generation": {"samples": 1, "modes": ["prior", "window"], "steps": 10}},
        "glassvae_single": {"kind": "glassvae", "enabled": True, "dataset": "glassvae", "hierarchical": False, **_SMALL,
                            "generation": {"samples": 1, "modes": ["window"], "steps": 10}},
    },
}


@pytest.mark.slow
def test_glassvae_table_is_a_workflow_target_with_heldout_and_generated_rows(tmp_path):
    from vesin import NeighborList

    from amorphous_ml.io import read_structure

    cfg = yaml.safe_load(TINY.read_text())  # one file: a second --configfile replaces the first
    cuzr = cfg["systems"]["cuzr"]
    cuzr["datasets"] = OVERLAY["datasets"]
    cuzr["models"] = {**models_off(), **OVERLAY["models"]}  # configs merge recursively: the others switched off
    overlay = tmp_path / "glassvae.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    run_snakemake(tmp_path, "results/cuzr/glassvae.csv", "--configfile", str(overlay))
    table = pd.read_csv(tmp_path / "results/cuzr/glassvae.csv")
    held = table[table.row == "heldout"].set_index("model")
    assert set(held.index) == {"glassvae", "glassvae_single"}
    assert not held.loc["glassvae_single", "hierarchical"] and held.loc["glassvae", "hierarchical"]
    for col in ("energy_rmse_eV_per_atom", "energy_r2", "distance_rmse_A", "distance_r2", "node_accuracy"):
        assert np.isfinite(held[col]).all()
    assert (held.node_accuracy >= 0).all() and (held.node_accuracy <= 1).all()
    assert (table.row == "paper").sum() == 3
    gen = table[table.row.str.startswith("generated")]
    assert set(zip(gen.model, gen.row)) == {("glassvae", "generated_prior"), ("glassvae", "generated_window"),
                                            ("glassvae_single", "generated_window")}
    window = gen[gen.row == "generated_window"]
    assert window.fraction_in_window.between(0, 1).all() and (window.window_min < window.window_max).all()
    assert np.isfinite(gen.rdf_rmse_to_inherent).all()
    # sample ids: prior Cu50Zr50_s1001, window Cu50Zr50_0.1EnergyQuantileMin_0.4EnergyQuantileMax_s1001
    assert (tmp_path / "results/cuzr/refined/glassvae/Cu50Zr50_s1001.extxyz").exists()
    refined = read_structure(tmp_path / "results/cuzr/refined/glassvae/"
                             "Cu50Zr50_0.1EnergyQuantileMin_0.4EnergyQuantileMax_s1001.extxyz")
    assert refined.info["mode"] == "window" and refined.info["model"] == "glassvae"
    assert refined.info["target_energy_quantile_min"] == 0.1
    assert refined.get_chemical_symbols().count("Cu") == 16 and len(refined) == 32
    floor = 1.0  # the refine step's min_distance (schema default)
    _, _, d = NeighborList(cutoff=floor, full_list=False).compute(
        points=refined.positions, box=refined.cell[:], periodic=True, quantities="ijd")
    assert len(d) == 0
