"""AMShortcut: flow-matching (material ODE) and shortcut velocity models on AMDEN's backbone.

Follows the AMShortcut paper (../shared/papers/amshortcut.md, section 4 and appendix B.1/B.3), with the
same sample representation as AMDEN (:mod:`amorphous_ml.learn.models.amden`): cell C, positions X,
one-hot element features E with one extra ghost class ``X`` (density control), property embeddings
``LayerNorm(Linear(1 -> dim))`` with one learned null embedding per property
(:class:`~amorphous_ml.learn.models.amden.PropertyEmbedding`), the periodic multi-channel
:class:`~amorphous_ml.learn.models.egnn.EGNN`.

* Flow (optimal-transport path, appendix B.1): noise ``X_1 ~ U(cell)``, ``E_1 ~ N(0, I)``;
  ``X_t = X_0 + t pbc(X_1 - X_0)`` (minimum image), ``E_t = E_0 + t (E_1 - E_0)``; the velocity
  ``u = (pbc(X_1 - X_0), E_1 - E_0)`` points from data to noise, and sampling integrates t = 1 -> 0:
  ``M_{t-d} = M_t - d u_theta(M_t, t, d)``.
* Network: node features ``[t, d, E_t, h_y1 .. h_ym]`` (the step size d is a scalar input exactly like
  t); ``u_X = -delta[:, 0]`` minus its per-structure mean (a common translation is not predictable),
  ``u_E = Linear(h)``.
* ``method: ode`` (material ODE) is trained with the flow-matching loss only and always called with
  ``d = 0``; ``method: shortcut`` (AMShortcut) additionally learns ``u(M_t, t, 2d) = (u(M_t, t, d) +
  u(M_{t-d}, t-d, d)) / 2`` (self-consistency, Frans et al. 2025), so it can jump with large steps.
  With ``d = 0`` the shortcut network *is* the flow-matching velocity (same function, same loss).

Unlike the paper (which builds the shortcut on the material SDE via its probability-flow ODE), the
shortcut here is built on the flow-matching ODE as in Frans et al.: the paper itself removes the
stochastic part for the shortcut loss and for sampling with fewer than 10 steps. The material SDE
baseline is AMDEN's score SDE (kind ``amden``, same VE/VP-cosine schedule and sigma values as the
paper's appendix B.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..graphs import build_graph
from .amden import AMDENConfig, GHOST, PropertyEmbedding
from .egnn import EGNN, EGNNConfig

__all__ = ["AMShortcutConfig", "AMShortcut", "min_image", "METHODS", "GHOST"]

METHODS = ("ode", "shortcut")


@dataclass
class AMShortcutConfig(AMDENConfig):
    method: str = "shortcut"  # ode | shortcut

    @classmethod
    def from_dict(cls, d: dict) -> "AMShortcutConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def min_image(vec: torch.Tensor, cells: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Minimum-image version of per-node vectors ``vec`` (N, 3) in the cells of their structures."""
    inv = torch.linalg.inv(cells)
    frac = torch.einsum("ni,nij->nj", vec, inv[batch])
    frac = frac - torch.round(frac)
    return torch.einsum("ni,nij->nj", frac, cells[batch])


