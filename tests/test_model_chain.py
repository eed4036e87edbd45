"""The generative half as users run it: the real Snakemake DAG at tiny scale with DM2 on,
melt-quench -> train -> generate -> refine -> fracture + structure metrics -> tables and benchmark.

Only file targets are named (rule names are not part of the interface). Every later model joins this test.
"""

from __future__ import annotations

import json
import math
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, run_snakemake

pytestmark = pytest.mark.slow

CHAIN = ROOT / "tests" / "configs" / "model_chain.yaml"
SYSTEM = "sio2"
TARGETS = [f"results/{SYSTEM}/models/dm2/model.pt", f"results/{SYSTEM}/fracture.csv",
           f"results/{SYSTEM}/structure.csv", f"results/{SYSTEM}/benchmark.csv"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chain")
    potdir = tmp / "potentials"  # a private copy, so the test can edit a potential file
    shutil.copytree(ROOT / "potentials", potdir)
    cfg = yaml.safe_load(CHAIN.read_text())
    cfg["systems"][SYSTEM]["potential_dir"] = str(potdir)
    config = tmp / "chain.yaml"
    config.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    run_snakemake(tmp, *TARGETS, "--configfile", str(config))
    return tmp, config, potdir, cfg["systems"][SYSTEM], time.perf_counter() - t0


def test_generated_structures_reach_every_table(chain):
    tmp, _, _, system, _ = chain
    gen = system["models"]["dm2"]
    sample = f"SiO2_{gen['target_cooling_rates'][0]:g}Kps_s{gen['seed']}"
    for stage in ("generated", "refined"):
        assert (tmp / f"results/{SYSTEM}/{stage}/dm2/{sample}.extxyz").stat().st_size > 0
    fracture = pd.read_csv(tmp / f"results/{SYSTEM}/fracture.csv")  # property tables: source + model columns
    assert sorted(zip(fracture["source"], fracture["model"])) == [("generated", "dm2")] + [("simulated", "md")] * 3
    dm2 = fracture[fracture["model"] == "dm2"].iloc[0]
    assert dm2["n_atoms"] == 96 and np.isfinite(dm2["E_GPa"]) and np.isfinite(dm2["UTS_GPa"])
    structure = pd.read_csv(tmp / f"results/{SYSTEM}/structure.csv")
    gen = structure[structure["source"] == "dm2"]
    assert sorted(gen["stage"]) == ["raw", "refined"]  # the raw (minimised only) and the refined structure
    assert gen["energy_per_atom_min"].notna().all()
    bench = pd.read_csv(tmp / f"results/{SYSTEM}/benchmark.csv")
    assert set(bench["source"]) == {"simulated", "dm2"}
    rows = bench[(bench["source"] == "dm2") & (bench["stage"] == "refined")].set_index("metric")
    assert (rows["test"] == "permutation").all()
    for metric in ("rdf_rmsd", "adf_rmsd", "d_energy_per_atom_min"):
        assert math.isfinite(rows.loc[metric, "distance"]), metric
    assert any(m.startswith("quests_nonoverlap") and math.isfinite(d) for m, d in rows["distance"].items())


def test_training_lowered_the_validation_loss_below_the_untrained_models(chain):
    """Measured here: the untrained network (same seed, same architecture, so the same initial weights as
    training started from) against the trained one, on the held-out glasses, with the training's own
    validation loss (fixed noise draws)."""
    from amorphous_ml.io import read_structure
    from amorphous_ml.learn.data import structures_from_atoms
    from amorphous_ml.learn.denoise import make_denoising_loss
    from amorphous_ml.learn.models.dm2 import DM2Denoiser
    from amorphous_ml.learn.train import TrainConfig, evaluate, load_model

    tmp, _, _, _, _ = chain
    model_path = tmp / f"results/{SYSTEM}/models/dm2/model.pt"
    trained = load_model(model_path)
    cfg = trained.cfg
    tcfg = TrainConfig.from_dict(cfg.extra["train_config"])
    val_names = cfg.extra["val_structures"]
    assert val_names and not set(val_names) & set(cfg.extra["train_structures"])
    glasses = [read_structure(tmp / f"results/{SYSTEM}/glasses/{name}.extxyz") for name in val_names]
    val = structures_from_atoms(glasses, cfg.species)
    loss = make_denoising_loss(cfg.extra["sigma_min"], cfg.extra["sigma_max"])
    torch.manual_seed(tcfg.seed)
    untrained = DM2Denoiser(json.loads(model_path.with_suffix(".json").read_text())["config"])
    before = evaluate(untrained, loss, val, tcfg, "cpu")
    after = evaluate(trained, loss, val, tcfg, "cpu")
    history = json.loads(model_path.with_suffix(".history.json").read_text())
    assert history["val_loss"][-1] == pytest.approx(after, rel=1e-4)  # the same measure training reported
    assert after < 0.9 * before, (before, after)


def test_editing_a_potential_file_reruns_what_read_it(chain):
    tmp, config, potdir, _, _ = chain
    proc = run_snakemake(tmp, "-n", *TARGETS, "--configfile", str(config))
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # an edit (Snakemake compares input checksums, so a bare `touch` would rerun nothing, rightly)
    time.sleep(1.1)
    with open(potdir / "sio2_bjp.lmp", "a") as fh:
        fh.write("# edited by test_model_chain\n")
    proc = run_snakemake(tmp, "-n", *TARGETS, "--configfile", str(config))
    out = proc.stdout + proc.stderr
    assert "Nothing to be done" not in out
    assert f"Updated input files: {potdir / 'sio2_bjp.lmp'}" in out or str(potdir / "sio2_bjp.lmp") in out
    # every glass and the refined structure read the potential: they are scheduled again
    assert out.count("results/sio2/glasses/SiO2_1000Kps_s") >= 3 and "refined/dm2/" in out
