# Config validation (once) and the input functions that turn the config into file lists.
import shlex
import sys

from amorphous_ml.config import ConfigError, validate_config
from amorphous_ml import registry
from amorphous_ml.samples import SAMPLE_PATTERN
from amorphous_ml.simulate.params import (
    as_json,
    elastic_params,
    fracture_params,
    melt_quench_params,
)
from amorphous_ml.simulate.params import melt_quench_priority as quench_priority

try:
    validate_config(config, source="config")
except ConfigError as exc:  # one line naming the key, no traceback
    sys.stderr.write(f"amorphous-ml: invalid configuration: {exc}\n")
    sys.exit(1)

# The package's CLI, run with the interpreter that runs Snakemake (works without an activated venv).
AML = f"{shlex.quote(sys.executable)} -m amorphous_ml"

wildcard_constraints:
    system="[a-z][a-z0-9_]*",
    source="[a-z][a-z0-9_]*",
    model="[a-z][a-z0-9_]*",
    composition="[A-Z][A-Za-z0-9.]*",
    rate="[0-9.e+-]+",
    seed="[0-9]+",
    sample=SAMPLE_PATTERN,  # <composition>[_<value><Tag>]..._s<seed> (amorphous_ml/samples.py)


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


def structure_file(system, source, sample):
    """The final structure of a sample: a simulated glass or a refined generated structure."""
    if source == "simulated":
        return f"results/{system}/glasses/{sample}.extxyz"
    return f"results/{system}/refined/{source}/{sample}.extxyz"


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
