"""The command line's dispatch table: ``main`` imports only the module of the subcommand it runs."""

import argparse
import importlib
import subprocess
import sys

from amorphous_ml.cli import COMMANDS, STAGE_MODULES, build_parser


def test_the_dispatch_table_names_every_command_with_the_module_that_registers_it():
    registered = {}
    for name in STAGE_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == COMMANDS


def test_a_known_command_builds_only_its_own_parser_and_an_unknown_one_the_whole_line():
    only = next(a for a in build_parser("refine")._actions if a.dest == "command")
    assert set(only.choices) == {"generate", "refine"}
    whole = next(a for a in build_parser("no-such-command")._actions if a.dest == "command")
    assert set(whole.choices) == set(COMMANDS)


def test_a_job_does_not_import_the_other_stages():
    code = ("import sys; from amorphous_ml.cli import main; main(['list-labels']); "
            "print(sorted(m for m in ('amorphous_ml.validate.cli', 'amorphous_ml.simulate.aqs', "
            "'amorphous_ml.learn.glassvae_cli') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
