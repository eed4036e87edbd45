"""GlassVAE's training objective, the train-on-snapshots entry point and the paper's Table 1 metrics.

Objective (paper eq. 1, on a decoder that sees only the latent; see models/glassvae.py):
L = w_node CE + w_position |dx|^2 + w_edge_distance (d - d')^2 + w_edge_direction (1 - cos) + w_energy (E - E')^2
    + w_volume (log V - log V')^2 + beta_kl KL + w_rdf |g - g'|^2,
every atom-wise term on the decoded slots matched to the true atoms (Hungarian, up to a translation).

Held-out snapshots: the last ``val_fraction`` of each trajectory's run at each temperature (contiguous in time),
not a random subset: neighbouring MD snapshots are correlated, so a random split would leak.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import ase
import numpy as np
import torch

from ..io import write_json
from .data import Batch, Structure, collate
from .graphs import build_graph
from .models.glassvae import GlassVAE, GlassVAEConfig, match_structures, rdf_from_positions
from .train import TrainConfig, save_model, train

__all__ = ["ENERGY_LABELS", "glassvae_loss_terms", "make_glassvae_loss", "split_by_trajectory", "snapshot_items",
           "train_glassvae", "reconstruction_metrics"]

#: label -> where a snapshot keeps it: the instantaneous potential energy (the paper's label) or the
#: energy of its inherent structure (the snapshot minimised at fixed cell)
ENERGY_LABELS = {"energy": "energy", "inherent_energy": "inherent_energy"}


def _energy_per_atom(atoms: ase.Atoms, label: str) -> float:
    if label == "energy":
        if atoms.calc is not None and "energy" in atoms.calc.results:
            e = atoms.calc.results["energy"]
        elif "energy" in atoms.info:
            e = atoms.info["energy"]
        else:
            raise ValueError("snapshot has no potential energy (calculator result 'energy')")
    else:
        if label not in atoms.info:
            raise ValueError(f"snapshot has no {label!r} in its info")
        e = atoms.info[label]
    return float(e) / len(atoms)


def snapshot_items(frames: Sequence[ase.Atoms], species: Sequence[str], energy_label: str) -> list[Structure]:
    index = {s: i for i, s in enumerate(species)}
    items = []
    for k, a in enumerate(frames):
        unknown = sorted(set(a.get_chemical_symbols()) - set(index))
        if unknown:
            raise ValueError(f"snapshot {k} has elements {unknown} outside the model species {list(species)}")
        items.append(Structure(positions=np.asarray(a.positions, float), cell=np.asarray(a.cell[:], float),
                               species=np.array([index[s] for s in a.get_chemical_symbols()], dtype=np.int64),
                               label=_energy_per_atom(a, energy_label), name=str(a.info.get("sample", k))))
    return items


def split_by_trajectory(frames: Sequence[ase.Atoms], val_fraction: float) -> tuple[list[int], list[int]]:
    """Hold out the last ``val_fraction`` of each run of snapshots (frames grouped by trajectory, info
    ``trajectory`` or ``seed``, and ``temperature_K``; time order = ``snapshot`` info or file order)."""
    groups = defaultdict(list)
    for k, a in enumerate(frames):  # one run of snapshots: a trajectory (its seed) at one temperature
        groups[(a.info.get("trajectory", a.info.get("seed")), a.info.get("temperature_K", a.info.get("temperature")))].append(k)
    tr, va = [], []
    for _, idx in sorted(groups.items(), key=lambda kv: str(kv[0])):
        idx = sorted(idx, key=lambda k: (frames[k].info.get("snapshot", k), k))
        n_val = int(round(val_fraction * len(idx))) if len(idx) > 1 else 0
        n_val = min(n_val, len(idx) - 1)
        tr += idx[:len(idx) - n_val]
        va += idx[len(idx) - n_val:]
    return sorted(tr), sorted(va)


def _frac(batch: Batch) -> torch.Tensor:
    inv = torch.linalg.inv(batch.cells)
    return torch.einsum("ni,nij->nj", batch.positions, inv[batch.batch])


def glassvae_loss_terms(model: GlassVAE, batch: Batch, gen: torch.Generator | None, details: bool = False,
                        species_weight: float | None = None) -> dict:
    """Every loss term (tensors) for a batch; ``gen`` None uses posterior means (evaluation).

    ``species_weight`` overrides the matching's species term (0: match on positions only, so the node
    accuracy measures whether the decoder puts the right species at the right place)."""
    c = model.cfg
    n = c.n_atoms
    if any(k != n for k in batch.counts):
        raise ValueError(f"the model decodes {n} atoms; snapshots have {sorted(set(batch.counts))}")
    graph = build_graph(batch.positions, batch.species, batch.cells, batch.batch, c.cutoff, batch.counts)
    enc = model.encode(graph)
    z, kl_dims = model.latent_terms(enc, gen)
    z_energy = z if (gen is None or c.energy_input == "sample") else model.latent(enc, None)[0]
    dec = model.decode(z)
    B = batch.num_graphs
    frac_true = _frac(batch).view(B, n, 3)
    species_true = batch.species.view(B, n)
    logp = torch.log_softmax(dec["logits"], dim=-1)
    # matching (no gradient: a discrete assignment), then the matched, translated target
    fd, lp, ft = dec["frac"].detach().cpu().double().numpy(), logp.detach().cpu().double().numpy(), \
        frac_true.detach().cpu().double().numpy()
    cells_np = batch.cells.detach().cpu().double().numpy()
    st_np = species_true.cpu().numpy()
    perms, shifts = [], []
    for b in range(B):
        p, t = match_structures(fd[b], lp[b], ft[b], st_np[b], cells_np[b],
                                c.match_species_weight if species_weight is None else species_weight,
                                c.match_iterations)
        perms.append(p)
        shifts.append(t)
    perm = torch.as_tensor(np.stack(perms), device=z.device)  # (B, N): slot of true atom
    shift = torch.as_tensor(np.stack(shifts), dtype=z.dtype, device=z.device)
    frac_m = torch.gather(dec["frac"], 1, perm[..., None].expand(-1, -1, 3))  # decoded, in true-atom order
    logp_m = torch.gather(logp, 1, perm[..., None].expand(-1, -1, logp.shape[-1]))
    target = frac_true + shift[:, None, :]
    dfrac = frac_m - target
    dfrac = dfrac - torch.round(dfrac.detach())
    dpos = torch.einsum("bnk,bkl->bnl", dfrac, batch.cells)
    terms = {"position": (dpos ** 2).sum(-1).mean()}
    terms["node"] = torch.nn.functional.nll_loss(logp_m.reshape(-1, logp.shape[-1]), species_true.reshape(-1))
    # edges of the true structure within edge_cutoff, compared with the same (matched) decoded pairs
    i, j = graph.edge_index
    d_true = graph.edge_vec.norm(dim=-1)
    keep = d_true < c.edge_cutoff
    i, j, v_true, d_true = i[keep], j[keep], graph.edge_vec[keep], d_true[keep]
    g_of_edge = batch.batch[i]
    fm = frac_m.reshape(-1, 3)
    inv = torch.linalg.inv(batch.cells)
    ftrue_vec = torch.einsum("ek,ekl->el", v_true, inv[g_of_edge])
    dvec = fm[j] - fm[i]
    dvec = dvec - torch.round(dvec.detach() - ftrue_vec.detach())  # the periodic image nearest the true one
    v_dec = torch.einsum("ek,ekl->el", dvec, batch.cells[g_of_edge])
    d_dec = v_dec.norm(dim=-1)
    terms["edge_distance"] = ((d_dec - d_true) ** 2).mean()
    terms["edge_direction"] = (1 - torch.nn.functional.cosine_similarity(v_dec, v_true, dim=-1)).mean()
    # energy from the latent alone (detached latent: the no-energy-loss ablation only probes it)
    e_stats = c.extra.get("energy_stats", {"mean": 0.0, "std": 1.0})
    e_true = (batch.labels - e_stats["mean"]) / e_stats["std"]
    e_pred = model.energy_std(z_energy if c.energy_loss else z_energy.detach())
    terms["energy"] = ((e_pred - e_true) ** 2).mean()
    v_stats = c.extra.get("logvol_stats", {"mean": 0.0, "std": 1.0})
    logv = torch.log(torch.abs(torch.det(batch.cells)))
    terms["volume"] = ((dec["logvol"] - (logv - v_stats["mean"]) / v_stats["std"]) ** 2).mean()
    terms["kl"] = kl_dims.sum(dim=1).mean()  # nats per structure (reported)
    # penalised KL: free bits per latent dimension (batch mean), weighted by the warm-up's beta
    kl_pen = kl_dims.mean(dim=0)
    if c.free_bits > 0:
        kl_pen = torch.clamp(kl_pen, min=c.free_bits)
    terms["kl_penalised"] = kl_pen.sum()
    if c.rdf_loss or details:
        counts = batch.counts
        pos_dec = torch.einsum("bnk,bkl->bnl", dec["frac"], batch.cells).reshape(-1, 3)
        g_dec = rdf_from_positions(pos_dec, batch.cells, batch.batch, counts, c.rdf_bins, c.rdf_max, c.rdf_sigma)
        with torch.no_grad():
            g_true = rdf_from_positions(batch.positions, batch.cells, batch.batch, counts, c.rdf_bins, c.rdf_max,
                                        c.rdf_sigma)
        terms["rdf"] = ((g_dec - g_true) ** 2).mean()
    weights = {"node": c.w_node, "position": c.w_position, "edge_distance": c.w_edge_distance,
               "edge_direction": c.w_edge_direction, "energy": c.w_energy, "volume": c.w_volume,
               "kl_penalised": model.kl_weight(), "rdf": c.w_rdf if c.rdf_loss else 0.0}
    # the detached energy head still learns in the no-energy-loss ablation (it cannot shape the latent)
    terms["total"] = sum(weights[k] * terms[k] for k in weights if k in terms)
    if details:
        terms.update({"e_pred": e_pred * e_stats["std"] + e_stats["mean"], "e_true": batch.labels,
                      "d_dec": d_dec, "d_true": d_true,
                      "species_pred": logp_m.argmax(-1).reshape(-1), "species_true": species_true.reshape(-1)})
    return terms


def make_glassvae_loss():
    def loss_fn(model, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        if model.training:  # one call per optimiser step: the KL warm-up's clock
            model.train_step += 1
        return glassvae_loss_terms(model, batch, gen if model.training else None)["total"]

    return loss_fn


def _stats(values) -> dict:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(max(v.std(), 1e-6))}


def train_glassvae(frames: Sequence[ase.Atoms], out_model, work_dir, params: dict, device: str = "cpu",
                   progress: bool = True, stop_after: int | None = None) -> dict:
    """Train GlassVAE on MD snapshots (one model: ``out_model`` .pt + .json, history .history.json).

    ``params``: the model's config section: :class:`GlassVAEConfig` fields, ``energy_label``,
    ``val_fraction``, ``seed``, ``training`` (:class:`TrainConfig` fields). ``species`` defaults to the
    elements of the snapshots (sorted) and ``n_atoms`` to their atom count.
    """
    params = dict(params)
    train_params = dict(params.pop("training", {}) or {})
    if "seed" in params:
        train_params.setdefault("seed", int(params.pop("seed")))
    energy_label = params.pop("energy_label", "inherent_energy")
    if energy_label not in ENERGY_LABELS:
        raise ValueError(f"energy_label must be one of {sorted(ENERGY_LABELS)}, got {energy_label!r}")
    val_fraction = float(params.pop("val_fraction", 0.2))
    frames = list(frames)
    if not frames:
        raise ValueError("no training snapshots given")
    sizes = sorted({len(a) for a in frames})
    if len(sizes) != 1:
        raise ValueError(f"GlassVAE decodes a fixed atom count; the snapshots have {sizes} atoms")
    params.setdefault("species", sorted({s for a in frames for s in a.get_chemical_symbols()}))
    params["n_atoms"] = sizes[0]
    cfg = GlassVAEConfig.from_dict(params)
    tcfg = TrainConfig.from_dict(train_params)
    items = snapshot_items(frames, cfg.species, energy_label)
    tr, va = split_by_trajectory(frames, val_fraction)
    cells = np.stack([items[k].cell for k in tr])
    logv = np.log(np.abs(np.linalg.det(cells)))
    ref = np.mean(cells, axis=0)
    counts = np.bincount(np.concatenate([items[k].species for k in tr]), minlength=len(cfg.species))
    cfg.extra = {
        "energy_label": energy_label,
        "energy_stats": _stats([items[k].label for k in tr]),
        "energy_range": [float(min(items[k].label for k in tr)), float(max(items[k].label for k in tr))],
        "energy_quantiles": np.quantile([items[k].label for k in tr], np.linspace(0, 1, 21)).tolist(),
        "logvol_stats": _stats(logv),
        "reference_cell": ref.tolist(),
        "composition_fraction": {s: float(x) for s, x in zip(cfg.species, counts / counts.sum())},
        "train_samples": [items[k].name for k in tr], "val_samples": [items[k].name for k in va],
        "val_fraction": val_fraction, "train_config": train_params,
    }
    torch.manual_seed(tcfg.seed)
    model = GlassVAE(cfg)
    history = train(model, "glassvae", make_glassvae_loss(), [items[k] for k in tr], [items[k] for k in va], tcfg,
                    work_dir, device=device, progress=progress, stop_after=stop_after)
    if history["step"] and history["step"][-1] >= tcfg.steps:
        model.eval()
        _calibrate(model, [items[k] for k in tr], device)
        model.cfg.extra["posterior_bank"] = _posterior_bank(model, [items[k] for k in tr], tcfg, device)
        save_model(out_model, model, "glassvae")
        write_json(Path(out_model).with_suffix(".history.json"), history)
    return history


@torch.no_grad()
def _calibrate(model: GlassVAE, items, device) -> None:
    """BN-VAE's statistics from the whole training set under the final weights (no-op without it)."""
    if model.cfg.latent_batchnorm <= 0:
        return
    dtype = next(model.parameters()).dtype
    raw = []
    for s in range(0, len(items), 32):
        batch = collate(items[s:s + 32], dtype, device)
        graph = build_graph(batch.positions, batch.species, batch.cells, batch.batch, model.cutoff, batch.counts)
        raw.append(model.encode(graph)["mu_raw"])
    model.calibrate_latent_norm(torch.cat(raw))


