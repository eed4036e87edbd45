"""Per-sample structure metrics -> ``structure.csv`` and the cross-source ``benchmark.csv``.

``structure-metrics`` writes one JSON per sample (identity, scalar metrics, binned distributions,
timings) and a ``.npy`` of QUESTS descriptors. Here they are gathered:

* :func:`structure_table`: one row per source, stage and sample with every scalar metric.
* :func:`benchmark_table`: a long table, one row per (source, stage, composition, target cooling rate,
  metric), with a significance test that cannot flatter a generator (below).

**Permutation test** (rows with ``test == "permutation"``). A generated set of m samples at a target
rate is compared with the n simulated glasses of the *same* composition and rate. The pooled m + n
samples are split again and again into groups of m and n (every split when there are at most
``permutations`` of them, else that many random splits seeded by ``seed``); the distance of each split
is the null distribution of "two sets drawn from one distribution, of exactly these sizes". Reported:
the observed ``distance``, the null ``noise_median`` and ``noise_p95``, the ``p_value`` (fraction of
splits at least as far apart as the observed one, the observed split included), ``n_splits`` and
``p_min`` (the smallest p-value these sizes can give). ``verdict``: ``inside`` the noise when
p > ``alpha``, ``outside`` otherwise, ``untestable`` when even p_min > ``alpha`` (too few samples).
The ``simulated`` rows (``test == "halves"``) test two halves of each simulated group against each
other: a calibration check, they should be ``inside``.

**Trend check** (``test == "trend"``). A target rate with no simulated glasses is never pooled with
other rates. Instead ``density_gcc`` and ``energy_per_atom_min`` (``trend_metrics``) are fitted
against log10(rate) over the simulated samples of that composition (least squares), extrapolated (or
interpolated: ``in_range``) to the target rate; ``expected`` and ``expected_sd`` are the fit and its
standard error there, ``observed`` the generated mean, and the p-value a two-sided t-test of the
generated mean against the fit (fit uncertainty + sample noise of the mean, N - 2 degrees of freedom).

Distances (``metric``):

* ``rdf_rmsd``/``adf_rmsd``: RMSD of the mean total RDF (5 A, 100 bins) and all-neighbour ADF
  (3 A, 1 degree bins), as in AMShortcut appendix B.5; ``rdf_rmsd_<A>_<B>`` per partial RDF and
  ``angle_rmsd_<A>_<B>_<C>`` per bond-angle triplet.
* ``ring_tvd``, ``voronoi_tvd_<el>``: total variation distance (0..1) of the mean ring-size fractions
  and of the Voronoi-index fractions.
* ``d_<scalar>``: absolute difference of the means of a scalar metric (density, energy, entropy, ...);
  ``difference`` holds the signed value (test minus reference) and ``test_sd``/``reference_sd`` the
  sample spreads.
* On ``refined`` rows, ``raw_distance`` is the same metric for the same generated structures minimised
  only (``stage == "raw"``) and ``refinement_change`` = distance - raw_distance: how much of the score
  the refinement MD, not the generator, earned.
* ``quests_nonoverlap_gen_h<h>``/``quests_nonoverlap_ref_h<h>``: 1 - QUESTS overlap at bandwidth h
  (``quests_overlap_bandwidths``; DM2 used 0.015 1/A) of the test environments by the reference ones
  and the other way round. QUESTS coverage grows with the size of the covering set, so both sides
  always hold the same number of environments (a seeded subsample of the larger side).
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..samples import parse_sample, target_columns
from .structure import DEFAULT_SETTINGS, distribution_rmsd

__all__ = ["ID_COLUMNS", "BENCHMARK_COLUMNS", "load_records", "structure_table", "sample_identity", "choose_reference",
           "parse_sample_id", "split_halves", "SetFeatures", "set_distances", "permutation_test",
           "trend_check", "benchmark_table", "mean_fractions"]

ID_COLUMNS = ["source", "model", "stage", "composition", "cooling_rate", "seed", "sample"]
SIMULATED = "simulated"
_SAMPLE = re.compile(r"^(?P<composition>[A-Z][A-Za-z0-9.]*)_(?P<rate>[0-9][0-9.e+-]*)Kps_s(?P<seed>[0-9]+)$")
_FORMULA = re.compile(r"^([A-Z][a-z]?([0-9]+(\.[0-9]+)?)?)+$")


def parse_sample_id(sample: str) -> dict:
    """A sample id (``<composition>[_<value><Tag>]..._s<seed>``, amorphous_ml.samples) -> composition, cooling
    rate (``Kps`` token, else None) and seed; ``ValueError`` (one line) unless it parses unambiguously.

    The composition must be a plain formula (``SiO2``, ``Cu64Zr36``), every condition a finite number with a
    tag, the seed an integer: ``SiO2_0_1Kps_s0`` is rejected rather than read as composition ``SiO2_0``.
    """
    try:
        comp, tokens, seed = parse_sample(sample)
    except (ValueError, TypeError):
        comp = None
    rates = [v for tag, v in tokens if tag == "Kps"] if comp is not None else []
    if comp is None or not _FORMULA.match(comp) or any(not math.isfinite(r) or r <= 0 for r in rates):
        raise ValueError(f"sample id {sample!r} does not parse as {{composition}}[_{{value}}{{Tag}}]..._s{{seed}} "
                         f"(e.g. SiO2_100Kps_s1, SiO2_0.1Kps_s3, Si_s5)")
    return {"composition": comp, "cooling_rate": rates[0] if rates else None, "seed": int(seed)}


def _as_int(value):
    """Seeds read back from extxyz/JSON may be numpy integers, floats or strings: make them ints."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"seed {value!r} is not an integer") from None
    if not f.is_integer():
        raise ValueError(f"seed {value!r} is not an integer")
    return int(f)


