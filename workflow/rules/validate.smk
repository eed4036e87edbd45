# Validate: structure metrics of every sample, the structure and benchmark tables, and the figures
# (code: amorphous_ml/validate/structure.py, compare.py, plots.py; CLI: amorphous_ml/validate/cli.py).


def analysis_json(system):
    """The system's `analysis` block (schema defaults filled) as the CLI's --settings-json."""
    return as_json(system_config(system)["analysis"])


def structure_metric_files(system, suffix=".json"):
    """Every sample's metrics, and those of the dataset frames models are benchmarked against."""
    return [f"results/{system}/structure/{src}/{s}{suffix}" for src, s in samples(system) + reference_samples(system)]


def raw_structure_metric_files(system, suffix=".json"):
    """Metrics of the generated structures minimised only (no refinement MD): the generator's own score."""
    return [f"results/{system}/structure_raw/{src}/{s}{suffix}" for src, s in samples(system) if src != "simulated"]


def structure_plot_kinds(system):
    """RDF and angle figures always; rings and Voronoi where the system's analysis asks for them."""
    a = system_config(system)["analysis"]
    return ["rdf", "angles"] + (["rings"] if a["ring_max_length"] else []) + (
        ["voronoi"] if a["voronoi_radii"] else []
    )


def steps_models(system):
    """Enabled models with `sampling_steps`: name -> {kind, reference}; the reference is the set the model
    trained on (AMShortcut Table 1), else its benchmark reference."""
    return {name: {"kind": m["kind"], "reference": m.get("dataset") or registry.reference_source(name, m)}
            for name, m in model_configs(system).items() if m.get("sampling_steps")}


def validation_targets(system):
    """Everything the validate stage produces for one system (tables, figures)."""
    return [f"results/{system}/structure.csv", f"results/{system}/benchmark.csv"] + [
        f"results/{system}/plots/{kind}.png" for kind in structure_plot_kinds(system)
    ] + [f"results/{system}/plots/parity.png"] + (
        [f"results/{system}/inverse_design.csv"] if target_models(system) else []
    ) + (
        [f"results/{system}/steps_vs_quality.csv", f"results/{system}/plots/steps_vs_quality.png"]
        if steps_models(system) else []
    )


rule structure_metrics:
    input:
        structure=lambda w: structure_file(w.system, w.source, w.sample),
        # the minimisation (energy_per_atom_min) reads the template and the potential
        lammps=lambda w: lammps_input_files(system_config(w.system), "minimize.in")
        if system_config(w.system)["analysis"]["minimize"] else [],
    output:
        json="results/{system}/structure/{source}/{sample}.json",
        descriptors="results/{system}/structure/{source}/{sample}.quests.npy",
    log:
        stdout="logs/{system}/structure/{source}/{sample}.log",
        lammps="logs/{system}/structure/{source}/{sample}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/structure/{source}/{sample}.tsv"
    params:
        analysis=lambda w: analysis_json(w.system),
        potential=lambda w: system_config(w.system)["potential"],
        potdir=lambda w: potential_dir_arg(w.system),
    threads: 1
    resources:
        **lammps_resources(),
        mem_mb=4000,
        runtime=30,
    shell:
        f"{AML} structure-metrics --structure {{input.structure}} --out {{output.json}} "
        "--descriptors {output.descriptors} --source {wildcards.source} --sample {wildcards.sample} "
        "--potential {params.potential} {params.potdir} --settings-json {params.analysis:q} "
        "--log {log.lammps} " + LAMMPS_ARGS + " > {log.stdout} 2>&1"


