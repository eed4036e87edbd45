"""DM2 sampler: schedule, cells at a density (incl. a pore), batch independence, resume, CLI output."""

import math

import numpy as np
import pytest
import torch

from amorphous_ml.cli import main
from amorphous_ml.generate.dm2 import (Schedule, _pore_distance, cell_for_density, density_from_fit,
                                       generate_structures, initial_positions)
from amorphous_ml.io import read_structure
from amorphous_ml.learn.data import density_gcc
from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser
from amorphous_ml.learn.train import save_model

TINY = dict(species=["Si", "O"], hidden_irreps="8x0e+4x1o", num_basis=8, radial_hidden=16, num_layers=2,
            cond_hidden=8, cutoff=4.0)
SYMBOLS = ["Si"] * 10 + ["O"] * 20


def _model(**kw):
    torch.manual_seed(0)
    m = DM2Denoiser(DM2Config(**{**TINY, **kw}))
    m.cfg.extra = {"density_fit": {"slope": -0.02, "intercept": 2.25}}
    return m.eval()


def test_noise_schedule_is_linear_from_s_max_to_s_min_then_zero():
    s = Schedule(noisy_steps=11, clean_steps=3, s_max=1.0, s_min=0.001)
    values = [s.noise(k) for k in range(s.total)]
    assert values[0] == 1.0 and math.isclose(values[10], 0.001) and values[11:] == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(np.diff(values[:11]), -(1.0 - 0.001) / 10)


def test_cell_has_the_requested_density_shape_and_pore():
    cell = cell_for_density(SYMBOLS * 10, 2.2, aspect=(1, 1, 1.4), angles=(90, 90, 120))
    atoms_volume = abs(np.linalg.det(cell))
    mass = (100 * 28.0855 + 200 * 15.9994) / 6.02214076e23
    assert math.isclose(mass / (atoms_volume * 1e-24), 2.2, rel_tol=1e-4)  # tabulated masses differ slightly
    lengths = np.linalg.norm(cell, axis=1)
    np.testing.assert_allclose(lengths / lengths[0], [1, 1, 1.4], rtol=1e-9)
    # pore: the wall keeps the density, the pore volume is added, no atom starts inside the pore
    radius = 3.0
    pcell = cell_for_density(SYMBOLS * 10, 2.2, aspect=(1, 1, 1.4), angles=(90, 90, 120), pore_radius=radius)
    height = abs(np.linalg.det(pcell)) / np.linalg.norm(np.cross(pcell[0], pcell[1]))
    assert math.isclose(abs(np.linalg.det(pcell)) - math.pi * radius ** 2 * height, atoms_volume, rel_tol=1e-6)
    pos = initial_positions(300, pcell, np.random.default_rng(0), pore_radius=radius)
    frac = pos @ np.linalg.inv(pcell)
    assert np.all(_pore_distance(frac, pcell) > radius) and np.all((frac >= 0) & (frac < 1))


def test_density_follows_the_fit_unless_overridden():
    fit = {"slope": -0.02, "intercept": 2.25}
    assert math.isclose(density_from_fit(fit, 100.0), 2.21)
    model = _model()
    sched = Schedule(noisy_steps=3, clean_steps=1)
    a = generate_structures(model, SYMBOLS, [1], 100.0, sched, progress=False)[0]
    b = generate_structures(model, SYMBOLS, [1], 100.0, sched, density=2.0, progress=False)[0]
    assert math.isclose(density_gcc(a), 2.21, rel_tol=1e-9) and math.isclose(density_gcc(b), 2.0, rel_tol=1e-9)
    assert a.get_chemical_formula() == "O20Si10"


def test_each_structure_depends_only_on_its_own_seed_not_on_its_batch():
    model = _model().double()  # float64: float32 summation-order differences grow along the trajectory
    sched = Schedule(noisy_steps=6, clean_steps=2)
    together = generate_structures(model, SYMBOLS, [5, 6, 7], 50.0, sched, progress=False)
    alone = generate_structures(model, SYMBOLS, [6], 50.0, sched, progress=False)[0]
    np.testing.assert_allclose(together[1].positions, alone.positions, atol=1e-8)
    assert np.abs(together[0].positions - together[1].positions).max() > 0.1


