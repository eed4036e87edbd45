"""GlassVAE (Chen et al.): a hierarchical graph VAE of periodic glass snapshots that decodes from the latent alone.

Encoder (invariant by construction): species embedding, then ``num_layers`` message-passing layers over
the periodic radius graph (vesin; cutoff ``cutoff``) whose messages see only species and distances
(Gaussian radial basis times a cosine envelope), with *mean* aggregation; a mean over atoms gives the
graph vector, two linear heads give ``mu`` and ``log sigma^2`` of the graph-level latent ``z_g``.
In parallel, the edge path feeds every edge's features (radial basis, species pair) through a residual
stack of ``edge_layers`` blocks and averages them into the edge descriptor ``s``. With ``hierarchical``
the edge-level latent ``z_e`` has posterior q(z_e | s, z_g) and a learned prior p(z_e | z_g) (NVAE-like);
``hierarchical: false`` is the paper's "single latent" ablation (no edge path, ``z = z_g``).

Only distances enter the encoder (the paper's edge attribute also carries the vector r_i - r_j, which
is not rotation invariant), so the latent is invariant to permutation, translation and rotation.

Decoder (from the latent alone; the public code's decoder reads the true structure's edges): an MLP
``z -> (n_atoms x 3 fractional coordinates, n_atoms x species logits, log volume)`` on top of a learned
template (a jittered grid, so an untrained decoder already spreads the atoms through the cell). The atom
count is fixed by the training data; the cell is the mean training cell scaled to the decoded volume.
Because the latent is invariant, a decoded structure corresponds to the input only up to a permutation
and a translation: every loss that compares atoms first *matches* decoded slots to true atoms
(Hungarian assignment, scipy, on periodic distance^2 - ``match_species_weight`` x log p(species)) after
aligning the translation (``match_iterations`` rounds of match + mean periodic offset). On the matched
pairs: node cross-entropy, position MSE (the paper's "positional consistency"), and over the true
structure's edges (``edge_cutoff``) the distance MSE and the direction term 1 - cos(decoded, true edge
vector). Energy head: MLP on the latent alone (per-atom energy, standardised). RDF loss: squared
difference of soft-histogram g(r) (``rdf_bins`` Gaussian-kernel bins of width ``rdf_sigma`` on
0-``rdf_max``) of the decoded and the true structure. KL: analytic, weight ``beta_kl``.
Ablation switches: ``rdf_loss: false``, ``energy_loss: false`` (the energy head then learns on a
detached latent, so it only *probes* what the latent knows about the energy), ``hierarchical: false``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..graphs import Graph

__all__ = ["GlassVAEConfig", "GlassVAE", "soft_rdf", "rdf_from_positions", "match_structures",
           "assign_species"]


@dataclass
class GlassVAEConfig:
    species: list[str]
    n_atoms: int = 108
    cutoff: float = 4.0
    num_rbf: int = 16
    hidden: int = 32
    num_layers: int = 2
    edge_hidden: int = 32
    edge_layers: int = 2
    latent_dim: int = 16
    edge_latent_dim: int = 8
    decoder_hidden: int = 128
    hierarchical: bool = True
    # losses (paper eq. 1) and the ablation switches
    rdf_loss: bool = True
    energy_loss: bool = True
    #: what the energy head sees in training: "sample" (the reparameterised z, as the paper) or "mean" (the
    #: posterior mean: on one trajectory the posterior means differ by ~1e-4 of the posterior width, so a head
    #: trained on samples sees mostly noise)
    energy_input: str = "sample"
    w_node: float = 1.0
    w_position: float = 1.0
    w_edge_distance: float = 1.0
    w_edge_direction: float = 0.2
    w_energy: float = 1.0
    w_volume: float = 0.1
    w_rdf: float = 1.0
    beta_kl: float = 1.0e-3
    #: KL annealing: beta ramps linearly from 0 to beta_kl over this many training steps (0: no warm-up)
    kl_warmup_steps: int = 0
    #: free bits (Kingma et al. 2016): the batch-mean KL of each latent dimension is not penalised below this
    #: many nats, so the encoder can keep a little information per dimension at no cost (0: off)
    free_bits: float = 0.0
    #: BN-VAE (Zhu et al. 2020): batch-normalise the posterior means to standard deviation ``latent_batchnorm``
    #: over the batch (running statistics at evaluation), so the batch-mean KL of every dimension is at least
    #: latent_batchnorm^2 / 2 and the encoder cannot give every structure the same mean (0: off)
    latent_batchnorm: float = 0.0
    edge_cutoff: float = 3.5
    rdf_bins: int = 50
    rdf_max: float = 6.0
    rdf_sigma: float = 0.1
    match_species_weight: float = 1.0
    match_iterations: int = 2
    template_seed: int = 0
    # metadata carried with the checkpoint: reference cell, label statistics, posterior bank, split
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "GlassVAEConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def z_dim(self) -> int:
        return self.latent_dim + (self.edge_latent_dim if self.hierarchical else 0)


def _mlp(sizes, act=nn.SiLU, last_act=False) -> nn.Sequential:
    layers = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


def _segment_mean(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    out = values.new_zeros((n, values.shape[1]))
    out.index_add_(0, index, values)
    count = torch.bincount(index, minlength=n).clamp(min=1).to(values.dtype)
    return out / count[:, None]


class RadialBasis(nn.Module):
    """Gaussians on [0, cutoff] times a cosine envelope that goes smoothly to zero at the cutoff."""

    def __init__(self, cutoff: float, n: int):
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("centres", torch.linspace(0.0, cutoff, n))
        self.width = cutoff / n

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        env = 0.5 * (torch.cos(math.pi * r / self.cutoff) + 1.0) * (r < self.cutoff)
        return torch.exp(-0.5 * ((r[:, None] - self.centres) / self.width) ** 2) * env[:, None]


class MessageLayer(nn.Module):
    def __init__(self, hidden: int, num_rbf: int):
        super().__init__()
        self.message = _mlp([2 * hidden + num_rbf, hidden, hidden])
        self.update = _mlp([2 * hidden, hidden, hidden])
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h, edge_index, rbf):
        i, j = edge_index
        m = self.message(torch.cat([h[i], h[j], rbf], dim=1))
        agg = _segment_mean(m, i, h.shape[0])  # symmetric (mean) aggregation: permutation invariant
        return self.norm(h + self.update(torch.cat([h, agg], dim=1)))


class EdgeBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.mlp = _mlp([dim, dim, dim])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(x + self.mlp(x))


def _kl_normal(mu_q, logvar_q, mu_p=None, logvar_p=None) -> torch.Tensor:
    """KL(q || p) per structure and latent dimension (B, D) (p = N(0, I) when not given)."""
    if mu_p is None:
        return -0.5 * (1 + logvar_q - mu_q ** 2 - logvar_q.exp())
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1)


class GlassVAE(nn.Module):
    """Hierarchical graph VAE; see the module docstring."""

    def __init__(self, config: GlassVAEConfig | dict):
        super().__init__()
        if isinstance(config, dict):
            config = GlassVAEConfig.from_dict(config)
        self.cfg = c = config
        ns = len(c.species)
        self.embed = nn.Embedding(ns, c.hidden)
        self.rbf = RadialBasis(c.cutoff, c.num_rbf)
        self.layers = nn.ModuleList([MessageLayer(c.hidden, c.num_rbf) for _ in range(c.num_layers)])
        self.to_mu = nn.Linear(c.hidden, c.latent_dim)
        self.to_logvar = nn.Linear(c.hidden, c.latent_dim)
        if c.latent_batchnorm > 0:
            # eps far below BatchNorm's 1e-5: an untrained encoder's means differ between glasses by ~1e-4
            # (variance ~1e-8), which eps = 1e-5 would flatten instead of normalise
            self.mu_norm = nn.BatchNorm1d(c.latent_dim, affine=False, eps=1e-12)
            self.mu_shift = nn.Parameter(torch.zeros(c.latent_dim))
        if c.hierarchical:
            self.edge_in = nn.Linear(c.num_rbf + ns * ns, c.edge_hidden)
            self.edge_blocks = nn.ModuleList([EdgeBlock(c.edge_hidden) for _ in range(c.edge_layers)])
            self.edge_posterior = _mlp([c.edge_hidden + c.latent_dim, c.edge_hidden, 2 * c.edge_latent_dim])
            self.edge_prior = _mlp([c.latent_dim, c.edge_hidden, 2 * c.edge_latent_dim])
        n = c.n_atoms
        self.decoder = _mlp([c.z_dim, c.decoder_hidden, c.decoder_hidden, n * (3 + ns) + 1])
        with torch.no_grad():  # start from "the template": small output corrections
            self.decoder[-1].weight.mul_(0.1)
            self.decoder[-1].bias.zero_()
        self.template = nn.Parameter(torch.as_tensor(_grid_template(n, c.template_seed), dtype=torch.float32))
        self.energy_head = _mlp([c.z_dim, c.hidden, c.hidden, 1])
        #: training steps taken (the KL warm-up's clock; saved with the weights, so a resumed run continues it)
        self.register_buffer("train_step", torch.zeros((), dtype=torch.long))

    def config(self) -> dict:
        return asdict(self.cfg)

    @property
    def cutoff(self) -> float:
        return self.cfg.cutoff

    # ---------------------------------------------------------------- encoder
    def encode(self, graph: Graph) -> dict:
        c = self.cfg
        r = graph.edge_vec.norm(dim=-1)
        rbf = self.rbf(r)
        h = self.embed(graph.species)
        for layer in self.layers:
            h = layer(h, graph.edge_index, rbf)
        pooled = _segment_mean(h, graph.batch, graph.num_graphs)
        raw = self.to_mu(pooled)
        out = {"mu": self._norm_mu(raw), "mu_raw": raw, "logvar": self.to_logvar(pooled).clamp(-10, 10)}
        if c.hierarchical:
            i, j = graph.edge_index
            ns = len(c.species)
            pair = torch.nn.functional.one_hot(graph.species[i] * ns + graph.species[j], ns * ns).to(rbf.dtype)
            a = self.edge_in(torch.cat([rbf, pair], dim=1))
            for block in self.edge_blocks:
                a = block(a)
            out["s"] = _segment_mean(a, graph.batch[i], graph.num_graphs)
        return out

    def _norm_mu(self, mu: torch.Tensor) -> torch.Tensor:
        """BN-VAE's normalised posterior means (batch statistics in training, running ones otherwise)."""
        c = self.cfg
        if c.latent_batchnorm <= 0:
            return mu
        bn = self.mu_norm
        batch_stats = self.training and mu.shape[0] > 1
        normed = torch.nn.functional.batch_norm(mu, bn.running_mean, bn.running_var, training=batch_stats,
                                                momentum=bn.momentum, eps=bn.eps)
        return c.latent_batchnorm * normed + self.mu_shift

    @torch.no_grad()
    def calibrate_latent_norm(self, raw_means: torch.Tensor) -> None:
        """Set the normalisation's statistics to those of ``raw_means`` (N, latent_dim), the un-normalised
        posterior means of the training set under the final weights ("precise BN"): the running averages
        collected during training lag weights that changed, and a lag here would shift every latent."""
        if self.cfg.latent_batchnorm <= 0:
            return
        self.mu_norm.running_mean.copy_(raw_means.mean(dim=0))
        self.mu_norm.running_var.copy_(raw_means.var(dim=0, unbiased=False))

    def edge_prior_params(self, z_g: torch.Tensor):
        mu, logvar = self.edge_prior(z_g).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def latent(self, enc: dict, gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, z_dim) and the KL per structure; ``gen`` None: posterior means (deterministic)."""
        z, kl = self.latent_terms(enc, gen)
        return z, kl.sum(dim=1)

    def latent_terms(self, enc: dict, gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, z_dim) and the KL per structure and latent dimension (B, z_dim)."""
        def draw(mu, logvar):
            if gen is None:
                return mu
            eps = torch.randn(mu.shape, generator=gen, dtype=mu.dtype).to(mu.device)
            return mu + (0.5 * logvar).exp() * eps

        z_g = draw(enc["mu"], enc["logvar"])
        kl = _kl_normal(enc["mu"], enc["logvar"])
        if not self.cfg.hierarchical:
            return z_g, kl
        mu_e, logvar_e = self.edge_posterior(torch.cat([enc["s"], z_g], dim=1)).chunk(2, dim=1)
        logvar_e = logvar_e.clamp(-10, 10)
        mu_p, logvar_p = self.edge_prior_params(z_g)
        z_e = draw(mu_e, logvar_e)
        return torch.cat([z_g, z_e], dim=1), torch.cat([kl, _kl_normal(mu_e, logvar_e, mu_p, logvar_p)], dim=1)

    def kl_weight(self) -> float:
        """beta of the current training step (linear warm-up over ``kl_warmup_steps``)."""
        c = self.cfg
        if c.kl_warmup_steps <= 0:
            return c.beta_kl
        return c.beta_kl * min(1.0, float(self.train_step) / c.kl_warmup_steps)

    def embed_structures(self, graph: Graph) -> torch.Tensor:
        """Posterior-mean latent of each structure (B, z_dim)."""
        return self.latent(self.encode(graph), None)[0]

    def sample_prior(self, n: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
        dtype, device = self.template.dtype, self.template.device
        z_g = scale * torch.randn((n, self.cfg.latent_dim), generator=gen, dtype=dtype).to(device)
        if not self.cfg.hierarchical:
            return z_g
        mu_p, logvar_p = self.edge_prior_params(z_g)
        eps = torch.randn(mu_p.shape, generator=gen, dtype=dtype).to(device)
        return torch.cat([z_g, mu_p + scale * (0.5 * logvar_p).exp() * eps], dim=1)

    # ---------------------------------------------------------------- decoder and heads
    def decode(self, z: torch.Tensor) -> dict:
        """Fractional coordinates (B, N, 3) (not wrapped), species logits (B, N, S), log-volume (B,) (standardised)."""
        n, ns = self.cfg.n_atoms, len(self.cfg.species)
        raw = self.decoder(z)
        frac = self.template[None] + raw[:, :3 * n].view(-1, n, 3)
        logits = raw[:, 3 * n:3 * n + ns * n].view(-1, n, ns)
        return {"frac": frac, "logits": logits, "logvol": raw[:, -1]}

    def energy_std(self, z: torch.Tensor) -> torch.Tensor:
        return self.energy_head(z).squeeze(-1)

    def predict_energy(self, z: torch.Tensor) -> torch.Tensor:
        """Energy per atom (eV) from the latent alone."""
        st = self.cfg.extra.get("energy_stats", {"mean": 0.0, "std": 1.0})
        return self.energy_std(z) * st["std"] + st["mean"]

    def decoded_cells(self, logvol_std: torch.Tensor) -> torch.Tensor:
        """Cells (B, 3, 3): the mean training cell scaled to the decoded volume."""
        ex = self.cfg.extra
        ref = torch.as_tensor(ex.get("reference_cell", np.eye(3) * 10.0), dtype=logvol_std.dtype,
                              device=logvol_std.device)
        st = ex.get("logvol_stats", {"mean": float(torch.log(torch.det(ref))), "std": 1.0})
        logv = logvol_std * st["std"] + st["mean"]
        scale = torch.exp((logv - torch.log(torch.det(ref))) / 3.0)
        return ref[None] * scale[:, None, None]


def _grid_template(n: int, seed: int) -> np.ndarray:
    """Fractional sites of a jittered simple-cubic grid (n of them, shuffled): a spread-out start."""
    rng = np.random.default_rng(seed)
    g = int(math.ceil(n ** (1.0 / 3.0)))
    idx = np.stack(np.meshgrid(*[np.arange(g)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = idx[rng.choice(len(idx), size=n, replace=False)]
    return (sites + 0.5 + rng.uniform(-0.15, 0.15, size=(n, 3))) / g


# -------------------------------------------------------------------- RDF (soft histogram)
def soft_rdf(distances: torch.Tensor, pair_graph: torch.Tensor, counts: torch.Tensor, volumes: torch.Tensor,
             bins: int, r_max: float, sigma: float, pair_weight: float = 1.0) -> torch.Tensor:
    """Differentiable g(r) (B, bins) from a pair list: Gaussian kernels of width ``sigma`` (Å).

    g(r_k) = w sum_pairs K(r_k - d) / (N rho 4 pi r_k^2), K a normalised Gaussian, rho = N / V, and
    ``pair_weight`` w = 1 for a full list (every pair twice), 2 for a half list. Each distance only
    touches the bins within 4 sigma of it (the Gaussian beyond is < 3.4e-4 of its peak), so the cost is
    O(pairs x 8 sigma / bin width) instead of O(pairs x bins).
    """
    dtype, device = distances.dtype, distances.device
    width = r_max / bins
    reach = int(math.ceil(4 * sigma / width))
    offsets = torch.arange(-reach, reach + 1, device=device)
    base = torch.floor(distances.detach() / width).long()
    idx = base[:, None] + offsets[None, :]  # (P, 2 reach + 1)
    valid = (idx >= 0) & (idx < bins)
    centres = (idx.to(dtype) + 0.5) * width
    kern = torch.exp(-0.5 * ((distances[:, None] - centres) / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    kern = kern * valid
    flat = (pair_graph[:, None] * bins + idx.clamp(0, bins - 1)).reshape(-1)
    hist = kern.new_zeros(len(counts) * bins).index_add_(0, flat, kern.reshape(-1)).view(len(counts), bins)
    counts = counts.to(dtype)
    rho = counts / volumes
    r = (torch.arange(bins, dtype=dtype, device=device) + 0.5) * width
    return pair_weight * hist / (counts[:, None] * rho[:, None] * 4 * math.pi * r[None] ** 2)


def rdf_from_positions(positions: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor, counts: list[int],
                       bins: int, r_max: float, sigma: float) -> torch.Tensor:
    """Soft-histogram g(r) of each structure of a batch; differentiable w.r.t. positions and cells."""
    from vesin_torch import NeighborList

    reach = r_max + 4 * sigma  # kernels of pairs just beyond r_max still reach the last bins
    calc = NeighborList(cutoff=float(reach), full_list=False)  # each pair once
    dists, graphs, offset = [], [], 0
    if cells.dim() == 2:
        cells = cells.unsqueeze(0)
    for g, n in enumerate(counts):
        pos, cell = positions[offset:offset + n], cells[g]
        with torch.no_grad():
            i, j, shift = calc.compute(points=pos.detach(), box=cell.detach(), periodic=True, quantities="ijS")
        i, j = i.long() + offset, j.long() + offset
        vec = positions[j] - positions[i] + shift.to(positions.dtype) @ cell
        dists.append(vec.norm(dim=-1))
        graphs.append(torch.full((len(i),), g, dtype=torch.long, device=positions.device))
        offset += n
    vol = torch.abs(torch.det(cells))
    return soft_rdf(torch.cat(dists), torch.cat(graphs), torch.as_tensor(counts, device=positions.device), vol, bins,
                    r_max, sigma, pair_weight=2.0)


# -------------------------------------------------------------------- matching
def _min_image(df: np.ndarray) -> np.ndarray:
    return df - np.round(df)


def match_structures(frac_dec: np.ndarray, logp_dec: np.ndarray, frac_true: np.ndarray, species_true: np.ndarray,
                     cell: np.ndarray, species_weight: float, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Assign decoded slots to true atoms, up to a periodic translation of the true structure.

    Returns ``perm`` (slot of each true atom) and the fractional shift ``t`` that was added to the true
    structure. Cost: |min-image(x_slot - x_true - t) @ cell|^2 - species_weight * log p_slot(species).
    """
    from scipy.optimize import linear_sum_assignment

    t = np.zeros(3)
    species_cost = -species_weight * logp_dec[:, species_true].T  # (true, slot)
    perm = None
    for _ in range(max(1, iterations)):
        diff = _min_image(frac_dec[None, :, :] - (frac_true[:, None, :] + t))  # (true, slot, 3)
        d2 = np.einsum("tsk,kl,tsl->ts", diff, cell @ cell.T, diff)
        rows, cols = linear_sum_assignment(d2 + species_cost)
        perm = cols[np.argsort(rows)]
        resid = _min_image(frac_dec[perm] - (frac_true + t))
        t = t + resid.mean(axis=0)
    return perm, t


def assign_species(logits: np.ndarray, counts: dict[int, int]) -> np.ndarray:
    """Species index per slot with exactly ``counts`` atoms of each species (max total log-probability)."""
    from scipy.optimize import linear_sum_assignment

    seats = np.concatenate([[s] * n for s, n in sorted(counts.items())]).astype(int)
    if len(seats) != len(logits):
        raise ValueError(f"composition has {len(seats)} atoms, the model decodes {len(logits)}")
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    rows, cols = linear_sum_assignment(-logp[:, seats])
    out = np.empty(len(logits), dtype=int)
    out[rows] = seats[cols]
    return out
