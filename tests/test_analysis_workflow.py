"""The validate rules end to end: glasses on disk -> structure.csv, benchmark.csv, figures, HTML report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from amorphous_ml import io

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_analysis_compare import cristobalite_like  # noqa: E402


@pytest.mark.slow
def test_validate_rules_turn_glasses_into_tables_figures_and_a_report(tmp_path):
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    sio2 = config["systems"]["sio2"]
    sio2.update(cooling_rates=[100], samples_per_rate=2, seed=1)
    sio2["models"] = {"dm2": {"enabled": False}}  # configs merge recursively: switch the model off
    config["systems"] = {"sio2": sio2}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    for seed in (1, 2):  # stand-ins for melt-quenched glasses: rattled cristobalite
        atoms = cristobalite_like(seed)
        atoms.info.update(system="sio2", composition="SiO2", cooling_rate=100.0, seed=seed, source="simulated",
                          model="md")
        io.write_structures(tmp_path / f"results/sio2/glasses/SiO2_100Kps_s{seed}.extxyz", atoms)
    targets = ["results/sio2/structure.csv", "results/sio2/benchmark.csv"] + [
        f"results/sio2/plots/{k}.png" for k in ("rdf", "angles", "rings")]
    cmd = [snakemake, *targets, "-c2", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile",
           str(tmp_path / "config.yaml")]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    structure = pd.read_csv(tmp_path / "results/sio2/structure.csv")
    assert len(structure) == 2 and (structure["ring_mean_size"] == 6.0).all()
    assert structure["energy_per_atom_min"].notna().all()
    bench = pd.read_csv(tmp_path / "results/sio2/benchmark.csv")
    assert set(bench["source"]) == {"simulated"} and set(bench["test"]) == {"halves"}
    rdf = bench.set_index("metric").loc["rdf_rmsd"]
    assert rdf["n_splits"] == 2 and rdf["verdict"] == "untestable" and rdf["noise_median"] > 0
    run = subprocess.run(cmd + ["--report", "report.html"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000
