"""Per-atom plasticity labels from AQS deformation: D2min (Falk & Langer) per mode, ln(D2min) averaged
over the loading modes (Wang & Zhang 2021), the stress-strain table of every mode and its plot.

D2min is OVITO's ``AtomicStrainModifier`` "Nonaffine Squared Displacement" (A^2): for every atom the
residual of the best affine map of its reference neighbour vectors (neighbours within ``cutoff`` in the
undeformed inherent structure) onto the deformed ones, summed over neighbours (not averaged). OVITO
cannot fit the map for an atom with too few neighbours (it selects it as invalid and reports 0); such
atoms get NaN here and are counted, never logged as 0. The mode average of ln(D2min) at a strain is NaN
for an atom that is invalid in any mode, so every label averages the same modes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .. import io

__all__ = ["d2min", "label_name", "aqs_labels", "read_mode_curve", "aqs_table", "plot_aqs", "register"]

#: largest allowed difference (A) between the inherent structures the mode runs start from; they minimise
#: the same glass with the same settings, so they agree to the minimiser tolerance (~1e-6 A) unless a run
#: found another minimum, which would make the modes' D2min refer to different references
REFERENCE_TOLERANCE_A = 1e-2


def _ovito_data(atoms):
    from ovito.io.ase import ase_to_ovito

    return ase_to_ovito(atoms)


def d2min(reference, current, cutoff: float) -> tuple[np.ndarray, int]:
    """Per-atom D2min (A^2) of ``current`` against ``reference`` (same atoms, same order).

    Returns ``(values, n_invalid)``; atoms with too few neighbours within ``cutoff`` in the reference
    (OVITO's invalid particles) are NaN. Periodic cells may differ (the cell deformation is the affine
    part); displacements use the minimum image convention.
    """
    from ovito.modifiers import AtomicStrainModifier
    from ovito.pipeline import Pipeline, StaticSource

    if len(reference) != len(current):
        raise ValueError(f"D2min: reference has {len(reference)} atoms, current {len(current)}")
    if not np.array_equal(reference.numbers, current.numbers):
        raise ValueError("D2min: reference and current structures list different elements in some positions")
    mod = AtomicStrainModifier(cutoff=float(cutoff), output_nonaffine_squared_displacements=True,
                               select_invalid_particles=True)
    mod.reference = StaticSource(data=_ovito_data(reference))
    pipeline = Pipeline(source=StaticSource(data=_ovito_data(current)))
    pipeline.modifiers.append(mod)
    data = pipeline.compute()
    values = np.array(data.particles["Nonaffine Squared Displacement"], dtype=float)
    invalid = np.asarray(data.particles["Selection"]) != 0
    values[invalid] = np.nan
    n_invalid = int(data.attributes["AtomicStrain.invalid_particle_count"])
    if n_invalid != int(invalid.sum()):
        raise RuntimeError(f"OVITO reports {n_invalid} invalid atoms but selected {int(invalid.sum())}")
    return values, n_invalid


def label_name(strain: float, mode: str | None = None) -> str:
    """Per-atom array name: ``ln_d2min_0.05`` (mode average) or ``ln_d2min_0.05_shear_xy_plus``."""
    return f"ln_d2min_{strain:g}" + (f"_{mode}" if mode else "")


def _min_image_max_shift(a, b) -> float:
    d = b.positions - a.positions
    frac = np.linalg.solve(a.cell[:].T, d.T).T
    frac -= np.round(frac)
    return float(np.abs(frac @ a.cell[:]).max()) if len(a) else 0.0


def _frames_by_mode(mode_files) -> dict:
    out = {}
    for f in mode_files:
        frames = io.read_structures(f)
        mode = frames[0].info.get("aqs_mode")
        if mode is None:
            raise ValueError(f"{f}: not an AQS mode file (no aqs_mode in its info)")
        if mode in out:
            raise ValueError(f"{f}: mode {mode} given twice")
        out[mode] = {float(fr.info["aqs_strain"]): fr for fr in frames}
    return out


def _frame_at(frames: dict, strain: float, mode: str, what: str):
    for s, fr in frames.items():
        if math.isclose(s, strain, rel_tol=1e-9, abs_tol=1e-12):
            return fr
    raise ValueError(f"AQS mode {mode} has no frame at {what} {strain:g} (has {sorted(frames)})")


def aqs_labels(mode_files, cutoff: float, label_strains, modes=None, per_mode: bool = True):
    """The inherent structure with per-atom ln(D2min) at every label strain, averaged over the modes.

    ``mode_files`` are the extxyz outputs of ``amorphous-ml aqs-mode`` for one sample (one per mode).
    Arrays: ``ln_d2min_<strain>`` (mean over modes of ln D2min; NaN where any mode is invalid) and, with
    ``per_mode``, ``ln_d2min_<strain>_<mode>``. ``info`` counts invalid atoms per strain and mode.
    """
    from ..simulate.aqs import ALL_MODES

    by_mode = _frames_by_mode(mode_files)
    modes = list(modes or [m for m in ALL_MODES if m in by_mode])
    missing = [m for m in modes if m not in by_mode]
    if missing:
        raise ValueError(f"AQS labels: no file for mode(s) {', '.join(missing)}")
    refs = {m: _frame_at(by_mode[m], 0.0, m, "strain") for m in modes}
    base = refs[modes[0]]
    spread = max(_min_image_max_shift(base, r) for r in refs.values())
    if spread > REFERENCE_TOLERANCE_A:
        raise ValueError(f"AQS labels: the inherent structures of the modes differ by up to {spread:.3g} A "
                         f"(> {REFERENCE_TOLERANCE_A} A); the modes did not start from the same minimum")
    out = base.copy()
    for key in list(out.info):
        if key.startswith("aqs_"):
            del out.info[key]
    invalid: dict[str, dict[str, int]] = {}
    nonpositive: dict[str, dict[str, int]] = {}
    nan_mean: dict[str, int] = {}
    for strain in sorted(float(s) for s in label_strains):
        logs = []
        key = f"{strain:g}"
        invalid[key], nonpositive[key] = {}, {}
        for m in modes:
            values, n_bad = d2min(refs[m], _frame_at(by_mode[m], strain, m, "label strain"), cutoff)
            ok = np.isfinite(values)
            zero = ok & (values <= 0)  # exactly affine neighbourhood: ln undefined, excluded and counted
            ln = np.full(len(values), np.nan)
            ln[ok & ~zero] = np.log(values[ok & ~zero])
            invalid[key][m], nonpositive[key][m] = n_bad, int(zero.sum())
            logs.append(ln)
            if per_mode:
                out.arrays[label_name(strain, m)] = ln
        stack = np.vstack(logs)
        mean = np.full(len(out), np.nan)
        complete = np.isfinite(stack).all(axis=0)
        mean[complete] = stack[:, complete].mean(axis=0)
        out.arrays[label_name(strain)] = mean
        nan_mean[key] = int((~complete).sum())
    run = base.info.get("params")
    run = json.loads(run) if isinstance(run, str) else dict(run or {})
    run.pop("mode", None)
    out.info["params"] = json.dumps({"aqs_run": run, "labels": {
        "d2min_cutoff": float(cutoff), "label_strains": sorted(float(s) for s in label_strains), "modes": modes,
        "per_mode_labels": bool(per_mode)}}, sort_keys=True)
    energy = base.get_potential_energy() if base.calc is not None else None
    out.calc = base.calc
    out.info.update(
        aqs_modes=modes, aqs_label_strains=[float(s) for s in sorted(label_strains)],
        d2min_cutoff=float(cutoff), d2min_invalid=invalid, d2min_nonpositive=nonpositive,
        ln_d2min_nan=nan_mean, ln_d2min_nan_total=int(sum(nan_mean.values())),
        aqs_reference_spread_A=spread, labels="ln(D2min), OVITO AtomicStrainModifier, mean over aqs_modes",
    )
    if energy is not None:
        out.info["inherent_energy_eV"] = float(energy)
    return out


# ------------------------------------------------------------------------------- table and plot
def read_mode_curve(path) -> tuple[dict, pd.DataFrame]:
    """A mode's curve CSV (``amorphous-ml aqs-mode --out-csv``): ``(header metadata, curve)``."""
    from .properties import read_curve

    return read_curve(path)


