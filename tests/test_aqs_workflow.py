"""The AQS rules end to end at tiny scale: glass -> 12 mode jobs -> ln(D2min) labels, aqs.csv and plot."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from amorphous_ml import io
from amorphous_ml.simulate.aqs import ALL_MODES
from conftest import TINY, run_snakemake, models_off

pytestmark = pytest.mark.slow

SAMPLE = "Cu50Zr50_500Kps_s1"
TARGETS = [f"results/cuzr/aqs/{SAMPLE}.extxyz", "results/cuzr/aqs.csv", "results/cuzr/aqs.png"]


def _aqs_config(tmp_path, name="aqs.yaml", **aqs):
    cfg = yaml.safe_load(TINY.read_text())
    for system in cfg["systems"].values():
        system["models"] = models_off()
    cfg["systems"]["cuzr"]["aqs"] = {"strain_step": 0.01, "max_strain": 0.03, "label_strains": [0.01, 0.03],
                                     "d2min_cutoff": 4.0, "minimize": {"ftol": 1e-5},
                                     "cooling_rates": None, **aqs}  # config.yaml's filter: 20 K/ps only
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_aqs_rules_label_every_atom_and_tabulate_the_12_modes(tmp_path):
    run_snakemake(tmp_path, *TARGETS, "--configfile", _aqs_config(tmp_path))
    labelled = io.read_structure(tmp_path / TARGETS[0])
    assert len(labelled) == 200 and labelled.info["aqs_modes"] == list(ALL_MODES)
    assert labelled.info["d2min_cutoff"] == 4.0 and labelled.info["ln_d2min_nan_total"] == 0
    for key in ("code_version", "lammps_version", "potential_sha256", "composition", "cooling_rate"):
        assert key in labelled.info
    means = []
    for s in (0.01, 0.03):
        mean = labelled.arrays[f"ln_d2min_{s:g}"]
        per_mode = np.array([labelled.arrays[f"ln_d2min_{s:g}_{m}"] for m in ALL_MODES])
        assert np.all(np.isfinite(mean))
        np.testing.assert_allclose(mean, per_mode.mean(axis=0), atol=1e-6)
        means.append(mean.mean())
    assert means[1] > means[0] + 1.0  # non-affine motion grows faster than the strain (3x strain: > e x D2min)

    table = pd.read_csv(tmp_path / "results/cuzr/aqs.csv")
    assert sorted(table["mode"].unique()) == sorted(ALL_MODES) and set(table["sample"]) == {SAMPLE}
    assert len(table) == 12 * 4 and set(table["strain"].round(6)) == {0.0, 0.01, 0.02, 0.03}
    for col in ("sxx_GPa", "syy_GPa", "szz_GPa", "syz_GPa", "sxz_GPa", "sxy_GPa", "pe_eV", "iterations"):
        assert table[col].notna().all(), col
    tension = table[(table["mode"] == "tension_x")].sort_values("strain")
    assert tension["sxx_GPa"].iloc[1] > tension["sxx_GPa"].iloc[0]  # stretching x raises sigma_xx
    assert (tmp_path / "results/cuzr/aqs.png").stat().st_size > 5000

    # the D2min cutoff is a label setting: changing it reruns the labels, not the 12 LAMMPS jobs
    proc = run_snakemake(tmp_path, "-n", *TARGETS, "--configfile", _aqs_config(tmp_path, "cut.yaml", d2min_cutoff=4.5))
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert jobs.get("aqs_labels") == "1" and "aqs_mode" not in jobs and "melt_quench" not in jobs, proc.stdout

    # a failed minimisation (2 CG iterations allowed) fails the mode jobs with the reason; no labels, no table
    fail = tmp_path / "fail"
    shutil.copytree(tmp_path / "results/cuzr/glasses", fail / "results/cuzr/glasses")
    bad = _aqs_config(tmp_path, "bad.yaml", minimize={"ftol": 1e-5, "maxiter": 2})
    proc = run_snakemake(fail, *TARGETS, "--configfile", bad, check=False)
    assert proc.returncode != 0
    assert "stopped on 'max iterations'" in proc.stdout + proc.stderr
    assert not (fail / TARGETS[0]).exists() and not (fail / TARGETS[1]).exists()
    modes = fail / "results/cuzr/aqs/modes" / SAMPLE
    assert not modes.exists() or not [p for p in modes.iterdir() if p.suffix in (".extxyz", ".csv")]
