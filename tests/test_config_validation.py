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
    # a generated structure's seed (section seed + k) is its refine's LAMMPS velocity seed
    "amden seed zero": (lambda c: _sio2(c)["models"]["amden"].update(seed=0), "systems.sio2.models.amden.seed"),
    "amshortcut seed zero": (lambda c: c["systems"]["si"]["models"]["amshortcut"].update(seed=0),
                             "systems.si.models.amshortcut.seed"),
    "bad torch device": (lambda c: c.update(torch_device="tpu"), "torch_device"),
    "zero torch threads": (lambda c: c.update(torch_threads=0), "torch_threads"),
    # semantic checks (amorphous_ml.config._check_semantics), beyond what the schema can say
    "training noise range reversed": (lambda c: _dm2(c).update(sigma_min=0.8, sigma_max=0.5),
                                      "systems.sio2.models.dm2.sigma_min"),
    "generation noise range reversed": (lambda c: _dm2(c)["generation"].update(s_min=2.0, s_max=1.0),
                                        "systems.sio2.models.dm2.generation.s_min"),
    "no denoising steps at all": (lambda c: _dm2(c)["generation"].update(noisy_steps=0, clean_steps=0),
                                  "systems.sio2.models.dm2.generation.noisy_steps"),
    "model composition without glasses": (lambda c: _dm2(c).update(compositions=["SiO2", "Si2O3"]),
                                          "systems.sio2.models.dm2.compositions[1]"),
    # trained on 25-100 K/ps: 0.1 K/ps is 2.4 decades below (1 decade is allowed)
    "target rate far outside the trained rates": (lambda c: _dm2(c).update(target_cooling_rates=[100, 0.1]),
                                                  "systems.sio2.models.dm2.target_cooling_rates[1]"),
    "target rate far above the trained rates": (lambda c: _dm2(c).update(target_cooling_rates=[1e4]),
                                                "systems.sio2.models.dm2.target_cooling_rates[0]"),
    "modulus fit beyond the test's strain": (lambda c: _sio2(c)["fracture"].update(max_strain=0.04,
                                                                                   modulus_max_strain=0.05),
                                             "systems.sio2.fracture.modulus_max_strain"),
    "coordination pair without bond cutoff": (lambda c: _sio2(c)["analysis"]["coordination"].update({"Si-Si": 4}),
                                              "systems.sio2.analysis.coordination.Si-Si"),
    "voronoi radii missing an element": (lambda c: c["systems"]["cuzr"]["analysis"].update(voronoi_radii={"Cu": 1.28}),
                                         "systems.cuzr.analysis.voronoi_radii"),
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
    "unknown DM2 noise rule": (lambda c: _sio2(c)["models"]["dm2"]["generation"].update(noise="gaussian"),
                               "systems.sio2.models.dm2.generation.noise"),
    "unknown weight selection": (lambda c: _sio2(c)["models"]["dm2"]["training"].update(select="best"),
                                 "systems.sio2.models.dm2.training.select"),
    "alpha of 1": (lambda c: _sio2(c)["analysis"].update(alpha=1.0), "systems.sio2.analysis.alpha"),
    "no QUESTS bandwidth": (lambda c: _sio2(c)["analysis"].update(quests_overlap_bandwidths=[]),
                            "systems.sio2.analysis.quests_overlap_bandwidths"),
}


def _dm2(cfg):
    return cfg["systems"]["sio2"]["models"]["dm2"]


def test_extrapolation_by_up_to_one_decade_and_unconditional_targets_are_accepted(good):
    _dm2(good)["target_cooling_rates"] = [100, 2.5, 1000]  # 25-100 K/ps trained: exactly 1 decade either side
    cuzr = good["systems"]["cuzr"]["models"]["dm2"]
    cuzr["target_cooling_rates"] = [1e-6]  # unconditional: the rate only labels the samples
    validate_config(good)
    _sio2(good)["analysis"]["coordination"] = {"O-Si": 2}  # the cutoff is given as Si-O: either order counts
    validate_config(good)


def test_default_config_is_valid_and_defaults_are_filled():
    cfg = load_config()
    assert "record_every" not in yaml.safe_load((ROOT / "config.yaml").read_text())["systems"]["cuzr"]["fracture"]
    assert cfg["systems"]["cuzr"]["fracture"]["record_every"] == 100  # filled from the schema
    assert cfg["systems"]["sio2"]["fracture"]["record_every"] == 40  # given in config.yaml, kept
    assert cfg["lammps"]["accelerator"] in ("none", "omp")


@pytest.mark.parametrize("case", sorted(BAD), ids=lambda s: s.replace(" ", "_"))
def test_bad_config_fails_with_one_line_naming_the_key(good, case):
    mutate, key = BAD[case]
    good = validate_config(good)  # schema defaults filled, so mutations of nested sections apply
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


def _schema_default(*keys):
    """A default read straight from the schema file (not through the package)."""
    node = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())["definitions"]
    for k in keys[:-1]:
        node = node[k]["properties"] if "properties" in node.get(k, {}) else node[k]
    return node[keys[-1]]["default"]


def test_commands_given_no_setting_use_the_schema_defaults(tmp_path):
    """Defaults have one definition (the schema): a generation section without `aspect` gets the schema's cell
    shape, and a stress-strain curve whose header has no `modulus_max_strain` is fitted up to the schema's."""
    import numpy as np
    import pandas as pd
    import torch

    from amorphous_ml.cli import main
    from amorphous_ml.io import read_structure
    from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser
    from amorphous_ml.learn.train import save_model
    from amorphous_ml.validate.properties import fracture_table

    torch.manual_seed(0)
    save_model(tmp_path / "m.pt", DM2Denoiser(DM2Config(species=["Si", "O"], hidden_irreps="4x0e+2x1o",
                                                          num_layers=1, radial_hidden=8, cond_hidden=4)), "dm2")
    out = tmp_path / "g.extxyz"
    assert main(["generate", "--model", str(tmp_path / "m.pt"), "--name", "dm2", "--samples", "SiO2_10Kps_s1",
                 "--out", str(out), "--no-progress", "--params-json",
                 '{"generation": {"noisy_steps": 1, "clean_steps": 0, "n_atoms": 30, "density": 2.2}}']) == 0
    lengths = read_structure(out).cell.lengths()
    np.testing.assert_allclose(lengths / lengths[0], _schema_default("dm2", "generation", "aspect"), rtol=1e-9)

    fit_to = _schema_default("fracture", "modulus_max_strain")
    strain = np.linspace(0, 0.2, 201)
    stress = np.where(strain < 0.02, 100 * strain, 2.0 + 20 * (strain - 0.02))  # a kink at 2 % strain
    curve = tmp_path / "curve.csv"
    with open(curve, "w") as fh:
        fh.write('# structure: {"model": "md", "cooling_rate": 1.0}\n# fracture: {}\n')
        pd.DataFrame({"strain": strain, "szz_GPa": stress}).to_csv(fh, index=False)
    row = fracture_table([curve], tmp_path / "f.csv").iloc[0]
    lin = strain <= fit_to
    assert row["E_GPa"] == pytest.approx(np.polyfit(strain[lin], stress[lin], 1)[0], rel=1e-9)
