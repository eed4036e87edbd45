# Config validation (once) and the input functions that turn the config into file lists.
import os
import shlex
import sys

from amorphous_ml.config import ConfigError, validate_config
from amorphous_ml import registry
from amorphous_ml.samples import SAMPLE_PATTERN
from amorphous_ml.simulate.params import (
    as_json,
    elastic_params,
    fracture_params,
    lammps_input_files,
    melt_quench_params,
)
from amorphous_ml.simulate.params import melt_quench_priority as quench_priority
from amorphous_ml.simulate import params as md_cost

try:
    validate_config(config, source="config")
except ConfigError as exc:  # one line naming the key, no traceback
    sys.stderr.write(f"amorphous-ml: invalid configuration: {exc}\n")
    sys.exit(1)

# The package's CLI, run with the interpreter that runs Snakemake (works without an activated venv). The path
# goes through the environment, not into the command text: Snakemake stores each rule's shell command and reruns
# a job whose command changed, so `.venv/bin/snakemake` (python3) after `python -m snakemake` (python) would
# otherwise redo every melt-quench. Jobs inherit the variable (locally, and on Slurm, where the job's own
# Snakemake parses this file again).
os.environ["AMORPHOUS_ML_PYTHON"] = sys.executable
AML = '"$AMORPHOUS_ML_PYTHON" -m amorphous_ml'

wildcard_constraints:
    system="[a-z][a-z0-9_]*",
    source="[a-z][a-z0-9_]*",
    model="[a-z][a-z0-9_]*",
    composition="[A-Z][A-Za-z0-9.]*",
    rate="[0-9.e+-]+",
    seed="[0-9]+",
    # <composition>[_<value><Tag>]..._s<seed> (amorphous_ml/samples.py), or a dataset frame <dataset>_<index>
    sample=SAMPLE_PATTERN + "|[a-z][a-z0-9_]*_[0-9]+",


def system_config(name):
    try:
        return config["systems"][name]
    except KeyError:
        raise ValueError(
            f"unknown system {name!r}; configured systems: {', '.join(config['systems'])}"
        ) from None


def simulated_samples(system):
    return registry.simulated_samples(system_config(system))


def model_configs(system):
    """Enabled generative models of a system, by name."""
    return {k: m for k, m in system_config(system)["models"].items() if m.get("enabled", True)}


def model_section(system, model):
    models = system_config(system)["models"]
    if model not in models:
        raise ValueError(f"system {system!r} has no model {model!r}; configured: {', '.join(models) or 'none'}")
    return models[model]


def generated_samples(system, model):
    """Sample ids a model section asks for (its kind's requests: compositions x conditions x seeds)."""
    return [r.sample for r in registry.model_requests(system_config(system), model, model_section(system, model))]


def samples(system):
    """Every (source, sample) of a system: simulated glasses, then each enabled model's structures."""
    out = [("simulated", s) for s in simulated_samples(system)]
    for model in model_configs(system):
        out += [(model, s) for s in generated_samples(system, model)]
    return out


def fracture_samples(system):
    """The (source, sample) pairs of fracture.csv: every sample but those of models with `fracture: false`."""
    models = model_configs(system)
    return [(src, s) for src, s in samples(system) if src not in models or models[src].get("fracture", True)]


def structure_file(system, source, sample):
    """The final structure of a sample: a simulated glass, a refined generated structure or a dataset frame."""
    if source == "simulated":
        return f"results/{system}/glasses/{sample}.extxyz"
    if source not in system_config(system)["models"] and source in system_config(system).get("datasets", {}):
        return f"results/{system}/datasets/{source}/frames/{sample}.extxyz"
    return f"results/{system}/refined/{source}/{sample}.extxyz"


def benchmark_references(system):
    """Model -> the set it is benchmarked against, where that is not the simulated glasses (e.g. a dataset)."""
    refs = {name: registry.reference_source(name, m) for name, m in model_configs(system).items()}
    return {name: ref for name, ref in refs.items() if ref != "simulated"}


def reference_samples(system):
    """(dataset, sample) of every dataset frame some model is benchmarked against."""
    refs = list(dict.fromkeys(benchmark_references(system).values()))
    if not refs:
        return []
    from amorphous_ml.simulate.datasets import dataset_samples

    out = []
    for ref in refs:
        out += [(ref, s.sample) for s in dataset_samples(system_config(system), ref)]
    return out


def target_models(system):
    """Enabled models asked for target properties (inverse design), with those property names."""
    out = {}
    for name, m in model_configs(system).items():
        props = registry.target_properties(system_config(system), name, m)
        if props:
            out[name] = props
    return out


def lammps_resources():
    """How LAMMPS runs is a resource (not a param), so switching accelerators reruns nothing."""
    lmp = config["lammps"]
    return dict(
        lammps_accelerator=lmp["accelerator"],
        lammps_binary=lmp["binary"] or "module",
        lammps_mpi=lmp["mpi_launch"] or "none",
    )


LAMMPS_ARGS = (
    "--accelerator {resources.lammps_accelerator} --threads {threads} "
    "--lmp-binary {resources.lammps_binary:q} --mpi-launch {resources.lammps_mpi:q}"
)


# Scheduling: Snakemake runs the highest priority first among the jobs that are ready. The model chain
# (train -> generate -> refine) and the melt-quenches it waits for are the critical path, so they go
# first and the analysis jobs (priority 0) fill the cores beside them; melt-quenches go longest first.
MODEL_CHAIN_PRIORITY = 30


def melt_quench_priority(wildcards):
    return quench_priority(system_config(wildcards.system), float(wildcards.rate))


def lammps_inputs(input_name):
    """Input function: the LAMMPS template and potential files a rule's job reads (editing them reruns it)."""
    return lambda w: lammps_input_files(system_config(w.system), input_name)


def potential_dir_arg(system):
    d = system_config(system).get("potential_dir")
    return f"--potential-dir {shlex.quote(d)}" if d else ""


# Slurm runtime (minutes) and mem_mb of the LAMMPS jobs from the MD cost model (atoms x steps) that also
# sets the melt-quench priorities: config `job_resources` (throughput per potential and core, safety
# factor, min/max runtime, per-rule override). Evaluated per job with the job's threads (a profile's
# set-threads counts), so a profile must not set runtime/mem_mb for these rules.
def lammps_cost_resources(rule, cost):
    """``runtime`` and ``mem_mb`` callables; ``cost(system, wildcards)`` -> (atom_steps, n_atoms)."""

    def resource(key):
        def evaluate(wildcards, threads):
            s = system_config(wildcards.system)
            steps, n_atoms = cost(s, wildcards)
            return md_cost.job_resources(config, rule, steps, n_atoms, threads, s["potential"])[key]

        return evaluate

    return dict(runtime=resource("runtime"), mem_mb=resource("mem_mb"))


def melt_quench_cost(s, w):
    return md_cost.melt_quench_atom_steps(s, float(w.rate)), s["n_atoms"]


def sample_cost(steps_fn):
    def cost(s, w):
        n = md_cost.sample_atoms(s, w.source)
        return steps_fn(s, n), n

    return cost


def refine_cost(s, w):
    return md_cost.refine_atom_steps(s, w.model), md_cost.sample_atoms(s, w.model)


def melt_quench_retries():
    return md_cost.melt_quench_retries(config)
