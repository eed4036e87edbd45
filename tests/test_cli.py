"""The command line's dispatch table: ``main`` imports only the module of the subcommand it runs."""

import argparse
import importlib
import subprocess
import sys

import pytest

from amorphous_ml.cli import COMMANDS, STAGE_MODULES, build_parser
from conftest import ROOT


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


@pytest.mark.parametrize("argv, status, stream, text", [
    (["list-labels"], 0, "stdout", "shear_modulus_GPa"),
    (["check-config", "no-such-config.yaml"], 1, "stderr", "no-such-config.yaml"),
])
def test_the_process_entry_point_keeps_status_and_output_once_ovito_is_loaded(tmp_path, argv, status, stream, text):
    # run() leaves by os._exit once OVITO is imported (its atexit shutdown can deadlock): the exit status and
    # everything printed must survive that, and the console script must point at it
    code = f"import sys, ovito; from amorphous_ml.cli import run; sys.argv = ['amorphous-ml'] + {argv!r}; run()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == status, out.stderr
    assert text in getattr(out, stream), (out.stdout, out.stderr)
    assert 'amorphous-ml = "amorphous_ml.cli:run"' in (ROOT / "pyproject.toml").read_text()
