"""Batched periodic radius graphs for triclinic cells, built with vesin-torch.

Every model in ``amorphous_ml.learn.models`` consumes a :class:`Graph`: many structures concatenated
into one set of nodes (``batch`` says which structure a node belongs to) and one edge list. vesin finds
the pairs and their integer cell shifts; the edge vectors are then recomputed in torch as
``r_j - r_i + S @ cell`` so they are differentiable with respect to positions and cells (forces,
stresses, score functions) and live on the same device as the positions (CPU or CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from vesin_torch import NeighborList

__all__ = ["Graph", "radius_graph_pbc", "build_graph"]


@dataclass
class Graph:
    """A batch of periodic structures and their radius graph.

    Shapes: ``positions`` (N, 3) Å, ``species`` (N,) long indices into the model's species list,
    ``batch`` (N,) structure index per node, ``cells`` (B, 3, 3) Å (rows are lattice vectors),
    ``edge_index`` (2, E) with row 0 = receiving atom i and row 1 = sending atom j,
    ``shifts`` (E, 3) integer cell shifts (float), ``edge_vec`` (E, 3) Å = r_j - r_i + shift @ cell.
    """

    positions: torch.Tensor
    species: torch.Tensor
    batch: torch.Tensor
    cells: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    edge_vec: torch.Tensor

    @property
    def num_graphs(self) -> int:
        return int(self.cells.shape[0])


def radius_graph_pbc(positions: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor, cutoff: float,
                     counts: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Full periodic neighbour list (both i->j and j->i) of every structure in a batch.

    Returns ``edge_index`` (2, E) in the global node numbering and integer ``shifts`` (E, 3) as float
    tensors in the positions' dtype. The pair search runs without gradients (it is piecewise constant).
    """
    if counts is None:
        counts = torch.bincount(batch, minlength=cells.shape[0]).tolist()
    calculator = NeighborList(cutoff=float(cutoff), full_list=True)
    edges, shifts = [], []
    offset = 0
    with torch.no_grad():
        for g, n in enumerate(counts):
            pos = positions[offset:offset + n].detach()
            cell = cells[g].detach()
            i, j, s = calculator.compute(points=pos, box=cell, periodic=True, quantities="ijS")
            edges.append(torch.stack([i, j]).to(torch.long) + offset)
            shifts.append(s.to(positions.dtype))
            offset += n
    if not edges:
        empty = positions.new_zeros((2, 0), dtype=torch.long)
        return empty, positions.new_zeros((0, 3))
    return torch.cat(edges, dim=1), torch.cat(shifts, dim=0)


def build_graph(positions: torch.Tensor, species: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor,
                cutoff: float, counts: list[int] | None = None) -> Graph:
    """Radius graph with differentiable edge vectors ``r_j - r_i + shift @ cell``."""
    if cells.dim() == 2:
        cells = cells.unsqueeze(0)
    edge_index, shifts = radius_graph_pbc(positions, cells, batch, cutoff, counts)
    i, j = edge_index
    # index_select rather than advanced indexing: the same gathers, several times faster on CPU
    cell_of_edge = torch.index_select(cells, 0, torch.index_select(batch, 0, i))
    edge_vec = (torch.index_select(positions, 0, j) - torch.index_select(positions, 0, i)
                + torch.bmm(shifts.unsqueeze(1), cell_of_edge).squeeze(1))
    return Graph(positions=positions, species=species, batch=batch, cells=cells, edge_index=edge_index,
                 shifts=shifts, edge_vec=edge_vec)

