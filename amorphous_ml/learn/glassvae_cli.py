"""GlassVAE's table subcommand ``glassvae-table`` (training and generation go through the generic ``train`` and
``generate`` of the model registry, amorphous_ml/registry.py)."""

from __future__ import annotations


def _table(args) -> int:
    from ..cli import UserError
    from ..validate.glassvae import glassvae_table

    if len(args.names) != len(args.models):
        raise UserError("give one --names value per --models file")
    try:
        table = glassvae_table(dict(zip(args.names, args.models)), args.dataset, args.refined or [],
                               potential=args.potential, log_dir=args.log_dir, n_reference=args.n_reference,
                               potential_dir=args.potential_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from ..io import write_table

    write_table(args.out, table)
    print(table.to_string(index=False))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "glassvae-table", help="GlassVAE's Table 1 (held-out snapshots) and generation checks, one row per model",
        description="Energy RMSE/R^2, paired-distance RMSE/R^2 and node accuracy on each model's held-out snapshots; "
        "for refined generated structures the LAMMPS energy against the requested window, the energy head's "
        "prediction and the RDF distance to the held-out snapshots (next to that of minimised held-out snapshots).")
    p.add_argument("--models", nargs="+", required=True, help="model .pt files")
    p.add_argument("--names", nargs="+", required=True, help="one name per model")
    p.add_argument("--dataset", required=True, help="the snapshots the models were trained on (extxyz)")
    p.add_argument("--refined", nargs="*", default=[], help="refined generated structures (extxyz; info model, mode)")
    p.add_argument("--potential", default="cuzr_mendelev", help="potential of the reference minimisations")
    p.add_argument("--potential-dir", default=None, help="directory of the potential files (default: potentials/)")
    p.add_argument("--log-dir", required=True, help="LAMMPS logs of the reference minimisations")
    p.add_argument("--n-reference", type=int, default=4, help="held-out snapshots minimised as the RDF baseline")
    p.add_argument("--out", required=True, help="CSV")
    p.set_defaults(func=_table)
