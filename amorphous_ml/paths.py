"""Where the workflow's data files are: in the source tree, or shipped inside an installed wheel.

``config.yaml``, ``workflow/schemas/config.schema.yaml``, ``lammps_inputs/`` and ``potentials/`` live at
the top of the repository. A non-editable install carries copies in ``amorphous_ml/_data/`` (setup.py);
a source checkout or an editable install has no ``_data`` and uses the tree.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_path", "SCHEMA_PATH", "DEFAULT_CONFIG", "INPUT_DIR", "POTENTIAL_DIR"]

_PACKAGE = Path(__file__).resolve().parent
_SHIPPED = _PACKAGE / "_data"
_SOURCE = _PACKAGE.parent


def data_path(relative: str) -> Path:
    """The shipped copy of a repository file or directory if this is an installed wheel, else the tree's."""
    shipped = _SHIPPED / relative
    return shipped if shipped.exists() else _SOURCE / relative


SCHEMA_PATH = data_path("workflow/schemas/config.schema.yaml")
DEFAULT_CONFIG = data_path("config.yaml")
INPUT_DIR = data_path("lammps_inputs")
POTENTIAL_DIR = data_path("potentials")
