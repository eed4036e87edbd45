# amorphous-ml: simulate (LAMMPS) -> learn -> generate -> validate, as one DAG.
#
#   snakemake -c2 results/sio2/fracture.csv                                  # laptop default (config.yaml)
#   snakemake -c8 results/sio2/fracture.csv --configfile configs/paper.yaml  # paper scale, same rules
# (--configfile takes several files: put targets before it, or end its list with --.)
#
# Table of contents: config validation and input functions live in workflow/rules/common.smk; each
# stage has its own rule file whose code is one hop away in amorphous_ml/<stage>/.

import os

from snakemake.utils import min_version

min_version("9.0")


# A config named with --configfile is merged into the embedded config.yaml (Snakemake's deep merge:
# mappings key by key, lists and values replaced), unless it says `self_contained: true` (configs/paper.yaml):
# then config.yaml is not read at all and every key the named files leave out takes its schema default.
from amorphous_ml.config import named_configs_self_contained

if not named_configs_self_contained(workflow.overwrite_configfiles):

    configfile: os.path.join(workflow.basedir, "config.yaml")



include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/learn.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/properties.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/aqs.smk"
include: "workflow/rules/gnn.smk"
include: "workflow/rules/glassvae.smk"


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
    glassvae_table,


rule all:
    default_target: True
    input:
        [f"results/{system}/{table}.csv" for system in config["systems"] for table in ("fracture", "elastic")],
        rules.validate.input,
        [target for system in config["systems"] for target in aqs_targets(system)],
        [target for system in config["systems"] for target in gnn_targets(system)],
        [target for system in config["systems"] for target in glassvae_targets(system)],
