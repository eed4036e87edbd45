# amorphous-ml: simulate (LAMMPS) -> learn -> generate -> validate, as one DAG.
#
#   snakemake -c2 results/sio2/fracture.csv          # laptop default (config.yaml)
#   snakemake -c8 --configfile configs/paper.yaml ... # paper scale, same rules
#
# Table of contents: config validation and input functions live in workflow/rules/common.smk; each
# stage has its own rule file whose code is one hop away in amorphous_ml/<stage>/.

import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/learn.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/properties.smk"
include: "workflow/rules/validate.smk"


# Cheap table and plot jobs stay on the submitting host when running under a cluster executor.
localrules:
    all,
    fracture_table,
    elastic_table,
    structure_table,
    benchmark_table,
    plot_structure,
    plot_parity,
    validate,
    steps_vs_quality,


rule all:
    default_target: True
    input:
        [f"results/{system}/{table}.csv" for system in config["systems"] for table in ("fracture", "elastic")],
        rules.validate.input,
