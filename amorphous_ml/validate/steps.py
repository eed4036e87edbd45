"""Quality against the number of sampling steps (AMShortcut Table 1) -> ``steps_vs_quality.csv`` + plot.

Every model section with ``sampling_steps`` asks for each of its structures once per step count (the
request condition ``steps``, sample-id tag ``Steps``; :mod:`amorphous_ml.registry`). Their refined
structures get the same per-sample metrics as every other sample (``structure-metrics``); here they are
grouped by (model, steps) and compared with the model's reference set (its ``reference``, e.g. the
training set). The generated structures are scored after minimisation only (stage ``raw``,
``results/{system}/structure_raw/``), so the table measures the generator, not the model's refinement MD:

* ``rdf_rmsd`` / ``adf_rmsd``: RMSD of the mean total RDF / ADF against the reference (appendix B.5,
  :func:`amorphous_ml.validate.compare.set_distances`);
* ``energy_per_atom_min``: mean energy per atom after minimisation of the generated structures, and
  ``d_energy_per_atom_min``: its distance to the reference mean;
* ``seconds_per_1000``: the sampler's wall time per 1000 structures (``sampler_seconds_per_structure``
  recorded by the sampler in the generated structure, model loading excluded for amshortcut);
* ``*_noise``: the simulated noise floor of each metric at the row's sample count ``n``: the same distance
  between ``n`` reference structures and the rest of the reference set, averaged over disjoint subsets
  (two halves, :func:`amorphous_ml.validate.compare.split_halves`, when ``n`` is half the set or more).
  A mean curve of few structures is noisier than one of many, so this is what a generator drawing
  exactly from the reference distribution would score; a model is "inside the noise floor" where its
  distance is at most that.
"""

from __future__ import annotations

import json
from pathlib import Path
from collections import defaultdict

import numpy as np
import pandas as pd

from .. import io
from ..provenance import code_version
from ..samples import parse_sample
from .compare import load_records, set_distances, split_halves

__all__ = ["steps_vs_quality", "plot_steps_vs_quality", "COLUMNS"]

COLUMNS = ["method", "kind", "steps", "n_samples", "reference", "n_reference", "rdf_rmsd", "rdf_rmsd_noise",
           "adf_rmsd", "adf_rmsd_noise", "energy_per_atom_min", "d_energy_per_atom_min",
           "d_energy_per_atom_min_noise", "seconds_per_1000", "code_version"]


#: at most this many disjoint subsets are averaged for one noise floor
NOISE_SUBSETS = 6


