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
