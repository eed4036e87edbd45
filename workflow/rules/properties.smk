# Properties of every sample (simulated or generated) by LAMMPS, and the comparison tables
# (code: amorphous_ml/simulate/protocols.py, amorphous_ml/validate/properties.py).


rule elastic:
    input:
        structure=lambda w: structure_file(w.system, w.source, w.sample),
        lammps=lammps_inputs("elastic.in"),
    output:
        "results/{system}/elastic/{source}/{sample}.json",
    log:
        "logs/{system}/elastic/{source}/{sample}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/elastic/{source}/{sample}.tsv"
    params:
        system=lambda w: as_json(elastic_params(system_config(w.system))),
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        **lammps_cost_resources("elastic", sample_cost(md_cost.elastic_atom_steps)),
    shell:
        f"{AML} elastic --system-json {{params.system:q}} --structure {{input.structure}} "
        "--out {output} --log {log} " + LAMMPS_ARGS


rule fracture:
    input:
        structure=lambda w: structure_file(w.system, w.source, w.sample),
        lammps=lammps_inputs("fracture.in"),
    output:
        "results/{system}/fracture/{source}/{sample}.csv",
    log:
        "logs/{system}/fracture/{source}/{sample}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/fracture/{source}/{sample}.tsv"
    params:
        system=lambda w: as_json(fracture_params(system_config(w.system))),
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        **lammps_cost_resources("fracture", sample_cost(md_cost.fracture_atom_steps)),
    shell:
        f"{AML} fracture --system-json {{params.system:q}} --structure {{input.structure}} "
        "--out {output} --log {log} " + LAMMPS_ARGS


rule fracture_table:
    input:
        lambda w: [f"results/{w.system}/fracture/{src}/{s}.csv" for src, s in fracture_samples(w.system)],
    output:
        csv=report("results/{system}/fracture.csv", caption="../report/fracture_table.rst", category="Mechanics"),
        png=report("results/{system}/fracture.png", caption="../report/fracture_plot.rst", category="Mechanics"),
    log:
        "logs/{system}/fracture_table.log",
    params:
        smoothing=lambda w: system_config(w.system)["analysis"]["uts_smoothing_strain"],
    shell:
        f"{AML} fracture-table {{input}} --out {{output.csv}} --plot {{output.png}} "
        "--title {wildcards.system:q} --smoothing-strain {params.smoothing} > {log} 2>&1"


rule elastic_table:
    input:
        lambda w: [f"results/{w.system}/elastic/{src}/{s}.json" for src, s in samples(w.system)],
    output:
        report("results/{system}/elastic.csv", caption="../report/elastic_table.rst", category="Mechanics"),
    log:
        "logs/{system}/elastic_table.log",
    shell:
        f"{AML} elastic-table {{input}} --out {{output}} > {{log}} 2>&1"


# Dataset labels (the registry in amorphous_ml/validate/labels.py: a label named in a dataset's `labels:`
# is computed here without a new rule), the gathered dataset and the per-system dataset table.
from amorphous_ml.validate.labels import label_params


def configured_labels(system, dataset):
    return list(dataset_config(system, dataset)["labels"])


def dataset_label_files(system, dataset):
    if not configured_labels(system, dataset):
        return []
    return [f"results/{system}/datasets/{dataset}/labels/{p}.json"
            for p in dataset_parts(system_config(system), dataset)]


def dataset_files(system):
    names = list(system_config(system)["datasets"])
    if not names:
        raise ValueError(f"system {system!r} has no datasets (systems.{system}.datasets in the config)")
    return [f"results/{system}/datasets/{d}.extxyz" for d in names]


rule dataset_labels:
    input:
        frames=lambda w: dataset_frame_file(w.system, w.dataset, w.part),
    output:
        "results/{system}/datasets/{dataset}/labels/{part}.json",
    log:
        "logs/{system}/datasets/{dataset}/labels_{part}.log",
    benchmark:
        "results/{system}/benchmarks/datasets/{dataset}/labels_{part}.tsv"
    params:
        labels=lambda w: as_json(label_params(system_config(w.system), configured_labels(w.system, w.dataset))),
        log_dir=lambda w: f"logs/{w.system}/datasets/{w.dataset}/labels",
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=120,
    shell:
        f"{AML} dataset-labels --frames {{input.frames}} --params-json {{params.labels:q}} --out {{output}} "
        "--log-dir {params.log_dir} " + LAMMPS_ARGS + " > {log} 2>&1"


rule dataset:
    """Target: results/{system}/datasets/{dataset}.extxyz, every frame with its labels in the info."""
    input:
        frames=lambda w: dataset_frame_files(w.system, w.dataset),
        labels=lambda w: dataset_label_files(w.system, w.dataset),
    output:
        "results/{system}/datasets/{dataset}.extxyz",
    log:
        "logs/{system}/datasets/{dataset}/gather.log",
    params:
        labels=lambda w: " ".join(configured_labels(w.system, w.dataset)),
        expect=lambda w: dataset_config(w.system, w.dataset)["samples"],
    shell:
        f"{AML} dataset-gather --frames {{input.frames}} --labels-json {{input.labels}} "
        "--labels {params.labels} --expect {params.expect} --out {output} > {log} 2>&1"


rule dataset_table:
    """Target: results/{system}/dataset.csv, one row per frame of every dataset of the system."""
    input:
        lambda w: dataset_files(w.system),
    output:
        report("results/{system}/dataset.csv", caption="../report/dataset_table.rst", category="Datasets"),
    log:
        "logs/{system}/dataset_table.log",
    shell:
        f"{AML} dataset-table {{input}} --out {{output}} > {{log}} 2>&1"


# Gathering and the table are cheap: they stay on the submitting host under a cluster executor.
localrules:
    dataset,
    dataset_table,
