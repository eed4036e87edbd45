# Simulate: melt-quench glasses with LAMMPS (code: amorphous_ml/simulate/).


rule melt_quench:
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
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} melt-quench --system-name {{wildcards.system}} --system-json {{params.system:q}} "
        "--composition {wildcards.composition} --rate {wildcards.rate} --seed {wildcards.seed} "
        "--out-extxyz {output.extxyz} --out-data {output.data} --log {log} " + LAMMPS_ARGS


def npt_snapshot_datasets(system):
    return [k for k, d in system_config(system).get("datasets", {}).items() if d["protocol"] == "npt_snapshots"]


rule npt_snapshots_dataset:
    """GlassVAE's data: snapshots along one NPT cooling trajectory (amorphous_ml/simulate/trajectory.py)."""
    output:
        "results/{system}/datasets/{dataset}.extxyz",
    wildcard_constraints:
        dataset="[a-z][a-z0-9_]*",
    log:
        stdout="logs/{system}/datasets/{dataset}.log",
    benchmark:
        "results/{system}/benchmarks/datasets/{dataset}.tsv"
    params:
        system=lambda w: as_json(dataset_system_params(system_config(w.system))),
        dataset=lambda w: as_json(system_config(w.system)["datasets"][w.dataset]),
        log_prefix=lambda w: f"logs/{w.system}/datasets/{w.dataset}",
    threads: config["lammps"]["threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} npt-snapshots --system-name {{wildcards.system}} --system-json {{params.system:q}} "
        "--dataset {wildcards.dataset} --dataset-json {params.dataset:q} --out {output} "
        "--log-prefix {params.log_prefix} " + LAMMPS_ARGS + " > {log.stdout} 2>&1"
