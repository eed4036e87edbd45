"""AMDEN on the shared model plumbing: config sections of kind amden (standard and HMC variant), target
requests and their ids, the generic train/generate CLI, one-line errors for bad targets."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

from amorphous_ml import io, registry
from amorphous_ml.config import ConfigError, load_definition, validate_config
from amorphous_ml.learn.models.amden import CONFIG_SCHEMA
from conftest import ROOT

sys.path.insert(0, str(Path(__file__).parent))
from amden_fixtures import TINY, rattled_si, saved_tiny_model  # noqa: E402

FAST = {"steps": 4, "batch_size": 2}


def _config(**amden):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    si = cfg["systems"]["si"]
    si["models"] = {
        "amden": {"properties": ["shear_modulus_GPa"], "targets": [{"shear_modulus_GPa": 30.0},
                                                                   {"shear_modulus_GPa": 36.0}],
                  "samples_per_target": 2, **amden},
        "amden_hmc": {"kind": "amden", "energy": True, "generation": {"hmc": {"enabled": True}}, "seed": 7,
                      "samples_per_target": 3},
    }
    return cfg


def test_schema_definition_holds_the_model_code_schema_verbatim():
    definition = load_definition("amden")
    for key, sub in CONFIG_SCHEMA["properties"].items():
        assert definition["properties"][key] == sub, key
    workflow = set(definition["properties"]) - set(CONFIG_SCHEMA["properties"])
    assert workflow == registry.AMDEN_WORKFLOW_KEYS - {"kind", "generation"}


def test_standard_and_hmc_sections_of_one_kind_request_their_structures():
    cfg = validate_config(_config())
    si = cfg["systems"]["si"]
    std, hmc = si["models"]["amden"], si["models"]["amden_hmc"]
    assert std["kind"] == hmc["kind"] == "amden" and hmc["generation"]["hmc"]["t_max"] == 0.5  # defaults filled
    ids = [r.sample for r in registry.model_requests(si, "amden", std)]
    assert ids == ["Si_30ShearModulusGPa_s2001", "Si_30ShearModulusGPa_s2002", "Si_36ShearModulusGPa_s2003",
                   "Si_36ShearModulusGPa_s2004"]
    assert [r.sample for r in registry.model_requests(si, "amden_hmc", hmc)] == ["Si_s7", "Si_s8", "Si_s9"]
    # what training sees: no workflow keys; what generation sees: its settings and the property names
    assert "targets" not in registry.training_params("amden", std) and std["properties"] == ["shear_modulus_GPa"]
    assert set(registry.generation_params("amden", std)) == {"generation", "properties", "sampling_steps"}


BAD = {
    "target of a property the model is not conditioned on":
        (lambda m: m["amden"]["targets"].append({"young_modulus_GPa": 50.0}),
         "systems.si.models.amden.targets[2].young_modulus_GPa"),
    "target that is not a number": (lambda m: m["amden"]["targets"].append({"shear_modulus_GPa": "high"}),
                                    "systems.si.models.amden.targets[2].shear_modulus_GPa"),
    "HMC on the standard variant": (lambda m: m["amden_hmc"].update(energy=False),
                                    "systems.si.models.amden_hmc.generation.hmc.enabled"),
    "unknown generation key": (lambda m: m["amden"].update(generation={"stepz": 3}),
                               "systems.si.models.amden.generation.stepz"),
    "dataset the system does not have": (lambda m: m["amden"].update(dataset="nosuchset"),
                                         "systems.si.models.amden.dataset"),
    "property that is no label of its dataset": (lambda m: m["amden"].update(dataset="anneal"),
                                                 "systems.si.models.amden.properties[0]"),
}


@pytest.mark.parametrize("case", sorted(BAD), ids=lambda s: s.replace(" ", "_"))
def test_bad_amden_section_is_one_line_naming_the_key(case):
    cfg = _config()
    mutate, key = BAD[case]
    mutate(cfg["systems"]["si"]["models"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, source="config.yaml")
    msg = str(err.value)
    assert "\n" not in msg and (f" {key}:" in msg or f" {key} " in msg), msg


def test_generic_generate_writes_targets_and_names_the_key_of_an_unreachable_target(tmp_path):
    from amorphous_ml.generate.batch import generate_samples

    model = saved_tiny_model(tmp_path / "m.pt", rattled_si(4), properties=["shear_modulus_GPa"])
    params = {"generation": FAST, "properties": ["shear_modulus_GPa"]}
    # training range 30-36 GPa: 20 % outside (37.2) is generated, 500 GPa is unreachable
    outs = [tmp_path / "Si_37.2ShearModulusGPa_s5.extxyz", tmp_path / "Si_37.2ShearModulusGPa_s6.extxyz"]
    frames = generate_samples(model, "amden_x", [o.stem for o in outs], outs, params, system="si", progress=False)
    atoms = io.read_structure(outs[1])
    assert len(frames) == 2 and atoms.info["target_shear_modulus_GPa"] == 37.2 and atoms.info["seed"] == 6
    assert atoms.info["model"] == "amden_x" and atoms.info["source"] == "generated" and "X" not in atoms.symbols
    assert atoms.info["params"]["reports"][0]["n_samples"] == 2  # consecutive seeds ran as one batch
    with pytest.raises(ValueError) as err:
        generate_samples(model, "amden_x", ["Si_500ShearModulusGPa_s1"], [tmp_path / "bad.extxyz"], params,
                         system="si", progress=False)
    msg = str(err.value)
    assert msg.startswith("systems.si.models.amden_x.targets.shear_modulus_GPa = 500 is unreachable"), msg
    assert "\n" not in msg and not (tmp_path / "bad.extxyz").exists()


def test_generic_train_cli_trains_amden_on_a_multi_frame_extxyz(tmp_path):
    from amorphous_ml.cli import main
    from amorphous_ml.learn.train import load_model

    io.write_structures(tmp_path / "set.extxyz", rattled_si(4))
    section = validate_config(_config())["systems"]["si"]["models"]["amden"]
    section = copy.deepcopy({**section, **TINY, "training": {"steps": 4, "batch_size": 2, "val_every": 2,
                                                             "checkpoint_every": 2}, "val_fraction": 0.25})
    import json

    rc = main(["train", "--kind", "amden", "--name", "amden", "--inputs", str(tmp_path / "set.extxyz"),
               "--species", "Si", "--params-json", json.dumps(registry.training_params("amden", section)),
               "--out", str(tmp_path / "m.pt"), "--work-dir", str(tmp_path / "work"), "--no-progress"])
    assert rc == 0
    model = load_model(tmp_path / "m.pt")
    stats = model.cfg.extra["property_stats"]["shear_modulus_GPa"]
    assert model.cfg.properties == ["shear_modulus_GPa"] and (stats["min"], stats["max"]) == (30.0, 36.0)
    assert json.loads((tmp_path / "m.json").read_text())["kind"] == "amden"