rule structure_metrics_raw:
    """Structure metrics of a generated structure after minimisation only (stage 'raw')."""
    input:
        structure="results/{system}/minimized/{source}/{sample}.extxyz",
    output:
        json="results/{system}/structure_raw/{source}/{sample}.json",
        descriptors="results/{system}/structure_raw/{source}/{sample}.quests.npy",
    log:
        stdout="logs/{system}/structure_raw/{source}/{sample}.log",
        lammps="logs/{system}/structure_raw/{source}/{sample}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/structure_raw/{source}/{sample}.tsv"
    params:
        analysis=lambda w: analysis_json(w.system),
        potential=lambda w: system_config(w.system)["potential"],
        potdir=lambda w: potential_dir_arg(w.system),
    threads: 1
    resources:
        **lammps_resources(),
        mem_mb=4000,
        runtime=30,
    shell:
        f"{AML} structure-metrics --structure {{input.structure}} --out {{output.json}} "
        "--descriptors {output.descriptors} --source {wildcards.source} --sample {wildcards.sample} --stage raw "
        "--potential {params.potential} {params.potdir} --settings-json {params.analysis:q} "
        "--log {log.lammps} " + LAMMPS_ARGS + " > {log.stdout} 2>&1"


rule structure_table:
    input:
        lambda w: structure_metric_files(w.system) + raw_structure_metric_files(w.system),
    output:
        report("results/{system}/structure.csv", caption="../report/structure_table.rst", category="Structure"),
    log:
        "logs/{system}/structure_table.log",
    benchmark:
        "results/{system}/benchmarks/structure_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        f"{AML} structure-table {{input}} --out {{output}} > {{log}} 2>&1"


rule benchmark_table:
    input:
        json=lambda w: structure_metric_files(w.system) + raw_structure_metric_files(w.system),
        descriptors=lambda w: structure_metric_files(w.system, ".quests.npy")
        + raw_structure_metric_files(w.system, ".quests.npy"),
    output:
        report("results/{system}/benchmark.csv", caption="../report/benchmark_table.rst", category="Benchmark"),
    log:
        "logs/{system}/benchmark_table.log",
    benchmark:
        "results/{system}/benchmarks/benchmark_table.tsv"
    params:
        analysis=lambda w: analysis_json(w.system),
        references=lambda w: as_json(benchmark_references(w.system)),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        f"{AML} benchmark-table {{input.json}} --settings-json {{params.analysis:q}} "
        "--references-json {params.references:q} --out {output} > {log} 2>&1"


rule plot_structure:
    input:
        lambda w: structure_metric_files(w.system),
    output:
        report(
            "results/{system}/plots/{kind}.png",
            caption="../report/structure_plot.rst",
            category="Structure",
            subcategory="{system}",
            labels={"system": "{system}", "figure": "{kind}"},
        ),
    wildcard_constraints:
        kind="rdf|angles|rings|voronoi",
    log:
        "logs/{system}/plot_{kind}.log",
    benchmark:
        "results/{system}/benchmarks/plot_{kind}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        f"{AML} plot-structure {{input}} --kind {{wildcards.kind}} --out {{output}} > {{log}} 2>&1"


rule plot_parity:
    input:
        structure="results/{system}/structure.csv",
        elastic="results/{system}/elastic.csv",
        fracture="results/{system}/fracture.csv",
    output:
        report(
            "results/{system}/plots/parity.png",
            caption="../report/parity_plot.rst",
            category="Benchmark",
            labels={"system": "{system}", "figure": "parity"},
        ),
    log:
        "logs/{system}/plot_parity.log",
    benchmark:
        "results/{system}/benchmarks/plot_parity.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        f"{AML} plot-parity {{input.structure}} {{input.elastic}} {{input.fracture}} --out {{output}} > {{log}} 2>&1"


rule validate:
    """Target: every system's structure and benchmark tables and validation figures."""
    input:
        [target for system in config["systems"] for target in validation_targets(system)],


# Reference sets and inverse design (code: amorphous_ml/validate/inverse.py, labels.py).


rule dataset_frame:
    """One frame of a dataset as its own file, for the structure metrics of a reference set."""
    input:
        "results/{system}/datasets/{dataset}.extxyz",
    output:
        "results/{system}/datasets/{dataset}/frames/{sample}.extxyz",
    log:
        "logs/{system}/datasets/{dataset}/frames/{sample}.log",
    shell:
        f"{AML} extract-frame --input {{input}} --sample {{wildcards.sample}} --out {{output}} > {{log}} 2>&1"


