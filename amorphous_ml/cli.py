"""``amorphous-ml``: the command line the Snakemake rules call. Thin: parse arguments, call the package.

Each stage registers its subcommands from its own ``cli`` module (``amorphous_ml/<stage>/cli.py``
defines ``register(subparsers)``), so the command line mirrors the DAG.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .config import ConfigError
from .io import InputFileError
from .simulate.lammps import LammpsError

STAGE_MODULES = (
    "amorphous_ml.config",
    "amorphous_ml.simulate.cli",
    "amorphous_ml.learn.cli",
    "amorphous_ml.generate.cli",
    "amorphous_ml.validate.cli",
    "amorphous_ml.validate.properties",
    "amorphous_ml.validate.inverse",
    "amorphous_ml.simulate.datasets",
    "amorphous_ml.validate.labels",
    "amorphous_ml.validate.steps",
    "amorphous_ml.simulate.aqs",
    "amorphous_ml.validate.aqs",
    "amorphous_ml.validate.design",
    "amorphous_ml.learn.glassvae_cli",
)


class UserError(Exception):
    """An error caused by input (config, files, LAMMPS failure): printed as one message, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amorphous-ml",
        description="Simulate (LAMMPS), learn, generate and validate amorphous materials. "
        "Normally called by the Snakemake rules; every subcommand has --help.",
    )
    parser.add_argument("--version", action="version", version=f"amorphous-ml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (UserError, ConfigError, InputFileError, LammpsError, FileNotFoundError) as exc:
        print(f"amorphous-ml {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
