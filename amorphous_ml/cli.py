"""``amorphous-ml``: the command line the Snakemake rules call. Thin: parse arguments, call the package.

Each stage registers its subcommands from its own ``cli`` module (``amorphous_ml/<stage>/cli.py``
defines ``register(subparsers)``), so the command line mirrors the DAG.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from . import __version__
from .config import ConfigError
from .io import InputFileError
from .simulate.lammps import LammpsError

#: every subcommand and the stage module that registers it (``register(subparsers)``). Each job of the DAG
#: runs one subcommand, so ``main`` imports only that module: importing all of them costs ~0.4 s per job
#: (~370 jobs in the default DAG, measured). tests/test_cli.py checks this table against the modules.
COMMANDS = {
    "check-config": "amorphous_ml.config",
    "melt-quench": "amorphous_ml.simulate.cli",
    "elastic": "amorphous_ml.simulate.cli",
    "fracture": "amorphous_ml.simulate.cli",
    "train": "amorphous_ml.learn.cli",
    "generate": "amorphous_ml.generate.cli",
    "refine": "amorphous_ml.generate.cli",
    "structure-metrics": "amorphous_ml.validate.cli",
    "structure-table": "amorphous_ml.validate.cli",
    "benchmark-table": "amorphous_ml.validate.cli",
    "plot-structure": "amorphous_ml.validate.cli",
    "plot-parity": "amorphous_ml.validate.cli",
    "extract-frame": "amorphous_ml.validate.cli",
    "fracture-table": "amorphous_ml.validate.properties",
    "elastic-table": "amorphous_ml.validate.properties",
    "measure-targets": "amorphous_ml.validate.inverse",
    "inverse-design-table": "amorphous_ml.validate.inverse",
    "dataset-liquid": "amorphous_ml.simulate.datasets",
    "dataset-part": "amorphous_ml.simulate.datasets",
    "dataset-labels": "amorphous_ml.validate.labels",
    "dataset-gather": "amorphous_ml.validate.labels",
    "dataset-table": "amorphous_ml.validate.labels",
    "list-labels": "amorphous_ml.validate.labels",
    "steps-vs-quality": "amorphous_ml.validate.steps",
    "aqs-mode": "amorphous_ml.simulate.aqs",
    "aqs-labels": "amorphous_ml.validate.aqs",
    "aqs-table": "amorphous_ml.validate.aqs",
    "gnn-scores": "amorphous_ml.validate.design",
    "design-table": "amorphous_ml.validate.design",
    "glassvae-table": "amorphous_ml.learn.glassvae_cli",
}
STAGE_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


class UserError(Exception):
    """An error caused by input (config, files, LAMMPS failure): printed as one message, no traceback."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (``command`` given and known) only the module that defines ``command``."""
    parser = argparse.ArgumentParser(
        prog="amorphous-ml",
        description="Simulate (LAMMPS), learn, generate and validate amorphous materials. "
        "Normally called by the Snakemake rules; every subcommand has --help.",
    )
    parser.add_argument("--version", action="version", version=f"amorphous-ml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else STAGE_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (UserError, ConfigError, InputFileError, LammpsError, FileNotFoundError) as exc:
        print(f"amorphous-ml {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


def run() -> None:
    """Process entry point (``amorphous-ml``, ``python -m amorphous_ml``): :func:`main`, then exit.

    Once OVITO is loaded the process ends with ``os._exit`` after flushing, skipping interpreter
    finalisation: OVITO's atexit shutdown waits, holding the GIL, for its worker threads, and a worker
    still releasing a pipeline cache needs the GIL, so the process can hang forever after its work is
    done (seen in 2 of 3 ``dataset-labels`` jobs of one default DAG run: outputs written, then stuck in
    ``Ovito::TaskManager::shutdownImplementation`` against ``FindRingsModifier::evaluateModifier``).
    Every output is already written atomically by then; nothing else registers exit work.
    """
    try:
        code = main()
    except SystemExit:
        raise
    except BaseException:  # an unexpected error: its traceback, exit status 1
        traceback.print_exc()
        code = 1
    if "ovito" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
