# Learn: train generative models of every registered kind (code: amorphous_ml/learn/, amorphous_ml/registry.py).
from amorphous_ml.simulate.params import as_json
from amorphous_ml.simulate.systems import get_potential


def model_training_inputs(system, model):
    """What a model trains on: the glasses of its compositions or its named dataset (`dataset:`)."""
    return registry.training_inputs(system, system_config(system), model, model_section(system, model))


def torch_resources():
    """The torch device is a resource (not a param): switching CPU/GPU reruns nothing."""
    return dict(torch_device=config["torch_device"])


rule train_model:
    input:
        lambda w: model_training_inputs(w.system, w.model),
    output:
        model="results/{system}/models/{model}/model.pt",
        config="results/{system}/models/{model}/model.json",
    log:
        "logs/{system}/train_{model}.log",
    benchmark:
        "results/{system}/benchmarks/train_{model}.tsv"
    params:
        kind=lambda w: model_section(w.system, w.model)["kind"],
        section=lambda w: as_json(registry.training_params(w.model, model_section(w.system, w.model))),
        species=lambda w: " ".join(get_potential(system_config(w.system)["potential"]).species),
        work_dir=lambda w: f"results/{w.system}/models/{w.model}/work",  # resumable state; not an output
    threads: config["torch_threads"]
    priority: MODEL_CHAIN_PRIORITY
    resources:
        **torch_resources(),
        mem_mb=4000,
        runtime=600,
    shell:
        f"{AML} train --kind {{params.kind}} --name {{wildcards.model}} --inputs {{input}} "
        "--species {params.species} --params-json {params.section:q} --out {output.model} "
        "--work-dir {params.work_dir} --device {resources.torch_device} --threads {threads} --no-progress "
        "> {log} 2>&1"
