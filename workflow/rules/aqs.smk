# AQS: athermal quasi-static deformation of the simulated glasses in 12 loading modes (one job per
# sample and mode) and per-atom ln(D2min) labels (one gather job per sample), for systems with an `aqs`
# section. Code: amorphous_ml/simulate/aqs.py (LAMMPS, lammps_inputs/aqs.in) and
# amorphous_ml/validate/aqs.py (D2min with OVITO, labels, table, plot).
from amorphous_ml.samples import sample_name
from amorphous_ml.simulate.aqs import (
    ALL_MODES,
    aqs_label_params,
    aqs_mode_params,
    aqs_mode_runtime_min,
    aqs_samples_filter,
)


def aqs_config(system):
    a = system_config(system).get("aqs")
    return a if a and a.get("enabled", True) else None


def aqs_samples(system):
    """Simulated glasses of a system that get AQS labels (aqs.compositions / cooling_rates / samples_per_rate)."""
    s = system_config(system)
    if aqs_config(system) is None:
        return []
    return [
        sample_name(comp, {"cooling_rate": rate}, s["seed"] + i)
        for comp in s["compositions"]
        for rate in s["cooling_rates"]
        for i in range(s["samples_per_rate"])
        if aqs_samples_filter(s, comp, rate, i)
    ]


def aqs_modes(system):
    return list(aqs_config(system)["modes"])


def aqs_targets(system):
    """What `all` builds for a system with AQS: the labelled structures, the stress-strain table and plot."""
    samples = aqs_samples(system)
    if not samples:
        return []
    return [f"results/{system}/aqs/{s}.extxyz" for s in samples] + [
        f"results/{system}/aqs.csv",
        f"results/{system}/aqs.png",
    ]


localrules:
    aqs_table,


rule aqs_mode:
    input:
        structure="results/{system}/glasses/{sample}.extxyz",
    output:
        extxyz="results/{system}/aqs/modes/{sample}/{mode}.extxyz",
        csv="results/{system}/aqs/modes/{sample}/{mode}.csv",
    wildcard_constraints:
        mode="|".join(ALL_MODES),
    log:
        "logs/{system}/aqs/{sample}/{mode}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/aqs/{sample}/{mode}.tsv"
    params:
        system=lambda w: as_json(aqs_mode_params(system_config(w.system))),
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=lambda w, threads: aqs_mode_runtime_min(system_config(w.system), threads),
    shell:
        f"{AML} aqs-mode --system-json {{params.system:q}} --structure {{input.structure}} "
        "--mode {wildcards.mode} --sample {wildcards.sample} --out-extxyz {output.extxyz} "
        "--out-csv {output.csv} --log {log} " + LAMMPS_ARGS


rule aqs_labels:
    input:
        lambda w: [f"results/{w.system}/aqs/modes/{w.sample}/{m}.extxyz" for m in aqs_modes(w.system)],
    output:
        "results/{system}/aqs/{sample}.extxyz",
    log:
        "logs/{system}/aqs/{sample}/labels.log",
    benchmark:
        "results/{system}/benchmarks/aqs/{sample}/labels.tsv"
    params:
        settings=lambda w: as_json(aqs_label_params(system_config(w.system))),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        f"{AML} aqs-labels {{input}} --settings-json {{params.settings:q}} --out {{output}} > {{log}} 2>&1"


rule aqs_table:
    input:
        lambda w: [
            f"results/{w.system}/aqs/modes/{s}/{m}.csv" for s in aqs_samples(w.system) for m in aqs_modes(w.system)
        ],
    output:
        csv=report("results/{system}/aqs.csv", caption="../report/aqs_table.rst", category="Mechanics"),
        png=report("results/{system}/aqs.png", caption="../report/aqs_plot.rst", category="Mechanics"),
    log:
        "logs/{system}/aqs_table.log",
    shell:
        f"{AML} aqs-table {{input}} --out {{output.csv}} --plot {{output.png}} "
        "--title {wildcards.system:q} > {log} 2>&1"
