"""The paper-scale path: Slurm runtime and memory from the MD cost model (atoms x steps), configs/paper.yaml
self-contained and on DM2's protocol, the pre-melt equilibration stage, and the config keys' bad values."""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import yaml

from amorphous_ml.config import ConfigError, merge_config, validate_config, workflow_config
from amorphous_ml.simulate import params as md_cost
from amorphous_ml.simulate.lammps import parse_loop_times, parse_thermo_yaml
from amorphous_ml.simulate.protocols import melt_quench
from conftest import ROOT, TINY

PAPER = ROOT / "configs" / "paper.yaml"


def _dry_run(workdir, *args):
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


def _jobs(text: str) -> list[dict]:
    """Rule, wildcards, resources and shell command of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if not rule:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs.append({
            "rule": rule.group(1),
            "wildcards": dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {},
            "resources": dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {},
            "shell": shell.group(1) if shell else "",
        })
    return jobs


def _threads(shell: str) -> int:
    args = shlex.split(shell)
    return int(args[args.index("--threads") + 1])


@pytest.fixture(scope="module")
def slurm_dry_run(tmp_path_factory):
    """configs/paper.yaml plus a 4x larger a-SiO2 system, through profiles/slurm (a dry run submits nothing)."""
    tmp = tmp_path_factory.mktemp("slurm_dry")
    paper = yaml.safe_load(PAPER.read_text())
    big = copy.deepcopy(paper["systems"]["sio2"])
    big.update(n_atoms=12000, cooling_rates=[100], samples_per_rate=1)
    big.pop("models")
    extra = tmp / "extra.yaml"
    extra.write_text(yaml.safe_dump({"systems": {"sio2big": big},
                                     "job_resources": {"override": {"elastic": {"runtime": 777}}}}))
    targets = [f"results/sio2/glasses/SiO2_{r}Kps_s1.extxyz" for r in ("100", "10", "1", "0.1")] + [
        "results/sio2big/glasses/SiO2_100Kps_s1.extxyz", "results/sio2/fracture/simulated/SiO2_100Kps_s1.csv",
        "results/sio2/elastic/simulated/SiO2_100Kps_s1.json"]
    proc = _dry_run(tmp / "work", "--profile", str(ROOT / "profiles" / "slurm"), "-p",
                    "--configfile", str(PAPER), str(extra), "--", *targets)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return _jobs(proc.stdout), workflow_config([PAPER, extra])


def test_slurm_runtime_of_a_melt_quench_grows_with_atoms_times_steps(slurm_dry_run):
    jobs, config = slurm_dry_run
    quench = {(j["wildcards"]["system"], float(j["wildcards"]["rate"])): j for j in jobs if j["rule"] == "melt_quench"}
    assert len(quench) == 5
    cost = {k: md_cost.melt_quench_atom_steps(config["systems"][k[0]], k[1]) for k in quench}
    runtime = {k: int(j["resources"]["runtime"]) for k, j in quench.items()}
    mem = {k: int(j["resources"]["mem_mb"]) for k, j in quench.items()}
    # what Slurm is asked for is the cost model's number for that job (with the job's own threads) ...
    for k, j in quench.items():
        expected = md_cost.job_resources(config, "melt_quench", cost[k], config["systems"][k[0]]["n_atoms"],
                                         _threads(j["shell"]), "sio2_bjp")
        assert (runtime[k], mem[k]) == (expected["runtime"], expected["mem_mb"]), k
    # ... which rises with atoms x steps: 0.1 K/ps is ~1000x the steps of 100 K/ps, not a flat 240 min
    order = sorted(quench, key=cost.get)
    assert [runtime[k] for k in order] == sorted(runtime.values()) and len(set(runtime.values())) == 5
    slow, fast = ("sio2", 0.1), ("sio2", 100.0)
    assert runtime[slow] / runtime[fast] == pytest.approx(cost[slow] / cost[fast], rel=0.01)
    # four times the atoms, same steps: four times the runtime, and more memory
    assert runtime[("sio2big", 100.0)] / runtime[fast] == pytest.approx(4.0, rel=0.01)
    assert mem[("sio2big", 100.0)] > mem[fast]
    # the 0.1 K/ps glass asks for days, as a 47 M-step quench of 3000 atoms needs
    assert runtime[slow] > 24 * 60


def test_slurm_runtime_of_fracture_elastic_from_the_cost_model_and_the_override(slurm_dry_run):
    jobs, config = slurm_dry_run
    (frac,) = [j for j in jobs if j["rule"] == "fracture"]
    (el,) = [j for j in jobs if j["rule"] == "elastic"]
    s = config["systems"]["sio2"]
    expected = md_cost.job_resources(config, "fracture", md_cost.fracture_atom_steps(s, 3000), 3000,
                                     _threads(frac["shell"]), "sio2_bjp")
    assert int(frac["resources"]["runtime"]) == expected["runtime"] > config["job_resources"]["min_runtime"]
    assert int(el["resources"]["runtime"]) == 777  # job_resources.override.elastic.runtime


def test_max_runtime_caps_the_request_and_sets_the_resubmissions_a_chain_needs():
    config = workflow_config([PAPER])
    s = config["systems"]["sio2"]
    steps = md_cost.melt_quench_atom_steps(s, 0.1)
    uncapped = md_cost.job_resources(config, "melt_quench", steps, 3000, 4, "sio2_bjp")["runtime"]
    capped = copy.deepcopy(config)
    capped["job_resources"]["max_runtime"] = 2880  # a 48 h partition
    assert md_cost.job_resources(capped, "melt_quench", steps, 3000, 4, "sio2_bjp")["runtime"] == 2880
    assert md_cost.melt_quench_retries(capped) == -(-uncapped // 2880) > 1
    assert md_cost.melt_quench_retries(config) is None  # no cap: the profile's retries


def test_paper_config_is_self_contained(tmp_path):
    import yaml

    config = workflow_config([PAPER])
    own = yaml.safe_load(PAPER.read_text())["systems"]
    assert set(config["systems"]) == set(own)  # only the paper file's systems
    laptop = workflow_config([])["systems"]
    assert config["systems"]["sio2"]["n_atoms"] == 3000
    assert config["systems"]["cuzr"]["n_atoms"] == 16000
    # nothing of config.yaml's laptop sections leaks into a system the paper file defines
    assert "dm2" in laptop["cuzr"]["models"] and "dm2" not in config["systems"]["cuzr"]["models"]
    # the workflow reads it the same way: Snakemake's own config (--settings-json of a job) is the paper one
    proc = _dry_run(tmp_path, "-p", "results/cuzr/structure/simulated/Cu50Zr50_10Kps_s1.json", "--configfile",
                    str(PAPER))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (job,) = [j for j in _jobs(proc.stdout) if j["rule"] == "structure_metrics"]
    args = shlex.split(job["shell"])
    assert json.loads(args[args.index("--settings-json") + 1]) == config["systems"]["cuzr"]["analysis"]


def test_a_config_that_is_not_self_contained_inherits_config_yaml_by_snakemakes_merge(tmp_path):
    """tests/configs/tiny.yaml sets no analysis: it inherits config.yaml's (mappings merge key by key),
    while its own lists and values replace the defaults. Snakemake's config is the package's model of it."""
    config = workflow_config([TINY])
    laptop = workflow_config([])
    sio2 = config["systems"]["sio2"]
    assert sio2["analysis"] == laptop["systems"]["sio2"]["analysis"] and sio2["analysis"]["bond_cutoffs"]
    assert sio2["cooling_rates"] == [500] and sio2["n_atoms"] == 150
    assert set(config["systems"]) == {"sio2", "cuzr", "si"}
    assert merge_config({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}}
    proc = _dry_run(tmp_path, "-p", "results/sio2/structure/simulated/SiO2_500Kps_s3.json", "--configfile", str(TINY))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (job,) = [j for j in _jobs(proc.stdout) if j["rule"] == "structure_metrics"]
    args = shlex.split(job["shell"])
    assert json.loads(args[args.index("--settings-json") + 1]) == sio2["analysis"]


def test_paper_config_follows_dm2_protocol():
    """DM2 Methods (REFERENCE.md section 4): minimise; 50 ps NVT + 50 ps NPT at 300 K; 50 ps NPT at 5000 K;
    0.1-100 K/ps at 0 bar; 100 ps NPT at 300 K; 1 fs; six samples per rate; fracture at 1e9 1/s."""
    s = workflow_config([PAPER])["systems"]["sio2"]
    assert s["equilibrate"] == {"temperature": 300, "nvt_ps": 50, "npt_ps": 50}
    assert (s["melt"]["temperature"], s["melt"]["nvt_ps"], s["melt"]["npt_ps"]) == (5000, 0, 50)
    assert sorted(s["cooling_rates"]) == [0.1, 1, 10, 100] and s["quench"]["pressure_bar"] == 0
    assert s["quench"]["anneal_ps"] == 100 and s["timestep_ps"] == 0.001 and s["samples_per_rate"] == 6
    assert s["fracture"]["strain_rate"] == pytest.approx(1e9 * 1e-12)  # 1/ps
    # the cost model counts the equilibration: 100 ps more than without it
    no_pre = dict(s, equilibrate={"temperature": 300, "nvt_ps": 0, "npt_ps": 0})
    extra = md_cost.melt_quench_atom_steps(s, 1) - md_cost.melt_quench_atom_steps(no_pre, 1)
    assert extra == pytest.approx(3000 * 100 / 0.001)


def test_pre_melt_equilibration_runs_at_its_temperature_before_the_melt(tmp_path, tiny_config):
    s = copy.deepcopy(tiny_config["systems"]["sio2"])
    s.update(equilibrate={"temperature": 300, "nvt_ps": 0.4, "npt_ps": 0.4},
             melt={"temperature": 5000, "nvt_ps": 0, "npt_ps": 0.4},  # as configs/paper.yaml: no melt NVT
             quench={"final_temperature": 300, "anneal_ps": 0.2, "pressure_bar": 0.0})
    melt_quench("sio2", s, "SiO2", 10000, 3, tmp_path / "g.extxyz", tmp_path / "g.data", tmp_path / "g.log")
    text = (tmp_path / "g.log").read_text()
    runs = [lt.steps for lt in parse_loop_times(text)][1:]  # after the minimisation
    assert runs == [400, 400, 400, 470, 200]  # pre NVT, pre NPT, melt NPT, cooling, anneal
    blocks = parse_thermo_yaml(text)[1:]
    pre_t = np.mean(blocks[0]["Temp"][1:] + blocks[1]["Temp"][1:])
    melt_t = np.mean(blocks[2]["Temp"][1:])
    assert pre_t < 600 and melt_t > 3500, (pre_t, melt_t)  # 300 K (150 atoms: +-7 %), then 5000 K
    assert blocks[2]["Temp"][0] == pytest.approx(5000, rel=1e-6)  # velocities rescaled to the melt


BAD = {
    "negative restart interval": (lambda c: c["lammps"].update(restart_every_ps=-1), "lammps.restart_every_ps"),
    "safety factor below 1": (lambda c: c["job_resources"].update(safety_factor=0.5), "job_resources.safety_factor"),
    "zero throughput": (lambda c: c["job_resources"]["throughput"].update(sio2_bjp=0),
                        "job_resources.throughput.sio2_bjp"),
    "override of an unknown rule": (lambda c: c["job_resources"]["override"].update(melt=dict(runtime=5)),
                                    "job_resources.override.melt"),
    "zero override runtime": (lambda c: c["job_resources"]["override"].update(melt_quench=dict(runtime=0)),
                              "job_resources.override.melt_quench.runtime"),
    "negative equilibration": (lambda c: c["systems"]["sio2"]["equilibrate"].update(nvt_ps=-1),
                               "systems.sio2.equilibrate.nvt_ps"),
    "self_contained not a boolean": (lambda c: c.update(self_contained="yes"), "self_contained"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_paper_scale_keys_fail_with_one_line_naming_them(case):
    edit, key = BAD[case]
    config = yaml.safe_load(PAPER.read_text())
    config.setdefault("job_resources", {}).setdefault("throughput", {})
    config["job_resources"].setdefault("override", {})
    config["systems"]["sio2"].setdefault("equilibrate", {})
    edit(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert key in str(err.value) and "\n" not in str(err.value)


def test_a_model_with_fracture_false_stays_out_of_the_fracture_table(tmp_path):
    """The laptop small-cell AMDEN (81-162 atoms, `fracture: false`) gets no tension test, so the quick-start
    target fracture.csv neither trains nor samples it; `fracture: true` brings its structures back."""
    def fracture_jobs(*args):
        proc = _dry_run(tmp_path, "results/sio2/fracture.csv", *args)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return _jobs(proc.stdout)

    default = fracture_jobs()
    sources = {j["wildcards"].get("source") for j in default if j["rule"] == "fracture"}
    assert sources == {"simulated", "dm2"}
    assert {j["wildcards"].get("model") for j in default if j["rule"] == "train_model"} == {"dm2"}
    on = tmp_path / "on.yaml"
    on.write_text("systems: {sio2: {models: {amden: {fracture: true}}}}\n")
    with_amden = fracture_jobs("--configfile", str(on))
    assert "amden" in {j["wildcards"].get("source") for j in with_amden if j["rule"] == "fracture"}
