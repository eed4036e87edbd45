"""Ship the workflow's data files inside the wheel (everything else is declared in pyproject.toml).

The schema, the default config.yaml, the LAMMPS input templates and the potential files live at the top
of the repository (the layout mirrors the DAG), outside the ``amorphous_ml`` package. A non-editable
``pip install .`` copies them into ``amorphous_ml/_data/`` of the wheel, where ``amorphous_ml.paths``
finds them; a source checkout or an editable install uses the files in the tree.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: repository paths shipped in the wheel, relative to the root (directories are copied whole)
DATA = ["config.yaml", "workflow/schemas/config.schema.yaml", "lammps_inputs", "potentials"]


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # editable installs read the tree itself
            return
        dest = Path(self.build_lib) / "amorphous_ml" / "_data"
        for rel in DATA:
            src, out = ROOT / rel, dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True)
            else:
                shutil.copy2(src, out)


setup(cmdclass={"build_py": build_py_with_data})
