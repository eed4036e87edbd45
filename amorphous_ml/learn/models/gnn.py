"""Attention graph network for per-atom plasticity (Wang & Zhang, Nat. Commun. 2021; public code
Qi-max/gnn-for-glass, facts in REFERENCE.md section 2).

Nodes are atoms (one-hot element), edges join an atom to its ``k`` nearest neighbours within ``cutoff``
(periodic, vesin), edge features are a Gaussian expansion of the distance (0-8 A, step 0.2 A). Each layer

* updates edges with a residual: ``e' = softplus(e + W_e [h_i | h_j | e])`` (paper Eq. 1);
* per head ``k``: attention ``a_ij = softmax_j(W_a [h_i | h_j | e'])`` over the neighbours ``j`` of ``i``
  (Eq. 2), message ``softplus(a_ij * W_h dropout([h_i | h_j | e']))`` (Eq. 3);
* sums the concatenated heads over neighbours and adds them to ``h_i`` through a linear map (residual
  "remember function", Eq. 4).

A readout MLP gives one z-scored ln(D2min) per label strain. Only distances enter, so the output is
invariant to rotations, translations and permutations of the atoms (tested). :meth:`AttentionGNN.predict`
returns physical ln(D2min) (the z-score statistics live in the model config).

:func:`knn_edges` builds the graph; :func:`affected_nodes` and :meth:`AttentionGNN.predict_local` give the
graph-local update used by swap Monte Carlo: only atoms within ``n_layers`` hops of a changed atom are
recomputed, on the subgraph of their receptive field, and equal a full evaluation to float tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["GNNConfig", "AttentionGNN", "knn_edges", "affected_nodes"]


@dataclass
class GNNConfig:
    species: list = field(default_factory=lambda: ["Cu", "Zr"])
    strains: list = field(default_factory=lambda: [0.05])  # one output per label strain
    n_neighbors: int = 12
    cutoff: float = 6.0  # A: candidates for the k nearest neighbours
    rbf_max: float = 8.0
    rbf_step: float = 0.2
    hidden: int = 32
    edge_hidden: int = 32
    heads: int = 2
    n_layers: int = 2
    dropout: float = 0.0
    readout_hidden: int = 32
    target_mean: list = field(default_factory=lambda: [0.0])
    target_std: list = field(default_factory=lambda: [1.0])

    @classmethod
    def from_dict(cls, d: dict) -> "GNNConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def knn_edges(positions: np.ndarray, cell: np.ndarray, k: int, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(receiver i, sender j)`` to the ``k`` nearest periodic neighbours of every atom within
    ``cutoff``, and their distances; sorted by receiver, then distance (ties by sender index)."""
    from vesin import NeighborList

    i, j, d = NeighborList(cutoff=float(cutoff), full_list=True).compute(
        points=np.asarray(positions, dtype=np.float64), box=np.asarray(cell, dtype=np.float64), periodic=True,
        quantities="ijd")
    order = np.lexsort((j, d, i))
    i, j, d = i[order], j[order], d[order]
    start = np.searchsorted(i, np.arange(len(positions)))
    rank = np.arange(len(i)) - start[i]
    keep = rank < k
    return np.stack([i[keep], j[keep]]).astype(np.int64), d[keep]


def affected_nodes(changed: np.ndarray, edges_old: np.ndarray, edges_new: np.ndarray, n_atoms: int,
                   hops: int) -> np.ndarray:
    """Boolean mask of the atoms within ``hops`` graph hops (old or new edges, either direction) of a
    changed atom: the only atoms whose ``hops``-layer output can differ."""
    mask = np.zeros(n_atoms, dtype=bool)
    mask[changed] = True
    e = np.concatenate([edges_old, edges_new], axis=1)
    for _ in range(hops):
        nxt = mask.copy()
        nxt[e[0][mask[e[1]]]] = True
        nxt[e[1][mask[e[0]]]] = True
        mask = nxt
    return mask


def _ball(mask: np.ndarray, edges: np.ndarray, hops: int) -> np.ndarray:
    """Atoms from which messages reach ``mask`` within ``hops`` layers (senders of edges into it)."""
    out = mask.copy()
    for _ in range(hops):
        nxt = out.copy()
        nxt[edges[1][out[edges[0]]]] = True
        out = nxt
    return out