def _stage(atoms_info: dict, source: str) -> str:
    if source == SIMULATED:
        return "md"
    if atoms_info.get("refined") in (True, "True", "true", 1):
        return "refined"
    if atoms_info.get("minimized") in (True, "True", "true", 1):
        return "raw"
    return "as_given"


def sample_identity(atoms_info: dict, source: str | None, sample: str | None, structure: str = "",
                    stage: str | None = None) -> dict:
    """Identity of a sample from the extxyz info, the rule's wildcards winning where given.

    ``stage``: ``md`` (simulated), ``refined`` (generated + refinement MD), ``raw`` (generated, minimised
    only) or ``as_given``; from the structure's info unless given. Seeds are ints.
    """
    src = source or atoms_info.get("source") or SIMULATED
    if src == "generated":  # the info's generic label: the model is the source
        src = atoms_info.get("model") or src
    ident = {
        "source": src,
        "model": atoms_info.get("model") or ("md" if src == SIMULATED else src),
        "stage": stage or _stage(atoms_info, src),
        "composition": atoms_info.get("composition"),
        "cooling_rate": atoms_info.get("cooling_rate"),
        "seed": atoms_info.get("seed"),
        "sample": sample or "",
        "structure": str(structure),
        **target_columns(atoms_info),  # target conditions of a generated structure (target_<name>)
    }
    if ident["sample"] and not atoms_info.get("dataset"):  # dataset frames have their own ids (anneal_0001)
        parsed = parse_sample_id(ident["sample"])
        ident["composition"] = ident["composition"] or parsed["composition"]
        ident["cooling_rate"] = ident["cooling_rate"] if ident["cooling_rate"] is not None else parsed["cooling_rate"]
        ident["seed"] = ident["seed"] if ident["seed"] is not None else parsed["seed"]
    if ident["cooling_rate"] is not None:
        ident["cooling_rate"] = float(ident["cooling_rate"])
    ident["seed"] = _as_int(ident["seed"])
    return ident