def _noise_floor(reference, n: int) -> dict[str, float]:
    """The distances a perfect generator's ``n`` structures would show: ``n`` reference records against the
    other ones, averaged over up to :data:`NOISE_SUBSETS` disjoint subsets (two halves when ``n`` is at least
    half the set; empty with fewer than two records)."""
    a, b = split_halves(reference)
    ordered = [r for pair in zip(a, b) for r in pair] + a[len(b):]  # by seed, as split_halves orders them
    m = len(ordered)
    if m < 2:
        return {}
    if 2 * n >= m:
        return set_distances(a, b)
    acc: dict[str, list[float]] = defaultdict(list)
    for k in range(min(NOISE_SUBSETS, m // n)):
        subset = ordered[k * n:(k + 1) * n]
        rest = ordered[:k * n] + ordered[(k + 1) * n:]
        for key, value in set_distances(subset, rest).items():
            acc[key].append(value)
    return {key: float(np.mean(v)) for key, v in acc.items()}


def _steps_of(sample: str) -> int | None:
    _, tokens, _ = parse_sample(sample)
    for tag, value in tokens:
        if tag == "Steps":
            return int(value)
    return None


def steps_vs_quality(records, generated: dict[str, dict], models: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, steps).

    ``records``: per-sample metric records (generated samples and reference frames); ``generated``:
    ``"<model>/<sample>"`` -> info of the generated structure (for its sampler time); ``models``:
    model name -> {"kind", "reference"}.
    """
    groups: dict[tuple[str, int], list] = defaultdict(list)
    by_source: dict[str, list] = defaultdict(list)  # reference sets (dataset frames, simulated glasses)
    for r in records:
        source = r["id"]["source"]
        if source in models:
            if r["id"].get("stage") == "raw":  # generated structures minimised only: the generator's quality
                steps = _steps_of(r["id"]["sample"])
                if steps is not None:
                    groups[(source, steps)].append(r)
        else:
            by_source[source].append(r)
    rows = []
    for (name, steps), members in sorted(groups.items()):
        ref_name = models[name]["reference"]
        ref = by_source.get(ref_name, [])
        if not ref:
            raise ValueError(f"steps_vs_quality: model {name!r} needs its reference set {ref_name!r}; none given")
        dist = set_distances(members, ref)
        noise = _noise_floor(ref, len(members))
        energies = [m["scalars"].get("energy_per_atom_min") for m in members]
        energies = [e for e in energies if isinstance(e, (int, float))]
        times = [generated.get(f"{name}/{m['id']['sample']}", {}).get("sampler_seconds_per_structure") for m in members]
        times = [t for t in times if isinstance(t, (int, float))]
        rows.append({
            "method": name, "kind": models[name]["kind"], "steps": steps, "n_samples": len(members),
            "reference": ref_name, "n_reference": len(ref),
            "rdf_rmsd": dist.get("rdf_rmsd", np.nan), "rdf_rmsd_noise": noise.get("rdf_rmsd", np.nan),
            "adf_rmsd": dist.get("adf_rmsd", np.nan), "adf_rmsd_noise": noise.get("adf_rmsd", np.nan),
            "energy_per_atom_min": float(np.mean(energies)) if energies else np.nan,
            "d_energy_per_atom_min": dist.get("d_energy_per_atom_min", np.nan),
            "d_energy_per_atom_min_noise": noise.get("d_energy_per_atom_min", np.nan),
            "seconds_per_1000": 1000.0 * float(np.mean(times)) if times else np.nan,
            "code_version": code_version(),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def plot_steps_vs_quality(table: pd.DataFrame, out) -> None:
    """RDF RMSD, ADF RMSD and minimised energy against steps (log x), noise floors dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (("rdf_rmsd", "rdf_rmsd_noise", "RDF RMSD"), ("adf_rmsd", "adf_rmsd_noise", "ADF RMSD"),
              ("d_energy_per_atom_min", "d_energy_per_atom_min_noise", "|E_min - E_min(ref)| (eV/atom)"))
    for ax, (col, noise, label) in zip(axes, panels):
        for method, g in table.groupby("method", sort=True):
            g = g.sort_values("steps")
            ax.plot(g["steps"], g[col], "o-", label=method)
        if len(table) and np.isfinite(table[noise]).any():
            ax.axhline(float(np.nanmean(table[noise])), color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.suptitle("Quality vs sampling steps (dotted: noise floor of the reference set)")
    fig.tight_layout()
    _save(fig, out)


def _cmd(args) -> int:
    from ..cli import UserError

    models = json.loads(args.models_json)
    generated = {}
    for f in args.generated or []:
        atoms = io.read_structure(f)
        p = Path(f)
        generated[f"{p.parent.name}/{p.stem}"] = dict(atoms.info)
    try:
        table = steps_vs_quality(load_records(args.inputs), generated, models)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    io.write_table(args.out, table)
    if args.plot:
        plot_steps_vs_quality(table, args.plot)
    print(f"{args.out}: {len(table)} (method, steps) rows")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "steps-vs-quality", help="RDF/ADF RMSD, minimised energy and wall time per number of sampling steps",
        description="One row per model and number of sampling steps (sample ids with a Steps token): RDF and ADF "
                    "RMSD of the generated structures minimised only (stage raw) against the set the model trained "
                    "on, mean energy after minimisation, sampler wall time per 1000 structures, and the noise floor "
                    "of each metric at the row's sample count (that many reference structures against the rest).")
    p.add_argument("inputs", nargs="+", help="JSONs from `amorphous-ml structure-metrics` (samples and references)")
    p.add_argument("--generated", nargs="*", default=[],
                   help="generated extxyz files (results/<system>/generated/<model>/<sample>.extxyz) for timings")
    p.add_argument("--models-json", required=True, help='model -> {"kind": ..., "reference": ...}')
    p.add_argument("--out", required=True, help="steps_vs_quality.csv")
    p.add_argument("--plot", default=None, help="PNG figure")
    p.set_defaults(func=_cmd)