def test_interrupted_generation_resumes_to_the_same_structures(tmp_path):
    model = _model()
    sched = Schedule(noisy_steps=8, clean_steps=2)
    full = generate_structures(model, SYMBOLS, [3, 4], 10.0, sched, progress=False)
    generate_structures(model, SYMBOLS, [3, 4], 10.0, sched, work_dir=tmp_path, checkpoint_every=3,
                        progress=False, stop_after=7)
    assert (tmp_path / "denoise_state.pt").exists()
    resumed = generate_structures(model, SYMBOLS, [3, 4], 10.0, sched, work_dir=tmp_path, checkpoint_every=3,
                                  progress=False)
    assert not (tmp_path / "denoise_state.pt").exists()
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a.positions, b.positions)


def test_generate_cli_writes_one_extxyz_per_seed_with_provenance(tmp_path):
    save_model(tmp_path / "m.pt", _model(), "dm2")
    outs = [tmp_path / "SiO2_5Kps_s1.extxyz", tmp_path / "SiO2_5Kps_s2.extxyz"]
    rc = main(["generate", "--model", str(tmp_path / "m.pt"), "--name", "dm2", "--system", "sio2",
               "--samples", "SiO2_5Kps_s1", "SiO2_5Kps_s2", "--out", *map(str, outs),
               "--params-json", '{"generation": {"n_atoms": 30, "noisy_steps": 4, "clean_steps": 1}}', "--no-progress"])
    assert rc == 0
    atoms = read_structure(outs[1])
    assert len(atoms) == 30 and atoms.info["seed"] == 2 and atoms.info["cooling_rate"] == 5.0
    assert atoms.info["source"] == "generated" and atoms.info["model"] == "dm2" and "code_version" in atoms.info
    assert atoms.info["params"]["schedule"]["noisy_steps"] == 4


def test_uniform_noise_rule_draws_sigma_between_s_min_and_s_t_with_a_third_of_the_variance():
    """DM2's released sampler: sigma ~ U[s_min, s_t] per structure and step, E[sigma^2] ~ s_t^2 / 3."""
    uniform = Schedule(noisy_steps=10, clean_steps=0, s_max=1.0, s_min=0.001, noise_rule="uniform")
    fixed = Schedule(noisy_steps=10, clean_steps=0, s_max=1.0, s_min=0.001, noise_rule="fixed")
    g = torch.Generator().manual_seed(5)
    draws = np.array([uniform.step_sigma(0.8, g) for _ in range(4000)])
    assert draws.min() >= 0.001 and draws.max() <= 0.8
    assert np.mean(draws ** 2) / 0.8 ** 2 == pytest.approx(1 / 3, rel=0.05)
    assert fixed.step_sigma(0.8, g) == 0.8
    with pytest.raises(ValueError, match="generation.noise"):
        Schedule(noise_rule="gaussian")


def test_uniform_noise_rule_adds_less_noise_and_keeps_structures_independent_of_their_batch():
    model = _model().double()  # float64, as in the batch test above
    kw = dict(cooling_rate=10.0, density=2.2)
    u = Schedule(noisy_steps=6, clean_steps=0, s_max=1.0, noise_rule="uniform")
    f = Schedule(noisy_steps=6, clean_steps=0, s_max=1.0, noise_rule="fixed")
    alone = generate_structures(model, SYMBOLS, [4], schedule=u, progress=False, **kw)[0]
    batch = generate_structures(model, SYMBOLS, [3, 4], schedule=u, progress=False, **kw)[1]
    np.testing.assert_allclose(alone.positions, batch.positions, atol=1e-8)
    assert alone.info["noise_rule"] == "uniform"
    fixed = generate_structures(model, SYMBOLS, [4], schedule=f, progress=False, **kw)[0]
    assert not np.allclose(alone.positions, fixed.positions)