TABLE_ID = ["sample", "composition", "cooling_rate", "seed", "n_atoms"]


def aqs_table(curve_files, out_csv=None) -> pd.DataFrame:
    """Every step of every mode of every sample: sample, mode, strain, stress (GPa), energy (eV)."""
    from ..samples import sample_name

    parts = []
    for f in curve_files:
        meta, curve = read_mode_curve(f)
        s = meta.get("structure", {})
        ident = {"sample": sample_name(s["composition"], {"cooling_rate": s["cooling_rate"]}, s["seed"]) if s.get("composition") else "",
                 "composition": s.get("composition"), "cooling_rate": s.get("cooling_rate"),
                 "seed": s.get("seed"), "n_atoms": meta.get("n_atoms")}
        parts.append(curve.assign(**ident))
    if not parts:
        raise ValueError("aqs-table: no curve files")
    table = pd.concat(parts, ignore_index=True)
    table = table[TABLE_ID + [c for c in table.columns if c not in TABLE_ID]]
    table = table.sort_values(["composition", "cooling_rate", "seed", "mode", "step"], ignore_index=True)
    if out_csv:
        io.write_table(out_csv, table)
    return table


def plot_aqs(table: pd.DataFrame, out, title: str = "") -> None:
    """Stress along each mode's strained component vs signed strain, mean over the samples of every
    composition and cooling rate (one row each): uniaxial modes left, shear modes right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..simulate.aqs import ALL_MODES

    groups = list(table.groupby(["composition", "cooling_rate"], sort=True))
    fig, axes = plt.subplots(max(1, len(groups)), 2, figsize=(9, 3.2 * max(1, len(groups))), squeeze=False)
    cmap = plt.get_cmap("tab20")
    colour = {m: cmap(i) for i, m in enumerate(ALL_MODES)}
    for row, ((comp, rate), sub) in zip(axes, groups):
        n_samples = sub["sample"].nunique()
        for mode, m in sub.groupby("mode"):
            comp_key = m["component"].iloc[0]
            sign = int(m["sign"].iloc[0])
            mean = m.groupby("step").agg(strain=("strain", "first"), stress=(f"s{comp_key}_GPa", "mean"))
            ax = row[0] if comp_key in ("xx", "yy", "zz") else row[1]
            ax.plot(sign * mean["strain"], mean["stress"], color=colour.get(mode), lw=1.2,
                    ls="-" if sign > 0 else "--", label=f"{mode} ($\\sigma_{{{comp_key}}}$)")
        for ax, kind in zip(row, ("uniaxial strain", "simple shear")):
            ax.axhline(0, color="0.7", lw=0.5)
            ax.axvline(0, color="0.7", lw=0.5)
            ax.set_title(f"{comp} {rate:g} K/ps, {kind} (mean of {n_samples} sample{'s' if n_samples != 1 else ''})",
                         fontsize=9)
            ax.set_xlabel("signed strain (tension / positive shear > 0)")
            ax.set_ylabel("stress of the strained component (GPa)")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, frameon=False, ncol=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- CLI
def _labels_cmd(args) -> int:
    settings = json.loads(args.settings_json)
    labelled = aqs_labels(args.modes, settings["d2min_cutoff"], settings["label_strains"],
                          settings.get("modes"), settings.get("per_mode_labels", True))
    io.write_structures(args.out, labelled)
    strains = labelled.info["aqs_label_strains"]
    means = ", ".join(f"{s:g}: {np.nanmean(labelled.arrays[label_name(s)]):.2f}" for s in strains)
    print(f"{args.out}: {len(labelled)} atoms, {len(labelled.info['aqs_modes'])} modes, mean ln(D2min/A^2) {means}; "
          f"{labelled.info['ln_d2min_nan_total']} atom-strains without a label (invalid in some mode)")
    return 0


def _table_cmd(args) -> int:
    table = aqs_table(args.curves, args.out)
    if args.plot:
        plot_aqs(table, args.plot, title=args.title)
    n = table.groupby(["sample", "mode"]).ngroups
    print(f"{args.out}: {len(table)} rows, {table['sample'].nunique()} samples, {n} sample-mode curves")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "aqs-labels", help="per-atom ln(D2min) of one sample from its AQS mode runs",
        description="D2min (OVITO AtomicStrainModifier) of every mode at every label strain against the "
                    "undeformed inherent structure; writes that structure with ln_d2min_<strain> (mean over "
                    "modes) and ln_d2min_<strain>_<mode> arrays. Atoms with too few neighbours are NaN and counted.")
    p.add_argument("modes", nargs="+", help="extxyz files from `amorphous-ml aqs-mode`, one per mode")
    p.add_argument("--settings-json", required=True,
                   help="JSON with d2min_cutoff, label_strains, modes, per_mode_labels (a system's aqs section)")
    p.add_argument("--out", required=True, help="output extxyz")
    p.set_defaults(func=_labels_cmd)

    p = subparsers.add_parser(
        "aqs-table", help="stress-strain of every AQS mode and sample -> aqs.csv (+ plot)",
        description="Collect the per-mode curve CSVs of `amorphous-ml aqs-mode` into one table (sample, mode, "
                    "strain, stress components in GPa, energy in eV, minimiser diagnostics) and plot the modes.")
    p.add_argument("curves", nargs="+", help="per-mode curve CSVs")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--plot", default=None, help="output PNG")
    p.add_argument("--title", default="")
    p.set_defaults(func=_table_cmd)