def _segment_softmax(logits: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of ``logits`` (E, H) over the edges sharing a receiver ``index``."""
    heads = logits.shape[1]
    idx = index.unsqueeze(1).expand(-1, heads)
    mx = torch.full((n, heads), -torch.inf, dtype=logits.dtype, device=logits.device)
    mx = mx.scatter_reduce(0, idx, logits, reduce="amax", include_self=True)
    ex = torch.exp(logits - mx[index])
    den = torch.zeros((n, heads), dtype=logits.dtype, device=logits.device).index_add_(0, index, ex)
    return ex / den[index]


class _Layer(nn.Module):
    def __init__(self, hidden: int, edge_hidden: int, heads: int, dropout: float):
        super().__init__()
        cat = 2 * hidden + edge_hidden
        self.heads = heads
        self.edge = nn.Linear(cat, edge_hidden)
        self.attn = nn.Linear(cat, heads)
        self.msg = nn.Linear(cat, heads * hidden)
        self.out = nn.Linear(heads * hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.act = nn.Softplus()
        self.hidden = hidden

    def forward(self, h, e, edge_index):
        i, j = edge_index
        e = self.act(e + self.edge(torch.cat([h[i], h[j], e], dim=1)))
        z = torch.cat([h[i], h[j], e], dim=1)
        a = _segment_softmax(self.attn(z), i, h.shape[0])  # (E, heads)
        m = self.msg(self.drop(z)).view(-1, self.heads, self.hidden)
        m = self.act(a.unsqueeze(-1) * m).reshape(-1, self.heads * self.hidden)
        agg = torch.zeros((h.shape[0], m.shape[1]), dtype=h.dtype, device=h.device).index_add_(0, i, m)
        return h + self.out(agg), e


class AttentionGNN(nn.Module):
    def __init__(self, config: GNNConfig | dict):
        super().__init__()
        cfg = config if isinstance(config, GNNConfig) else GNNConfig.from_dict(config)
        self.cfg = cfg
        centers = torch.arange(0.0, cfg.rbf_max + 1e-9, cfg.rbf_step)
        self.register_buffer("centers", centers, persistent=False)
        self.embed = nn.Linear(len(cfg.species), cfg.hidden, bias=False)
        self.edge_embed = nn.Linear(len(centers), cfg.edge_hidden)
        self.layers = nn.ModuleList(_Layer(cfg.hidden, cfg.edge_hidden, cfg.heads, cfg.dropout)
                                    for _ in range(cfg.n_layers))
        self.readout = nn.Sequential(nn.Linear(cfg.hidden, cfg.readout_hidden), nn.Softplus(),
                                     nn.Dropout(cfg.dropout), nn.Linear(cfg.readout_hidden, len(cfg.strains)))

    def config(self) -> dict:
        return asdict(self.cfg)

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
        """z-scored ln(D2min) per atom and strain, (N, n_strains)."""
        dtype = self.embed.weight.dtype
        h = self.embed(nn.functional.one_hot(species, len(self.cfg.species)).to(dtype))
        rbf = torch.exp(-((distances.to(dtype).unsqueeze(1) - self.centers.to(dtype)) / self.cfg.rbf_step) ** 2)
        e = self.edge_embed(rbf)
        for layer in self.layers:
            h, e = layer(h, e, edge_index)
        return self.readout(h)

    def species_index(self, symbols) -> np.ndarray:
        lookup = {s: n for n, s in enumerate(self.cfg.species)}
        try:
            return np.array([lookup[s] for s in symbols], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"element {exc.args[0]} is not one of the GNN's species {self.cfg.species}") from None

    def graph(self, positions, cell) -> tuple[np.ndarray, np.ndarray]:
        return knn_edges(positions, cell, self.cfg.n_neighbors, self.cfg.cutoff)

    def _unscale(self, z: torch.Tensor) -> np.ndarray:
        mean = torch.as_tensor(self.cfg.target_mean, dtype=z.dtype)
        std = torch.as_tensor(self.cfg.target_std, dtype=z.dtype)
        return (z.detach().cpu() * std + mean).numpy().astype(np.float64)

    @torch.no_grad()
    def predict(self, species: np.ndarray, positions, cell, edges=None) -> np.ndarray:
        """Physical ln(D2min) per atom and strain (N, n_strains) of one structure."""
        edges, dist = edges if edges is not None else self.graph(positions, cell)
        dev = self.embed.weight.device
        z = self(torch.as_tensor(species, device=dev), torch.as_tensor(edges, device=dev),
                 torch.as_tensor(dist, device=dev))
        return self._unscale(z)

    @torch.no_grad()
    def predict_local(self, species: np.ndarray, graph_new, old_prediction: np.ndarray, affected: np.ndarray
                      ) -> tuple[np.ndarray, int]:
        """Recompute the prediction of the ``affected`` atoms only, on the subgraph of their receptive
        field (``n_layers`` hops of senders); the others keep ``old_prediction``. Returns the prediction
        and the number of atoms the network ran on."""
        edges, dist = graph_new
        pred = np.array(old_prediction, copy=True)
        if not affected.any():
            return pred, 0
        field_mask = _ball(affected, edges, self.cfg.n_layers)
        nodes = np.flatnonzero(field_mask)
        remap = np.full(len(species), -1, dtype=np.int64)
        remap[nodes] = np.arange(len(nodes))
        keep = field_mask[edges[0]] & field_mask[edges[1]]
        sub_edges = remap[edges[:, keep]]
        dev = self.embed.weight.device
        z = self(torch.as_tensor(species[nodes], device=dev), torch.as_tensor(sub_edges, device=dev),
                 torch.as_tensor(dist[keep], device=dev))
        sub = self._unscale(z)
        pred[affected] = sub[remap[np.flatnonzero(affected)]]
        return pred, len(nodes)
