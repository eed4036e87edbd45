# Learn: train generative models on the simulated glasses (code: amorphous_ml/learn/).
from amorphous_ml.learn.cli import dm2_training_section
from amorphous_ml.simulate.params import as_json
from amorphous_ml.simulate.systems import get_potential


def model_training_glasses(system, model):
    """Simulated glasses of the compositions a model is trained on."""
    s = system_config(system)
    comps = s["models"][model].get("compositions") or s["compositions"]
    return [f"results/{system}/glasses/{sid}.extxyz" for sid in simulated_samples(system)
            if sid.rsplit("_", 2)[0] in comps]


def torch_resources():
    """The torch device is a resource (not a param): switching CPU/GPU reruns nothing."""
    return dict(torch_device=config["torch_device"])


rule train_dm2:
    input:
        lambda w: model_training_glasses(w.system, "dm2"),
    output:
        model="results/{system}/models/dm2/model.pt",
        config="results/{system}/models/dm2/model.json",
    log:
        "logs/{system}/train_dm2.log",
    benchmark:
        "results/{system}/benchmarks/train_dm2.tsv"
    params:
        dm2=lambda w: as_json(dm2_training_section(system_config(w.system)["models"]["dm2"])),
        species=lambda w: " ".join(get_potential(system_config(w.system)["potential"]).species),
        work_dir=lambda w: f"results/{w.system}/models/dm2/work",  # resumable state; not an output
    threads: config["torch_threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **torch_resources(),
        mem_mb=4000,
        runtime=600,
    shell:
        f"{AML} train-dm2 --glasses {{input}} --species {{params.species}} --params-json {{params.dm2:q}} "
        "--out {output.model} --work-dir {params.work_dir} --device {resources.torch_device} "
        "--threads {threads} --no-progress > {log} 2>&1"
