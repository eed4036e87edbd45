"""AMDEN through the real DAG at tiny scale: a LAMMPS a-Si dataset -> train (standard and HMC energy variant)
-> generate conditioned on density targets inside and 20 % of the range outside the training range -> refine
-> achieved density with the dataset's own label function -> inverse_design.csv, and benchmark.csv against
the configured reference set (the anneal frames)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from amorphous_ml import io
from amorphous_ml.learn.data import density_gcc
from conftest import ROOT, TINY

pytestmark = pytest.mark.slow

ARCH = {"hidden": 16, "channels": 3, "layers": 2, "cutoff": 4.0, "property_embed": 4,
        "training": {"steps": 10, "batch_size": 2, "val_every": 5, "checkpoint_every": 5}, "val_fraction": 0.5}


def _snakemake(tmp_path, config, *targets):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "-c2", *targets, "--configfile", str(tmp_path / "c.yaml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_amden_chain_from_a_lammps_dataset_to_inverse_design_and_benchmark(tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    si = cfg["systems"]["si"]
    si["datasets"] = {"anneal": {"protocol": "melt_quench", "n_atoms": 64, "samples": 3, "samples_per_job": 3,
                                 "seed": 301, "melt": {"temperature": 2500, "nvt_ps": 1, "npt_ps": 1},
                                 "cooling_rate": 500, "hold": {"temperature": 300, "npt_ps": 1},
                                 "labels": ["density_g_cm3"]}}
    cfg["systems"] = {"si": si}
    # stage 1: the dataset, to place targets relative to its density range
    _snakemake(tmp_path, cfg, "results/si/datasets/anneal.extxyz")
    rho = [float(a.info["density_g_cm3"]) for a in io.read_structures(tmp_path / "results/si/datasets/anneal.extxyz")]
    lo, hi = min(rho), max(rho)
    inside, outside = float(round((lo + hi) / 2, 4)), float(round(hi + 0.2 * max(hi - lo, 0.01), 4))
    si["models"] = {
        # (every key that config.yaml's si models set too: --configfile merges over it)
        "amden": {**ARCH, "dataset": "anneal", "reference": "anneal", "properties": ["density_g_cm3"], "seed": 5,
                  "samples_per_target": 1,
                  "targets": [{"density_g_cm3": inside}, {"density_g_cm3": outside}],
                  "generation": {"steps": 6, "max_extrapolation": 5.0}, "refine": {"nvt_ps": 0, "npt_ps": 0},
                  "sampling_steps": []},
        "amden_hmc": {**ARCH, "kind": "amden", "energy": True, "dataset": "anneal", "reference": "anneal", "seed": 9,
                      "samples_per_target": 1,
                      "generation": {"steps": 6, "hmc": {"enabled": True, "leapfrog_steps": 2}},
                      "refine": {"nvt_ps": 0, "npt_ps": 0}},
        "amshortcut": {"enabled": False}, "amshortcut_ode": {"enabled": False},  # config.yaml's (merged) sections
    }
    proc = _snakemake(tmp_path, cfg, "results/si/inverse_design.csv", "results/si/benchmark.csv")
    assert proc.stderr.count("rule train_model:") == 2 and "rule measure_targets:" in proc.stderr

    inv = pd.read_csv(tmp_path / "results/si/inverse_design.csv")
    assert list(inv["model"].unique()) == ["amden"] and list(inv["property"].unique()) == ["density_g_cm3"]
    assert list(inv["target"]) == [inside, outside] and list(inv["in_range"]) == [True, False]
    for _, row in inv.iterrows():  # achieved = the label function (density) of the refined structure
        refined = io.read_structure(tmp_path / f"results/si/refined/amden/{row['sample']}.extxyz")
        assert abs(row["achieved"] - density_gcc(refined)) < 1e-9
        assert abs(row["error"] - (row["achieved"] - row["target"])) < 1e-12
        assert refined.info["target_density_g_cm3"] == row["target"] and refined.info["model"] == "amden"
    assert (tmp_path / "results/si/inverse_design_summary.csv").exists()

    bench = pd.read_csv(tmp_path / "results/si/benchmark.csv")
    for source in ("amden", "amden_hmc"):  # compared with the configured reference set, the 3 anneal frames
        rows = bench[bench["source"] == source]
        assert len(rows) and (rows["reference"] == "anneal").all() and (rows["n_reference"] == 3).all(), source
    assert "anneal" not in set(bench["source"])  # a reference set gets no rows of its own
    # ghosts never leave the sampler: no element X in any generated or refined file
    for f in list((tmp_path / "results/si/generated").rglob("*.extxyz")) + list(
            (tmp_path / "results/si/refined").rglob("*.extxyz")):
        assert "X" not in io.read_structure(f).get_chemical_symbols(), f
    hmc = io.read_structure(next((tmp_path / "results/si/generated/amden_hmc").glob("Si_s9.extxyz")))
    assert hmc.info["hmc"] and hmc.info["params"]["reports"][0]["hmc"]["acceptance"]
