# Generate: sample structures from trained models, then refine them with the potential (LAMMPS).
# Code: amorphous_ml/generate/ (sampler, CLI) and amorphous_ml/simulate/refine.py.


rule generate_dm2:
    input:
        model="results/{system}/models/dm2/model.pt",
        config="results/{system}/models/dm2/model.json",
    output:
        "results/{system}/generated/dm2/{composition}_{rate}Kps_s{seed}.extxyz",
    log:
        "logs/{system}/generate_dm2/{composition}_{rate}Kps_s{seed}.log",
    benchmark:
        "results/{system}/benchmarks/generate_dm2/{composition}_{rate}Kps_s{seed}.tsv"
    params:
        gen=lambda w: as_json({"generation": system_config(w.system)["models"]["dm2"]["generation"]}),
        state=lambda w: f"results/{w.system}/generated/dm2/.state",  # resumable denoising state
    threads: config["torch_threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **torch_resources(),
        mem_mb=4000,
        runtime=600,
    shell:
        f"{AML} generate-dm2 --model {{input.model}} --system {{wildcards.system}} "
        "--composition {wildcards.composition} --rate {wildcards.rate} --seeds {wildcards.seed} "
        "--out {output} --params-json {params.gen:q} --work-dir {params.state} "
        "--device {resources.torch_device} --threads {threads} --no-progress > {log} 2>&1"


rule refine_generated:
    input:
        "results/{system}/generated/{model}/{sample}.extxyz",
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
    threads: config["lammps"]["threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=240,
    shell:
        f"{AML} refine --input {{input}} --potential {{params.potential}} --params-json {{params.refine:q}} "
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
