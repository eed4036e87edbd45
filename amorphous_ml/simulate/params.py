"""The slices of a system's config that each protocol depends on.

Rules pass exactly these as Snakemake ``params``, so editing an unrelated key (adding a cooling rate,
changing the fracture strain rate) reruns only the jobs whose physics changed.
"""

from __future__ import annotations

import json

_COMMON = ("potential", "potential_dir", "timestep_ps")


def _pick(system: dict, keys) -> dict:
    return {k: system[k] for k in keys if k in system}


def melt_quench_params(system: dict) -> dict:
    return _pick(system, _COMMON + ("n_atoms", "initial_density", "box_aspect", "melt", "quench"))


def elastic_params(system: dict) -> dict:
    return _pick(system, _COMMON + ("elastic",))


def fracture_params(system: dict) -> dict:
    return _pick(system, _COMMON + ("fracture",))


def melt_quench_atom_steps(system: dict, cooling_rate: float) -> float:
    """Atom-steps of MD in one melt-quench (melt, cooling, anneal): its cost, for scheduling."""
    melt, quench = system["melt"], system["quench"]
    cool_ps = (melt["temperature"] - quench["final_temperature"]) / float(cooling_rate)
    ps = melt["nvt_ps"] + melt["npt_ps"] + cool_ps + quench["anneal_ps"]
    return system["n_atoms"] * ps / system["timestep_ps"]


def melt_quench_priority(system: dict, cooling_rate: float) -> float:
    """Snakemake priority of a melt-quench: 10-20, rising with its cost (slowest first), bounded so that
    even paper-scale quenches stay below the model chain (30) that waits for them."""
    cost = melt_quench_atom_steps(system, cooling_rate)
    return 10 + 10 * cost / (cost + 1e8)


def as_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))
