# Simulate: melt-quench glasses with LAMMPS (code: amorphous_ml/simulate/).


rule melt_quench:
    input:
        lammps=lammps_inputs("melt_quench.in"),
    output:
        extxyz="results/{system}/glasses/{composition}_{rate}Kps_s{seed}.extxyz",
        data="results/{system}/glasses/{composition}_{rate}Kps_s{seed}.data",
    log:
        "logs/{system}/melt_quench/{composition}_{rate}Kps_s{seed}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/melt_quench/{composition}_{rate}Kps_s{seed}.tsv"
    params:
        system=lambda w: as_json(melt_quench_params(system_config(w.system))),
    threads: config["lammps"]["threads"]
    priority: melt_quench_priority
    retries: melt_quench_retries()
    resources:
        **lammps_resources(),
        **lammps_cost_resources("melt_quench", melt_quench_cost),
        # restart interval (ps): a resource, so changing it reruns nothing
        lammps_restart_every_ps=str(config["lammps"]["restart_every_ps"]),
    shell:
        # LAMMPS restart files (resumed after a kill) live in glasses/.restart/<sample>-<params hash>/: not
        # an output, removed once the glass is written
        f"{AML} melt-quench --system-name {{wildcards.system}} --system-json {{params.system:q}} "
        "--composition {wildcards.composition} --rate {wildcards.rate} --seed {wildcards.seed} "
        "--out-extxyz {output.extxyz} --out-data {output.data} --log {log} "
        "--work-dir results/{wildcards.system}/glasses/.restart "
        "--restart-every-ps {resources.lammps_restart_every_ps} " + LAMMPS_ARGS


# Datasets: training sets simulated with LAMMPS (systems.<sys>.datasets; code: amorphous_ml/simulate/datasets.py).
# A liquid run per liquid-based set, then per-part jobs (a part = samples_per_job samples) for the others.
from amorphous_ml.simulate.datasets import (
    dataset_parts,
    dataset_settings,
    generation_params,
    part_params,
    uses_liquid,
)


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*",
    part="liquid|p[0-9]+",


def dataset_config(system, dataset):
    return dataset_settings(system_config(system), dataset)


def dataset_frame_file(system, dataset, part):
    """The extxyz of one part: the liquid run itself for a liquid set, else the part's own file."""
    if part == "liquid":
        return f"results/{system}/datasets/{dataset}/liquid.extxyz"
    return f"results/{system}/datasets/{dataset}/parts/{part}.extxyz"


def dataset_frame_files(system, dataset):
    return [dataset_frame_file(system, dataset, p) for p in dataset_parts(system_config(system), dataset)]


rule dataset_liquid:
    output:
        "results/{system}/datasets/{dataset}/liquid.extxyz",
    log:
        "logs/{system}/datasets/{dataset}/liquid.lammps.log",
    benchmark:
        "results/{system}/benchmarks/datasets/{dataset}/liquid.tsv"
    params:
        gen=lambda w: as_json(generation_params(system_config(w.system), w.dataset)),
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} dataset-liquid --system-name {{wildcards.system}} --params-json {{params.gen:q}} "
        "--out {output} --log {log} " + LAMMPS_ARGS


rule dataset_part:
    input:
        liquid=lambda w: (
            [f"results/{w.system}/datasets/{w.dataset}/liquid.extxyz"]
            if uses_liquid(dataset_config(w.system, w.dataset))
            else []
        ),
    output:
        "results/{system}/datasets/{dataset}/parts/{part}.extxyz",
    log:
        "logs/{system}/datasets/{dataset}/{part}.log",
    benchmark:
        "results/{system}/benchmarks/datasets/{dataset}/{part}.tsv"
    params:
        part=lambda w: as_json(part_params(system_config(w.system), w.dataset, w.part)),
        liquid=lambda w, input: f"--liquid {input.liquid[0]}" if input.liquid else "",
        log_dir=lambda w: f"logs/{w.system}/datasets/{w.dataset}/{w.part}",
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} dataset-part --system-name {{wildcards.system}} --params-json {{params.part:q}} {{params.liquid}} "
        "--out {output} --log-dir {params.log_dir} " + LAMMPS_ARGS + " > {log} 2>&1"
