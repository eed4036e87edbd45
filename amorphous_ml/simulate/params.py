"""The slices of a system's config that each protocol depends on.

Rules pass exactly these as Snakemake ``params``, so editing an unrelated key (adding a cooling rate,
changing the fracture strain rate) reruns only the jobs whose physics changed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .lammps import INPUT_DIR, POTENTIAL_DIR
from .systems import get_potential

_COMMON = ("potential", "potential_dir", "timestep_ps")


def _pick(system: dict, keys) -> dict:
    return {k: system[k] for k in keys if k in system}


def melt_quench_params(system: dict) -> dict:
    out = _pick(system, _COMMON + ("n_atoms", "initial_density", "box_aspect", "melt", "quench"))
    pre = system.get("equilibrate") or {}
    if pre.get("nvt_ps", 0) or pre.get("npt_ps", 0):  # off (the laptop default): params as before
        out["equilibrate"] = pre
    return out


def elastic_params(system: dict) -> dict:
    return _pick(system, _COMMON + ("elastic",))


def fracture_params(system: dict) -> dict:
    return _pick(system, _COMMON + ("fracture",))


def melt_quench_atom_steps(system: dict, cooling_rate: float) -> float:
    """Atom-steps of MD in one melt-quench (melt, cooling, anneal): its cost, for scheduling."""
    melt, quench = system["melt"], system["quench"]
    pre = system.get("equilibrate") or {}
    cool_ps = (melt["temperature"] - quench["final_temperature"]) / float(cooling_rate)
    ps = pre.get("nvt_ps", 0) + pre.get("npt_ps", 0) + melt["nvt_ps"] + melt["npt_ps"] + cool_ps + quench["anneal_ps"]
    return system["n_atoms"] * ps / system["timestep_ps"]


def melt_quench_priority(system: dict, cooling_rate: float) -> float:
    """Snakemake priority of a melt-quench: 10-20, rising with its cost (slowest first), bounded so that
    even paper-scale quenches stay below the model chain (30) that waits for them."""
    cost = melt_quench_atom_steps(system, cooling_rate)
    return 10 + 10 * cost / (cost + 1e8)


# ----- Slurm runtime and memory of the LAMMPS jobs from the same cost model (atoms x MD steps) -----

#: CG iterations a minimisation may take at most (melt_quench.in, elastic.in, refine.in)
_MELT_QUENCH_MIN_ITER = 2000
_ELASTIC_MIN_ITER = 20000
_ELASTIC_MINIMISATIONS = 13  # the reference state and 12 deformations


def sample_atoms(system: dict, source: str) -> int:
    """Atoms of a sample: the system's glasses, or a model's generated structures."""
    if source == "simulated":
        return int(system["n_atoms"])
    model = (system.get("models") or {}).get(source) or {}
    return int((model.get("generation") or {}).get("n_atoms", system["n_atoms"]))


def fracture_atom_steps(system: dict, n_atoms: int) -> float:
    """Equilibration plus loading to the maximum strain, MD steps times atoms."""
    f = system["fracture"]
    ps = f["equilibrate_ps"] + f["max_strain"] / f["strain_rate"]
    return n_atoms * ps / system["timestep_ps"]


def elastic_atom_steps(system: dict, n_atoms: int) -> float:
    """Upper bound: 13 minimisations of at most 20000 CG iterations (one force call each, or more with
    line-search backtracking, which the safety factor covers)."""
    return float(n_atoms * _ELASTIC_MINIMISATIONS * _ELASTIC_MIN_ITER)


def refine_atom_steps(system: dict, model: str) -> float:
    r = ((system.get("models") or {}).get(model) or {}).get("refine") or {}
    ps = r.get("nvt_ps", 25) + r.get("npt_ps", 25)
    return sample_atoms(system, model) * (ps / system["timestep_ps"] + _MELT_QUENCH_MIN_ITER)


def job_resources(config: dict, rule: str, atom_steps: float, n_atoms: int, threads: int,
                  potential: str) -> dict:
    """``runtime`` (minutes) and ``mem_mb`` of a LAMMPS job from its MD cost.

    runtime = safety_factor x atom_steps / (throughput[potential] x threads), at least min_runtime and, where
    max_runtime is set (a partition's wall-time limit), at most that: a longer job is killed at the limit and
    resumes from its last restart file when it is resubmitted (Snakemake --retries). memory = safety_factor x
    (mem_base_mb + mem_per_atom_kb x atoms). ``override`` fixes either per rule.
    """
    jr = config["job_resources"]
    per_core = float(jr["throughput"][potential])
    seconds = jr["safety_factor"] * atom_steps / (per_core * max(1, int(threads)))
    runtime = max(int(jr["min_runtime"]), math.ceil(seconds / 60.0))
    if jr.get("max_runtime"):
        runtime = min(runtime, int(jr["max_runtime"]))
    mem = math.ceil(jr["safety_factor"] * (jr["mem_base_mb"] + jr["mem_per_atom_kb"] * n_atoms / 1024.0))
    out = {"runtime": runtime, "mem_mb": mem}
    out.update((jr.get("override") or {}).get(rule) or {})
    return out


def melt_quench_retries(config: dict) -> int | None:
    """Resubmissions the longest melt-quench needs when job_resources.max_runtime caps its runtime: each
    job runs to the wall-time limit and the next resumes from the last restart file (ceil(estimate /
    max_runtime) jobs, one of them the first, the extra one for a node failure). None without a cap."""
    jr = config["job_resources"]
    cap = jr.get("max_runtime")
    if not cap:
        return None
    uncapped = dict(config, job_resources=dict(jr, max_runtime=None, override={}))
    longest = 0
    for s in config["systems"].values():
        for rate in s["cooling_rates"]:
            r = job_resources(uncapped, "melt_quench", melt_quench_atom_steps(s, float(rate)), s["n_atoms"],
                              config["lammps"]["threads"], s["potential"])["runtime"]
            longest = max(longest, math.ceil(r / cap))
    return longest if longest > 1 else None


def as_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def lammps_input_files(system: dict, input_name: str | None) -> list[str]:
    """Files a LAMMPS job of ``system`` reads: the input template ``lammps_inputs/<input_name>`` (None: no
    template) and every potential file (include + parameter files, from ``potential_dir`` if set).

    Rules declare them as inputs, so editing a template or a potential file reruns the jobs that read it
    (their hashes already go into provenance)."""
    potdir = Path(system.get("potential_dir") or POTENTIAL_DIR)
    files = [INPUT_DIR / input_name] if input_name else []
    return [str(f) for f in files + get_potential(system["potential"]).files(potdir)]
