"""Training and scoring of the ln(D2min) GNN surrogate (:mod:`amorphous_ml.learn.models.gnn`).

Inputs are the AQS-labelled inherent structures (``results/{system}/aqs/{sample}.extxyz``, arrays
``ln_d2min_<strain>``). The split is by glass and named in the config (``split``): ``train`` and
``validation`` glasses drive training (generic resumable loop of :mod:`amorphous_ml.learn.train`), ``test``,
``heldout_rate`` (another cooling rate) and ``heldout_composition`` are only scored. Targets are z-scored
with the training atoms' mean and standard deviation per strain (stored in the model config); atoms
without a label (NaN: invalid in some AQS mode) are left out of loss and scores.
"""

from __future__ import annotations

from typing import Sequence

import ase
import numpy as np
import pandas as pd
import torch

from .. import io
from .data import Structure
from .models.gnn import AttentionGNN, GNNConfig

__all__ = ["SPLITS", "label_matrix", "validation_slab_mask", "train_gnn", "score_gnn", "write_scores", "write_csv", "sample_of"]

SPLITS = ("train", "validation", "test", "heldout_rate", "heldout_composition")
ARCH_KEYS = ("n_neighbors", "cutoff", "rbf_max", "rbf_step", "hidden", "edge_hidden", "heads", "n_layers",
             "dropout", "readout_hidden")


def label_matrix(atoms: ase.Atoms, strains: Sequence[float]) -> np.ndarray:
    """(N, n_strains) mode-averaged ln(D2min) of a labelled structure (NaN where unlabelled)."""
    from ..validate.aqs import label_name

    cols = []
    for s in strains:
        key = label_name(float(s))
        if key not in atoms.arrays:
            have = sorted(k for k in atoms.arrays if k.startswith("ln_d2min_"))
            raise ValueError(f"{atoms.info.get('name', 'structure')}: no {key} array (AQS label strains: {have}); "
                             "the GNN's strains must be among the system's aqs.label_strains")
        cols.append(np.asarray(atoms.arrays[key], dtype=np.float64))
    return np.stack(cols, axis=1)


def sample_of(atoms: ase.Atoms) -> str:
    return str(atoms.info.get("name", ""))


def _by_split(frames: Sequence[ase.Atoms], split: dict) -> dict[str, list[ase.Atoms]]:
    names = {sample_of(a): a for a in frames}
    out = {}
    for part in SPLITS:
        missing = [s for s in split.get(part) or [] if s not in names]
        if missing:
            raise ValueError(f"split.{part}: no labelled structure for {', '.join(missing)} "
                             f"(have {', '.join(sorted(names))})")
        out[part] = [names[s] for s in split.get(part) or []]
    return out


def validation_slab_mask(atoms: ase.Atoms, fraction: float) -> np.ndarray:
    """Atoms whose fractional z lies in [0, fraction): the slab a training glass holds out for validation.

    Spatial, not random: ln(D2min) is correlated over neighbouring atoms, so randomly held-out atoms would sit
    next to training atoms and hide overfitting; a slab has only its two faces next to the training atoms."""
    frac = atoms.cell.scaled_positions(atoms.positions)[:, 2] % 1.0
    return frac < fraction


