"""Bad input files fail the CLI with one line naming the file (exit 1, no traceback): empty or corrupted
extxyz given to structure-metrics, refine or train; a corrupted model.pt or one whose weights do not
fit the architecture in its model.json, given to generate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from amorphous_ml.cli import main
from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser
from amorphous_ml.learn.train import save_model

sys.path.insert(0, str(Path(__file__).parent))

TINY = dict(species=["Si", "O"], hidden_irreps="8x0e+4x1o", num_basis=8, radial_hidden=16, num_layers=2,
            cond_hidden=8, cutoff=4.0)

BAD_EXTXYZ = {
    "empty": "",
    "corrupted header": "3\nLattice=\"1 2 3\" Properties=species:S:1:pos:R:3\nSi 0 0 0\n",
    "not xyz at all": "hello world\n",
}


def _fails_in_one_line(capsys, argv, *names):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD_EXTXYZ), ids=lambda s: s.replace(" ", "_"))
def test_structure_metrics_names_an_empty_or_corrupted_extxyz(tmp_path, capsys, case):
    bad = tmp_path / "bad.extxyz"
    bad.write_text(BAD_EXTXYZ[case])
    _fails_in_one_line(capsys, ["structure-metrics", "--structure", str(bad), "--out", str(tmp_path / "m.json")], bad)
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("case", sorted(BAD_EXTXYZ), ids=lambda s: s.replace(" ", "_"))
def test_refine_names_an_empty_or_corrupted_extxyz(tmp_path, capsys, case):
    bad = tmp_path / "gen.extxyz"
    bad.write_text(BAD_EXTXYZ[case])
    _fails_in_one_line(capsys, ["refine", "--input", str(bad), "--potential", "sio2_bjp", "--out-extxyz",
                                str(tmp_path / "r.extxyz"), "--out-data", str(tmp_path / "r.data"),
                                "--log", str(tmp_path / "r.log")], bad)
    assert not (tmp_path / "r.extxyz").exists()


@pytest.mark.parametrize("case", sorted(BAD_EXTXYZ), ids=lambda s: s.replace(" ", "_"))
def test_train_names_an_empty_or_corrupted_training_glass(tmp_path, capsys, case):
    bad = tmp_path / "glass.extxyz"
    bad.write_text(BAD_EXTXYZ[case])
    _fails_in_one_line(capsys, ["train", "--kind", "dm2", "--name", "dm2", "--inputs", str(bad), "--species", "Si", "O", "--out",
                                str(tmp_path / "m.pt"), "--work-dir", str(tmp_path / "w"), "--no-progress"], bad)
    assert not (tmp_path / "m.pt").exists()


def _generate(tmp_path, model):
    return ["generate", "--model", str(model), "--name", "dm2", "--samples", "SiO2_10Kps_s1",
            "--out", str(tmp_path / "g.extxyz"), "--no-progress", "--params-json",
            json.dumps({"generation": {"noisy_steps": 2, "clean_steps": 1, "n_atoms": 30, "density": 2.2}})]


def _saved_model(tmp_path, **kw):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_model(path, DM2Denoiser(DM2Config(**{**TINY, **kw})), "dm2")
    return path


def test_generate_names_a_corrupted_model_file(tmp_path, capsys):
    path = _saved_model(tmp_path)
    path.write_bytes(path.read_bytes()[:200])  # truncated, as by a full disk or an interrupted copy
    _fails_in_one_line(capsys, _generate(tmp_path, path), path, "state_dict")
    assert not (tmp_path / "g.extxyz").exists()


def test_generate_names_a_state_dict_of_the_wrong_shape(tmp_path, capsys):
    path = _saved_model(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    wider = _saved_model(other, hidden_irreps="16x0e+4x1o")  # same layers, other widths
    path.write_bytes(wider.read_bytes())  # weights of another architecture under this model.json
    line = _fails_in_one_line(capsys, _generate(tmp_path, path), path, "model.json")
    assert "size mismatch" in line
    assert not (tmp_path / "g.extxyz").exists()


def test_generate_names_a_missing_model_config(tmp_path, capsys):
    path = _saved_model(tmp_path)
    path.with_suffix(".json").unlink()
    _fails_in_one_line(capsys, _generate(tmp_path, path), path.with_suffix(".json"))
