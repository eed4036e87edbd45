"""GlassVAE: invariant latent, RDF loss, matching, composition-exact decoding, training, seeds, refinement."""

import numpy as np
import pytest
import torch

from amorphous_ml.learn.graphs import build_graph
from amorphous_ml.learn.models.glassvae import (GlassVAE, GlassVAEConfig, assign_species, match_structures,
                                                rdf_from_positions)
from amorphous_ml.simulate.systems import random_packing

TINY = dict(species=["Cu", "Zr"], n_atoms=32, hidden=16, num_layers=2, edge_hidden=16, edge_layers=1,
            latent_dim=8, edge_latent_dim=4, decoder_hidden=32, cutoff=4.5)


def _model(**kw):
    torch.manual_seed(0)
    return GlassVAE(GlassVAEConfig(**{**TINY, **kw})).double()


def _glass(n=32, seed=0, density=7.0):
    half = n // 2
    return random_packing({"Cu": half, "Zr": n - half}, density, seed=seed, jitter=0.3)


def _latent(model, pos, species, cell):
    graph = build_graph(pos, species, cell, torch.zeros(len(pos), dtype=torch.long), model.cutoff)
    enc = model.encode(graph)
    z, kl = model.latent(enc, None)
    return z, enc


def _tensors(atoms):
    pos = torch.as_tensor(atoms.positions, dtype=torch.float64)
    cell = torch.as_tensor(atoms.cell[:], dtype=torch.float64)
    species = torch.as_tensor([0 if s == "Cu" else 1 for s in atoms.get_chemical_symbols()])
    return pos, species, cell


@pytest.mark.parametrize("hierarchical,batchnorm", [(True, 0.0), (False, 0.0), (True, 1.0)])
def test_latent_ignores_atom_order_translation_and_rotation_of_the_periodic_glass(hierarchical, batchnorm):
    model = _model(hierarchical=hierarchical, latent_batchnorm=batchnorm)
    pos, species, cell = _tensors(_glass())
    z, enc = _latent(model, pos, species, cell)
    assert z.abs().max() > 1e-4
    assert z.shape == (1, model.cfg.z_dim)
    perm = torch.randperm(len(pos), generator=torch.Generator().manual_seed(3))
    z_perm, _ = _latent(model, pos[perm], species[perm], cell)
    shifted = pos + torch.tensor([1.7, -3.2, 5.9], dtype=torch.float64)
    z_shift, _ = _latent(model, shifted, species, cell)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    z_rot, _ = _latent(model, pos @ q.T, species, cell @ q.T)  # rotate atoms and cell together
    for other in (z_perm, z_shift, z_rot):
        assert torch.allclose(z, other, atol=1e-9)
    # and it is not blind: moving one atom changes the latent
    moved = pos.clone()
    moved[0] += torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64)
    z_moved, _ = _latent(model, moved, species, cell)
    assert (z_moved - z).abs().max() > 1e-6


def test_rdf_loss_of_a_structure_against_its_own_rdf_is_zero_with_finite_gradient():
    atoms = _glass(64)
    pos = torch.as_tensor(atoms.positions, dtype=torch.float64).requires_grad_(True)
    cell = torch.as_tensor(atoms.cell[:], dtype=torch.float64)[None]
    batch = torch.zeros(len(pos), dtype=torch.long)
    g = rdf_from_positions(pos, cell, batch, [len(pos)], 50, 6.0, 0.1)
    with torch.no_grad():
        g_ref = rdf_from_positions(pos, cell, batch, [len(pos)], 50, 6.0, 0.1)
    loss = ((g - g_ref) ** 2).mean()
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.isfinite(pos.grad).all()
    # a real g(r): no pairs well below the packing distance, tends to ~1 at large r
    assert float(g.detach()[0, :6].max()) < 1e-3  # below 0.7 A (the packing keeps atoms > 1 A apart)
    assert 0.5 < float(g.detach()[0, -10:].mean()) < 1.5
    # and a different structure has a positive loss with a non-zero finite gradient
    other = torch.as_tensor(_glass(64, seed=9).positions, dtype=torch.float64)
    g2 = rdf_from_positions(pos, cell, batch, [len(pos)], 50, 6.0, 0.1)
    with torch.no_grad():
        g_other = rdf_from_positions(other, cell, batch, [len(pos)], 50, 6.0, 0.1)
    pos.grad = None
    loss2 = ((g2 - g_other) ** 2).mean()
    loss2.backward()
    assert float(loss2.detach()) > 0 and torch.isfinite(pos.grad).all() and pos.grad.abs().max() > 0


