"""One plumbing for every model kind: sample ids, the registry, config sections by kind, generic CLI,
generation resume keyed by model hash/schedule/seeds, and DM2 through the generic rules giving the files
the DM2-specific code path gave."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from amorphous_ml import registry
from amorphous_ml.config import ConfigError, load_config, load_definition, sample_id, validate_config
from amorphous_ml.samples import (SAMPLE_PATTERN, condition_tag, conditions_from_tags, parse_sample, sample_name,
                                  target_columns)
from conftest import ROOT, TINY

sys.path.insert(0, str(Path(__file__).parent))
from test_dm2_generation import _model  # noqa: E402


# ------------------------------------------------------------------------------------------ sample ids
@pytest.mark.parametrize("rate", [100, 25, 5, 0.1, 2.5e-05, 1e6, 1.5])
def test_cooling_rate_ids_are_the_glass_and_dm2_ids_byte_for_byte(rate):
    assert sample_name("SiO2", {"cooling_rate": rate}, 1001) == sample_id("SiO2", rate, 1001)
    comp, tokens, seed = parse_sample(sample_id("Cu64Zr36", rate, 7))
    assert (comp, seed) == ("Cu64Zr36", 7) and tokens == [("Kps", float(f"{rate:g}"))]


def test_property_energy_and_unconditioned_ids_parse_back_to_their_conditions():
    names = ["shear_modulus_GPa", "mean_ring_size", "density_g_cm3", "energy_min_eV", "energy_max_eV"]
    assert [condition_tag(n) for n in names] == ["ShearModulusGPa", "MeanRingSize", "DensityGCm3", "EnergyMinEV",
                                                 "EnergyMaxEV"]
    cases = [("SiO2", {"shear_modulus_GPa": 36.0, "mean_ring_size": 6.5}, 3),
             ("Si", {"energy_min_eV": -4.3, "energy_max_eV": -4.25}, 12),
             ("SiO2", {"density_g_cm3": 2.2e-3}, 1),
             ("Si", {}, 5)]
    for comp, cond, seed in cases:
        sid = sample_name(comp, cond, seed)
        assert re.fullmatch(SAMPLE_PATTERN, sid), sid
        c, tokens, s = parse_sample(sid)
        assert (c, s) == (comp, seed) and conditions_from_tags(tokens, names, sid) == cond
    assert sample_name("Si", {}, 5) == "Si_s5"
    assert sample_name("SiO2", {"shear_modulus_GPa": 36.0}, 3) == "SiO2_36ShearModulusGPa_s3"
    # a tag the model does not take, and strings that are no id, are errors
    with pytest.raises(ValueError, match="MeanRingSize"):
        conditions_from_tags(parse_sample("SiO2_6MeanRingSize_s1")[1], ["cooling_rate"], "SiO2_6MeanRingSize_s1")
    for bad in ("SiO2_100Kps", "sio2_s1", "SiO2_100kps_s1", "SiO2__s1"):
        with pytest.raises(ValueError):
            parse_sample(bad)


def test_every_id_of_the_default_config_matches_the_wildcard_constraint():
    cfg = load_config()
    for system in cfg["systems"].values():
        ids = registry.simulated_samples(system)
        for name, section in system["models"].items():
            ids += [r.sample for r in registry.model_requests(system, name, section)]
        assert ids and all(re.fullmatch(SAMPLE_PATTERN, i) for i in ids)


# ------------------------------------------------------------------------------------ registry/config
def test_every_kind_has_its_schema_definition_and_callables():
    for name, kind in registry.KINDS.items():
        definition = load_definition(kind.schema)
        assert definition["type"] == "object" and definition.get("additionalProperties") is False
        assert set(kind.generation_keys) <= set(definition["properties"]), name
        assert {"enabled", "refine"} <= set(definition["properties"]), name
        assert all(callable(f) for f in (kind.train, kind.sample, kind.requests, kind.condition_names))


def test_dm2_training_params_are_the_section_minus_the_workflow_keys():
    section = load_config()["systems"]["sio2"]["models"]["dm2"]
    old_workflow_keys = {"enabled", "target_cooling_rates", "samples_per_rate", "compositions", "generation",
                         "refine"}  # what the DM2-specific rule left out of train_dm2's params
    assert registry.training_params("dm2", section) == {k: v for k, v in section.items()
                                                        if k not in old_workflow_keys | {"kind"}}
    assert registry.generation_params("dm2", section) == {"generation": section["generation"]}


def test_a_model_section_takes_its_kind_from_kind_or_its_name():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    models = cfg["systems"]["sio2"]["models"]
    models["dm2_small"] = {"kind": "dm2", "hidden_irreps": "8x0e+4x1o", "seed": 5}
    validate_config(cfg)
    assert models["dm2"]["kind"] == "dm2" and models["dm2_small"]["kind"] == "dm2"
    assert models["dm2_small"]["training"]["steps"] == 27000  # the dm2 definition's defaults are filled
    reqs = registry.model_requests(cfg["systems"]["sio2"], "dm2_small", models["dm2_small"])
    assert [r.sample for r in reqs] == ["SiO2_100Kps_s5", "SiO2_50Kps_s5", "SiO2_25Kps_s5"]


BAD_MODELS = {
    "unknown kind": (lambda m: m.update(foo={"kind": "dm3"}), "systems.sio2.models.foo.kind"),
    "name that is no kind, no kind given": (lambda m: m.update(mymodel={}), "systems.sio2.models.mymodel.kind"),
    "bad key in a renamed dm2 section": (lambda m: m.update(small={"kind": "dm2", "cutof": 3.0}),
                                         "systems.sio2.models.small.cutof"),
    "bad value in a renamed dm2 section": (lambda m: m.update(small={"kind": "dm2", "training": {"steps": 0}}),
                                           "systems.sio2.models.small.training.steps"),
    "two requests with one id": (lambda m: m["dm2"].update(target_cooling_rates=[100, 100.0000001]),
                                 "systems.sio2.models.dm2"),
    "bad model name": (lambda m: m.update({"DM2": {"kind": "dm2"}}), "systems.sio2.models"),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS), ids=lambda s: s.replace(" ", "_"))
def test_bad_model_section_fails_with_one_line_naming_the_key(case):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    mutate, key = BAD_MODELS[case]
    mutate(cfg["systems"]["sio2"]["models"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, source="config.yaml")
    msg = str(err.value)
    assert "\n" not in msg and (f" {key}:" in msg or f" {key}." in msg), msg


def test_training_inputs_are_the_glasses_of_its_compositions_or_a_named_dataset():
    system = load_config()["systems"]["cuzr"]
    section = dict(system["models"]["dm2"])
    assert registry.training_inputs("cuzr", system, "dm2", section) == [
        "results/cuzr/glasses/Cu50Zr50_100Kps_s1.extxyz", "results/cuzr/glasses/Cu50Zr50_20Kps_s1.extxyz"]
    section["dataset"] = "melt"
    assert registry.training_inputs("cuzr", system, "dm2", section) == ["results/cuzr/datasets/melt.extxyz"]


def test_target_conditions_become_table_columns(tmp_path):
    from amorphous_ml.validate.properties import elastic_table

    info = {"source": "generated", "model": "amden", "composition": "SiO2", "seed": 1,
            "target_shear_modulus_GPa": 30.0, "shear_modulus_GPa": 12.0}
    assert target_columns(info) == {"target_shear_modulus_GPa": 30.0}
    c = np.eye(6).tolist()
    rows = [{"structure": {"source": "simulated", "model": "md", "composition": "SiO2", "cooling_rate": 100.0,
                           "seed": 1}},
            {"structure": {k: v for k, v in info.items() if k != "shear_modulus_GPa"}}]
    files = []
    for k, r in enumerate(rows):
        files.append(tmp_path / f"{k}.json")
        files[-1].write_text(json.dumps({**r, "C_GPa": c, "K_GPa": 1, "G_GPa": 2, "E_GPa": 3, "nu": 0.2,
                                         "n_atoms": 10}))
    table = elastic_table(files, tmp_path / "elastic.csv")
    assert list(table.columns[:7]) == ["source", "model", "composition", "cooling_rate", "n_atoms", "seed",
                                       "target_shear_modulus_GPa"]
    gen = table[table.source == "generated"].iloc[0]
    assert gen.target_shear_modulus_GPa == 30.0 and math.isnan(table[table.source == "simulated"].iloc[0]["target_shear_modulus_GPa"])


# ------------------------------------------------------------------------- model files and resume
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "amorphous_ml", *args], capture_output=True, text=True)


def test_unknown_kind_in_model_json_is_one_line_naming_the_file(tmp_path, capsys):
    from amorphous_ml.cli import main
    from amorphous_ml.learn.train import save_model

    save_model(tmp_path / "m.pt", _model(), "dm2")
    meta = json.loads((tmp_path / "m.json").read_text())
    args = ["generate", "--model", str(tmp_path / "m.pt"), "--name", "dm2", "--samples", "SiO2_5Kps_s1",
            "--out", str(tmp_path / "o.extxyz"), "--no-progress"]
    (tmp_path / "m.json").write_text(json.dumps({**meta, "kind": "dm3"}))
    proc = _cli(*args)  # the real command line: exit 1, one line, no traceback
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and f"{tmp_path / 'm.json'}: unknown model kind 'dm3'" in proc.stderr
    (tmp_path / "m.json").write_text("{not json")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'm.json'}: not a model config" in err, err
    assert not (tmp_path / "o.extxyz").exists()


def test_generate_refuses_a_model_file_of_another_kind_than_its_section(tmp_path, monkeypatch):
    from dataclasses import replace

    from amorphous_ml.generate.batch import generate_samples
    from amorphous_ml.learn.train import save_model

    save_model(tmp_path / "m.pt", _model(), "dm2")
    monkeypatch.setitem(registry.KINDS, "other", replace(registry.KINDS["dm2"], name="other", checkpoint_kinds=("other",)))
    args = (tmp_path / "m.pt", "mine", ["SiO2_5Kps_s1"], [tmp_path / "o.extxyz"], {})
    with pytest.raises(registry.ModelKindError, match=r"model kind 'dm2', but models.mine has kind 'other'"):
        generate_samples(*args, kind="other")
    with pytest.raises(registry.ModelKindError, match="unknown model kind 'egnn9'"):
        generate_samples(*args, kind="egnn9")
    assert not (tmp_path / "o.extxyz").exists()


def _gen(tmp_path, model_path, work, stop_after=None, gen=None):
    from amorphous_ml.generate.batch import generate_samples

    gen = gen or {"n_atoms": 30, "noisy_steps": 8, "clean_steps": 2, "checkpoint_every": 2}
    out = tmp_path / f"out_{work.name}_{stop_after}_{gen['noisy_steps']}.extxyz"
    out.unlink(missing_ok=True)
    frames = generate_samples(model_path, "dm2", ["SiO2_10Kps_s3"], [out], {"generation": gen}, system="sio2",
                              work_dir=work, progress=False, stop_after=stop_after)
    return frames[0].positions.copy() if frames else None


def _states(work):
    return sorted(p.parent.name for p in work.glob("*/denoise_state.pt"))


def test_interrupted_generation_resumes_only_with_the_same_model_schedule_and_seeds(tmp_path):
    from amorphous_ml.generate.dm2 import Schedule, generate_structures
    from amorphous_ml.learn.train import load_model, save_model

    model_a, model_b = _model(), _model()
    with torch.no_grad():  # "retrained": same architecture, other weights
        for p in model_b.parameters():
            p.add_(0.05 * torch.randn_like(p))
    mpath, work = tmp_path / "m.pt", tmp_path / "state"
    save_model(mpath, model_a, "dm2")
    fresh_a = _gen(tmp_path, mpath, tmp_path / "none_a")
    # same model: an interrupted run resumes and ends where an uninterrupted one does
    _gen(tmp_path, mpath, work, stop_after=5)
    assert len(_states(work)) == 1 and _states(work)[0].startswith("SiO2_10Kps_s3-")
    np.testing.assert_array_equal(_gen(tmp_path, mpath, work), fresh_a)
    assert not _states(work)

    # interrupted with model A, then the model is retrained (B): the stale state is not resumed
    _gen(tmp_path, mpath, work, stop_after=5)
    stale = work / _states(work)[0]
    shutil.copytree(stale, tmp_path / "stale_copy")
    save_model(mpath, model_b, "dm2")
    fresh_b = _gen(tmp_path, mpath, tmp_path / "none_b")
    np.testing.assert_array_equal(_gen(tmp_path, mpath, work), fresh_b)
    assert not stale.exists() and not _states(work)
    # resuming the stale state (all that matching atom counts and step total used to require) gives
    # positions half denoised by A, which differ from B's own: the check above can fail
    resumed_stale = generate_structures(load_model(mpath), ["Si"] * 10 + ["O"] * 20, [3], 10.0, Schedule(8, 2),
                                        work_dir=tmp_path / "stale_copy", checkpoint_every=2, progress=False)
    assert np.abs(resumed_stale[0].positions - fresh_b).max() > 1e-3

    # same step total, other schedule (8 + 2 vs 6 + 4): not resumed either
    _gen(tmp_path, mpath, work, stop_after=5)
    other = {"n_atoms": 30, "noisy_steps": 6, "clean_steps": 4, "checkpoint_every": 2}
    np.testing.assert_array_equal(_gen(tmp_path, mpath, work, gen=other),
                                  _gen(tmp_path, mpath, tmp_path / "none_other", gen=other))


# ------------------------------------------------------------- DM2 through the generic rules, bitwise
OLD_WORKFLOW_KEYS = {"enabled", "target_cooling_rates", "samples_per_rate", "compositions", "generation", "refine"}
DM2_TINY = {"target_cooling_rates": [100, 20], "seed": 7, "hidden_irreps": "8x0e+4x1o", "num_basis": 8,
            "radial_hidden": 16, "num_layers": 2, "cond_hidden": 8, "cutoff": 4.0, "val_fraction": 0.5,
            "training": {"steps": 6, "batch_size": 2, "lr": 0.001, "val_every": 3, "checkpoint_every": 3},
            "generation": {"n_atoms": 24, "noisy_steps": 5, "clean_steps": 2, "checkpoint_every": 2}}


def _old_dm2_path(tmp_path, section: dict, glasses: list[Path], species: list[str]):
    """The DM2-specific code path the old train_dm2/generate_dm2 rules ran (train-dm2 and generate-dm2 CLI),
    restated with the package functions they called; returns the reference model file and structures."""
    from amorphous_ml.generate.dm2 import Schedule, generate_structures
    from amorphous_ml.learn.denoise import train_dm2
    from amorphous_ml.learn.train import load_model
    from amorphous_ml.provenance import provenance
    from amorphous_ml.simulate.systems import atom_counts

    params = {k: v for k, v in section.items() if k not in OLD_WORKFLOW_KEYS and k != "kind"}
    train_params = dict(params.pop("training", {}))
    train_params.setdefault("seed", params.pop("seed"))
    params["species"] = species
    ref = tmp_path / "reference" / "model.pt"
    train_dm2(glasses, ref, tmp_path / "reference" / "work", params, train_params, device="cpu", progress=False)

    def generate(model_path: str, rate: float, seed: int):
        gen = section["generation"]
        schedule = Schedule(noisy_steps=int(gen.get("noisy_steps", 2900)), clean_steps=int(gen.get("clean_steps", 100)),
                            s_max=float(gen.get("s_max", 1.0)), s_min=float(gen.get("s_min", 0.001)))
        counts = atom_counts("SiO2", int(gen.get("n_atoms", 300)))
        symbols = [el for el, n in counts.items() for _ in range(n)]
        aspect, angles = tuple(gen.get("aspect", [1.0, 1.0, 1.0])), tuple(gen.get("angles", [90.0, 90.0, 90.0]))
        pore = float(gen.get("pore_radius", 0.0))
        atoms = generate_structures(load_model(model_path), symbols, [seed], rate, schedule, density=gen.get("density"),
                                    aspect=aspect, angles=angles, pore_radius=pore, progress=False)[0]
        record = {"model": model_path, "schedule": schedule.__dict__, "n_atoms": len(symbols), "aspect": aspect,
                  "angles": angles, "pore_radius": pore, "density": atoms.info["density_gcc"]}
        atoms.info.update(provenance(seed=seed, params=record))
        atoms.info.update({"system": "sio2", "composition": "SiO2", "cooling_rate": float(rate),
                           "source": "generated", "model": "dm2"})
        return atoms

    return ref, generate


@pytest.mark.slow
def test_dm2_through_the_generic_rules_gives_the_files_of_the_dm2_specific_path(tmp_path, monkeypatch):
    """train_model + generate_model (Snakemake, `train`/`generate` CLI, registry) against the package
    functions the DM2-specific rules called: bit-identical weights, identical model config and
    byte-identical generated extxyz; a second section of kind dm2 runs through the same rules."""
    from amorphous_ml import io
    from amorphous_ml.learn.train import load_model
    from test_analysis_compare import cristobalite_like

    cfg = yaml.safe_load(TINY.read_text())
    sio2 = cfg["systems"]["sio2"]
    sio2.update(cooling_rates=[100, 50], samples_per_rate=1, seed=1)
    sio2["models"] = {"dm2": DM2_TINY, "dm2_b": {**DM2_TINY, "kind": "dm2", "target_cooling_rates": [50], "seed": 9}}
    cfg["systems"] = {"sio2": sio2}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    glasses = []
    for k, rate in enumerate([100, 50]):  # stand-ins for melt-quenched glasses
        atoms = cristobalite_like(k + 1)
        atoms.info.update(system="sio2", composition="SiO2", cooling_rate=float(rate), seed=1, source="simulated",
                          model="md")
        glasses.append(tmp_path / f"results/sio2/glasses/SiO2_{rate}Kps_s1.extxyz")
        io.write_structures(glasses[-1], atoms)
    targets = ["results/sio2/generated/dm2/SiO2_100Kps_s7.extxyz", "results/sio2/generated/dm2/SiO2_20Kps_s7.extxyz",
               "results/sio2/generated/dm2_b/SiO2_50Kps_s9.extxyz"]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "-c1", *targets, "--configfile", str(tmp_path / "c.yaml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule train_dm2" not in proc.stderr and proc.stderr.count("rule train_model") == 2

    section = load_config(tmp_path / "c.yaml")["systems"]["sio2"]["models"]["dm2"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the rule runs (torch_threads: 1)
    try:
        ref, generate = _old_dm2_path(tmp_path, section, glasses, ["Si", "O"])
        new = tmp_path / "results/sio2/models/dm2/model.pt"
        a, b = load_model(ref).state_dict(), load_model(new).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert json.loads(ref.with_suffix(".json").read_text()) == json.loads(new.with_suffix(".json").read_text())
        assert ref.with_suffix(".history.json").read_text() == new.with_suffix(".history.json").read_text()
        monkeypatch.chdir(tmp_path)  # the rule passes the model path relative to the working directory
        for target in targets[:2]:
            rate = float(re.search(r"_([0-9.]+)Kps", target)[1])
            expected = tmp_path / "expected.extxyz"
            io.write_structures(expected, generate("results/sio2/models/dm2/model.pt", rate, 7))
            assert (tmp_path / target).read_bytes() == expected.read_bytes(), target
    finally:
        torch.set_num_threads(threads)
    b_atoms = io.read_structure(tmp_path / targets[2])
    assert b_atoms.info["model"] == "dm2_b" and b_atoms.info["cooling_rate"] == 50.0 and b_atoms.info["seed"] == 9