def load_records(json_files) -> list[dict]:
    """Read per-sample metric JSONs; each record gets its descriptors path resolved next to the JSON."""
    records = []
    for f in json_files:
        rec = io.read_json(f)
        rec["json"] = str(f)
        ident = rec.setdefault("id", {})
        ident["seed"] = _as_int(ident.get("seed"))  # files written before seeds were ints
        ident.setdefault("stage", "md" if ident.get("source") == SIMULATED else "refined")
        desc = rec.get("descriptors_file")
        if desc and not Path(desc).is_absolute():
            rec["descriptors_file"] = str(Path(f).parent / desc)
        records.append(rec)
    if not records:
        raise ValueError("no per-sample structure metric files given")
    return records


def unique_samples(records) -> list[dict]:
    """One record per (source, stage, sample). A model refined with 0 ps of MD is minimised only, so its
    refined structures are scored as stage ``raw`` next to the minimised-only copies of the same structures:
    counted twice they would halve the apparent spread and inflate every permutation test."""
    seen, out = set(), []
    for r in records:
        i = r["id"]
        key = (i.get("source"), i.get("stage"), i.get("sample")) if i.get("sample") else id(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def structure_table(records) -> pd.DataFrame:
    """One row per source, stage and sample: identity columns then every scalar metric."""
    records = unique_samples(records)
    targets = sorted({k for r in records for k in r["id"] if k.startswith("target_")})
    rows = [{**{k: r["id"].get(k) for k in ID_COLUMNS + targets}, **r["scalars"]} for r in records]
    table = pd.DataFrame(rows)
    table["seed"] = pd.array([_as_int(s) for s in table["seed"]], dtype="Int64")  # sorted as numbers
    first = ID_COLUMNS + targets + [c for c in ("n_atoms", "formula") if c in table.columns]
    table = table.reindex(columns=first + sorted(c for c in table.columns if c not in first))
    return table.sort_values(["source", "stage", "composition", "cooling_rate", "seed"], ignore_index=True,
                             na_position="last")


def split_halves(records) -> tuple[list, list]:
    """Two disjoint halves of a set (alternating after sorting by seed as a number, then sample id)."""
    ordered = sorted(records, key=lambda r: (_as_int(r["id"].get("seed")) or 0, r["id"].get("sample", "")))
    return ordered[0::2], ordered[1::2]


# ------------------------------------------------------------------------ per-record features
def mean_fractions(records, getter) -> dict[str, float]:
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


def _normalised(hist: dict | None) -> dict[str, float] | None:
    if not hist:
        return None
    total = float(sum(hist.values()))
    return {str(k): float(v) / total for k, v in hist.items()} if total > 0 else None


class SetFeatures:
    """Every metric of a fixed list of records as arrays, so a distance between any two subsets is cheap.

    ``distances(a, b)`` (index arrays into ``records``) returns every metric of the module docstring.
    """

    def __init__(self, records, settings: dict | None = None):
        s = {**DEFAULT_SETTINGS, **(settings or {})}
        self.settings = s
        self.n = len(records)
        self.curves: dict[str, np.ndarray] = {}
        self.hists: dict[str, np.ndarray] = {}
        self.scalars: dict[str, np.ndarray] = {}
        for family, key, col in (("total_rdf", "g", "rdf_rmsd"), ("total_adf", "p", "adf_rmsd")):
            self._add_curve(col, [r["distributions"].get(family, {}).get(key) for r in records])
        for family, prefix, axis in (("rdf", "rdf_rmsd_", "r"), ("adf", "angle_rmsd_", "theta")):
            keys = set()
            for r in records:
                keys |= set(r["distributions"].get(family, {})) - {axis}
            for key in sorted(keys):
                self._add_curve(prefix + key.replace("-", "_"),
                                [r["distributions"].get(family, {}).get(key) for r in records])
        if any("rings" in r["distributions"] for r in records):
            self._add_hist("ring_tvd", [_normalised(r["distributions"].get("rings")) for r in records])
        elements = set()
        for r in records:
            elements |= set(r["distributions"].get("voronoi", {}))
        for el in sorted(elements):
            self._add_hist(f"voronoi_tvd_{el}",
                           [_normalised(r["distributions"].get("voronoi", {}).get(el)) for r in records])
        keys = set()
        for r in records:
            keys |= {k for k, v in r["scalars"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and k != "n_atoms"}
        for key in sorted(keys):
            vals = [r["scalars"].get(key) for r in records]
            self.scalars[key] = np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in vals])
        self._quests_setup(records, s)
        self._memo: dict = {}

    def _add_curve(self, col, curves):
        shapes = {np.shape(c) for c in curves if c is not None}
        if not shapes:
            return
        if len(shapes) > 1:
            raise ValueError(f"{col}: samples have different binning {sorted(shapes)}; use one analysis setting")
        shape = shapes.pop()
        self.curves[col] = np.stack([np.asarray(c, float) if c is not None else np.full(shape, np.nan) for c in curves])

    def _add_hist(self, col, hists):
        labels = sorted({k for h in hists if h for k in h})
        if not labels:
            return
        self.hists[col] = np.array([[h.get(k, 0.0) for k in labels] if h else [np.nan] * len(labels) for h in hists])

    def _quests_setup(self, records, s):
        """Seeded equal-size subsample of each record's environments and the pooled kernel matrices."""
        self.kernels: dict[float, np.ndarray] = {}
        files = [r.get("descriptors_file") for r in records]
        if not all(files):
            return
        from quests.matrix import cdist

        from .structure import _numba_cache

        _numba_cache()
        arrays = [np.load(f).astype(np.float64) for f in files]
        cap = int(s["quests_max_environments"] or 0)
        k = min(len(a) for a in arrays)
        if cap:
            k = max(1, min(k, cap // len(arrays)))
        rng = np.random.default_rng(s["seed"])
        chosen = [a[np.sort(rng.choice(len(a), size=k, replace=False))] if len(a) > k else a for a in arrays]
        x = np.concatenate(chosen)
        self.env_owner = np.repeat(np.arange(len(arrays)), k)
        d = cdist(x, x)
        for h in s["quests_overlap_bandwidths"]:
            self.kernels[float(h)] = np.exp(-0.5 * (d / float(h)) ** 2)

    @staticmethod
    def _key(a, b):
        return tuple(sorted(int(i) for i in a)), tuple(sorted(int(i) for i in b))

    def _envs(self, idx):
        return np.nonzero(np.isin(self.env_owner, idx))[0]

    def environment_indices(self, a, b) -> tuple[np.ndarray, np.ndarray]:
        """Pooled-environment indices of two record subsets, the larger side subsampled (seeded) to the
        smaller one's count."""
        key = self._key(a, b)
        ea, eb = self._envs(np.asarray(key[0])), self._envs(np.asarray(key[1]))
        rng = np.random.default_rng([int(self.settings["seed"]), *key[0], 10**6, *key[1]])
        if len(ea) > len(eb):
            ea = np.sort(rng.choice(ea, size=len(eb), replace=False))
        elif len(eb) > len(ea):
            eb = np.sort(rng.choice(eb, size=len(ea), replace=False))
        return ea, eb

    def _coverage(self, kernel, rows, cols) -> float:
        p = kernel[np.ix_(rows, cols)].sum(axis=1)
        with np.errstate(divide="ignore"):
            return float(np.mean(-np.log(p) < 1e-5))  # QUESTS: delta entropy <= 0 (as quests_overlap)

    def distances(self, a, b) -> dict[str, float]:
        key = self._key(a, b)
        if key in self._memo:
            return self._memo[key]
        a, b = np.asarray(key[0]), np.asarray(key[1])
        out: dict[str, float] = {}
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
            for col, arr in self.curves.items():
                ma, mb = np.nanmean(arr[a], axis=0), np.nanmean(arr[b], axis=0)
                out[col] = distribution_rmsd(ma, mb) if np.isfinite(ma).all() and np.isfinite(mb).all() else np.nan
            for col, arr in self.hists.items():
                ma, mb = np.nanmean(arr[a], axis=0), np.nanmean(arr[b], axis=0)
                out[col] = 0.5 * float(np.abs(ma - mb).sum()) if np.isfinite(ma).all() and np.isfinite(mb).all() else np.nan
            for key_, arr in self.scalars.items():
                out[f"d_{key_}"] = float(abs(np.nanmean(arr[a]) - np.nanmean(arr[b])))
        if self.kernels:
            ea, eb = self.environment_indices(a, b)
            for h, kernel in self.kernels.items():
                out[f"quests_nonoverlap_gen_h{h:g}"] = 1.0 - self._coverage(kernel, ea, eb)
                out[f"quests_nonoverlap_ref_h{h:g}"] = 1.0 - self._coverage(kernel, eb, ea)
        self._memo[key] = out
        return out


def set_distances(test, reference, settings: dict | None = None) -> dict[str, float]:
    """Every distance between two sets of per-sample records (see the module docstring for the names)."""
    feats = SetFeatures(list(test) + list(reference), settings)
    return feats.distances(np.arange(len(test)), np.arange(len(test), len(test) + len(reference)))


# ---------------------------------------------------------------------------------- the tests
def _n_splits(m: int, n: int) -> int:
    return math.comb(m + n, m)


def _splits(m: int, n: int, n_resamples: int, rng: np.random.Generator):
    """Every split of m + n items into m and n (exact), or ``n_resamples`` random ones."""
    total = _n_splits(m, n)
    everyone = np.arange(m + n)
    if total <= n_resamples:
        for combo in itertools.combinations(range(m + n), m):
            a = np.array(combo)
            yield a, np.setdiff1d(everyone, a)
    else:
        for _ in range(n_resamples):
            perm = rng.permutation(m + n)
            yield np.sort(perm[:m]), np.sort(perm[m:])


def permutation_test(test, reference, settings: dict | None = None) -> list[dict]:
    """Permutation test of every metric between two sets of records (see the module docstring).

    Returns one dict per metric: distance, noise_median, noise_p95, p_value, n_splits, p_min, verdict,
    and for scalar metrics the signed difference and the sample spreads. With at most ``permutations``
    distinct splits every split is evaluated (the observed one included, so p >= 1 / n_splits); else
    ``permutations`` random splits (p = (1 + #null >= observed) / (1 + permutations)).
    """
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    m, n = len(test), len(reference)
    if m < 1 or n < 1:
        raise ValueError(f"a permutation test needs samples on both sides (got {m} and {n})")
    feats = SetFeatures(list(test) + list(reference), s)
    ia, ib = np.arange(m), np.arange(m, m + n)
    observed = feats.distances(ia, ib)
    n_resamples = int(s["permutations"])
    exact = _n_splits(m, n) <= n_resamples
    nulls = defaultdict(list)
    for a, b in _splits(m, n, n_resamples, np.random.default_rng(s["seed"])):
        for metric, value in feats.distances(a, b).items():
            nulls[metric].append(value)
    rows = []
    for metric, value in observed.items():
        null = np.asarray(nulls[metric], float)
        row = {"metric": metric, "distance": value, "n_splits": len(null),
               "p_min": 1.0 / len(null) if exact else 1.0 / (len(null) + 1)}
        if metric.startswith("d_"):
            arr = feats.scalars[metric[2:]]
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                row.update(test_mean=float(np.nanmean(arr[ia])), reference_mean=float(np.nanmean(arr[ib])),
                           test_sd=float(np.nanstd(arr[ia], ddof=1)) if m > 1 else np.nan,
                           reference_sd=float(np.nanstd(arr[ib], ddof=1)) if n > 1 else np.nan)
            row["difference"] = row["test_mean"] - row["reference_mean"]
        if not np.isfinite(value) or not np.isfinite(null).any():
            row.update(noise_median=np.nan, noise_p95=np.nan, p_value=np.nan, verdict="undefined")
            rows.append(row)
            continue
        at_least = int(np.sum(null >= value - 1e-12 * max(abs(value), 1e-12)))  # ties count as extreme
        p = at_least / len(null) if exact else (1 + at_least) / (1 + len(null))
        row.update(noise_median=float(np.nanmedian(null)), noise_p95=float(np.nanpercentile(null, 95)),
                   p_value=float(p))
        row["verdict"] = _verdict(row["p_value"], row["p_min"], s["alpha"])
        rows.append(row)
    return rows


def _verdict(p: float, p_min: float, alpha: float) -> str:
    if p_min > alpha:
        return "untestable"
    return "inside" if p > alpha else "outside"


def trend_check(test, simulated, target_rate: float, metric: str, settings: dict | None = None) -> dict | None:
    """Generated mean of a scalar at ``target_rate`` against the simulated trend in log10(rate).

    None when the simulated samples cannot carry a fit with an uncertainty (< 3 samples or one rate).
    """
    from scipy.stats import t as student_t

    s = {**DEFAULT_SETTINGS, **(settings or {})}
    pts = [(math.log10(r["id"]["cooling_rate"]), r["scalars"].get(metric)) for r in simulated]
    pts = [(x, float(y)) for x, y in pts if isinstance(y, (int, float)) and np.isfinite(y)]
    obs = np.array([float(r["scalars"][metric]) for r in test
                    if isinstance(r["scalars"].get(metric), (int, float)) and np.isfinite(r["scalars"][metric])])
    if len(pts) < 3 or len({x for x, _ in pts}) < 2 or not len(obs):
        return None
    x, y = np.array(pts).T
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    dof = len(x) - 2
    s2 = float(resid @ resid / dof) if dof > 0 else np.nan
    x0 = math.log10(target_rate)
    sxx = float(((x - x.mean()) ** 2).sum())
    fit_se = math.sqrt(s2 * (1.0 / len(x) + (x0 - x.mean()) ** 2 / sxx))
    expected = float(intercept + slope * x0)
    se = math.sqrt(fit_se ** 2 + s2 / len(obs))  # fit uncertainty + noise of a mean of len(obs) samples
    tval = (float(obs.mean()) - expected) / se if se > 0 else np.inf
    p = float(2 * student_t.sf(abs(tval), dof)) if dof > 0 else np.nan
    return {"metric": metric, "expected": expected, "expected_sd": fit_se, "observed": float(obs.mean()),
            "test_mean": float(obs.mean()), "test_sd": float(obs.std(ddof=1)) if len(obs) > 1 else np.nan,
            "difference": float(obs.mean()) - expected, "distance": abs(float(obs.mean()) - expected),
            "p_value": p, "verdict": "inside" if p > s["alpha"] else "outside",
            "fit_slope": float(slope), "fit_intercept": float(intercept), "fit_dof": dof}


BENCHMARK_COLUMNS = ["source", "model", "stage", "composition", "cooling_rate", "reference", "in_range", "test", "metric",
                     "n_samples", "n_reference", "distance", "noise_median", "noise_p95", "p_value", "n_splits",
                     "p_min", "verdict", "difference", "test_mean", "test_sd", "reference_mean", "reference_sd",
                     "expected", "expected_sd", "observed", "fit_slope", "fit_intercept", "fit_dof"]


def choose_reference(source: str, composition, rate, records, references: dict | None = None) -> list:
    """The reference set of one group: every record of ``references[source]`` when the config names one
    (e.g. a dataset such as ``anneal``), else the simulated glasses of the same composition and cooling
    rate; a group without a cooling rate (property-conditioned or unconditioned models) is compared with
    every simulated glass of its composition. Empty: no reference (a target rate without glasses)."""
    ref_source = (references or {}).get(source, SIMULATED)
    pool = [r for r in records if r["id"]["source"] == ref_source]
    if ref_source != SIMULATED:
        return pool
    same_comp = [r for r in pool if r["id"]["composition"] == composition]
    if rate is None:
        return same_comp
    return [r for r in same_comp if r["id"]["cooling_rate"] == rate]


def benchmark_table(records, settings: dict | None = None, references: dict | None = None) -> pd.DataFrame:
    """The long benchmark table (module docstring): one row per source, stage, composition, rate, metric.

    ``references`` maps a model (source) to the source its structures are compared with (default
    ``simulated``; a dataset name such as ``anneal``); reference sources get no rows of their own."""
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    records = unique_samples(records)
    reference_sources = set((references or {}).values()) - {SIMULATED}
    sims = [r for r in records if r["id"]["source"] == SIMULATED]
    sim_groups: dict[tuple, list] = defaultdict(list)
    for r in sims:
        sim_groups[(r["id"]["composition"], r["id"]["cooling_rate"])].append(r)
    rows = []
    for (comp, rate), group in sorted(sim_groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        a, b = split_halves(group)
        if not a or not b:
            continue
        base = {"source": SIMULATED, "model": "md", "stage": "md", "composition": comp, "cooling_rate": rate,
                "reference": SIMULATED, "in_range": True, "test": "halves", "n_samples": len(a), "n_reference": len(b)}
        rows += [{**base, **row} for row in permutation_test(a, b, s)]
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        i = r["id"]
        if i["source"] != SIMULATED and i["source"] not in reference_sources:
            groups[(i["source"], i.get("model"), i.get("stage", "refined"), i["composition"], i["cooling_rate"])].append(r)
    for source in sorted({g[0] for g in groups}):
        ref_source = (references or {}).get(source, SIMULATED)
        if not any(r["id"]["source"] == ref_source for r in records):
            raise ValueError(f"benchmark of {source!r} needs {ref_source!r} reference structures; none were given")
    for (source, model, stage, comp, rate), members in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        same_comp = [r for r in sims if r["id"]["composition"] == comp]
        sim_rates = sorted({r["id"]["cooling_rate"] for r in same_comp})
        ref_source = (references or {}).get(source, SIMULATED)
        base = {"source": source, "model": model, "stage": stage, "composition": comp, "cooling_rate": rate,
                "reference": ref_source, "n_samples": len(members)}
        ref = choose_reference(source, comp, rate, records, references)
        if ref:
            base.update(in_range=True, test="permutation", n_reference=len(ref))
            rows += [{**base, **row} for row in permutation_test(members, ref, s)]
            continue
        in_range = bool(sim_rates) and rate is not None and sim_rates[0] <= rate <= sim_rates[-1]
        base.update(in_range=in_range, test="trend", n_reference=len(same_comp))
        for metric in s["trend_metrics"]:
            row = trend_check(members, same_comp, rate, metric, s) if rate else None
            rows.append({**base, **(row or {"metric": metric, "verdict": "untestable"})})
    table = pd.DataFrame(rows)
    table = table.reindex(columns=BENCHMARK_COLUMNS + [c for c in table.columns if c not in BENCHMARK_COLUMNS])
    return _with_refinement_change(table)


def _with_refinement_change(table: pd.DataFrame) -> pd.DataFrame:
    """On refined rows: the raw (minimised-only) distance of the same source, rate and metric, and the
    change refinement made (``refinement_change`` = refined - raw; negative: the MD did the work)."""
    table["raw_distance"] = np.nan
    table["refinement_change"] = np.nan
    if table.empty or "stage" not in table:
        return table
    key = ["source", "composition", "cooling_rate", "test", "metric"]
    raw = table[table["stage"] == "raw"].set_index(key)["distance"]
    raw = raw[~raw.index.duplicated()]
    refined = table["stage"] == "refined"
    idx = pd.MultiIndex.from_frame(table.loc[refined, key])
    table.loc[refined, "raw_distance"] = raw.reindex(idx).to_numpy()
    table["refinement_change"] = table["distance"] - table["raw_distance"]
    return table
