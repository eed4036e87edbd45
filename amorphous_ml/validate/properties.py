"""Property tables that compare simulated and generated glasses: elastic.csv and fracture.csv."""

from __future__ import annotations

import json

import pandas as pd

from .. import io
from ..config import schema_defaults
from ..mechanics import fracture_metrics
from ..samples import target_columns

__all__ = ["read_curve", "fracture_table", "elastic_table", "plot_stress_strain", "register"]

ID_COLUMNS = ["source", "model", "composition", "cooling_rate", "n_atoms", "seed"]


def read_curve(path) -> tuple[dict, pd.DataFrame]:
    """A per-sample stress-strain CSV: ``# key: json`` header lines, then the curve."""
    meta = {}
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = json.loads(value)
    return meta, pd.read_csv(path, comment="#")


def _id_row(structure: dict, n_atoms) -> dict:
    source = structure.get("source") or "simulated"
    return {"source": source, "model": structure.get("model") or "md",
            "composition": structure.get("composition"), "cooling_rate": structure.get("cooling_rate"),
            "n_atoms": n_atoms, "seed": structure.get("seed"), **target_columns(structure)}


def _group_label(structure: dict) -> str:
    """Legend of a curve: the model and its condition (cooling rate, or the target values)."""
    rate = structure.get("cooling_rate")
    if rate is not None and rate == rate:  # NaN for structures generated without a rate
        return f"{structure.get('model') or 'md'} {rate:g} K/ps"
    targets = target_columns(structure)
    return " ".join([structure.get("model") or "md"] + [f"{k[len('target_'):]}={v:g}" for k, v in targets.items()])


def _with_targets(table: pd.DataFrame) -> pd.DataFrame:
    """Target-condition columns (``target_*``, generated structures only) right after the id columns."""
    targets = sorted(c for c in table.columns if c.startswith("target_"))
    rest = [c for c in table.columns if c not in ID_COLUMNS and c not in targets]
    return table.reindex(columns=ID_COLUMNS + targets + rest)


def plot_stress_strain(curves: dict[str, pd.DataFrame], groups: dict[str, str], path, title: str = "") -> None:
    """Overlay stress-strain curves, coloured by group (e.g. source and cooling rate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(groups.values()))
    cmap = plt.get_cmap("tab10")
    colour = {g: cmap(i % 10) for i, g in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    seen = set()
    for name, curve in curves.items():
        g = groups[name]
        ax.plot(curve["strain"], curve["szz_GPa"], color=colour[g], lw=1, alpha=0.8,
                label=None if g in seen else g)
        seen.add(g)
    ax.set_xlabel("engineering strain along z")
    ax.set_ylabel("true stress $\\sigma_{zz}$ (GPa)")
    ax.set_title(title)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def fracture_table(curve_files, out_csv, out_png=None, title: str = "", smoothing_strain: float | None = None) -> pd.DataFrame:
    """One row per curve: E, UTS and strain at UTS (Savitzky-Golay-smoothed over ``smoothing_strain``),
    fracture strain, and the raw maximum ``UTS_raw_GPa``."""
    if smoothing_strain is None:
        smoothing_strain = schema_defaults("system", "analysis")["uts_smoothing_strain"]
    rows, curves, groups = [], {}, {}
    for f in curve_files:
        meta, curve = read_curve(f)
        s = meta.get("structure", {})
        settings = {**schema_defaults("fracture"), **meta.get("fracture", {})}  # the test's settings, in its header
        m = fracture_metrics(curve, settings["modulus_max_strain"], settings["fracture_drop"], smoothing_strain)
        rows.append({**_id_row(s, meta.get("n_atoms")), **m, "code_version": s.get("code_version"),
                     "file": str(f)})
        curves[str(f)] = curve
        groups[str(f)] = _group_label(s)
    targets = sorted({c for r in rows for c in r if c.startswith("target_")})
    table = pd.DataFrame(rows, columns=ID_COLUMNS + targets + ["E_GPa", "UTS_GPa", "strain_at_UTS",
                                                                "fracture_strain", "UTS_raw_GPa",
                                                                "uts_smoothing_strain", "code_version", "file"])
    table = table.sort_values(["source", "model", "composition", "cooling_rate", "seed"], ignore_index=True)
    io.write_table(out_csv, table)
    if out_png:
        with io.atomic_path(out_png) as tmp:
            plot_stress_strain(curves, groups, tmp.with_suffix(".png"), title=title)
            tmp.with_suffix(".png").replace(tmp)
    return table


def elastic_table(json_files, out_csv) -> pd.DataFrame:
    rows = []
    for f in json_files:
        d = io.read_json(f)
        C = d["C_GPa"]
        cij = {f"C{i + 1}{j + 1}_GPa": C[i][j] for i in range(6) for j in range(i, 6)}
        rows.append({**_id_row(d.get("structure", {}), d.get("n_atoms")),
                     **{k: d[k] for k in ("K_GPa", "G_GPa", "E_GPa", "nu")}, **cij,
                     "code_version": d.get("provenance", {}).get("code_version"), "file": str(f)})
    table = _with_targets(pd.DataFrame(rows)).sort_values(["source", "model", "composition", "cooling_rate", "seed"],
                                                          ignore_index=True)
    io.write_table(out_csv, table)
    return table


def _fracture_cmd(args) -> int:
    t = fracture_table(args.curves, args.out, args.plot, title=args.title, smoothing_strain=args.smoothing_strain)
    print(f"{args.out}: {len(t)} samples")
    return 0


def _elastic_cmd(args) -> int:
    t = elastic_table(args.inputs, args.out)
    print(f"{args.out}: {len(t)} samples")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("fracture-table", help="one row per sample: E, UTS, strain at UTS, fracture strain",
                              description="Collect per-sample stress-strain CSVs into a table and a plot.")
    p.add_argument("curves", nargs="+", help="per-sample stress-strain CSVs (from `amorphous-ml fracture`)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--plot", default=None, help="output PNG with all curves")
    p.add_argument("--title", default="")
    p.add_argument("--smoothing-strain", type=float, default=0.02,
                   help="Savitzky-Golay window (in strain) for UTS and fracture strain; 0: raw curve (default 0.02)")
    p.set_defaults(func=_fracture_cmd)

    p = subparsers.add_parser("elastic-table", help="one row per sample: C_ij, K, G, E, nu",
                              description="Collect per-sample elastic JSONs (from `amorphous-ml elastic`).")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_elastic_cmd)
