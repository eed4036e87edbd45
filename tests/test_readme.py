"""Every command the README shows works: CI runs each one (snakemake as a dry run, CLIs with --help,
installs checked for shape), so a broken README command fails CI with the command in the test id.

Commands are the lines of fenced ``bash``/``sh``/``shell``/``console`` blocks (``&&`` chains split,
comments dropped) and inline code spans that start with ``snakemake``, ``amorphous-ml`` or
``python -m`` (a ``python script.py`` line runs the script's ``--help``). A command of a kind this file does not know fails, naming itself: teach
:func:`check_command` the new kind rather than leave a README command unchecked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^```([A-Za-z]*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_LANGS = {"bash", "sh", "shell", "console"}
INLINE = re.compile(r"(?<!`)`((?:snakemake|amorphous-ml)(?=[ `])[^`]*|(?:python3? -m |\.venv/bin/)[^`]*)`(?!`)")
#: commands the README may show that need a site's environment; each with the reason it is not run
SITE_ONLY = {"module": "environment modules are a cluster site's (loads its own LAMMPS build)"}


def readme_commands(text: str | None = None) -> list[str]:
    text = README.read_text() if text is None else text
    commands = []
    for lang, body in FENCE.findall(text):
        if lang.lower() not in SHELL_LANGS:
            continue
        for line in body.splitlines():
            line = line.strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                commands += [c.strip() for c in line.split("&&")]
    no_fences = FENCE.sub("", text)
    for span in INLINE.findall(no_fences):
        commands += [c.strip() for c in span.split("&&")]
    return list(dict.fromkeys(c for c in commands if c))


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def _snakemake_dry_run(args: list[str], workdir):
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    return cmd, _run(cmd, cwd=ROOT)


def _option_values(args: list[str], option: str) -> tuple[list[str], list[str]]:
    """The values of a multi-value option and the arguments without it."""
    if option not in args:
        return [], args
    i = args.index(option)
    j = i + 1
    while j < len(args) and not args[j].startswith("-") and not args[j].startswith("results/"):
        j += 1
    return args[i + 1:j], args[:i] + args[j:]


def _existing_upstream(args: list[str], workdir) -> None:
    """``--allowed-rules`` means everything else already exists: create the outputs of the jobs of other
    rules (empty files, one mtime, so none is older than its inputs) that a dry run without it lists."""
    allowed, rest = _option_values(args, "--allowed-rules")
    _, rest = _option_values(rest, "--forcerun")
    _, proc = _snakemake_dry_run(rest, workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        out = re.search(r"^\s+output: (.*)$", block, re.M)
        if rule and out and rule.group(1) not in allowed:
            for f in out.group(1).split(", "):
                path = workdir / f
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
                os.utime(path, (1.7e9, 1.7e9))


def _check_snakemake(args: list[str], tmp_path) -> None:
    """A dry run of exactly the README's arguments (relative paths from the repository root) in an empty
    working directory. ``--report`` needs finished outputs, so its run is the dry run without it;
    ``--allowed-rules`` needs the other rules' outputs, which are created empty first."""
    if "--report" in args:
        i = args.index("--report")
        args = args[:i] + args[i + 2:]
    if "--allowed-rules" in args:
        _existing_upstream(args, tmp_path)
    cmd, proc = _snakemake_dry_run(args, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"dry run failed ({proc.returncode}): {shlex.join(cmd)}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    # the targets the command names are what the dry run schedules (none swallowed by an option)
    targets = [a for a in args if a.startswith("results/")]
    for t in targets:
        assert t in out or "Nothing to be done" in out, f"target {t} not in the dry run:\n{out[-3000:]}"


def _check_cli_help(cmd: list[str], shown: list[str]) -> None:
    """``--help`` of the command (subcommand included) succeeds and knows every option the README uses."""
    proc = _run(cmd + ["--help"], cwd=ROOT)
    assert proc.returncode == 0 and "usage" in proc.stdout.lower(), proc.stdout[-2000:] + proc.stderr[-2000:]
    for opt in shown:
        if opt.startswith("--"):
            assert opt.split("=")[0] in proc.stdout, f"{opt} is not an option of {shlex.join(cmd)}"


def _pyproject_table(name: str) -> dict[str, str]:
    """Keys of one table of pyproject.toml with their raw values (no tomllib before Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    body = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert body, f"pyproject.toml has no [{name}]"
    return dict(re.findall(r"^([\w-]+)\s*=\s*(.*?)(?=^[\w-]+\s*=|\Z)", body.group(1), re.S | re.M))


def _check_pip_install(args: list[str]) -> None:
    """Shape only (installing is CI's job, .ci/run): an editable install of this repository, with extras
    that pyproject.toml defines."""
    assert args[:1] == ["install"], args
    if args[1].startswith("torch=="):  # the CPU build of the pinned torch, from PyTorch's own index
        pin = re.search(r'"(torch==[^"]+)"', (ROOT / "pyproject.toml").read_text())
        assert pin and args[1] == pin.group(1), f"{args[1]} is not pyproject.toml's torch pin"
        assert "--index-url" in args, args
        return
    target = args[-1]
    path, _, extras = target.partition("[")
    assert path == ".", f"pip installs {target!r}, not this repository"
    assert (ROOT / "pyproject.toml").is_file()
    defined = _pyproject_table("project.optional-dependencies")
    for extra in filter(None, extras.rstrip("]").split(",")):
        assert extra in defined, f"pip extra [{extra}] is not in pyproject.toml ({', '.join(defined)})"


def _check_pytest(args: list[str]) -> None:
    """The README's test command: pytest runs (--help: running the suite inside the suite would recurse);
    any ``-m MARKER`` is a marker pyproject.toml registers."""
    proc = _run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT)
    assert proc.returncode == 0
    if "-m" in args:
        marker = args[args.index("-m") + 1]
        markers = re.findall(r'^\s*"(\w+):', _pyproject_table("tool.pytest.ini_options")["markers"], re.M)
        assert marker in markers, f"pytest marker {marker!r} is not registered ({markers})"


def check_command(command: str, tmp_path) -> None:
    args = shlex.split(command, comments=True)
    prog, rest = args[0], args[1:]
    if prog.startswith(".venv/bin/"):  # the quick start's venv is this test's interpreter
        prog = prog.removeprefix(".venv/bin/")
    if prog in SITE_ONLY:
        pytest.skip(f"{command!r}: {SITE_ONLY[prog]}")
    if prog in ("python3", "python") and rest[:2] == ["-m", "venv"]:
        assert rest[2:] == [".venv"], command
        return
    if prog in ("python3", "python") and rest and rest[0].endswith(".py"):  # a script: its --help
        assert (ROOT / rest[0]).is_file(), f"{rest[0]} does not exist"
        _check_cli_help([sys.executable, str(ROOT / rest[0])], rest[1:])
        return
    if prog in ("python3", "python") and rest[:1] == ["-m"]:
        prog, rest = rest[1], rest[2:]
    if prog == "snakemake":
        _check_snakemake(rest, tmp_path)
    elif prog == "pip":
        _check_pip_install(rest)
    elif prog == "pytest":
        _check_pytest(rest)
    elif prog in ("amorphous-ml", "amorphous_ml"):
        sub = [a for a in rest[:1] if not a.startswith("-") and not a.startswith("[")]
        _check_cli_help([sys.executable, "-m", "amorphous_ml", *sub], rest)
    elif prog == "bash" and rest and (ROOT / rest[0]).is_file():
        assert _run(["bash", "-n", str(ROOT / rest[0])]).returncode == 0, f"{rest[0]}: bash syntax error"
    else:
        pytest.fail(f"README command {command!r}: tests/test_readme.py does not know how to check "
                    f"{prog!r}; add it to check_command")


COMMANDS = readme_commands()


def test_the_readme_shows_the_commands_users_need():
    """The extraction finds the quick start, the paper-scale and the cluster commands (so an empty list
    cannot pass the parametrised test below)."""
    assert ".venv/bin/snakemake -c2 results/sio2/fracture.csv" in COMMANDS
    assert any("configs/paper.yaml" in c and "profiles/slurm" not in c for c in COMMANDS)
    assert any("--profile profiles/slurm" in c for c in COMMANDS)
    assert len(COMMANDS) >= 10, COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=[c.split("#")[0].strip() for c in COMMANDS])
def test_readme_command_works(command, tmp_path):
    check_command(command, tmp_path)


def test_a_swallowed_target_is_caught(tmp_path):
    """`--configfile FILE TARGET` reads TARGET as a second config file: the check must fail on it."""
    with pytest.raises(AssertionError):
        check_command("snakemake -c2 --configfile configs/paper.yaml results/sio2/fracture.csv", tmp_path)


def test_extraction_of_fenced_and_inline_commands():
    text = ("Run `snakemake -n all` or `amorphous-ml --help`, not `ls`.\n\n```bash\n# comment\n"
            "a && b\n```\n\n```yaml\nkey: 1\n```\n\n```\nnot a command\n```\n")
    assert readme_commands(text) == ["a", "b", "snakemake -n all", "amorphous-ml --help"]


def test_ci_runs_the_readme_test_command():
    readme = README.read_text()
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "-m pytest" in line]
    assert len(ci) == 1 and ci[0] in readme, ci
    assert "snakemake -c2 results/sio2/fracture.csv" in readme


def test_every_cli_command_has_help(capsys):
    """Each subcommand's --help through ``main`` (the path a job takes: only that command's module is
    imported), in-process; the ``python -m amorphous_ml`` entry point itself in a subprocess."""
    from amorphous_ml.cli import build_parser, main

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert len(sub.choices) > 10
    for name in sub.choices:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert exit_.value.code == 0 and out.startswith("usage: amorphous-ml " + name), name
    for argv in (["--help"], [next(iter(sub.choices)), "--help"]):
        out = subprocess.run([sys.executable, "-m", "amorphous_ml", *argv], capture_output=True, text=True)
        assert out.returncode == 0 and "usage:" in out.stdout, argv
