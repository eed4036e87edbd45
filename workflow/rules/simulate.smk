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
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} melt-quench --system-name {{wildcards.system}} --system-json {{params.system:q}} "
        "--composition {wildcards.composition} --rate {wildcards.rate} --seed {wildcards.seed} "
        "--out-extxyz {output.extxyz} --out-data {output.data} --log {log} " + LAMMPS_ARGS
