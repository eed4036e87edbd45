"""AMDEN: score model on positions and element features of periodic structures (Finkler et al. 2025).

* Sample x = (cell C, positions X, element features E). Positions follow a variance-exploding schedule
  ``X_t = X + sigma_X(t) eps`` with ``sigma_X(t) = sigma_max_x * t`` (wrapped into the cell); elements
  (one-hot, one class per species plus the ghost class ``X`` when ``ghost``) a variance-preserving
  cosine schedule ``E_t = cos(pi t/2) E + sigma_max_e sin(pi t/2) eps`` (:class:`NoiseSchedule`).
* Node features ``[t, E_t, h_y1 .. h_ym]`` with one property embedding ``LayerNorm(Linear(1 -> 8))`` of
  each standardised property value; a missing or dropped property uses a null embedding (learned, or
  zeros); the :class:`~amorphous_ml.learn.models.egnn.EGNN` backbone turns them into invariant features
  and vector channels.
* Standard variant: ``eps_X = x - x_out[channel 0]`` (mean over each structure removed),
  ``eps_E = Linear(h)``.
* Energy variant (``energy: true``): the noise energy per structure
  ``E_theta = (1/sigma_X(t)) sum_i [mean_c 0.5 |x_i - x_out_i^c|^2 + head(h_i)]`` and the score is its
  negative gradient, ``s = -grad E_theta`` (autograd), for positions and element features alike
  (``eps = -sigma s``). Its gradient sums to zero over a structure (translation invariance), so no mean
  has to be removed.

Classifier-free guidance combines a conditional and an unconditional (all properties null) call,
``eps = (1 + w) eps_c - w eps_u`` (:meth:`AMDEN.guided_eps`). The model is rebuilt from a plain dict
(:meth:`AMDEN.config`): a checkpoint is ``state_dict`` + that dict as JSON (learn/train.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..graphs import build_graph
from .egnn import EGNN, EGNNConfig

__all__ = ["AMDENConfig", "AMDEN", "NoiseSchedule", "GHOST", "wrap_positions", "CONFIG_SCHEMA"]

GHOST = "X"  # ASE's dummy element: the ghost class (removed after generation, never written)


@dataclass
class AMDENConfig:
    species: list[str]
    ghost: bool = True
    properties: list[str] = field(default_factory=list)
    # standardisation of the properties (value - mean) / std, from the training set
    property_mean: list[float] = field(default_factory=list)
    property_std: list[float] = field(default_factory=list)
    property_embed: int = 8
    null_embedding: str = "learned"  # learned | zero
    hidden: int = 32
    channels: int = 4
    layers: int = 3
    cutoff: float = 5.0
    n_norm: float = 40.0
    energy: bool = False
    sigma_max_x: float = 1.7
    sigma_max_e: float = 1.5
    # metadata carried with the checkpoint (not architecture): training cells, ranges, densities
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "AMDENConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def classes(self) -> list[str]:
        return list(self.species) + ([GHOST] if self.ghost else [])


@dataclass(frozen=True)
class NoiseSchedule:
    sigma_max_x: float = 1.7
    sigma_max_e: float = 1.5

    def sigma_x(self, t):
        return self.sigma_max_x * t

    def alpha_e(self, t):
        return torch.cos(0.5 * math.pi * t) if torch.is_tensor(t) else math.cos(0.5 * math.pi * t)

    def sigma_e(self, t):
        return self.sigma_max_e * (torch.sin(0.5 * math.pi * t) if torch.is_tensor(t) else math.sin(0.5 * math.pi * t))

    def g2_x(self, t):
        """Diffusion coefficient squared of the VE SDE: d sigma_x^2 / dt."""
        return 2.0 * self.sigma_max_x ** 2 * t

    def drift_e(self, t):
        """f(t) of the VP SDE dE = f(t) E dt + g dW: d log alpha / dt."""
        return -0.5 * math.pi * math.tan(0.5 * math.pi * t)

    def g2_e(self, t):
        """d sigma_e^2/dt - 2 f(t) sigma_e^2 (paper eq. 7)."""
        a, s = self.alpha_e(t), self.sigma_e(t)
        return math.pi * a * s * self.sigma_max_e + math.pi * math.tan(0.5 * math.pi * t) * s ** 2


def wrap_positions(positions: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    inv = torch.linalg.inv(cells)
    frac = torch.einsum("ni,nij->nj", positions, inv[batch])
    frac = frac - torch.floor(frac)
    return torch.einsum("ni,nij->nj", frac, cells[batch])


class PropertyEmbedding(nn.Module):
    """One ``LayerNorm(Linear(1 -> dim))`` per property; NaN (missing / dropped) -> null embedding."""

    def __init__(self, n: int, dim: int, null: str):
        super().__init__()
        self.n, self.dim = n, dim
        self.linears = nn.ModuleList(nn.Linear(1, dim) for _ in range(n))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n))
        if null == "learned":
            self.null = nn.Parameter(torch.zeros(n, dim))
        elif null == "zero":
            self.register_buffer("null", torch.zeros(n, dim))
        else:
            raise ValueError(f"null_embedding must be 'learned' or 'zero', not {null!r}")

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """(B, n) standardised values (NaN = null) -> (B, n * dim)."""
        out = []
        for k in range(self.n):
            v = values[:, k:k + 1]
            missing = torch.isnan(v)
            emb = self.norms[k](self.linears[k](torch.nan_to_num(v, nan=0.0)))
            out.append(torch.where(missing, self.null[k].to(emb.dtype).expand_as(emb), emb))
        if not out:
            return values.new_zeros((values.shape[0], 0))
        return torch.cat(out, dim=1)


class AMDEN(nn.Module):
    """Predicts the position and element noise of a noisy periodic structure (see module docstring)."""

    def __init__(self, config: AMDENConfig | dict):
        super().__init__()
        if isinstance(config, dict):
            config = AMDENConfig.from_dict(config)
        self.cfg = config
        if len(config.property_mean) != len(config.properties) or len(config.property_std) != len(config.properties):
            raise ValueError("property_mean / property_std must have one entry per property")
        self.n_classes = len(config.classes)
        self.schedule = NoiseSchedule(config.sigma_max_x, config.sigma_max_e)
        self.props = PropertyEmbedding(len(config.properties), config.property_embed, config.null_embedding)
        n_in = 1 + self.n_classes + len(config.properties) * config.property_embed
        self.egnn = EGNN(n_in, EGNNConfig(config.hidden, config.channels, config.layers, config.cutoff, config.n_norm))
        self.element_head = nn.Linear(config.hidden, self.n_classes)
        self.energy_head = nn.Linear(config.hidden, 1) if config.energy else None

    def config(self) -> dict:
        return asdict(self.cfg)

    @property
    def cutoff(self) -> float:
        return self.cfg.cutoff

    def standardise(self, values: dict[str, float] | None, n: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """(n, m) standardised property tensor from ``{name: value}``; properties not given are null (NaN)."""
        out = torch.full((n, len(self.cfg.properties)), float("nan"), dtype=dtype, device=device)
        for k, name in enumerate(self.cfg.properties):
            if values and name in values and values[name] is not None:
                out[:, k] = (float(values[name]) - self.cfg.property_mean[k]) / self.cfg.property_std[k]
        return out

    # -- backbone --------------------------------------------------------------------------------
    def _backbone(self, positions, elements, cells, batch, counts, t, props):
        graph = build_graph(positions, torch.zeros_like(batch), cells, batch, self.cfg.cutoff, counts)
        tn = t.to(positions.dtype)[batch][:, None]
        x = torch.cat([tn, elements, self.props(props.to(positions.dtype))[batch]], dim=1)
        return self.egnn(x, graph.edge_index, graph.edge_vec)

    def energy(self, positions, elements, cells, batch, counts, t, props) -> torch.Tensor:
        """Noise energy per structure (B,) (energy variant only)."""
        if self.energy_head is None:
            raise ValueError("this AMDEN model is not the energy-based variant (energy: false)")
        h, delta = self._backbone(positions, elements, cells, batch, counts, t, props)
        per_atom = 0.5 * (delta * delta).sum(-1).mean(-1) + self.energy_head(h)[:, 0]
        e = torch.zeros(len(counts), dtype=per_atom.dtype, device=per_atom.device).index_add(0, batch, per_atom)
        return e / self.schedule.sigma_x(t.to(e.dtype))

    def energy_and_grads(self, positions, elements, cells, batch, counts, t, props, create_graph=False):
        """(energy (B,), dE/dX (N, 3), dE/dE (N, C)), with gradients even inside ``torch.no_grad``."""
        with torch.enable_grad():
            pos = positions if (create_graph and positions.requires_grad) else positions.detach().requires_grad_(True)
            el = elements if (create_graph and elements.requires_grad) else elements.detach().requires_grad_(True)
            e = self.energy(pos, el, cells, batch, counts, t, props)
            gx, ge = torch.autograd.grad(e.sum(), (pos, el), create_graph=create_graph)
        return e, gx, ge

    def eps(self, positions, elements, cells, batch, counts, t, props, create_graph=False):
        """Predicted noise (eps_X (N, 3), eps_E (N, C)) at diffusion time ``t`` (B,)."""
        if self.energy_head is not None:
            _, gx, ge = self.energy_and_grads(positions, elements, cells, batch, counts, t, props, create_graph)
            sx = self.schedule.sigma_x(t.to(gx.dtype))[batch][:, None]
            se = self.schedule.sigma_e(t.to(ge.dtype))[batch][:, None]
            return sx * gx, se * ge
        h, delta = self._backbone(positions, elements, cells, batch, counts, t, props)
        eps_x = -delta[:, 0]
        n = len(counts)
        mean = torch.zeros((n, 3), dtype=eps_x.dtype, device=eps_x.device).index_add(0, batch, eps_x)
        mean = mean / torch.as_tensor(counts, dtype=eps_x.dtype, device=eps_x.device)[:, None]
        return eps_x - mean[batch], self.element_head(h)

    def score(self, positions, elements, cells, batch, counts, t, props):
        """(s_X, s_E) = -eps / sigma(t); for the energy variant exactly -grad of :meth:`energy`."""
        ex, ee = self.eps(positions, elements, cells, batch, counts, t, props)
        sx = self.schedule.sigma_x(t.to(ex.dtype))[batch][:, None]
        se = self.schedule.sigma_e(t.to(ee.dtype))[batch][:, None]
        return -ex / sx, -ee / se

    def guided_eps(self, positions, elements, cells, batch, counts, t, props, w: float = 0.0):
        """Classifier-free guidance ``(1 + w) eps_c - w eps_u`` (eps_u: every property null).

        With ``w == 0`` (or no property given) this is exactly the conditional call.
        """
        ex, ee = self.eps(positions, elements, cells, batch, counts, t, props)
        if w == 0.0 or props.shape[1] == 0 or torch.isnan(props).all():
            return ex, ee
        null = torch.full_like(props, float("nan"))
        ux, ue = self.eps(positions, elements, cells, batch, counts, t, null)
        return (1.0 + w) * ex - w * ux, (1.0 + w) * ee - w * ue

    def guided_energy_and_grad_x(self, positions, elements, cells, batch, counts, t, props, w: float = 0.0):
        """Energy (B,) and dE/dX of the guided energy ``(1 + w) E_c - w E_u`` (for HMC moves)."""
        e, gx, _ = self.energy_and_grads(positions, elements, cells, batch, counts, t, props)
        if w == 0.0 or props.shape[1] == 0 or torch.isnan(props).all():
            return e.detach(), gx
        eu, gxu, _ = self.energy_and_grads(positions, elements, cells, batch, counts, t,
                                           torch.full_like(props, float("nan")))
        return ((1.0 + w) * e - w * eu).detach(), (1.0 + w) * gx - w * gxu


# JSON-schema fragment of a models.<name> section of kind "amden" (plumb places it in the config schema).
# Defaults are the laptop scale (a few CPU minutes of training); PAPER_PARAMS lists the paper's values.
_pos = {"type": "number", "exclusiveMinimum": 0}
CONFIG_SCHEMA = {
    "type": "object",
    "description": "AMDEN score-SDE model (amorphous_ml/learn/models/amden.py, generate/amden.py). Laptop defaults.",
    "properties": {
        "properties": {"type": "array", "items": {"type": "string"}, "default": [],
                       "description": "conditioning labels (dataset.csv columns / extxyz info keys)"},
        "species": {"type": ["array", "null"], "items": {"type": "string"}, "default": None,
                    "description": "element order; null: the training elements, sorted"},
        "ghost": {"type": "boolean", "default": True,
                  "description": "ghost atoms (element X) for density control; false: fixed atom count (AMDEN's a-Si runs)"},
        "ghost_density": {"type": "array", "items": _pos, "minItems": 2, "maxItems": 2, "default": [0.09, 0.11],
                          "description": "atoms/A^3 the ghosts fill each training box to (uniform in this range)"},
        "property_dropout": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1,
                             "description": "probability a property is replaced by its null embedding in training"},
        "property_dropout_all": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1,
                                 "description": "probability all properties of a structure are null at once (trains the unconditional score)"},
        "null_embedding": {"enum": ["learned", "zero"], "default": "learned"},
        "property_embed": {"type": "integer", "minimum": 1, "default": 8},
        "hidden": {"type": "integer", "minimum": 1, "default": 32, "description": "paper 128"},
        "channels": {"type": "integer", "minimum": 1, "default": 4, "description": "vector channels; paper 8"},
        "layers": {"type": "integer", "minimum": 1, "default": 3, "description": "paper 4 (8 for a-Si)"},
        "cutoff": {**_pos, "default": 5.0, "description": "graph cutoff (A); paper 6.5"},
        "n_norm": {**_pos, "default": 40.0, "description": "neighbour sums / this"},
        "energy": {"type": "boolean", "default": False, "description": "energy-based variant (needed for HMC)"},
        "sigma_max_x": {**_pos, "default": 1.7, "description": "position noise sigma(t) = this * t (A)"},
        "sigma_max_e": {**_pos, "default": 1.5},
        "t_min": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.01},
        "t_max": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.99},
        "loss_weight_position": {"type": "number", "minimum": 0, "default": 1.0},
        "loss_weight_element": {"type": "number", "minimum": 0, "default": 0.5},
        "val_fraction": {"type": "number", "minimum": 0, "maximum": 0.9, "default": 0.1},
        "seed": {"type": "integer", "minimum": 1, "default": 2001,
                 "description": "training seed; generated structure k gets seed + k, its LAMMPS velocity seed (positive)"},
        "training": {
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "steps": {"type": "integer", "minimum": 1, "default": 1500},
                "batch_size": {"type": "integer", "minimum": 1, "default": 2},
                "lr": {**_pos, "default": 0.001},
                "weight_decay": {"type": "number", "minimum": 0, "default": 0.0},
                "grad_clip": {"type": "number", "minimum": 0, "default": 10.0},
                "val_every": {"type": "integer", "minimum": 1, "default": 250},
                "val_repeats": {"type": "integer", "minimum": 1, "default": 4},
                "checkpoint_every": {"type": "integer", "minimum": 1, "default": 250},
                "dtype": {"enum": ["float32", "float64"], "default": "float32"},
            },
        },
        "generation": {
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "steps": {"type": "integer", "minimum": 1, "default": 100,
                          "description": "Euler-Maruyama steps 0.99 -> 0.01 (paper 200; 2000 with HMC)"},
                "guidance_w": {"type": "number", "minimum": 0, "default": 0.0,
                               "description": "classifier-free guidance weight w"},
                "n_atoms": {"type": ["integer", "null"], "minimum": 1, "default": None,
                            "description": "real atoms the cell is sized for; null: cells of the training set"},
                "density": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": None,
                            "description": "g/cm^3 for sizing the cell (null: density target, else training mean)"},
                "aspect": {"type": "array", "items": _pos, "minItems": 3, "maxItems": 3, "default": [1.0, 1.0, 1.0]},
                "ghost_density": {**_pos, "default": 0.1, "description": "atoms/A^3 of all nodes incl. ghosts"},
                "batch_size": {"type": "integer", "minimum": 1, "default": 4},
                "max_extrapolation": {"type": "number", "minimum": 0, "default": 1.0,
                                      "description": "targets further outside the training range than this x range are unreachable"},
                "dtype": {"enum": ["float32", "float64"], "default": "float32"},
                "hmc": {
                    "type": "object", "additionalProperties": False, "default": {},
                    "properties": {
                        "enabled": {"type": "boolean", "default": False, "description": "needs energy: true"},
                        "t_max": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                        "leapfrog_steps": {"type": "integer", "minimum": 1, "default": 15},
                        "dt0": {**_pos, "default": 0.4, "description": "HMC time step = dt0 * sigma(t)"},
                        "band_width": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.1,
                                       "description": "acceptance is reported per t band of this width"},
                    },
                },
                "charge_balance": {
                    "type": "object", "additionalProperties": False, "default": {},
                    "properties": {
                        "enabled": {"type": "boolean", "default": True,
                                    "description": "retry samples that are not charge neutral (only if species have charges)"},
                        "max_retries": {"type": "integer", "minimum": 0, "default": 4},
                        "renoise_t": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.4},
                        "formal_charges": {"type": "object", "additionalProperties": {"type": "number"}, "default": {},
                                           "description": "element -> formal charge; merged over the built-in table"},
                    },
                },
            },
        },
    },
}

# the paper's values (Finkler et al. 2025 + public code), for configs/paper.yaml
PAPER_PARAMS = {
    "hidden": 128, "channels": 8, "layers": 4, "cutoff": 6.5, "n_norm": 40.0, "sigma_max_x": 1.7,
    "training": {"batch_size": 8, "lr": 0.001},
    "generation": {"steps": 200, "hmc": {"t_max": 0.5, "leapfrog_steps": 15, "dt0": 0.4}},
    "notes": "a-Si: layers 8; HMC runs use energy: true and generation.steps 2000; SiO2: guidance_w 1.0",
}
