# GlassVAE (issue 13): train on a simulated dataset, generate from the prior and into an energy window,
# refine (generic refine_generated rule), and the Table-1 table results/{system}/glassvae.csv.
# Code: amorphous_ml/learn/vae.py, learn/models/glassvae.py, generate/glassvae.py, validate/glassvae.py.
from amorphous_ml.learn.glassvae_cli import glassvae_training_section


def glassvae_models(system):
    """Enabled GlassVAE sections of a system (the full model and its one-switch ablations), by name."""
    return {k: m for k, m in system_config(system).get("models", {}).items()
            if m.get("kind", k) == "glassvae" and m.get("enabled", True)}


def glassvae_generated(system, model, folder="refined"):
    m = glassvae_models(system)[model]
    g = m["generation"]
    return [f"results/{system}/{folder}/{model}/{mode}_s{m['seed'] + i}.extxyz"
            for mode in g["modes"] for i in range(g["samples"])]


def glassvae_targets():
    return [f"results/{s}/glassvae.csv" for s in config["systems"] if glassvae_models(s)]


rule train_glassvae:
    input:
        lambda w: f"results/{w.system}/datasets/{glassvae_models(w.system)[w.model]['dataset']}.extxyz",
    output:
        model="results/{system}/models/{model}/model.pt",
        config="results/{system}/models/{model}/model.json",
    wildcard_constraints:
        model="glassvae[a-z0-9_]*",
    log:
        "logs/{system}/train_{model}.log",
    benchmark:
        "results/{system}/benchmarks/train_{model}.tsv"
    params:
        section=lambda w: as_json(glassvae_training_section(glassvae_models(w.system)[w.model])),
        work_dir=lambda w: f"results/{w.system}/models/{w.model}/work",  # resumable state; not an output
    threads: config["torch_threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **torch_resources(),
        mem_mb=4000,
        runtime=600,
    shell:
        f"{AML} train-glassvae --dataset {{input}} --params-json {{params.section:q}} --out {{output.model}} "
        "--work-dir {params.work_dir} --device {resources.torch_device} --threads {threads} --no-progress > {log} 2>&1"


rule generate_glassvae:
    input:
        model="results/{system}/models/{model}/model.pt",
        config="results/{system}/models/{model}/model.json",
    output:
        extxyz="results/{system}/generated/{model}/{mode}_s{seed}.extxyz",
        report="results/{system}/generated/{model}/{mode}_s{seed}.json",
    wildcard_constraints:
        model="glassvae[a-z0-9_]*",
        mode="prior|window",
    log:
        "logs/{system}/generate_{model}/{mode}_s{seed}.log",
    benchmark:
        "results/{system}/benchmarks/generate_{model}/{mode}_s{seed}.tsv"
    params:
        gen=lambda w: as_json({"generation": glassvae_models(w.system)[w.model]["generation"]}),
    threads: config["torch_threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **torch_resources(),
        mem_mb=2000,
        runtime=60,
    shell:
        f"{AML} generate-glassvae --model {{input.model}} --model-name {{wildcards.model}} "
        "--system {wildcards.system} --mode {wildcards.mode} --seeds {wildcards.seed} --out {output.extxyz} "
        "--report {output.report} --params-json {params.gen:q} --device {resources.torch_device} "
        "--threads {threads} > {log} 2>&1"


rule glassvae_table:
    input:
        models=lambda w: [f"results/{w.system}/models/{m}/model.pt" for m in glassvae_models(w.system)],
        configs=lambda w: [f"results/{w.system}/models/{m}/model.json" for m in glassvae_models(w.system)],
        dataset=lambda w: sorted({f"results/{w.system}/datasets/{m['dataset']}.extxyz"
                                  for m in glassvae_models(w.system).values()}),
        refined=lambda w: [f for m in glassvae_models(w.system) for f in glassvae_generated(w.system, m)],
    output:
        report("results/{system}/glassvae.csv", caption="../report/glassvae_table.rst", category="GlassVAE"),
    log:
        stdout="logs/{system}/glassvae_table.log",
    params:
        names=lambda w: " ".join(glassvae_models(w.system)),
        potential=lambda w: system_config(w.system)["potential"],
        log_dir=lambda w: f"logs/{w.system}/glassvae_table",
    threads: 1
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=30,
    shell:
        f"{AML} glassvae-table --models {{input.models}} --names {{params.names}} --dataset {{input.dataset[0]}} "
        "--refined {input.refined} --potential {params.potential} --log-dir {params.log_dir} "
        "--out {output} > {log.stdout} 2>&1"


rule refine_glassvae:
    """The generic refinement (amorphous-ml refine) for GlassVAE's {mode}_s{seed} sample names."""
    input:
        "results/{system}/generated/{model}/{mode}_s{seed}.extxyz",
    output:
        extxyz="results/{system}/refined/{model}/{mode}_s{seed}.extxyz",
        data="results/{system}/refined/{model}/{mode}_s{seed}.data",
    wildcard_constraints:
        model="glassvae[a-z0-9_]*",
        mode="prior|window",
    log:
        "logs/{system}/refine/{model}/{mode}_s{seed}.lammps.log",
    benchmark:
        "results/{system}/benchmarks/refine/{model}/{mode}_s{seed}.tsv"
    params:
        refine=lambda w: as_json({"refine": glassvae_models(w.system)[w.model]["refine"]}),
        potential=lambda w: system_config(w.system)["potential"],
    threads: config["lammps"]["threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=60,
    shell:
        f"{AML} refine --input {{input}} --potential {{params.potential}} --params-json {{params.refine:q}} "
        "--out-extxyz {output.extxyz} --out-data {output.data} --log {log} " + LAMMPS_ARGS
