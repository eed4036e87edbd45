"""AMShortcut's training objective and ``train_amshortcut`` (same data path and loop as AMDEN).

Per structure and step (all draws from the training loop's seeded generator): ghosts fill the cell
exactly as for AMDEN (:func:`amorphous_ml.learn.amden.add_ghosts`); noise ``X_1 ~ U(cell)``,
``E_1 ~ N(0, I)``; each property is replaced by its learned null embedding with probability
``property_dropout`` (independently per property, so every subset of the properties, the empty one
included, is seen in training), and all of them at once with probability ``property_dropout_all`` (as
for AMDEN: with several properties the empty subset is otherwise rare).

* Flow-matching loss (every batch, step size 0): ``t ~ U(0, 1)``, ``M_t = M_0 + t u``,
  ``L_FM = w_pos |u_theta(M_t, t, 0) - u_X|^2 + w_el |u_theta(M_t, t, 0) - u_E|^2`` with
  ``u = (pbc(X_1 - X_0) - mean, E_1 - E_0)``.
* Self-consistency loss (method ``shortcut``, a fraction ``shortcut_fraction`` of the batches, as in
  the paper's appendix B.3): half step ``h = 2^-k``, ``k ~ U{1..levels}``, ``t ~ U(2h, 1)``;
  ``u_1 = u(M_t, t, h)``, ``M' = M_t - h u_1``, ``u_2 = u(M', t - h, h)`` and
  ``L_SC = |u(M_t, t, 2h) - sg((u_1 + u_2)/2)|^2``. The smallest half step is taken with the
  instantaneous velocity (``d = 0`` inputs, Frans et al. 2025), which anchors the hierarchy of step
  sizes to the flow-matching velocity.
* ``coupling: assignment`` (not the paper's, which pairs noise atom k with data atom k): the noise positions
  are permuted within each structure to the periodic optimal-transport pairing (:func:`assign_noise`)
  before the path is built; the noise distribution and the sampler are unchanged.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import ase
import torch

from .amden import add_ghosts, ghost_density_range, model_config, train_egnn_kind
from .data import Batch
from .models.amden import wrap_positions
from .models.amshortcut import AMShortcut, AMShortcutConfig, min_image

__all__ = ["assign_noise", "flow_sample", "make_amshortcut_loss", "train_amshortcut"]


def assign_noise(x0: torch.Tensor, x1: torch.Tensor, cells: torch.Tensor, counts) -> torch.Tensor:
    """``x1`` permuted within each structure so that the sum of squared periodic (minimum-image) distances
    to ``x0`` is smallest (Hungarian assignment, :func:`scipy.optimize.linear_sum_assignment`).

    The noise positions are i.i.d. uniform in the cell, so any permutation of them is a draw from the same
    noise distribution: the marginals of the flow are unchanged (the sampler still starts from uniform
    noise), only the pairing of noise and data atoms becomes the optimal-transport one of the structure
    (the minibatch-OT coupling of Tong et al. 2024 and equivariant OT flow matching of Klein et al. 2023, here
    over the atoms of one structure). Paths get shorter and straighter, which is what few Euler steps need.
    """
    from scipy.optimize import linear_sum_assignment

    out = x1.clone()
    c64 = cells.detach().cpu().to(torch.float64)
    a_all = x0.detach().cpu().to(torch.float64)
    b_all = x1.detach().cpu().to(torch.float64)
    off = 0
    for g, n in enumerate(counts):
        a, b = a_all[off:off + n], b_all[off:off + n]
        pairs = (b[None, :, :] - a[:, None, :]).reshape(-1, 3)
        vec = min_image(pairs, c64[g][None], torch.zeros(len(pairs), dtype=torch.long))
        _, cols = linear_sum_assignment((vec * vec).sum(-1).reshape(n, n).numpy())
        out[off:off + n] = x1[off:off + n][torch.as_tensor(cols, device=x1.device)]
        off += n
    return out


def flow_sample(model: AMShortcut, batch: Batch, gen: torch.Generator, ghost_density, coupling: str = "independent"):
    """Data + ghosts and a noise sample: (x0, e0, x1, e1, node batch, counts). ``coupling``: ``independent``
    (the paper's: noise atom k goes with data atom k) or ``assignment`` (:func:`assign_noise`)."""
    dtype, device = batch.positions.dtype, batch.positions.device
    gd = tuple(ghost_density) if model.cfg.ghost else None
    x0, cls, node_batch, counts = add_ghosts(batch, len(model.cfg.species), gd, gen)
    n = x0.shape[0]
    frac = torch.rand((n, 3), generator=gen, dtype=torch.float64).to(dtype).to(device)
    x1 = torch.einsum("ni,nij->nj", frac, batch.cells[node_batch])
    if coupling == "assignment":
        x1 = assign_noise(x0, x1, batch.cells, counts)
    elif coupling != "independent":
        raise ValueError(f"coupling must be independent or assignment, not {coupling!r}")
    e0 = torch.nn.functional.one_hot(cls, model.n_classes).to(dtype)
    e1 = torch.randn((n, model.n_classes), generator=gen, dtype=torch.float64).to(dtype).to(device)
    return x0, e0, x1, e1, node_batch, counts


def flow_target(x0, e0, x1, e1, cells, node_batch, counts):
    """The optimal-transport velocity (pbc(X_1 - X_0) with its per-structure mean removed, E_1 - E_0)."""
    ux = min_image(x1 - x0, cells, node_batch)
    b = len(counts)
    mean = torch.zeros((b, 3), dtype=ux.dtype, device=ux.device).index_add(0, node_batch, ux)
    mean = mean / torch.as_tensor(counts, dtype=ux.dtype, device=ux.device)[:, None]
    return ux, ux - mean[node_batch], e1 - e0


def _drop(props: torch.Tensor, p: float, gen: torch.Generator, p_all: float = 0.0) -> torch.Tensor:
    """Each property null with probability ``p``, all of a structure's at once with probability ``p_all``."""
    if not props.shape[1] or (p <= 0 and p_all <= 0):
        return props
    drop = torch.rand(props.shape, generator=gen, dtype=torch.float64) < p
    drop |= torch.rand((props.shape[0], 1), generator=gen, dtype=torch.float64) < p_all
    return torch.where(drop.to(props.device), torch.full_like(props, float("nan")), props)


def make_amshortcut_loss(ghost_density=(0.09, 0.11), property_dropout: float = 0.3, shortcut_fraction: float = 0.25,
                         levels: int = 7, weight_position: float = 1.0, weight_element: float = 0.5,
                         property_dropout_all: float = 0.1, coupling: str = "independent"):
    def sq(a, b):
        return torch.mean((a - b) ** 2)

    def loss_fn(model: AMShortcut, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        dtype, device = batch.positions.dtype, batch.positions.device
        x0, e0, x1, e1, nb, counts = flow_sample(model, batch, gen, ghost_density, coupling)
        b = len(counts)
        cells = batch.cells
        ux_raw, ux, ue = flow_target(x0, e0, x1, e1, cells, nb, counts)
        props = _drop(batch.labels.reshape(b, -1).clone(), property_dropout, gen, property_dropout_all)
        t = torch.rand(b, generator=gen, dtype=torch.float64).to(dtype).to(device)
        xt = wrap_positions(x0 + t[nb][:, None] * ux_raw, cells, nb)
        et = e0 + t[nb][:, None] * (e1 - e0)
        zero = torch.zeros_like(t)
        px, pe = model.velocity(xt, et, cells, nb, counts, t, zero, props)
        loss = weight_position * sq(px, ux) + weight_element * sq(pe, ue)
        sc_draw = float(torch.rand((), generator=gen, dtype=torch.float64))
        if model.uses_step_size and sc_draw < shortcut_fraction:
            k = torch.randint(1, levels + 1, (b,), generator=gen)
            h = (2.0 ** (-k.to(torch.float64))).to(dtype).to(device)
            # half steps of the smallest size use the instantaneous velocity (d = 0)
            h_in = torch.where(k == levels, torch.zeros_like(h), h)
            t = (2 * h + (1 - 2 * h) * torch.rand(b, generator=gen, dtype=torch.float64).to(dtype).to(device))
            xt = wrap_positions(x0 + t[nb][:, None] * ux_raw, cells, nb)
            et = e0 + t[nb][:, None] * (e1 - e0)
            with torch.no_grad():
                u1x, u1e = model.velocity(xt, et, cells, nb, counts, t, h_in, props)
                xm = wrap_positions(xt - h[nb][:, None] * u1x, cells, nb)
                em = et - h[nb][:, None] * u1e
                u2x, u2e = model.velocity(xm, em, cells, nb, counts, t - h, h_in, props)
                tx, te = 0.5 * (u1x + u2x), 0.5 * (u1e + u2e)
            sx, se = model.velocity(xt, et, cells, nb, counts, t, 2 * h, props)
            loss = loss + weight_position * sq(sx, tx) + weight_element * sq(se, te)
        return loss

    return loss_fn


def shortcut_config(frames, params: dict) -> AMShortcutConfig:
    """AMDEN's model config (species, ghosts, property statistics, training cells) plus the method."""
    own = ("method", "shortcut_fraction", "shortcut_levels", "coupling")
    amden_keys = {k: v for k, v in params.items() if k not in own}
    base = model_config(frames, {**amden_keys, "energy": False})
    cfg = AMShortcutConfig.from_dict({**asdict(base), "method": params.get("method", "shortcut")})
    cfg.extra.update({"shortcut_fraction": float(params.get("shortcut_fraction", 0.25)),
                      "shortcut_levels": int(params.get("shortcut_levels", 7)),
                      "coupling": str(params.get("coupling", "independent"))})
    return cfg


def train_amshortcut(frames: list[ase.Atoms], out_model: str | os.PathLike, work_dir: str | os.PathLike, params: dict,
                     device: str = "cpu", progress: bool = True, stop_after: int | None = None) -> dict:
    """Train the material ODE or AMShortcut on ``frames`` (labels in ``info``); write ``out_model``."""
    params = dict(params)
    loss = make_amshortcut_loss(ghost_density_range(params), float(params.get("property_dropout", 0.3)),
                                float(params.get("shortcut_fraction", 0.25)), int(params.get("shortcut_levels", 7)),
                                float(params.get("loss_weight_position", 1.0)),
                                float(params.get("loss_weight_element", 0.5)),
                                float(params.get("property_dropout_all", 0.1)),
                                str(params.get("coupling", "independent")))
    return train_egnn_kind(frames, shortcut_config(frames, params), AMShortcut, "amshortcut", loss, out_model,
                           work_dir, params, default_seed=3001, device=device, progress=progress,
                           stop_after=stop_after)
