"""DM2 denoiser: a NequIP-style E(3)-equivariant network that predicts per-atom displacements.

Architecture (Yang & Schwalbe-Koda 2025, public code; sizes in REFERENCE.md section 2):

* species one-hot -> ``Linear`` -> ``species_embed`` x 0e node features;
* edges: ``num_basis`` Bessel functions on [0, cutoff] times a smooth polynomial envelope, and
  spherical harmonics up to ``lmax`` of the edge vector;
* ``num_layers`` interaction blocks: linear -> tensor product of sender features with the edge
  harmonics (``uvu`` paths, weights from a radial MLP ``[num_basis, radial_hidden]``) -> sum over
  neighbours / sqrt(``neighbor_norm``) -> linear + species self-connection -> gate (SiLU on scalars,
  sigmoid gates on vectors) -> residual when shapes match;
* an optional condition (log10 cooling rate in K/ps) expanded on ``cond_num_gaussians`` Gaussians
  (centres ``cond_min..cond_max``, width ``cond_width``) -> 2-layer MLP (SoftPlus) -> added to the
  scalar channels of the node features after every interaction block;
* output ``Linear(hidden -> 1x1o)``: the predicted displacement (Å) that was added to each atom.

Parity note: REFERENCE.md writes the hidden vectors and the output as ``1e``. With spherical
harmonics of a real (polar) edge vector (0e + 1o + 2e), no path ever produces a 1e feature from
scalar inputs, so such a network would output zero. A displacement is a polar vector: the default
here is ``64x0e+32x1o`` and output ``1x1o``, which makes the network equivariant under the full O(3)
(rotations and reflections) and translations, as the tests check.

The model is built from a plain dict (:meth:`DM2Denoiser.config`), so a checkpoint is its
``state_dict`` plus that dict as JSON (see :mod:`amorphous_ml.learn.train`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

from ...config import schema_defaults
from ..graphs import Graph

__all__ = ["DM2Config", "DM2Denoiser"]


_DM2 = schema_defaults("dm2")  # the schema's defaults (the paper's sizes), the one definition


@dataclass
class DM2Config:
    species: list[str]
    cutoff: float = _DM2["cutoff"]
    num_basis: int = _DM2["num_basis"]
    radial_hidden: int = _DM2["radial_hidden"]
    species_embed: int = _DM2["species_embed"]
    hidden_irreps: str = _DM2["hidden_irreps"]
    lmax: int = _DM2["lmax"]
    num_layers: int = _DM2["num_layers"]
    neighbor_norm: float = _DM2["neighbor_norm"]
    conditional: bool = _DM2["conditional"]
    cond_num_gaussians: int = _DM2["cond_num_gaussians"]
    cond_min: float = _DM2["cond_min"]
    cond_max: float = _DM2["cond_max"]
    cond_width: float = _DM2["cond_width"]
    cond_hidden: int = _DM2["cond_hidden"]
    # metadata carried with the checkpoint (not architecture): density fit for generation, etc.
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "DM2Config":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def polynomial_envelope(r: torch.Tensor, cutoff: float, p: int = 6) -> torch.Tensor:
    """NequIP's smooth cutoff: 1 at r=0, goes to 0 with p continuous derivatives at r=cutoff."""
    x = r / cutoff
    out = (1.0 - (p + 1.0) * (p + 2.0) / 2.0 * x.pow(p) + p * (p + 2.0) * x.pow(p + 1)
           - p * (p + 1.0) / 2.0 * x.pow(p + 2))
    return out * (x < 1.0)


def _scalar_mul(irreps: o3.Irreps) -> int:
    return sum(mul for mul, ir in irreps if ir.l == 0 and ir.p == 1)


