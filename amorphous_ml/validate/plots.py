"""Validation figures: partial RDFs overlaid, bond-angle distributions, ring and Voronoi histograms,
and parity plots of properties (generated vs simulated at the same composition and cooling rate).

Every figure overlays one curve per *group*: a source at one cooling rate (``simulated 100 K/ps``,
``dm2 100 K/ps``), averaged over its samples. Figures are written atomically as PNG.
"""

from __future__ import annotations

from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import io  # noqa: E402
from .compare import mean_fractions  # noqa: E402

__all__ = ["group_label", "plot_rdfs", "plot_angles", "plot_rings", "plot_voronoi", "plot_parity", "PLOTS"]


def group_label(ident: dict) -> str:
    rate = ident.get("cooling_rate")
    comp = ident.get("composition") or ""
    rate_txt = f" {rate:g} K/ps" if isinstance(rate, (int, float)) else ""
    return f"{ident.get('source', '?')} {comp}{rate_txt}".strip()


def _groups(records) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r["id"]["source"] != "simulated", group_label(r["id"]))):
        out[group_label(r["id"])].append(r)
    return out


def _style(label: str) -> dict:
    return {"ls": "-" if label.startswith("simulated") else "--", "lw": 1.3}


def _save(fig, out) -> None:
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _panels(n: int, title: str):
    cols = min(3, max(1, n))
    rows = int(np.ceil(max(1, n) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    fig.suptitle(title)
    return fig, axes.ravel()


def _empty(out, title: str, message: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    ax.set_title(title)
    _save(fig, out)


def _curve_plot(records, out, family: str, axis: str, xlabel: str, ylabel: str, title: str) -> None:
    keys = sorted({k for r in records for k in r["distributions"].get(family, {}) if k != axis})
    if not keys:
        return _empty(out, title, f"no {family} data for these samples")
    fig, axes = _panels(len(keys), title)
    for ax, key in zip(axes, keys):
        for label, members in _groups(records).items():
            curves = [np.asarray(m["distributions"][family][key], float) for m in members
                      if key in m["distributions"].get(family, {})]
            if not curves:
                continue
            x = np.asarray(members[0]["distributions"][family][axis], float)
            ax.plot(x, np.mean(curves, axis=0), label=f"{label} (n={len(curves)})", **_style(label))
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    for ax in axes[len(keys):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out)


def plot_rdfs(records, out, title: str = "Partial pair distribution functions") -> None:
    _curve_plot(records, out, "rdf", "r", "r (Å)", "g(r)", title)


def plot_angles(records, out, title: str = "Bond-angle distributions") -> None:
    family = "adf" if any("adf" in r["distributions"] for r in records) else "total_adf"
    _curve_plot(records, out, family, "theta", "angle (degrees)", "P(θ) (1/degree)", title)


def _bar_groups(ax, groups: dict[str, dict[str, float]], order: list[str]) -> None:
    width = 0.8 / max(1, len(groups))
    x = np.arange(len(order))
    for k, (label, fractions) in enumerate(groups.items()):
        ax.bar(x + k * width - 0.4 + width / 2, [fractions.get(o, 0.0) for o in order], width, label=label)
    ax.set_xticks(x, order, rotation=45 if len(order) > 8 else 0, fontsize=7 if len(order) > 8 else 9)


def plot_rings(records, out, title: str = "Ring-size distribution") -> None:
    groups = {label: mean_fractions(m, lambda r: r["distributions"].get("rings"))
              for label, m in _groups(records).items()}
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return _empty(out, title, "no ring statistics for these samples")
    sizes = sorted({int(k) for g in groups.values() for k in g})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    _bar_groups(ax, groups, [str(s) for s in sizes])
    ax.set_xlabel("ring size")
    ax.set_ylabel("fraction of rings")
    ax.set_title(title)
    ax.legend(fontsize=7)
    _save(fig, out)


def plot_voronoi(records, out, title: str = "Voronoi indices <n3,n4,n5,n6>", top: int = 8) -> None:
    elements = sorted({el for r in records for el in r["distributions"].get("voronoi", {})})
    if not elements:
        return _empty(out, title, "no Voronoi analysis for these samples")
    fig, axes = _panels(len(elements), title)
    for ax, el in zip(axes, elements):
        groups = {label: mean_fractions(m, lambda r, el=el: r["distributions"].get("voronoi", {}).get(el))
                  for label, m in _groups(records).items()}
        totals = defaultdict(float)
        for g in groups.values():
            for k, v in g.items():
                totals[k] += v
        order = sorted(totals, key=lambda k: -totals[k])[:top]
        _bar_groups(ax, groups, order)
        ax.set_title(f"{el}-centred")
        ax.set_ylabel("fraction")
    for ax in axes[len(elements):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out)


DEFAULT_PARITY = ("density_gcc", "energy_per_atom_min", "quests_entropy", "ring_mean_size",
                  "voronoi_icosahedral_fraction", "K_GPa", "G_GPa", "E_GPa", "UTS_GPa", "fracture_strain")


def parity_frame(tables: list[pd.DataFrame], properties=DEFAULT_PARITY) -> pd.DataFrame:
    """Long table (property, composition, cooling_rate, source, sim_mean, sim_std, mean, std)."""
    rows = []
    for table in tables:
        if table is None or table.empty:
            continue
        if "stage" in table.columns:  # raw (minimised-only) structures are their own series
            table = table.assign(source=[src if st in ("md", "refined") or pd.isna(st) else f"{src} ({st})"
                                         for src, st in zip(table["source"], table["stage"])])
        for prop in [p for p in properties if p in table.columns]:
            grouped = table.groupby(["composition", "cooling_rate", "source"])[prop].agg(["mean", "std", "count"])
            for (comp, rate, source), row in grouped.iterrows():
                if source == "simulated":
                    continue
                try:
                    ref = grouped.loc[(comp, rate, "simulated")]
                except KeyError:
                    continue
                rows.append({"property": prop, "composition": comp, "cooling_rate": rate, "source": source,
                             "sim_mean": ref["mean"], "sim_std": ref["std"], "mean": row["mean"],
                             "std": row["std"]})
    return pd.DataFrame(rows)


def plot_parity(tables: list[pd.DataFrame], out, title: str = "Generated vs simulated (same composition and rate)",
                properties=DEFAULT_PARITY) -> pd.DataFrame:
    frame = parity_frame(tables, properties)
    if frame.empty:
        _empty(out, title, "no generated samples with a simulated counterpart yet")
        return frame
    props = list(dict.fromkeys(frame["property"]))
    fig, axes = _panels(len(props), title)
    for ax, prop in zip(axes, props):
        sub = frame[frame["property"] == prop]
        for source, s in sub.groupby("source"):
            ax.errorbar(s["sim_mean"], s["mean"], xerr=s["sim_std"].fillna(0), yerr=s["std"].fillna(0),
                        fmt="o", ms=4, capsize=2, label=source)
        lo = np.nanmin(np.r_[sub["sim_mean"], sub["mean"]])
        hi = np.nanmax(np.r_[sub["sim_mean"], sub["mean"]])
        pad = 0.05 * (hi - lo or abs(hi) or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k:", lw=1)
        ax.set_title(prop)
        ax.set_xlabel("simulated")
        ax.set_ylabel("generated")
    for ax in axes[len(props):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out)
    return frame


PLOTS = {"rdf": plot_rdfs, "angles": plot_angles, "rings": plot_rings, "voronoi": plot_voronoi}
