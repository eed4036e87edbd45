# GlassVAE (issue 13): the model trains, generates and refines through the generic rules (learn.smk,
# generate.smk; kind "glassvae" in amorphous_ml/registry.py); this file adds its table
# results/{system}/glassvae.csv (code: amorphous_ml/validate/glassvae.py).


def glassvae_models(system):
    """Enabled GlassVAE sections of a system (the full model and its one-switch ablations), by name."""
    return {k: m for k, m in model_configs(system).items() if m["kind"] == "glassvae"}


def glassvae_targets(system):
    """results/{system}/glassvae.csv where the system has an enabled GlassVAE section."""
    return [f"results/{system}/glassvae.csv"] if glassvae_models(system) else []


rule glassvae_table:
    input:
        models=lambda w: [f"results/{w.system}/models/{m}/model.pt" for m in glassvae_models(w.system)],
        configs=lambda w: [f"results/{w.system}/models/{m}/model.json" for m in glassvae_models(w.system)],
        dataset=lambda w: sorted({f"results/{w.system}/datasets/{m['dataset']}.extxyz"
                                  for m in glassvae_models(w.system).values()}),
        refined=lambda w: [f"results/{w.system}/refined/{m}/{s}.extxyz" for m in glassvae_models(w.system)
                           for s in generated_samples(w.system, m)],
        # the reference minimisations run refine.in with the system's potential
        lammps=lambda w: lammps_input_files(system_config(w.system), "refine.in"),
    output:
        report("results/{system}/glassvae.csv", caption="../report/glassvae_table.rst", category="GlassVAE"),
    log:
        "logs/{system}/glassvae_table.log",
    benchmark:
        "results/{system}/benchmarks/glassvae_table.tsv"
    params:
        names=lambda w: " ".join(glassvae_models(w.system)),
        potential=lambda w: system_config(w.system)["potential"],
        potdir=lambda w: potential_dir_arg(w.system),
        log_dir=lambda w: f"logs/{w.system}/glassvae_table",
    threads: 1
    resources:
        **lammps_resources(),
        mem_mb=2000,
        runtime=30,
    shell:
        f"{AML} glassvae-table --models {{input.models}} --names {{params.names}} --dataset {{input.dataset[0]}} "
        "--refined {input.refined} --potential {params.potential} {params.potdir} --log-dir {params.log_dir} "
        "--out {output} > {log} 2>&1"
