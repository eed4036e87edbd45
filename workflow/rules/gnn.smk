# GNN surrogate of ln(D2min) and GNN-guided swap Monte Carlo (models of kind `gnn`; code:
# amorphous_ml/learn/gnn.py, amorphous_ml/generate/swap_mc.py, amorphous_ml/validate/design.py).
# Training and design run through the generic train_model / generate_model rules; these rules only score
# the trained surrogate on its split and collect the design trace.


def gnn_model(system):
    """The first enabled model of kind gnn of a system (its scores are gnn.csv, its design design.csv)."""
    names = [n for n, m in model_configs(system).items() if m.get("kind", n) == "gnn"]
    return names[0] if names else None


def gnn_targets(system):
    if aqs_config(system) is None or gnn_model(system) is None:
        return []
    return [f"results/{system}/{t}" for t in ("gnn.csv", "gnn.png", "design.csv", "design.png")]


localrules:
    design_table,


rule gnn_scores:
    input:
        model=lambda w: f"results/{w.system}/models/{gnn_model(w.system)}/model.pt",
        labels=lambda w: model_training_inputs(w.system, gnn_model(w.system)),
    output:
        csv=report("results/{system}/gnn.csv", caption="../report/gnn_scores.rst", category="Surrogate"),
        png=report("results/{system}/gnn.png", caption="../report/gnn_scores.rst", category="Surrogate"),
    log:
        "logs/{system}/gnn_scores.log",
    benchmark:
        "results/{system}/benchmarks/gnn_scores.tsv"
    params:
        split=lambda w: as_json(model_section(w.system, gnn_model(w.system))["split"]),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        f"{AML} gnn-scores --model {{input.model}} --labels {{input.labels}} --split-json {{params.split:q}} "
        "--out {output.csv} --plot {output.png} > {log} 2>&1"


rule design_table:
    input:
        lambda w: [f"results/{w.system}/generated/{gnn_model(w.system)}/{s}.extxyz"
                   for s in generated_samples(w.system, gnn_model(w.system))],
    output:
        csv=report("results/{system}/design.csv", caption="../report/design.rst", category="Surrogate"),
        png=report("results/{system}/design.png", caption="../report/design.rst", category="Surrogate"),
    log:
        "logs/{system}/design_table.log",
    shell:
        f"{AML} design-table {{input}} --out {{output.csv}} --plot {{output.png}} > {{log}} 2>&1"
