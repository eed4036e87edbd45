"""Per-sample structure metrics -> ``structure.csv`` and the cross-source ``benchmark.csv``.

``structure-metrics`` writes one JSON per sample (identity, scalar metrics, binned distributions,
timings) and a ``.npy`` of QUESTS descriptors. Here they are gathered:

* :func:`structure_table`: one row per source and sample with every scalar metric.
* :func:`benchmark_table`: one row per source with each metric's distance to the matching simulated
  reference, and the *noise floor*: the same distance between two disjoint halves of that reference.

Matching: a sample is compared with the simulated glasses of the same composition and cooling rate;
if there are none, of the same composition at any rate; if none either, with every simulated glass.
A source's distance is the sample-weighted mean over its (composition, cooling rate) groups.

Distances (columns):

* ``rdf_rmsd``/``adf_rmsd``: RMSD of the mean total RDF (5 A, 100 bins) and all-neighbour ADF
  (3 A, 1 degree bins), as in AMShortcut appendix B.5; ``rdf_rmsd_<A>_<B>`` per partial RDF and
  ``angle_rmsd_<A>_<B>_<C>`` per bond-angle triplet.
* ``ring_tvd``, ``voronoi_tvd_<el>``: total variation distance (0..1) of the ring-size fractions and of
  the Voronoi-index fractions.
* ``d_<scalar>``: absolute difference of the means of a scalar metric (density, energy, entropy, ...).
* ``quests_nonoverlap``: 1 - QUESTS overlap (fraction of the source's environments not covered by
  the reference).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..samples import target_columns
from .structure import DEFAULT_SETTINGS, distribution_rmsd, quests_overlap

__all__ = ["ID_COLUMNS", "load_records", "structure_table", "reference_groups", "set_distances",
           "benchmark_table", "split_halves"]

ID_COLUMNS = ["source", "model", "composition", "cooling_rate", "seed", "sample"]
SIMULATED = "simulated"
_SAMPLE = re.compile(r"^(?P<composition>.+)_(?P<rate>[0-9.e+-]+)Kps_s(?P<seed>[0-9]+)$")


def sample_identity(atoms_info: dict, source: str | None, sample: str | None, structure: str = "") -> dict:
    """Identity of a sample from the extxyz info, the rule's wildcards winning where given."""
    ident = {
        "source": source or atoms_info.get("source") or SIMULATED,
        "model": atoms_info.get("model") or ("md" if (source or SIMULATED) == SIMULATED else source),
        "composition": atoms_info.get("composition"),
        "cooling_rate": atoms_info.get("cooling_rate"),
        "seed": atoms_info.get("seed"),
        "sample": sample or "",
        "structure": str(structure),
        **target_columns(atoms_info),  # target conditions of a generated structure (target_<name>)
    }
    m = _SAMPLE.match(ident["sample"])
    if m:
        ident["composition"] = ident["composition"] or m["composition"]
        ident["cooling_rate"] = ident["cooling_rate"] if ident["cooling_rate"] is not None else float(m["rate"])
        ident["seed"] = ident["seed"] if ident["seed"] is not None else int(m["seed"])
    if ident["cooling_rate"] is not None:
        ident["cooling_rate"] = float(ident["cooling_rate"])
    return ident


def load_records(json_files) -> list[dict]:
    """Read per-sample metric JSONs; each record gets its descriptors path resolved next to the JSON."""
    records = []
    for f in json_files:
        rec = io.read_json(f)
        rec["json"] = str(f)
        desc = rec.get("descriptors_file")
        if desc and not Path(desc).is_absolute():
            rec["descriptors_file"] = str(Path(f).parent / desc)
        records.append(rec)
    if not records:
        raise ValueError("no per-sample structure metric files given")
    return records


