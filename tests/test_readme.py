"""The README's quick start stays true: CI runs exactly the README's test command."""

from conftest import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "-m pytest" in line]
    assert len(ci) == 1 and ci[0] in readme, ci
    assert "snakemake -c2 results/sio2/fracture.csv" in readme


def test_every_cli_command_has_help():
    import subprocess
    import sys

    from amorphous_ml.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        out = subprocess.run([sys.executable, "-m", "amorphous_ml", name, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage:" in out.stdout, name