def target_label_system(system, model):
    """The slices of the system config the labels of a model's target properties read."""
    from amorphous_ml.validate.labels import label_params

    return as_json(label_params(system_config(system), target_models(system)[model])["system"])


rule measure_targets:
    input:
        structure="results/{system}/refined/{model}/{sample}.extxyz",
    output:
        "results/{system}/inverse/{model}/{sample}.json",
    log:
        "logs/{system}/inverse/{model}/{sample}.log",
    benchmark:
        "results/{system}/benchmarks/inverse/{model}/{sample}.tsv"
    params:
        system=lambda w: target_label_system(w.system, w.model),
        log_dir=lambda w: f"logs/{w.system}/inverse/{w.model}",
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=60,
    shell:
        f"{AML} measure-targets --structure {{input.structure}} --system-json {{params.system:q}} "
        "--model {wildcards.model} --sample {wildcards.sample} --out {output} --log-dir {params.log_dir} "
        + LAMMPS_ARGS + " > {log} 2>&1"


rule inverse_design_table:
    input:
        measured=lambda w: [f"results/{w.system}/inverse/{m}/{s}.json" for m in target_models(w.system)
                            for s in generated_samples(w.system, m)],
        training=lambda w: sorted({f for m in target_models(w.system) for f in model_training_inputs(w.system, m)}),
    output:
        csv=report("results/{system}/inverse_design.csv", caption="../report/inverse_design.rst", category="Benchmark"),
        summary="results/{system}/inverse_design_summary.csv",
    log:
        "logs/{system}/inverse_design_table.log",
    params:
        training=lambda w: as_json({m: model_training_inputs(w.system, m) for m in target_models(w.system)}),
    shell:
        f"{AML} inverse-design-table {{input.measured}} --training-json {{params.training:q}} "
        "--out {output.csv} --summary {output.summary} > {log} 2>&1"


# Quality against the number of sampling steps (AMShortcut Table 1; code: amorphous_ml/validate/steps.py).


def steps_inputs(system):
    models = steps_models(system)
    refs = {m["reference"] for m in models.values()}
    # the generator's own quality: generated structures minimised only (stage raw), whatever the model's refine
    files = [f"results/{system}/structure_raw/{name}/{s}.json" for name in models
             for s in generated_samples(system, name)]
    datasets = system_config(system).get("datasets", {})
    if refs & set(datasets):
        from amorphous_ml.simulate.datasets import dataset_samples

        files += [f"results/{system}/structure/{ref}/{s.sample}.json" for ref in sorted(refs & set(datasets))
                  for s in dataset_samples(system_config(system), ref)]
    if "simulated" in refs:
        files += [f"results/{system}/structure/simulated/{s}.json" for s in simulated_samples(system)]
    return files


rule steps_vs_quality:
    input:
        json=lambda w: steps_inputs(w.system),
        generated=lambda w: [f"results/{w.system}/generated/{name}/{s}.extxyz" for name in steps_models(w.system)
                             for s in generated_samples(w.system, name)],
    output:
        csv=report("results/{system}/steps_vs_quality.csv", caption="../report/steps_vs_quality.rst",
                   category="Benchmark"),
        plot=report("results/{system}/plots/steps_vs_quality.png", caption="../report/steps_vs_quality.rst",
                    category="Benchmark", labels={"system": "{system}", "figure": "steps_vs_quality"}),
    log:
        "logs/{system}/steps_vs_quality.log",
    benchmark:
        "results/{system}/benchmarks/steps_vs_quality.tsv"
    params:
        models=lambda w: as_json(steps_models(w.system)),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        f"{AML} steps-vs-quality {{input.json}} --generated {{input.generated}} --models-json {{params.models:q}} "
        "--out {output.csv} --plot {output.plot} > {log} 2>&1"