def structure_table(records) -> pd.DataFrame:
    """One row per source and sample: identity columns then every scalar metric."""
    targets = sorted({k for r in records for k in r["id"] if k.startswith("target_")})
    rows = [{**{k: r["id"].get(k) for k in ID_COLUMNS + targets}, **r["scalars"]} for r in records]
    table = pd.DataFrame(rows)
    first = ID_COLUMNS + targets + [c for c in ("n_atoms", "formula") if c in table.columns]
    table = table.reindex(columns=first + sorted(c for c in table.columns if c not in first))
    return table.sort_values(["source", "composition", "cooling_rate", "seed"], ignore_index=True,
                             na_position="last")


def split_halves(records) -> tuple[list, list]:
    """Two disjoint halves of a set (alternating after sorting by seed, then sample id)."""
    ordered = sorted(records, key=lambda r: (r["id"].get("seed") or 0, r["id"].get("sample", "")))
    return ordered[0::2], ordered[1::2]


def reference_groups(records) -> dict[tuple, tuple[list, list]]:
    """For every non-simulated (source, composition, rate) group: (its records, the matching simulated)."""
    sims = [r for r in records if r["id"]["source"] == SIMULATED]
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        if r["id"]["source"] != SIMULATED:
            groups[(r["id"]["source"], r["id"]["composition"], r["id"]["cooling_rate"])].append(r)
    out = {}
    for (source, comp, rate), members in groups.items():
        ref = [s for s in sims if s["id"]["composition"] == comp and s["id"]["cooling_rate"] == rate]
        ref = ref or [s for s in sims if s["id"]["composition"] == comp] or sims
        out[(source, comp, rate)] = (members, ref)
    return out


def _mean_curve(records, family: str, key: str):
    curves = [r["distributions"].get(family, {}).get(key) for r in records]
    curves = [np.asarray(c, float) for c in curves if c is not None]
    return np.mean(curves, axis=0) if curves else None


def _mean_fractions(records, getter) -> dict[str, float]:
    """Mean over records of normalised histograms given as {label: count}."""
    acc: dict[str, float] = defaultdict(float)
    n = 0
    for r in records:
        hist = getter(r)
        if not hist:
            continue
        total = float(sum(hist.values()))
        if total <= 0:
            continue
        n += 1
        for k, v in hist.items():
            acc[str(k)] += float(v) / total
    return {k: v / n for k, v in acc.items()} if n else {}


def _tvd(p: dict, q: dict) -> float:
    if not p or not q:
        return float("nan")
    keys = set(p) | set(q)
    return 0.5 * float(sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys))


def _descriptors(records, max_environments: int, seed: int) -> np.ndarray | None:
    arrays = [np.load(r["descriptors_file"]) for r in records if r.get("descriptors_file")]
    if not arrays:
        return None
    x = np.concatenate(arrays)
    if max_environments and len(x) > max_environments:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), size=int(max_environments), replace=False))]
    return x


