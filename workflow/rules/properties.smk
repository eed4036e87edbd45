# Properties of every sample (simulated or generated) by LAMMPS, and the comparison tables
# (code: amorphous_ml/simulate/protocols.py, amorphous_ml/validate/properties.py).


rule elastic:
    input:
        structure=lambda w: structure_file(w.system, w.source, w.sample),
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
        mem_mb=2000,
        runtime=60,
    shell:
        f"{AML} elastic --system-json {{params.system:q}} --structure {{input.structure}} "
        "--out {output} --log {log} " + LAMMPS_ARGS


rule fracture:
    input:
        structure=lambda w: structure_file(w.system, w.source, w.sample),
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
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} fracture --system-json {{params.system:q}} --structure {{input.structure}} "
        "--out {output} --log {log} " + LAMMPS_ARGS


rule fracture_table:
    input:
        lambda w: [f"results/{w.system}/fracture/{src}/{s}.csv" for src, s in samples(w.system)],
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