def test_matching_recovers_a_permuted_translated_copy():
    atoms = _glass(32, seed=4)
    cell = np.asarray(atoms.cell[:])
    frac = atoms.get_scaled_positions()
    species = np.array([0 if s == "Cu" else 1 for s in atoms.get_chemical_symbols()])
    rng = np.random.default_rng(0)
    order = rng.permutation(32)  # decoded slot k holds true atom order[k], shifted by 0.03 of the cell
    dec = (frac[order] + np.array([0.03, -0.02, 0.01])) % 1.0
    logp = np.log(np.full((32, 2), 0.5))
    perm, t = match_structures(dec, logp, frac, species, cell, 1.0, 3)
    assert np.array_equal(order[perm], np.arange(32))
    assert np.allclose(t, [0.03, -0.02, 0.01], atol=1e-9)


def test_species_assignment_gives_exactly_the_requested_composition():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(10, 2))
    spec = assign_species(logits, {0: 3, 1: 7})
    assert np.bincount(spec, minlength=2).tolist() == [3, 7]
    # the three slots most confidently species 0 get it
    margin = logits[:, 0] - logits[:, 1]
    assert set(np.flatnonzero(spec == 0)) == set(np.argsort(-margin)[:3])
    with pytest.raises(ValueError, match="decodes 10"):
        assign_species(logits, {0: 3, 1: 3})


def _toy_frames(n_frames=12, n_atoms=32):
    frames = []
    for k in range(n_frames):
        a = _glass(n_atoms, seed=k, density=6.5 + 0.05 * k)
        a.info.update(temperature_K=700 if k % 2 else 900, snapshot=k, sample=f"toy_{k}")
        # a label the structure determines: denser cells are lower in energy
        a.info["inherent_energy"] = float(-5.0 * n_atoms - 2.0 * k)
        frames.append(a)
    return frames


TRAIN = dict(hidden=16, num_layers=2, edge_hidden=16, edge_layers=1, latent_dim=8, edge_latent_dim=4,
             decoder_hidden=64, cutoff=4.5, val_fraction=0.25,
             training=dict(steps=40, batch_size=4, lr=3e-3, val_every=20, checkpoint_every=20, val_repeats=1))


