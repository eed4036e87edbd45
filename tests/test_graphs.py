"""Periodic radius graphs (vesin-torch): correct pairs in triclinic cells, batching, gradients."""

import numpy as np
import pytest
import torch
from matscipy.neighbours import neighbour_list

import ase
from amorphous_ml.learn.graphs import build_graph


def _triclinic(n=40, seed=0):
    rng = np.random.default_rng(seed)
    cell = np.array([[7.0, 0.0, 0.0], [2.1, 6.5, 0.0], [-1.3, 1.7, 8.0]])
    return ase.Atoms("Si" * n, scaled_positions=rng.uniform(size=(n, 3)), cell=cell, pbc=True)


def _graph(atoms_list, cutoff):
    pos = torch.tensor(np.concatenate([a.positions for a in atoms_list]), dtype=torch.float64)
    cells = torch.tensor(np.stack([a.cell[:] for a in atoms_list]), dtype=torch.float64)
    counts = [len(a) for a in atoms_list]
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    species = torch.zeros(len(pos), dtype=torch.long)
    return build_graph(pos, species, cells, batch, cutoff)


def test_triclinic_pair_distances_match_matscipy_including_images_of_small_cells():
    atoms = _triclinic()
    for cutoff in (3.0, 5.0):  # 5 A exceeds half the cell height: an atom sees several images of a neighbour
        g = _graph([atoms], cutoff)
        d_ours = np.sort(g.edge_vec.norm(dim=1).numpy())
        d_ref = np.sort(neighbour_list("d", atoms, cutoff))
        assert len(d_ours) == len(d_ref)
        np.testing.assert_allclose(d_ours, d_ref, atol=1e-10)


def test_batched_graph_is_the_union_of_per_structure_graphs():
    a, b = _triclinic(30, seed=1), _triclinic(50, seed=2)
    g = _graph([a, b], 4.0)
    i = g.edge_index[0]
    in_a = i < 30
    assert torch.all((g.edge_index[1][in_a] < 30)) and torch.all(g.edge_index[1][~in_a] >= 30)
    assert int(in_a.sum()) == len(neighbour_list("i", a, 4.0))
    assert int((~in_a).sum()) == len(neighbour_list("i", b, 4.0))


def test_atom_shifted_by_lattice_vector_gives_the_same_distances():
    atoms = _triclinic()
    shifted = atoms.copy()
    shifted.positions[3] += shifted.cell[0] - 2 * shifted.cell[2]
    d0 = np.sort(_graph([atoms], 4.0).edge_vec.norm(dim=1).numpy())
    d1 = np.sort(_graph([shifted], 4.0).edge_vec.norm(dim=1).numpy())
    np.testing.assert_allclose(d0, d1, atol=1e-10)


def test_edge_vectors_are_differentiable_in_positions_and_cell():
    atoms = _triclinic(20)
    pos = torch.tensor(atoms.positions, requires_grad=True)
    cell = torch.tensor(atoms.cell[:], requires_grad=True)
    g = build_graph(pos, torch.zeros(20, dtype=torch.long), cell, torch.zeros(20, dtype=torch.long), 4.0)
    # E = 1/2 sum over the full list of r_ij^2 (each pair twice): dE/dr_i = -2 sum_j r_ij
    energy = 0.5 * (g.edge_vec ** 2).sum()
    energy.backward()
    i, j = g.edge_index
    expected = torch.zeros_like(pos)
    expected.index_add_(0, i, -2 * g.edge_vec.detach())  # each edge counted twice (i->j and j->i)
    torch.testing.assert_close(pos.grad, expected)
    assert cell.grad is not None and torch.isfinite(cell.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_graph_on_cuda_matches_cpu():
    atoms = _triclinic()
    g = _graph([atoms], 4.0)
    pos = torch.tensor(atoms.positions, device="cuda")
    gc = build_graph(pos, torch.zeros(len(atoms), dtype=torch.long, device="cuda"),
                     torch.tensor(atoms.cell[:], device="cuda"), torch.zeros(len(atoms), dtype=torch.long, device="cuda"), 4.0)
    np.testing.assert_allclose(np.sort(gc.edge_vec.norm(dim=1).cpu().numpy()), np.sort(g.edge_vec.norm(dim=1).numpy()))
