"""DM2 denoiser: E(3) equivariance, permutation equivariance, periodic images, conditioning, checkpoints."""

import torch
from e3nn import o3

from amorphous_ml.learn.graphs import build_graph
from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser
from amorphous_ml.learn.train import load_model, save_model

TINY = dict(species=["Si", "O"], hidden_irreps="8x0e+4x1o", num_basis=8, radial_hidden=16, num_layers=2,
            cond_hidden=8, cutoff=4.0)


def _model(**kw):
    torch.manual_seed(0)
    return DM2Denoiser(DM2Config(**{**TINY, **kw})).double()


def _structure(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    cell = torch.tensor([[8.0, 0.0, 0.0], [1.5, 7.5, 0.0], [-0.8, 1.1, 8.5]], dtype=torch.float64)
    pos = torch.rand((n, 3), generator=g, dtype=torch.float64) @ cell
    species = torch.randint(0, 2, (n,), generator=g)
    return pos, species, cell


def _predict(model, pos, species, cell, rate=torch.tensor([1.0], dtype=torch.float64)):
    graph = build_graph(pos, species, cell, torch.zeros(len(pos), dtype=torch.long), model.cutoff)
    return model(graph, rate if model.cfg.conditional else None)


def test_displacements_rotate_with_the_structure_and_ignore_translation_and_atom_order():
    model = _model()
    pos, species, cell = _structure()
    out = _predict(model, pos, species, cell)
    assert out.abs().max() > 1e-3  # not trivially zero
    torch.manual_seed(1)
    for improper in (False, True):  # proper rotation, then rotation combined with inversion
        R = o3.rand_matrix().double() * (-1 if improper else 1)
        perm = torch.randperm(len(pos))
        moved = (pos @ R.T + torch.tensor([0.7, -2.3, 5.1], dtype=torch.float64))[perm]
        out2 = _predict(model, moved, species[perm], cell @ R.T)
        torch.testing.assert_close(out2, (out @ R.T)[perm], atol=1e-5, rtol=0)


def test_atom_moved_by_a_lattice_vector_gets_the_same_prediction():
    model = _model()
    pos, species, cell = _structure()
    out = _predict(model, pos, species, cell)
    shifted = pos.clone()
    shifted[5] += 2 * cell[1] - cell[2]
    shifted[11] -= cell[0]
    torch.testing.assert_close(_predict(model, shifted, species, cell), out, atol=1e-10, rtol=0)


def test_cooling_rate_condition_changes_the_prediction_and_unconditional_model_needs_none():
    model = _model()
    pos, species, cell = _structure()
    a = _predict(model, pos, species, cell, torch.tensor([-1.0], dtype=torch.float64))
    b = _predict(model, pos, species, cell, torch.tensor([2.0], dtype=torch.float64))
    assert (a - b).abs().max() > 1e-6
    unconditional = _model(conditional=False)
    assert unconditional.condition is None
    assert torch.isfinite(_predict(unconditional, pos, species, cell)).all()


def test_checkpoint_reloads_bit_identical(tmp_path):
    model = _model()
    model.cfg.extra = {"density_fit": {"slope": -0.01, "intercept": 2.2}}
    path = tmp_path / "m.pt"
    save_model(path, model, "dm2")
    assert (tmp_path / "m.json").exists()
    again = load_model(path, dtype=torch.float64)
    pos, species, cell = _structure()
    assert torch.equal(_predict(model, pos, species, cell), _predict(again, pos, species, cell))
    assert again.cfg.extra["density_fit"]["slope"] == -0.01
    for (k, v), (k2, v2) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_workflow_default_dm2_builds_the_published_network():
    """A models.dm2 section with nothing set (schema defaults) builds the network of the public DM2 code
    (REFERENCE.md section 2): species embedding 8x0e, 16 Bessel functions on 0-5 A into a [16, 64] radial
    MLP, spherical harmonics up to l = 2, 3 gated layers of 64x0e+32x1o (1o: polar vectors), sums / sqrt(12),
    log10-rate condition on 9 Gaussians at -4..4 of width 0.6, one vector per atom out. Checked on the
    built modules, not on the config values that built them."""
    from amorphous_ml.config import validate_config
    from amorphous_ml.registry import split_dm2_params

    cfg = validate_config({"systems": {"s": {"potential": "sio2_bjp", "compositions": ["SiO2"],
                                             "cooling_rates": [10], "models": {"dm2": {}}}}})
    params, _ = split_dm2_params(cfg["systems"]["s"]["models"]["dm2"])
    model = DM2Denoiser(DM2Config.from_dict({**params, "species": ["Si", "O"]}))
    assert str(model.embed.irreps_out) == "8x0e"
    assert str(model.irreps_sh) == "1x0e+1x1o+1x2e"
    assert [str(layer.irreps_out) for layer in model.layers] == ["64x0e+32x1o"] * 3
    assert all(layer.radial.hs[:2] == [16, 64] and layer.neighbor_norm == 12.0 for layer in model.layers)
    assert model.condition.centres.tolist() == [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    assert model.condition.width == 0.6 and str(model.output.irreps_out) == "1x1o"
    # the Bessel basis ends at the 5 A cutoff: an edge at 5.01 A contributes nothing
    pos = torch.tensor([[0.0, 0.0, 0.0], [5.01, 0.0, 0.0]], dtype=torch.float64)
    cell = torch.eye(3, dtype=torch.float64) * 30.0
    out = _predict(model.double(), pos, torch.tensor([0, 1]), cell)
    alone = _predict(model, pos[:1], torch.tensor([0]), cell)
    torch.testing.assert_close(out[:1], alone, atol=1e-12, rtol=0)