class Interaction(nn.Module):
    """One NequIP convolution + gate: irreps_in -> irreps_out (the gated hidden irreps)."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps, irreps_attr: o3.Irreps,
                 num_basis: int, radial_hidden: int, neighbor_norm: float):
        super().__init__()
        self.irreps_in = irreps_in
        self.neighbor_norm = neighbor_norm
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps([(mul, "0e") for mul, _ in gated])
        self.gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
        gate_in = self.gate.irreps_in

        self.linear_in = o3.Linear(irreps_in, irreps_in)
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in gate_in:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid = o3.Irreps(mid)
        mid_sorted, perm, _ = mid.sort()
        instructions = [(i, j, perm[k], mode, train) for i, j, k, mode, train in instructions]
        self.tp = o3.TensorProduct(irreps_in, irreps_sh, mid_sorted, instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = FullyConnectedNet([num_basis, radial_hidden, self.tp.weight_numel], torch.nn.functional.silu)
        self.linear_out = o3.Linear(mid_sorted.simplify(), gate_in)
        self.self_connection = o3.FullyConnectedTensorProduct(irreps_in, irreps_attr, gate_in)
        self.irreps_out = self.gate.irreps_out
        self.residual = self.irreps_out == irreps_in

    def forward(self, x, attr, edge_index, edge_sh, edge_basis):
        i, j = edge_index
        h = self.linear_in(x)
        messages = self.tp(h[j], edge_sh, self.radial(edge_basis))
        agg = torch.zeros(x.shape[0], messages.shape[1], dtype=messages.dtype, device=messages.device)
        agg.index_add_(0, i, messages)
        agg = agg / math.sqrt(self.neighbor_norm)
        out = self.gate(self.linear_out(agg) + self.self_connection(x, attr))
        return out + x if self.residual else out


class GaussianConditionEmbedding(nn.Module):
    """Scalar label (log10 cooling rate) -> Gaussian basis -> Linear, SoftPlus, Linear -> (B, dim)."""

    def __init__(self, num_gaussians: int, vmin: float, vmax: float, width: float, hidden: int, dim: int):
        super().__init__()
        self.register_buffer("centres", torch.linspace(vmin, vmax, num_gaussians))
        self.width = width
        self.mlp = nn.Sequential(nn.Linear(num_gaussians, hidden), nn.Softplus(), nn.Linear(hidden, dim))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-0.5 * ((value[:, None] - self.centres) / self.width) ** 2)
        return self.mlp(basis)


class DM2Denoiser(nn.Module):
    """Predicts the displacement (Å, 1x1o per atom) that noise added to a glass."""

    def __init__(self, config: DM2Config | dict):
        super().__init__()
        if isinstance(config, dict):
            config = DM2Config.from_dict(config)
        self.cfg = config
        n_species = len(config.species)
        self.irreps_attr = o3.Irreps(f"{n_species}x0e")
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        hidden = o3.Irreps(config.hidden_irreps).simplify()
        embed = o3.Irreps(f"{config.species_embed}x0e")
        self.sh = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self.embed = o3.Linear(self.irreps_attr, embed)
        self.layers = nn.ModuleList()
        irreps = embed
        for _ in range(config.num_layers):
            layer = Interaction(irreps, hidden, self.irreps_sh, self.irreps_attr, config.num_basis,
                                config.radial_hidden, config.neighbor_norm)
            self.layers.append(layer)
            irreps = layer.irreps_out
        self.irreps_hidden = irreps
        self.n_scalars = _scalar_mul(irreps)
        if config.conditional:
            self.condition = GaussianConditionEmbedding(config.cond_num_gaussians, config.cond_min,
                                                        config.cond_max, config.cond_width, config.cond_hidden,
                                                        self.n_scalars)
        else:
            self.condition = None
        self.output = o3.Linear(irreps, o3.Irreps("1x1o"))

    def config(self) -> dict:
        return asdict(self.cfg)

    @property
    def cutoff(self) -> float:
        return self.cfg.cutoff

    def forward(self, graph: Graph, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Displacement per atom (N, 3). ``condition``: (B,) log10(cooling rate / (K/ps))."""
        attr = torch.nn.functional.one_hot(graph.species, len(self.cfg.species)).to(graph.positions.dtype)
        r = graph.edge_vec.norm(dim=-1)
        edge_sh = self.sh(graph.edge_vec)
        basis = soft_one_hot_linspace(r, 0.0, self.cfg.cutoff, self.cfg.num_basis, basis="bessel", cutoff=True)
        basis = basis * polynomial_envelope(r, self.cfg.cutoff)[:, None]
        cond = None
        if self.condition is not None:
            if condition is None:
                raise ValueError("this DM2 model is conditional: pass log10(cooling rate) per structure")
            cond = self.condition(condition.to(attr.dtype))[graph.batch]
        x = self.embed(attr)
        for layer in self.layers:
            x = layer(x, attr, graph.edge_index, edge_sh, basis)
            if cond is not None:
                x = torch.cat([x[:, :self.n_scalars] + cond, x[:, self.n_scalars:]], dim=1)
        return self.output(x)