def test_training_on_a_toy_set_lowers_the_loss_and_is_reproducible(tmp_path):
    from amorphous_ml.learn.vae import train_glassvae

    frames = _toy_frames()
    h1 = train_glassvae(frames, tmp_path / "a" / "m.pt", tmp_path / "a" / "work", TRAIN, progress=False)
    assert np.mean(h1["train_loss"][-8:]) < 0.8 * np.mean(h1["train_loss"][:4])
    h2 = train_glassvae(frames, tmp_path / "b" / "m.pt", tmp_path / "b" / "work", TRAIN, progress=False)
    assert h1["train_loss"] == h2["train_loss"]  # same seed, same run
    a = torch.load(tmp_path / "a" / "m.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "m.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_held_out_snapshots_are_the_end_of_each_trajectory():
    from amorphous_ml.learn.vae import split_by_trajectory

    frames = _toy_frames(12)
    tr, va = split_by_trajectory(frames, 0.34)
    assert sorted(tr + va) == list(range(12)) and not set(tr) & set(va)
    for temp in (700, 900):
        idx = [k for k, a in enumerate(frames) if a.info["temperature_K"] == temp]
        assert [k for k in idx if k in va] == idx[-2:]


def test_generated_structures_carry_the_composition_and_refine_without_close_pairs(tmp_path):
    from vesin import NeighborList

    from amorphous_ml.generate.glassvae import generate_glassvae
    from amorphous_ml.learn.vae import train_glassvae
    from amorphous_ml.simulate.refine import refine_structure

    frames = _toy_frames()
    params = dict(TRAIN, training=dict(TRAIN["training"], steps=20))
    train_glassvae(frames, tmp_path / "m.pt", tmp_path / "work", params, progress=False)
    symbols = ["Cu"] * 12 + ["Zr"] * 20  # not the training ratio: the request rules
    prior, rep = generate_glassvae(tmp_path / "m.pt", 2, None, {}, seed=11, symbols=symbols)
    again, _ = generate_glassvae(tmp_path / "m.pt", 2, None, {}, seed=11, symbols=symbols)
    assert rep["mode"] == "prior"
    assert np.allclose(prior[0].positions, again[0].positions)  # seeded
    assert not np.allclose(prior[0].positions, prior[1].positions)  # seeds differ
    e0 = float(np.mean([a.info["energy_pred_eV_per_atom"] for a in prior]))
    window, rep = generate_glassvae(tmp_path / "m.pt", 2, {"energy_min": e0 - 0.01, "energy_max": e0 + 0.01},
                                    {"steps": 50}, seed=11, symbols=symbols)
    assert rep["mode"] == "window"
    # the energy head's prediction for the steered latents lies in the window (L(z) on the head's own scale)
    assert all(e0 - 0.01 - 1e-6 <= a.info["energy_pred_eV_per_atom"] <= e0 + 0.01 + 1e-6 for a in window)
    for atoms in prior + window:
        assert atoms.get_chemical_symbols().count("Cu") == 12 and len(atoms) == 32
    refined = refine_structure(window[0], "cuzr_mendelev", temperature=300.0, nvt_ps=0.02, npt_ps=0.02,
                               pressure_bar=0.0, min_distance=1.8, seed=3,
                               log_path=tmp_path / "refine.log")
    i, j, d = NeighborList(cutoff=1.8, full_list=False).compute(
        points=refined.positions, box=refined.cell[:], periodic=True, quantities="ijd")
    assert len(d) == 0
    assert refined.get_chemical_symbols().count("Cu") == 12
    assert np.isfinite(refined.get_potential_energy())


@pytest.mark.parametrize("energy_input", ["mean", "sample"])
def test_energy_head_sees_the_posterior_mean_only_when_asked(energy_input):
    from amorphous_ml.learn.data import collate
    from amorphous_ml.learn.vae import glassvae_loss_terms, snapshot_items

    frames = _toy_frames(2)
    model = _model(energy_input=energy_input).float()
    model.cfg.extra = {"energy_stats": {"mean": -5.0, "std": 0.1}}
    batch = collate(snapshot_items(frames, ["Cu", "Zr"], "inherent_energy"))
    e = [float(glassvae_loss_terms(model, batch, torch.Generator().manual_seed(s))["energy"].detach())
         for s in (1, 2)]
    if energy_input == "mean":
        assert e[0] == e[1]  # the sampled noise of z does not reach the energy head
    else:
        assert e[0] != e[1]


def test_batch_normalised_posterior_means_keep_every_latent_dimension_informative():
    """BN-VAE: with means normalised to std gamma over the batch, KL(q || N(0, I)) averaged over the batch is at
    least gamma^2 / 2 in every dimension (KL = (mu^2 + s^2 - 1 - log s^2) / 2 >= mu^2 / 2), however alike the
    structures; without it, four glasses of one composition get nearly the same mean (the collapse)."""
    from amorphous_ml.learn.data import collate
    from amorphous_ml.learn.vae import snapshot_items

    frames = _toy_frames(4)
    gamma = 0.7
    for bn in (0.0, gamma):
        model = _model(latent_batchnorm=bn)
        model.train()
        batch = collate(snapshot_items(frames, ["Cu", "Zr"], "inherent_energy"), torch.float64)
        graph = build_graph(batch.positions, batch.species, batch.cells, batch.batch, model.cutoff, batch.counts)
        enc = model.encode(graph)
        _, kl = model.latent_terms(enc, None)
        kl_g = kl[:, :model.cfg.latent_dim].mean(dim=0)
        spread = enc["mu"].std(dim=0, unbiased=False)
        if bn:
            assert torch.all(kl_g >= 0.5 * gamma ** 2 * 0.99)
            assert torch.allclose(spread, torch.full_like(spread, gamma), rtol=1e-3)
        else:
            assert float(spread.max()) < 0.2 * gamma  # an untrained encoder barely tells the glasses apart