@torch.no_grad()
def _posterior_bank(model: GlassVAE, items, tcfg, device, max_items: int = 256) -> list:
    """Posterior means of (up to ``max_items``) training snapshots: starting points of conditional generation."""
    rng = np.random.default_rng(tcfg.seed)
    pick = sorted(rng.choice(len(items), size=min(max_items, len(items)), replace=False).tolist())
    dtype = next(model.parameters()).dtype
    out = []
    for s in range(0, len(pick), 32):
        batch = collate([items[k] for k in pick[s:s + 32]], dtype, device)
        graph = build_graph(batch.positions, batch.species, batch.cells, batch.batch, model.cutoff, batch.counts)
        z = model.embed_structures(graph)
        e = model.predict_energy(z)
        out += [{"z": zz.tolist(), "energy_pred": float(ee), "energy": float(lab)}
                for zz, ee, lab in zip(z.cpu(), e.cpu(), batch.labels.cpu())]
    return out


def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    ss = float(((true - true.mean()) ** 2).sum())
    return float(1 - ((pred - true) ** 2).sum() / ss) if ss > 0 else float("nan")


@torch.no_grad()
def reconstruction_metrics(model: GlassVAE, frames: Sequence[ase.Atoms], batch_size: int = 16) -> dict:
    """The paper's Table 1 on ``frames`` (posterior means): energy RMSE/R^2, paired-distance RMSE/R^2, node
    accuracy and cross-entropy, plus the RDF distance of decoded vs true and the matched position RMSE.

    Decoded slots are matched to atoms on positions alone here (no species term), so a slot's species
    counts as right only if the decoder put that species where the atom is."""
    model.eval()
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    label = model.cfg.extra.get("energy_label", "inherent_energy")
    items = snapshot_items(frames, model.cfg.species, label)
    acc = defaultdict(list)
    for s in range(0, len(items), batch_size):
        batch = collate(items[s:s + batch_size], dtype, device)
        t = glassvae_loss_terms(model, batch, None, details=True, species_weight=0.0)
        for k in ("e_pred", "e_true", "d_dec", "d_true", "species_pred", "species_true"):
            acc[k].append(t[k].cpu().double().numpy())
        for k in ("node", "position", "rdf"):
            acc[k].append(float(t[k]) * batch.num_graphs)
    cat = {k: np.concatenate(acc[k]) for k in ("e_pred", "e_true", "d_dec", "d_true", "species_pred", "species_true")}
    n_atoms = model.cfg.n_atoms
    e_rmse = float(np.sqrt(np.mean((cat["e_pred"] - cat["e_true"]) ** 2)))
    return {
        "n_snapshots": len(items), "energy_label": label,
        "energy_rmse_eV_per_atom": e_rmse, "energy_rmse_eV_per_cell": e_rmse * n_atoms,
        "energy_r2": _r2(cat["e_pred"], cat["e_true"]),
        "distance_rmse_A": float(np.sqrt(np.mean((cat["d_dec"] - cat["d_true"]) ** 2))),
        "distance_r2": _r2(cat["d_dec"], cat["d_true"]),
        "node_accuracy": float(np.mean(cat["species_pred"] == cat["species_true"])),
        "node_cross_entropy": sum(acc["node"]) / len(items),
        "position_rmse_A": math.sqrt(sum(acc["position"]) / len(items)),
        "rdf_mse": sum(acc["rdf"]) / len(items),
    }
