"""amorphous-ml: simulate, learn, generate and validate amorphous materials.

The package mirrors the Snakemake DAG: ``simulate`` (LAMMPS), ``learn`` (models and training),
``generate`` (samplers) and ``validate`` (structure metrics, properties, tables, plots).
"""

__version__ = "0.1.0"
