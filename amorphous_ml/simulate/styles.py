"""Which LAMMPS styles an input file names (pair styles with the sub-styles of hybrid, fixes).

The inputs may only use styles with OPENMP and KOKKOS variants; ``tests/test_lammps_layer.py`` checks
the styles found here against the installed LAMMPS (OPENMP) and LAMMPS's documented KOKKOS styles.
"""

from __future__ import annotations

import re
from pathlib import Path

from .binary import pair_styles_in_text

__all__ = ["styles_in_input"]

_FIX = re.compile(r"^\s*fix\s+\S+\s+\S+\s+(\S+)", re.M)


def styles_in_input(path: str | Path) -> dict[str, set[str]]:
    """Pair styles (``hybrid*`` and its sub-styles) and fix styles named in a LAMMPS input (comments ignored)."""
    text = "\n".join(line.split("#", 1)[0] for line in Path(path).read_text().splitlines())
    return {"pair": set(pair_styles_in_text(text, keep_hybrid=True)), "fix": {m.group(1) for m in _FIX.finditer(text)}}
