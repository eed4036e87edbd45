# Generate: sample structures from trained models, then refine them with the potential (LAMMPS).
# Code: amorphous_ml/generate/ (sampler, CLI) and amorphous_ml/simulate/refine.py.


rule generate_model:
    input:
        model="results/{system}/models/{model}/model.pt",
        config="results/{system}/models/{model}/model.json",
    output:
        "results/{system}/generated/{model}/{sample}.extxyz",
    log:
        "logs/{system}/generate_{model}/{sample}.log",
    benchmark:
        "results/{system}/benchmarks/generate_{model}/{sample}.tsv"
    params:
        kind=lambda w: model_section(w.system, w.model)["kind"],
        gen=lambda w: as_json(registry.generation_params(w.model, model_section(w.system, w.model), system_config(w.system), w.system)),
        state=lambda w: f"results/{w.system}/generated/{w.model}/.state",  # resumable state, keyed by model hash
    threads: config["torch_threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **torch_resources(),
        mem_mb=4000,
        runtime=600,
    shell:
        f"{AML} generate --model {{input.model}} --name {{wildcards.model}} --kind {{params.kind}} "
        "--system {wildcards.system} --samples {wildcards.sample} --out {output} --params-json {params.gen:q} "
        "--work-dir {params.state} --device {resources.torch_device} --threads {threads} --no-progress "
        "> {log} 2>&1"


rule refine_generated:
    input:
        structure="results/{system}/generated/{model}/{sample}.extxyz",
        lammps=lammps_inputs("refine.in"),
    output:
        extxyz="results/{system}/refined/{model}/{sample}.extxyz",
        data="results/{system}/refined/{model}/{sample}.data",
    log:
        "logs/{system}/refine/{model}/{sample}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/refine/{model}/{sample}.tsv"
    params:
        refine=lambda w: as_json({"refine": system_config(w.system)["models"][w.model].get("refine", {})}),
        potential=lambda w: system_config(w.system)["potential"],
        potdir=lambda w: potential_dir_arg(w.system),
    threads: config["lammps"]["threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **lammps_resources(),
        **lammps_cost_resources("refine_generated", refine_cost),
    shell:
        f"{AML} refine --input {{input.structure}} --potential {{params.potential}} {{params.potdir}} "
        "--params-json {params.refine:q} "
        "--out-extxyz {output.extxyz} --out-data {output.data} --log {log} " + LAMMPS_ARGS


rule minimize_generated:
    """A generated structure minimised only (overlaps pushed apart, CG at fixed cell, no MD): scored as 'raw'."""
    input:
        "results/{system}/generated/{model}/{sample}.extxyz",
    output:
        extxyz="results/{system}/minimized/{model}/{sample}.extxyz",
        data="results/{system}/minimized/{model}/{sample}.data",
    log:
        "logs/{system}/minimize/{model}/{sample}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/minimize/{model}/{sample}.tsv"
    params:
        refine=lambda w: as_json({"refine": {**system_config(w.system)["models"][w.model].get("refine", {}),
                                             "nvt_ps": 0, "npt_ps": 0}}),
        potential=lambda w: system_config(w.system)["potential"],
    threads: config["lammps"]["threads"]
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=30,
    shell:
        f"{AML} refine --input {{input}} --potential {{params.potential}} --params-json {{params.refine:q}} "
        "--out-extxyz {output.extxyz} --out-data {output.data} --log {log} " + LAMMPS_ARGS
