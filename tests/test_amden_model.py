"""AMDEN model: E(3)/permutation equivariance in periodic cells, energy-based score, guidance, schedules."""

import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from e3nn import o3

from amorphous_ml.generate.amden import GENERATION_DEFAULTS
from amorphous_ml.learn.models.amden import CONFIG_SCHEMA, AMDENConfig, NoiseSchedule
from amorphous_ml.learn.models.egnn import EGNNConfig
from amorphous_ml.learn.train import load_model, save_model

sys.path.insert(0, str(Path(__file__).parent))
from amden_fixtures import rattled_si, tiny_model  # noqa: E402


def _structure(n=24, seed=0, n_classes=2):
    g = torch.Generator().manual_seed(seed)
    cell = torch.tensor([[7.0, 0.0, 0.0], [1.2, 6.5, 0.0], [-0.7, 0.9, 7.5]], dtype=torch.float64)
    pos = torch.rand((n, 3), generator=g, dtype=torch.float64) @ cell
    el = torch.randn((n, n_classes), generator=g, dtype=torch.float64)
    return pos, el, cell


def _args(pos, el, cell, t=0.3, props=(0.4, -1.0)):
    n = len(pos)
    return (pos, el, cell[None], torch.zeros(n, dtype=torch.long), [n], torch.tensor([t], dtype=torch.float64),
            torch.tensor([props], dtype=torch.float64))


@pytest.fixture(scope="module")
def frames():
    return rattled_si(3)


def _model(frames, **kw):
    return tiny_model(frames, properties=["density_g_cm3", "shear_modulus_GPa"], **kw).double()


@pytest.mark.parametrize("energy", [False, True])
def test_noise_prediction_rotates_with_a_rotated_cell_and_ignores_translation_and_atom_order(frames, energy):
    """Rotating (or rotoreflecting) positions and cell together, translating and permuting the atoms
    rotates and permutes the predicted position noise; element noise is invariant (permuted)."""
    model = _model(frames, energy=energy)
    pos, el, cell = _structure()
    ex, ee = model.eps(*_args(pos, el, cell))
    assert ex.abs().max() > 1e-4 and ee.abs().max() > 1e-4  # not trivially zero
    torch.manual_seed(1)
    for improper in (False, True):
        R = o3.rand_matrix(dtype=torch.float64) * (-1 if improper else 1)  # orthogonal to float64 precision
        perm = torch.randperm(len(pos))
        moved = (pos @ R.T + torch.tensor([0.7, -2.3, 5.1], dtype=torch.float64))[perm]
        ex2, ee2 = model.eps(*_args(moved, el[perm], cell @ R.T))
        torch.testing.assert_close(ex2, (ex @ R.T)[perm], atol=1e-9, rtol=0)
        torch.testing.assert_close(ee2, ee[perm], atol=1e-9, rtol=0)


def test_atom_moved_by_lattice_vectors_gets_the_same_prediction(frames):
    model = _model(frames)
    pos, el, cell = _structure()
    ex, ee = model.eps(*_args(pos, el, cell))
    shifted = pos.clone()
    shifted[3] += 2 * cell[1] - cell[2]
    shifted[7] -= cell[0]
    ex2, ee2 = model.eps(*_args(shifted, el, cell))
    torch.testing.assert_close(ex2, ex, atol=1e-10, rtol=0)
    torch.testing.assert_close(ee2, ee, atol=1e-10, rtol=0)


def test_predicted_position_noise_has_zero_mean_per_structure(frames):
    model = _model(frames)
    pos, el, cell = _structure()
    ex, _ = model.eps(*_args(pos, el, cell))
    torch.testing.assert_close(ex.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)