def train_gnn(frames: Sequence[ase.Atoms], out_model, work_dir, params: dict, species: Sequence[str],
              device: str = "cpu", progress: bool = True, stop_after: int | None = None) -> dict:
    """Train on ``split.train`` (validation loss on ``split.validation``, or with ``validation_slab`` > 0 on a
    slab of each training glass that training never sees); writes ``out_model`` (.pt + .json)."""
    from .train import TrainConfig, save_model, train

    strains = [float(s) for s in params["strains"]]
    parts = _by_split(frames, params["split"])
    if not parts["train"]:
        raise ValueError("split.train: no training glasses")
    targets = {id(a): label_matrix(a, strains) for p in parts.values() for a in p}
    slab = float(params.get("validation_slab", 0.0) or 0.0)
    if slab > 0 and parts["validation"]:
        raise ValueError("validation_slab: split.validation already holds out glasses (use one or the other)")
    held = {id(a): validation_slab_mask(a, slab) if slab > 0 else np.zeros(len(a), bool) for a in parts["train"]}
    for a in parts["train"]:
        if slab > 0 and (held[id(a)].all() or not held[id(a)].any()):
            raise ValueError(f"validation_slab: {slab:g} of {sample_of(a)} holds {int(held[id(a)].sum())} of "
                             f"{len(a)} atoms; it must leave atoms on both sides")
    # z-score statistics from the labels training sees (not the held-out slab's)
    y = np.concatenate([targets[id(a)][~held[id(a)]] for a in parts["train"]])
    mean = np.nanmean(y, axis=0)
    std = np.nanstd(y, axis=0)
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError("training labels have zero or undefined spread at some strain")
    cfg = GNNConfig(species=list(species), strains=strains, target_mean=mean.tolist(), target_std=std.tolist(),
                    **{k: params[k] for k in ARCH_KEYS if k in params})
    torch.manual_seed(int(params.get("seed", 0)))
    model = AttentionGNN(cfg)
    graphs = []  # per structure: (edges, distances, z-scored targets); the training loop looks them up by label
    items = {"train": [], "validation": []}

    def add(part, a, z, graph):
        edges, dist = graph
        items[part].append(Structure(positions=np.asarray(a.positions, float), cell=np.asarray(a.cell[:], float),
                                     species=model.species_index(a.get_chemical_symbols()),
                                     label=float(len(graphs)), name=sample_of(a)))
        graphs.append((torch.as_tensor(edges), torch.as_tensor(dist), torch.as_tensor(z)))

    for part in ("train", "validation"):
        for a in parts[part]:
            z = (targets[id(a)] - mean) / std
            graph = model.graph(a.positions, a.cell[:])
            if part == "train" and slab > 0:
                # a slab across z of each training glass is its validation set: the loss ignores NaN targets, so
                # the training copy has the slab's labels masked and the validation copy everything else's (one
                # graph for both)
                inside = held[id(a)]
                add("train", a, np.where(inside[:, None], np.nan, z), graph)
                add("validation", a, np.where(inside[:, None], z, np.nan), graph)
            else:
                add(part, a, z, graph)

    def loss_fn(m, batch, gen):
        losses, offset = [], 0
        for b, n in enumerate(batch.counts):
            edges, dist, z = graphs[int(batch.labels[b])]
            pred = m(batch.species[offset:offset + n], edges.to(batch.species.device), dist.to(batch.positions))
            z = z.to(pred)
            ok = torch.isfinite(z)
            losses.append(((pred - torch.nan_to_num(z)) ** 2)[ok].mean())
            offset += n
        return torch.stack(losses).mean()

    train_params = dict(params.get("training", {}))
    train_params.setdefault("seed", int(params.get("seed", 0)))
    tcfg = TrainConfig.from_dict(train_params)
    tcfg.val_repeats = 1
    history = train(model, "gnn", loss_fn, items["train"], items["validation"], tcfg, work_dir, device=device,
                    progress=progress, stop_after=stop_after)
    if stop_after is None or history["step"][-1] >= tcfg.steps:
        save_model(out_model, model.to(torch.float32), "gnn")
    return history


def score_gnn(model: AttentionGNN, frames: Sequence[ase.Atoms], split: dict) -> pd.DataFrame:
    """Pearson correlation between predicted and true ln(D2min) per split part and strain (atoms of a
    part's glasses pooled), with the per-glass mean and spread; rows only for parts with glasses."""
    from scipy.stats import pearsonr

    parts = _by_split(frames, split)
    rows = []
    for part, glasses in parts.items():
        if not glasses:
            continue
        preds, trues = [], []
        for a in glasses:
            preds.append(model.predict(model.species_index(a.get_chemical_symbols()), a.positions, a.cell[:]))
            trues.append(label_matrix(a, model.cfg.strains))
        p, t = np.concatenate(preds), np.concatenate(trues)
        for k, s in enumerate(model.cfg.strains):
            ok = np.isfinite(t[:, k])
            per_glass = [pearsonr(pp[np.isfinite(tt[:, k]), k], tt[np.isfinite(tt[:, k]), k])[0]
                         for pp, tt in zip(preds, trues)]
            rows.append({"set": part, "strain": s, "pearson": float(pearsonr(p[ok, k], t[ok, k])[0]),
                         "pearson_per_glass_mean": float(np.mean(per_glass)),
                         "pearson_per_glass_std": float(np.std(per_glass)),
                         "rmse": float(np.sqrt(np.mean((p[ok, k] - t[ok, k]) ** 2))),
                         "true_std": float(np.std(t[ok, k])), "n_glasses": len(glasses), "n_atoms": int(ok.sum()),
                         "glasses": " ".join(sample_of(a) for a in glasses)})
    return pd.DataFrame(rows)


def write_scores(model_path, label_files: Sequence, split: dict, out_csv, plot=None) -> pd.DataFrame:
    """:func:`score_gnn` on the labelled files -> CSV with provenance header (and a Pearson-vs-strain plot)."""
    from ..provenance import provenance
    from .data import load_glasses
    from .train import load_model

    model = load_model(model_path)
    table = score_gnn(model, load_glasses(label_files), split)
    meta = provenance(seed=None, params={"split": split, "model": str(model_path), "strains": model.cfg.strains})
    write_csv(out_csv, table, meta)
    if plot:
        _plot_scores(table, plot)
    return table


def write_csv(path, table: pd.DataFrame, meta: dict) -> None:
    """CSV with one ``# provenance: {json}`` header line (``pandas.read_csv(..., comment="#")`` reads it)."""
    import json

    with io.atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(f"# provenance: {json.dumps(meta, sort_keys=True, default=str)}\n")
            table.to_csv(fh, index=False)


def _plot_scores(table: pd.DataFrame, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for part, sub in table.groupby("set", sort=False):
        ax.plot(sub["strain"] * 100, sub["pearson"], "o-", label=part)
    ax.set_xlabel("strain (%)")
    ax.set_ylabel("Pearson r, predicted vs AQS ln(D2min)")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