class AMShortcut(nn.Module):
    """Velocity ``u_theta(M_t, y, t, d)`` of a noisy periodic structure (see the module docstring)."""

    def __init__(self, config: AMShortcutConfig | dict):
        super().__init__()
        if isinstance(config, dict):
            config = AMShortcutConfig.from_dict(config)
        if config.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {config.method!r}")
        if config.energy:
            raise ValueError("AMShortcut has no energy-based variant (energy: false)")
        self.cfg = config
        if len(config.property_mean) != len(config.properties) or len(config.property_std) != len(config.properties):
            raise ValueError("property_mean / property_std must have one entry per property")
        self.n_classes = len(config.classes)
        self.props = PropertyEmbedding(len(config.properties), config.property_embed, config.null_embedding)
        n_in = 2 + self.n_classes + len(config.properties) * config.property_embed
        self.egnn = EGNN(n_in, EGNNConfig(config.hidden, config.channels, config.layers, config.cutoff, config.n_norm))
        self.element_head = nn.Linear(config.hidden, self.n_classes)

    def config(self) -> dict:
        return asdict(self.cfg)

    @property
    def cutoff(self) -> float:
        return self.cfg.cutoff

    @property
    def uses_step_size(self) -> bool:
        return self.cfg.method == "shortcut"

    def standardise(self, values, n: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """(n, m) standardised property tensor; properties not given are null (NaN -> null embedding)."""
        out = torch.full((n, len(self.cfg.properties)), float("nan"), dtype=dtype, device=device)
        for k, name in enumerate(self.cfg.properties):
            if values and name in values and values[name] is not None:
                out[:, k] = (float(values[name]) - self.cfg.property_mean[k]) / self.cfg.property_std[k]
        return out

    def velocity(self, positions, elements, cells, batch, counts, t, d, props):
        """(u_X (N, 3), u_E (N, C)) at flow time ``t`` (B,) for step size ``d`` (B,) (0: instantaneous)."""
        if not self.uses_step_size:
            d = torch.zeros_like(t)
        graph = build_graph(positions, torch.zeros_like(batch), cells, batch, self.cfg.cutoff, counts)
        dtype = positions.dtype
        x = torch.cat([t.to(dtype)[batch][:, None], d.to(dtype)[batch][:, None], elements,
                       self.props(props.to(dtype))[batch]], dim=1)
        h, delta = self.egnn(x, graph.edge_index, graph.edge_vec)
        ux = -delta[:, 0]
        n = len(counts)
        mean = torch.zeros((n, 3), dtype=ux.dtype, device=ux.device).index_add(0, batch, ux)
        mean = mean / torch.as_tensor(counts, dtype=ux.dtype, device=ux.device)[:, None]
        return ux - mean[batch], self.element_head(h)


_pos = {"type": "number", "exclusiveMinimum": 0}
#: keys of a models.<name> section of kind amshortcut beyond AMDEN's architecture/training keys
EXTRA_SCHEMA = {
    "method": {"enum": list(METHODS), "default": "shortcut",
               "description": "shortcut (AMShortcut: flow matching + self-consistency) or ode (material ODE: "
                              "flow matching only)"},
    "shortcut_fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.25,
                          "description": "fraction of training batches that also get the self-consistency loss "
                                         "(paper 0.25)"},
    "shortcut_levels": {"type": "integer", "minimum": 1, "maximum": 12, "default": 7,
                        "description": "step sizes 2^-1 .. 2^-levels are learned (7: down to 1/128)"},
    "coupling": {"enum": ["independent", "assignment"], "default": "independent",
                 "description": "pairing of noise and data atoms in training: independent (the paper's) or "
                                "assignment (noise positions permuted within each structure to the periodic "
                                "optimal-transport pairing, Hungarian; shorter, straighter paths; O(n^3) per "
                                "structure and step, for cells of a few hundred atoms)"},
}


def _config_schema() -> dict:
    """AMDEN's architecture/training keys (no energy variant), the method keys, and the Euler sampler's keys."""
    import copy

    from .amden import CONFIG_SCHEMA as AMDEN_SCHEMA

    props = copy.deepcopy(AMDEN_SCHEMA["properties"])
    props.pop("energy")
    props["property_dropout"] = {**props["property_dropout"], "default": 0.3,
                                 "description": "probability each property (independently) is replaced by its "
                                                "learned null embedding in training"}
    props["seed"] = {**props["seed"], "default": 3001}
    props.update(copy.deepcopy(EXTRA_SCHEMA))
    gen = AMDEN_SCHEMA["properties"]["generation"]["properties"]
    props["generation"] = {
        "type": "object", "additionalProperties": False, "default": {},
        "properties": {
            "steps": {"type": "integer", "minimum": 1, "default": 10,
                      "description": "Euler steps t = 1 -> 0 (sampling_steps, when given, sets it per request)"},
            **{k: copy.deepcopy(gen[k]) for k in ("n_atoms", "density", "aspect", "ghost_density", "max_extrapolation",
                                                   "dtype")},
            "batch_size": {"type": "integer", "minimum": 1, "default": 8},
        },
    }
    return {"type": "object",
            "description": "AMShortcut / material ODE (amorphous_ml/learn/models/amshortcut.py). Laptop defaults.",
            "properties": props}


CONFIG_SCHEMA = _config_schema()
PAPER_PARAMS = {"hidden": 128, "channels": 8, "layers": 4, "cutoff": 6.5, "n_norm": 40.0, "shortcut_fraction": 0.25,
                "training": {"batch_size": 8, "lr": 0.001}}