def test_energy_variant_score_is_minus_the_gradient_of_its_energy(frames):
    """s = -grad E by autograd, and the same from central finite differences of E (positions and elements)."""
    model = _model(frames, energy=True)
    pos, el, cell = _structure(n=16)
    args = _args(pos, el, cell, t=0.25)
    sx, se = model.score(*args)
    p = pos.clone().requires_grad_(True)
    q = el.clone().requires_grad_(True)
    e = model.energy(p, q, *args[2:])
    gx, ge = torch.autograd.grad(e.sum(), (p, q))
    torch.testing.assert_close(sx, -gx, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(se, -ge, atol=1e-12, rtol=1e-10)
    h = 1e-5
    for atom, axis in [(0, 0), (5, 2), (11, 1)]:
        plus, minus = pos.clone(), pos.clone()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        with torch.no_grad():
            fd = (model.energy(plus, el, *args[2:]) - model.energy(minus, el, *args[2:])) / (2 * h)
        assert float(-fd) == pytest.approx(float(sx[atom, axis]), rel=1e-5, abs=1e-7)
    plus, minus = el.clone(), el.clone()
    plus[4, 1] += h
    minus[4, 1] -= h
    with torch.no_grad():
        fd = (model.energy(pos, plus, *args[2:]) - model.energy(pos, minus, *args[2:])) / (2 * h)
    assert float(-fd) == pytest.approx(float(se[4, 1]), rel=1e-5, abs=1e-7)
    # translation invariance: the forces of a structure sum to zero
    torch.testing.assert_close(sx.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)


def test_energy_is_continuous_when_a_neighbour_crosses_the_cutoff(frames):
    """The cutoff weight makes the energy smooth at r = rc (HMC needs it)."""
    model = _model(frames, energy=True)
    rc = model.cutoff
    cell = torch.eye(3, dtype=torch.float64) * 20.0
    el = torch.randn((2, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    vals = []
    for r in (rc - 1e-6, rc + 1e-6):
        pos = torch.tensor([[1.0, 1.0, 1.0], [1.0 + r, 1.0, 1.0]], dtype=torch.float64)
        with torch.no_grad():
            vals.append(float(model.energy(*_args(pos, el, cell)[:6], torch.tensor([[0.0, 0.0]], dtype=torch.float64))))
    assert abs(vals[0] - vals[1]) < 1e-6


def test_guidance_with_w_zero_is_the_conditional_model_and_w_mixes_in_the_unconditional(frames):
    model = _model(frames)
    pos, el, cell = _structure()
    args = _args(pos, el, cell)
    cx, ce = model.eps(*args)
    gx, ge = model.guided_eps(*args, w=0.0)
    assert torch.equal(gx, cx) and torch.equal(ge, ce)
    null = torch.full_like(args[-1], float("nan"))
    ux, ue = model.eps(*args[:-1], null)
    assert (ux - cx).abs().max() > 1e-6  # the condition matters
    w = 1.5
    gx, ge = model.guided_eps(*args, w=w)
    torch.testing.assert_close(gx, (1 + w) * cx - w * ux, atol=1e-12, rtol=0)
    torch.testing.assert_close(ge, (1 + w) * ce - w * ue, atol=1e-12, rtol=0)


def test_missing_property_uses_the_null_embedding(frames):
    model = _model(frames)
    with torch.no_grad():
        model.props.null.copy_(torch.randn_like(model.props.null))
    pos, el, cell = _structure()
    a = model.eps(*_args(pos, el, cell, props=(float("nan"), 0.5)))[0]
    b = model.eps(*_args(pos, el, cell, props=(3.0, 0.5)))[0]
    c = model.eps(*_args(pos, el, cell, props=(-3.0, 0.5)))[0]
    assert (a - b).abs().max() > 1e-6 and (b - c).abs().max() > 1e-6
    std = model.standardise({"shear_modulus_GPa": 34.0}, 2, torch.float64)
    assert torch.isnan(std[:, 0]).all()
    k = model.cfg.properties.index("shear_modulus_GPa")
    assert float(std[0, k]) == pytest.approx((34.0 - model.cfg.property_mean[k]) / model.cfg.property_std[k])


def test_checkpoint_reloads_bit_identical(frames, tmp_path):
    model = _model(frames, energy=True)
    save_model(tmp_path / "m.pt", model, "amden")
    again = load_model(tmp_path / "m.pt", dtype=torch.float64)
    assert again.cfg == model.cfg and again.cfg.extra["cells"]
    pos, el, cell = _structure()
    assert all(torch.equal(a, b) for a, b in zip(model.eps(*_args(pos, el, cell)), again.eps(*_args(pos, el, cell))))


def test_reverse_sde_coefficients_match_the_schedules():
    """g_X^2 = d sigma_X^2/dt (VE) and g_E^2 = d sigma_E^2/dt - 2 f sigma_E^2 with f = d log alpha/dt (VP)."""
    s = NoiseSchedule(1.7, 1.5)
    h = 1e-6
    for t in (0.05, 0.4, 0.9):
        assert s.sigma_x(t) == pytest.approx(1.7 * t)
        assert s.g2_x(t) == pytest.approx((s.sigma_x(t + h) ** 2 - s.sigma_x(t - h) ** 2) / (2 * h), rel=1e-6)
        f = (np.log(s.alpha_e(t + h)) - np.log(s.alpha_e(t - h))) / (2 * h)
        assert s.drift_e(t) == pytest.approx(f, rel=1e-6)
        ds2 = (s.sigma_e(t + h) ** 2 - s.sigma_e(t - h) ** 2) / (2 * h)
        assert s.g2_e(t) == pytest.approx(ds2 - 2 * f * s.sigma_e(t) ** 2, rel=1e-6)


def _defaults(schema):
    return {k: (_defaults(v) if v.get("type") == "object" and "properties" in v else v.get("default"))
            for k, v in schema["properties"].items()}


def test_schema_defaults_are_the_code_defaults_and_bad_values_fail():
    d = _defaults(CONFIG_SCHEMA)
    cfg = AMDENConfig(species=["Si"])
    for key in ("ghost", "property_embed", "null_embedding", "hidden", "channels", "layers", "cutoff", "n_norm",
                "energy", "sigma_max_x", "sigma_max_e"):
        assert d[key] == getattr(cfg, key), key
    gen = d["generation"]
    for key, value in GENERATION_DEFAULTS.items():
        assert gen[key] == value, key
    assert set(EGNNConfig.__dataclass_fields__) <= set(d)
    validator = jsonschema.Draft7Validator(CONFIG_SCHEMA)
    assert not list(validator.iter_errors({"hidden": 8, "generation": {"hmc": {"enabled": True}}}))
    for bad in ({"hidden": 0}, {"generation": {"guidance_w": -1}}, {"ghost_density": [0.1]},
                {"generation": {"charge_balance": {"renoise_t": 1.5}}}, {"training": {"stepz": 3}}):
        assert list(validator.iter_errors(bad)), bad
