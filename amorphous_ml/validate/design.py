"""Tables and plots of the GNN surrogate and the swap Monte Carlo design (Wang & Zhang 2021, Figs. 2a,b, 3b).

* ``gnn-scores``: Pearson correlation between the GNN's and the AQS ln(D2min) per split part (test,
  held-out cooling rate, held-out composition; train/validation for reference) and strain -> gnn.csv/.png.
* ``design-table``: the trace of every design run (stored in the designed structure's
  ``info['design_trace']``) -> design.csv (trial, accepted, predicted mean ln(D2min) of the trial and of the
  current state, true 12-mode AQS mean where validated, energy per atom) and design.png (predicted and
  true mean ln(D2min) and energy against accepted steps, the paper's Fig. 3b).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .. import io

__all__ = ["design_table", "plot_design", "register"]


def design_table(designed_files) -> pd.DataFrame:
    parts = []
    for f in designed_files:
        atoms = io.read_structure(f)
        if "design_trace" not in atoms.info:
            raise ValueError(f"{f}: not a designed structure (no design_trace in its info)")
        trace = atoms.info["design_trace"]
        cols = json.loads(trace) if isinstance(trace, str) else trace
        parts.append(pd.DataFrame(cols).assign(design=str(atoms.info.get("design_start", f)),
                                               sample=str(f).rsplit("/", 1)[-1].removesuffix(".extxyz")))
    if not parts:
        raise ValueError("design-table: no designed structures")
    table = pd.concat(parts, ignore_index=True)
    return table[["sample", "design"] + [c for c in table.columns if c not in ("sample", "design")]]


def plot_design(table: pd.DataFrame, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax2 = ax.twinx()
    for sample, sub in table.groupby("sample", sort=False):
        acc = sub[sub["accepted"].astype(bool)]
        ax.plot(acc["n_accepted"], acc["pred_mean"], "-", color="C0", label=f"GNN-predicted ({sample})")
        val = acc[np.isfinite(acc["true_mean"].astype(float))]
        ax.plot(val["n_accepted"], val["true_mean"], "o", color="C3", label="true 12-mode AQS")
        ax2.plot(acc["n_accepted"], acc["energy_per_atom_eV"] * 1000, ":", color="0.4", label="energy")
    ax.set_xlabel("accepted swap steps")
    ax.set_ylabel(r"mean ln($D^2_{min}$/Å$^2$)")
    ax2.set_ylabel("energy (meV/atom)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, frameon=False)
    fig.tight_layout()
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- CLI
def _scores_cmd(args) -> int:
    from ..learn.gnn import write_scores

    split = json.loads(args.split_json)
    table = write_scores(args.model, args.labels, split, args.out, plot=args.plot)
    for _, r in table.iterrows():
        print(f"{r['set']:>20s} strain {r['strain']:g}: Pearson {r['pearson']:.3f} ({r['n_glasses']} glasses, "
              f"{r['n_atoms']} atoms)")
    return 0


def _design_cmd(args) -> int:
    from ..learn.gnn import write_csv
    from ..provenance import provenance

    table = design_table(args.designed)
    write_csv(args.out, table, provenance(seed=None, params={"designed": list(args.designed)}))
    if args.plot:
        plot_design(table, args.plot)
    for sample, sub in table.groupby("sample"):
        val = sub[np.isfinite(sub["true_mean"].astype(float))]
        print(f"{sample}: {len(sub) - 1} trials, {int(sub['n_accepted'].max())} accepted; true mean ln(D2min) "
              f"{val['true_mean'].iloc[0]:.3f} -> {val['true_mean'].iloc[-1]:.3f}" if len(val) else "")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gnn-scores", help="Pearson correlation of the GNN's ln(D2min) with AQS per split and strain -> gnn.csv",
        description="Predict per-atom ln(D2min) of the AQS-labelled glasses with a trained GNN and score it "
                    "against the labels per split part (train, validation, test, heldout_rate, "
                    "heldout_composition) and strain (atoms of a part pooled; per-glass mean and spread too).")
    p.add_argument("--model", required=True, help="trained GNN (model.pt with model.json)")
    p.add_argument("--labels", nargs="+", required=True, help="labelled glasses (results/<system>/aqs/<sample>.extxyz)")
    p.add_argument("--split-json", required=True, help="the model section's split as JSON (part -> sample ids)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--plot", default=None, help="output PNG (Pearson vs strain)")
    p.set_defaults(func=_scores_cmd)

    p = subparsers.add_parser(
        "design-table", help="trace of GNN-guided swap MC design runs -> design.csv (+ Fig. 3b plot)",
        description="Collect the trial-by-trial trace stored in designed structures (generated by a gnn-kind "
                    "model) into one table and plot predicted and true mean ln(D2min) against accepted steps.")
    p.add_argument("designed", nargs="+", help="designed structures (results/<system>/generated/<model>/*.extxyz)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--plot", default=None, help="output PNG")
    p.set_defaults(func=_design_cmd)
