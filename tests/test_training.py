"""Training infrastructure: split by structure, validation loss falls, interrupted runs resume exactly."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from amorphous_ml.io import write_structures
from amorphous_ml.learn.data import fit_density_vs_log_rate, split_by_structure, structures_from_atoms
from amorphous_ml.learn.denoise import make_denoising_loss, train_dm2
from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser
from amorphous_ml.learn.train import TrainConfig, evaluate, load_model, train

sys.path.insert(0, str(Path(__file__).parent))
from dm2_fixtures import cristobalite  # noqa: E402

TINY = dict(species=["Si", "O"], hidden_irreps="8x0e+4x1o", num_basis=8, radial_hidden=16, num_layers=2,
            cond_hidden=8, cutoff=4.0)


def _glasses(n=6):
    return [cristobalite(rattle=0.05, seed=k, cooling_rate=[1.0, 10.0, 100.0][k % 3], strain=0.01 * (k % 3))
            for k in range(n)]


def test_split_assigns_whole_structures_once():
    tr, va = split_by_structure(10, 0.3, seed=4)
    assert sorted(tr + va) == list(range(10)) and len(va) == 3 and not set(tr) & set(va)
    assert split_by_structure(10, 0.3, seed=4) == (tr, va)


def test_density_fit_recovers_a_linear_trend_in_log_rate():
    frames = _glasses(6)
    fit = fit_density_vs_log_rate(frames)
    # strain grows with log10(rate) (0, 1, 2 -> 0, 1, 2 %), so density falls with the rate
    assert fit["slope"] < 0
    x = np.log10([a.info["cooling_rate"] for a in frames])
    rho = np.array([a.get_masses().sum() / 6.02214076e23 / (a.get_volume() * 1e-24) for a in frames])
    np.testing.assert_allclose(fit["intercept"] + fit["slope"] * x, rho, rtol=2e-3)


def test_training_on_tiny_set_lowers_validation_loss(tmp_path):
    items = structures_from_atoms(_glasses(6), ["Si", "O"])
    tr, va = split_by_structure(len(items), 0.34, seed=0)
    cfg = TrainConfig(steps=60, batch_size=2, lr=5e-3, val_every=60, checkpoint_every=60, seed=0, val_repeats=8)
    torch.manual_seed(0)
    model = DM2Denoiser(DM2Config(**TINY))
    loss_fn = make_denoising_loss(0.001, 0.5)
    before = evaluate(model, loss_fn, [items[i] for i in va], cfg, "cpu")
    history = train(model, "dm2", loss_fn, [items[i] for i in tr], [items[i] for i in va], cfg, tmp_path,
                    progress=False)
    assert history["val_loss"][-1] < 0.8 * before


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    paths = []
    for k, atoms in enumerate(_glasses(4)):
        paths.append(tmp_path / f"g{k}.extxyz")
        write_structures(paths[-1], atoms)
    params = dict(TINY, val_fraction=0.25)
    tp = dict(steps=12, batch_size=2, lr=1e-3, val_every=4, checkpoint_every=4, seed=3)
    train_dm2(paths, tmp_path / "full.pt", tmp_path / "w_full", params, tp, progress=False)
    # interrupted after 6 steps (last checkpoint at 4), then rerun to the end
    train_dm2(paths, tmp_path / "cut.pt", tmp_path / "w_cut", params, tp, progress=False, stop_after=6)
    assert not (tmp_path / "cut.pt").exists()
    h = train_dm2(paths, tmp_path / "cut.pt", tmp_path / "w_cut", params, tp, progress=False)
    assert h["step"][-1] == 12 and len(h["train_loss"]) == 12
    a, b = load_model(tmp_path / "full.pt"), load_model(tmp_path / "cut.pt")
    for v1, v2 in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(v1, v2)
    assert a.cfg.extra["val_structures"] and not set(a.cfg.extra["val_structures"]) & set(a.cfg.extra["train_structures"])


def test_stratified_split_keeps_training_glasses_at_every_rate_and_spreads_the_validation_set():
    from amorphous_ml.learn.data import split_stratified

    labels = [2.0] * 3 + [1.0] * 3 + [0.0] * 3  # log10 rates, 3 glasses each
    for seed in range(5):
        tr, va = split_stratified(labels, 0.34, seed)
        assert sorted(tr + va) == list(range(9)) and len(va) == 3
        assert {labels[i] for i in va} == {0.0, 1.0, 2.0}  # one per rate, not two of one rate
        assert {labels[i] for i in tr} == {0.0, 1.0, 2.0}
    tr, va = split_stratified([2.0, 2.0, 1.0], 0.5, 0)  # a rate with one glass is never held out whole
    assert len(va) == 1 and 2 not in va
    assert split_stratified([2.0, 1.0, 0.0], 0.5, 0) == ([0, 1, 2], [])  # one glass per rate: no hold-out
    assert split_stratified(labels, 0.34, 3) == split_stratified(labels, 0.34, 3)


def test_best_validation_weights_are_kept_unless_the_last_step_is_asked_for(tmp_path):
    items = structures_from_atoms(_glasses(6), ["Si", "O"])
    tr, va = split_by_structure(len(items), 0.34, seed=0)
    train_items, val_items = [items[i] for i in tr], [items[i] for i in va]
    loss_fn = make_denoising_loss(0.001, 0.5)
    finals = {}
    for select in ("best_val", "last"):
        # a large learning rate makes the validation loss wander, so best and last differ
        cfg = TrainConfig(steps=40, batch_size=2, lr=3e-2, val_every=5, checkpoint_every=40, seed=0, val_repeats=2,
                          select=select)
        torch.manual_seed(0)
        model = DM2Denoiser(DM2Config(**TINY))
        h = train(model, "dm2", loss_fn, train_items, val_items, cfg, tmp_path / select, progress=False)
        finals[select] = (h, evaluate(model, loss_fn, val_items, cfg, "cpu"))
    h, val = finals["best_val"]
    best = int(np.argmin(h["val_loss"]))
    assert h["selected_step"] == h["val_step"][best]
    assert val == pytest.approx(min(h["val_loss"]), rel=1e-5)  # the kept weights are the best ones
    h_last, val_last = finals["last"]
    assert h_last["selected_step"] == 40 and val_last == pytest.approx(h_last["val_loss"][-1], rel=1e-5)
    assert h["val_loss"] == h_last["val_loss"]  # same run; only the kept weights differ
