"""Reruns that mean what they say: every LAMMPS job declares the input template and the potential files it
reads as rule inputs (editing them reruns it), and ``potential_dir`` reaches every LAMMPS rule, refine
included. Checked on the dry-run DAG of the default config (nothing runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

# rule -> the template it runs (structure_metrics: the minimisation for energy_per_atom_min)
TEMPLATES = {"melt_quench": "melt_quench.in", "elastic": "elastic.in", "fracture": "fracture.in",
             "refine_generated": "refine.in", "structure_metrics": "minimize.in"}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dry")
    potdir = tmp / "my_potentials"
    shutil.copytree(ROOT / "potentials", potdir)
    (tmp / "potdir.yaml").write_text(yaml.safe_dump({"systems": {"sio2": {"potential_dir": str(potdir)}}}))
    targets = ["results/sio2/fracture.csv", "results/sio2/elastic.csv", "results/sio2/benchmark.csv"]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp),
                           "-n", "-p", *targets, "--configfile", str(tmp / "potdir.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = {}
    for block in re.split(r"\n(?=\[[A-Z][a-z]{2} )", proc.stdout):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule:
            inputs = re.search(r"^\s+input: (.*)$", block, re.M)
            jobs.setdefault(rule.group(1), []).append(
                {"input": inputs.group(1).split(", ") if inputs else [], "text": block})
    return potdir, jobs


def test_every_lammps_job_declares_its_template_and_potential_files(dry_run):
    potdir, jobs = dry_run
    assert set(TEMPLATES) <= set(jobs), sorted(jobs)
    for rule, template in TEMPLATES.items():
        for job in jobs[rule]:
            assert str(ROOT / "lammps_inputs" / template) in job["input"], (rule, job["input"])
            # BJP silica reads one include file; it comes from the configured potential_dir
            assert str(potdir / "sio2_bjp.lmp") in job["input"], (rule, job["input"])
            assert not [f for f in job["input"] if f.endswith(".in") and not f.endswith(template)]


def test_potential_dir_reaches_every_lammps_command_refine_included(dry_run):
    potdir, jobs = dry_run
    for rule in ("refine_generated", "structure_metrics"):
        for job in jobs[rule]:
            assert f"--potential-dir {potdir}" in job["text"], job["text"][-1500:]
    for rule in ("melt_quench", "elastic", "fracture"):  # they get it inside the system's JSON
        for job in jobs[rule]:
            assert f'"potential_dir":"{potdir}"' in job["text"], job["text"][-1500:]


def test_a_cuzr_job_declares_the_eam_parameter_file_too():
    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.params import lammps_input_files

    cuzr = load_config()["systems"]["cuzr"]
    files = lammps_input_files(cuzr, "fracture.in")
    assert [f.rsplit("/", 1)[-1] for f in files] == ["fracture.in", "cuzr_mendelev.lmp", "CuZr_mm.eam.fs"]
