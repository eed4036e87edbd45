"""Bad configs fail validation with one line that names the key; the workflow prints no traceback."""

import copy
import subprocess
import sys

import pytest
import yaml

from amorphous_ml.config import ConfigError, load_config, validate_config
from conftest import ROOT


@pytest.fixture
def good():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _sio2(cfg):
    return cfg["systems"]["sio2"]


def _cuzr(cfg):
    return cfg["systems"]["cuzr"]


BAD = {
    "wrong type for n_atoms": (lambda c: _sio2(c).update(n_atoms="many"), "systems.sio2.n_atoms"),
    "negative cooling rate": (lambda c: _sio2(c).update(cooling_rates=[100, -5]), "systems.sio2.cooling_rates[1]"),
    "zero cooling rate": (lambda c: _sio2(c).update(cooling_rates=[0]), "systems.sio2.cooling_rates[0]"),
    "unknown potential": (lambda c: _sio2(c).update(potential="bks_nowall"), "systems.sio2.potential"),
    "unknown top-level key": (lambda c: c.update(sytems={}), "sytems"),
    "unknown system key": (lambda c: _sio2(c).update(cooling_rate=[1]), "systems.sio2.cooling_rate"),
    "unknown melt key": (lambda c: _sio2(c)["melt"].update(temp=4000), "systems.sio2.melt.temp"),
    "system without potential": (lambda c: c["systems"].update(foo={"compositions": ["SiO2"], "cooling_rates": [1]}),
                                 "systems.foo"),
    "missing potential file": (lambda c: _sio2(c).update(potential_dir="/nonexistent"), "systems.sio2.potential_dir"),
    "element not in potential": (lambda c: _sio2(c).update(compositions=["Na2O"]), "systems.sio2.compositions[0]"),
    "not a formula": (lambda c: _sio2(c).update(compositions=["silica!"]), "systems.sio2.compositions[0]"),
    "melt colder than glass": (lambda c: _sio2(c)["melt"].update(temperature=200), "systems.sio2.melt.temperature"),
    "bad accelerator": (lambda c: c["lammps"].update(accelerator="gpu"), "lammps.accelerator"),
    "zero samples": (lambda c: _sio2(c).update(samples_per_rate=0), "systems.sio2.samples_per_rate"),
    "box aspect with two entries": (lambda c: _sio2(c).update(box_aspect=[1, 1]), "systems.sio2.box_aspect"),
    "timestep too large": (lambda c: _sio2(c).update(timestep_ps=0.5), "systems.sio2.timestep_ps"),
    "bad system name": (lambda c: c["systems"].update({"Bad-Name": copy.deepcopy(_sio2(c))}), "systems"),
    "negative fracture strain rate": (lambda c: _sio2(c)["fracture"].update(strain_rate=-1),
                                      "systems.sio2.fracture.strain_rate"),
    "seed zero (LAMMPS rejects it)": (lambda c: _sio2(c).update(seed=0), "systems.sio2.seed"),
    "bad torch device": (lambda c: c.update(torch_device="tpu"), "torch_device"),
    "zero torch threads": (lambda c: c.update(torch_threads=0), "torch_threads"),
    "aqs label strain off the strain grid": (lambda c: _cuzr(c)["aqs"].update(label_strains=[0.011]),
                                             "systems.cuzr.aqs.label_strains"),
    "aqs label strain beyond max strain": (lambda c: _cuzr(c)["aqs"].update(label_strains=[0.2]),
                                           "systems.cuzr.aqs.label_strains"),
    "aqs unknown mode": (lambda c: _cuzr(c)["aqs"].update(modes=["tension_w"]), "systems.cuzr.aqs.modes[0]"),
    "aqs zero strain step": (lambda c: _cuzr(c)["aqs"].update(strain_step=0), "systems.cuzr.aqs.strain_step"),
    "aqs without d2min cutoff": (lambda c: _cuzr(c)["aqs"].pop("d2min_cutoff"), "systems.cuzr.aqs"),
    "aqs negative d2min cutoff": (lambda c: _cuzr(c)["aqs"].update(d2min_cutoff=-4), "systems.cuzr.aqs.d2min_cutoff"),
    "aqs composition not a formula": (lambda c: _cuzr(c)["aqs"].update(compositions=["cuzr"]),
                                      "systems.cuzr.aqs.compositions[0]"),
    "aqs negative cooling rate": (lambda c: _cuzr(c)["aqs"].update(cooling_rates=[-7]),
                                  "systems.cuzr.aqs.cooling_rates[0]"),
    "aqs zero maxiter": (lambda c: _cuzr(c)["aqs"]["minimize"].update(maxiter=0), "systems.cuzr.aqs.minimize.maxiter"),
}


def test_default_config_is_valid_and_defaults_are_filled():
    cfg = load_config()
    assert cfg["systems"]["sio2"]["fracture"]["record_every"] == 100  # filled from the schema
    assert cfg["lammps"]["accelerator"] in ("none", "omp")


@pytest.mark.parametrize("case", sorted(BAD), ids=lambda s: s.replace(" ", "_"))
def test_bad_config_fails_with_one_line_naming_the_key(good, case):
    mutate, key = BAD[case]
    mutate(good)
    with pytest.raises(ConfigError) as err:
        validate_config(good, source="config.yaml")
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert f" {key}" in msg or f"{key}:" in msg, msg


def test_workflow_reports_bad_config_in_one_line_without_traceback(tmp_path, good):
    _sio2(good)["cooling_rates"] = [100, -5]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(good))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(bad), "-n", "results/sio2/fracture.csv"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    err = proc.stderr + proc.stdout
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "invalid configuration" in line]
    assert len(lines) == 1 and "systems.sio2.cooling_rates[1]" in lines[0], err


def test_cli_check_config_rejects_bad_file_without_traceback(tmp_path, good):
    good["systems"]["sio2"]["n_atoms"] = -3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(good))
    proc = subprocess.run([sys.executable, "-m", "amorphous_ml", "check-config", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "systems.sio2.n_atoms" in proc.stderr
