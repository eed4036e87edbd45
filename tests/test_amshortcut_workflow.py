"""AMShortcut, material ODE and material SDE (AMDEN) through the real DAG at tiny scale: a LAMMPS a-Si set ->
train -> generate with a `steps` request condition -> refine (minimise) -> structure metrics ->
results/si/steps_vs_quality.csv (one row per method and step count, against the anneal set, with noise floors)
and its plot."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from amorphous_ml import io
from conftest import ROOT, TINY

pytestmark = pytest.mark.slow

ARCH = {"hidden": 16, "channels": 3, "layers": 2, "cutoff": 4.0, "property_embed": 4, "samples_per_target": 1,
        "training": {"steps": 6, "batch_size": 2, "val_every": 3, "checkpoint_every": 3}, "val_fraction": 0.5,
        "dataset": "anneal", "reference": "anneal", "refine": {"nvt_ps": 0, "npt_ps": 0}}


def test_steps_vs_quality_is_a_workflow_target(tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    si = cfg["systems"]["si"]
    si["datasets"] = {"anneal": {"protocol": "melt_quench", "n_atoms": 64, "samples": 2, "samples_per_job": 2,
                                 "seed": 301, "melt": {"temperature": 2500, "nvt_ps": 1, "npt_ps": 1},
                                 "cooling_rate": 500, "hold": {"temperature": 300, "npt_ps": 1}}}
    si["models"] = {
        "amden": {**ARCH, "seed": 5, "sampling_steps": [3]},  # the material SDE
        "amden_hmc": {"enabled": False},
        "amshortcut": {**ARCH, "kind": "amshortcut", "seed": 7, "sampling_steps": [1, 2]},
        "amshortcut_ode": {"enabled": False},  # the same code path with method: ode (tests/test_amshortcut.py)
    }
    cfg["systems"] = {"si": si}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "-c2", "results/si/steps_vs_quality.csv", "--configfile", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = pd.read_csv(tmp_path / "results/si/steps_vs_quality.csv")
    got = sorted(zip(table["method"], table["steps"]))
    assert got == [("amden", 3), ("amshortcut", 1), ("amshortcut", 2)]
    assert set(table["kind"]) == {"amden", "amshortcut"} and set(table["reference"]) == {"anneal"}
    assert (table["rdf_rmsd"] > 0).all() and (table["adf_rmsd"] >= 0).all() and (table["seconds_per_1000"] > 0).all()
    assert table["rdf_rmsd_noise"].notna().all() and table["energy_per_atom_min"].notna().all()
    assert (tmp_path / "results/si/plots/steps_vs_quality.png").stat().st_size > 1000
    one = io.read_structure(tmp_path / "results/si/generated/amshortcut/Si_1Steps_s7.extxyz")
    two = io.read_structure(tmp_path / "results/si/generated/amshortcut/Si_2Steps_s7.extxyz")
    assert one.info["steps"] == 1 and two.info["steps"] == 2 and "X" not in one.get_chemical_symbols()