def set_distances(test, reference, settings: dict | None = None) -> dict[str, float]:
    """Every distance between two sets of per-sample records (see the module docstring for columns)."""
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    out: dict[str, float] = {}
    for family, key, col in (("total_rdf", "g", "rdf_rmsd"), ("total_adf", "p", "adf_rmsd")):
        a, b = _mean_curve(test, family, key), _mean_curve(reference, family, key)
        if a is not None and b is not None:
            out[col] = distribution_rmsd(a, b)
    for family, prefix, axis in (("rdf", "rdf_rmsd_", "r"), ("adf", "angle_rmsd_", "theta")):
        keys = set()
        for r in test + reference:
            keys |= set(r["distributions"].get(family, {})) - {axis}
        for key in sorted(keys):
            a, b = _mean_curve(test, family, key), _mean_curve(reference, family, key)
            if a is not None and b is not None:
                out[prefix + key.replace("-", "_")] = distribution_rmsd(a, b)
    if any("rings" in r["distributions"] for r in test + reference):
        get = lambda r: r["distributions"].get("rings")  # noqa: E731
        out["ring_tvd"] = _tvd(_mean_fractions(test, get), _mean_fractions(reference, get))
    elements = set()
    for r in test + reference:
        elements |= set(r["distributions"].get("voronoi", {}))
    for el in sorted(elements):
        get = lambda r, el=el: r["distributions"].get("voronoi", {}).get(el)  # noqa: E731
        out[f"voronoi_tvd_{el}"] = _tvd(_mean_fractions(test, get), _mean_fractions(reference, get))
    scalar_keys = set()
    for r in test + reference:
        scalar_keys |= {k for k, v in r["scalars"].items() if isinstance(v, (int, float)) and k != "n_atoms"}
    for key in sorted(scalar_keys):
        a = [r["scalars"].get(key) for r in test if isinstance(r["scalars"].get(key), (int, float))]
        b = [r["scalars"].get(key) for r in reference if isinstance(r["scalars"].get(key), (int, float))]
        out[f"d_{key}"] = float(abs(np.nanmean(a) - np.nanmean(b))) if a and b else float("nan")
    xt = _descriptors(test, s["quests_max_environments"], s["seed"])
    xr = _descriptors(reference, s["quests_max_environments"], s["seed"] + 1)
    if xt is not None and xr is not None:
        out["quests_nonoverlap"] = 1.0 - quests_overlap(xt, xr, bandwidth=s["quests_bandwidth"])
    return out


def _weighted(rows: list[tuple[int, dict]]) -> dict[str, float]:
    keys = sorted({k for _, d in rows for k in d})
    out = {}
    for k in keys:
        vals = [(w, d[k]) for w, d in rows if k in d and np.isfinite(d[k])]
        out[k] = float(sum(w * v for w, v in vals) / sum(w for w, _ in vals)) if vals else float("nan")
    return out


def _noise_floor(reference, settings) -> dict[str, float]:
    a, b = split_halves(reference)
    if not a or not b:
        return {}
    return set_distances(a, b, settings)


def benchmark_table(records, settings: dict | None = None) -> pd.DataFrame:
    """One row per source: distances to the matching simulated reference and their noise floor.

    The ``simulated`` row holds the distance between the two halves of each composition and cooling
    rate group of the simulated set (its own noise floor). Noise floor columns end in ``_noise``;
    ``NaN`` where a reference has fewer than two samples.
    """
    rows = []
    sims = [r for r in records if r["id"]["source"] == SIMULATED]
    sim_groups: dict[tuple, list] = defaultdict(list)
    for r in sims:
        sim_groups[(r["id"]["composition"], r["id"]["cooling_rate"])].append(r)
    if sims:
        noise = _weighted([(len(g), _noise_floor(g, settings)) for g in sim_groups.values()])
        rows.append({"source": SIMULATED, "n_samples": len(sims), "n_reference": len(sims),
                     **noise, **{f"{k}_noise": v for k, v in noise.items()}})
    by_source: dict[str, list] = defaultdict(list)
    for (source, _, _), (members, ref) in reference_groups(records).items():
        by_source[source].append((members, ref))
    for source, groups in sorted(by_source.items()):
        if not sims:
            raise ValueError(f"benchmark of {source!r} needs simulated reference glasses; none were given")
        dist = _weighted([(len(m), set_distances(m, ref, settings)) for m, ref in groups])
        noise = _weighted([(len(m), _noise_floor(ref, settings)) for m, ref in groups])
        rows.append({"source": source, "n_samples": sum(len(m) for m, _ in groups),
                     "n_reference": len({id(r) for _, ref in groups for r in ref}),
                     **dist, **{f"{k}_noise": v for k, v in noise.items()}})
    table = pd.DataFrame(rows)
    metric_cols = sorted(c for c in table.columns if c not in ("source", "n_samples", "n_reference")
                         and not c.endswith("_noise"))
    ordered = ["source", "n_samples", "n_reference"]
    for c in metric_cols:
        ordered += [c, f"{c}_noise"]
    return table.reindex(columns=ordered)
