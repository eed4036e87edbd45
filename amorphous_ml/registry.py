"""Registry of generative model kinds: the one place where the workflow learns what a model kind is.

A config section ``systems.<system>.models.<name>`` has a ``kind`` (default: its name) naming an entry of
:data:`KINDS`. Each :class:`ModelKind` supplies

* ``schema``: the definition in ``workflow/schemas/config.schema.yaml`` its section is validated against
  (defaults filled, unknown keys rejected, errors name ``systems.<system>.models.<name>.<key>``);
* ``workflow_keys``: keys of its section that steer the workflow (what to generate, refine settings)
  rather than the trained model; every other key is passed to training (and is a rerun trigger of it);
* ``generation_keys``: keys of its section the sampler needs (passed to generation, part of the resume key);
* ``requests(system_config, section)``: the structures the config asks for, as :class:`Request`
  (composition, conditions, seed), whose :attr:`Request.sample` id names the files;
* ``condition_names(generation_params)``: the conditions its sample ids carry (to parse an id back);
* ``train(inputs, out, work_dir, params, species, device, progress, stop_after)``: train on the extxyz
  files ``inputs`` and write ``out`` (.pt + .json, :func:`amorphous_ml.learn.train.save_model`);
* ``sample(model_path, composition, conditions, seeds, params, device, work_dir, progress, stop_after)``:
  one structure per seed (ASE, real atoms only) and the parameters to record in their provenance;
* ``checkpoint_kinds``: the ``kind`` values its ``model.json`` files may hold.

What a model trains on is the same for every kind (:func:`training_inputs`): the melt-quenched glasses of
its compositions, or, with ``dataset: <name>`` in its section, ``results/{system}/datasets/<name>.extxyz``.
The rules (``train_model``, ``generate_model``, ``refine_generated``), the CLI (``train``, ``generate``), the
generation driver (:mod:`amorphous_ml.generate.batch`), refine and the tables never branch on the kind.
Adding a model = its modules, its schema definition and an entry here.

This module imports no torch (the Snakefile imports it to build the DAG); the kinds' functions import
their modules when called.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .samples import conditions_from_tags, parse_sample, sample_name

__all__ = ["Request", "ModelKind", "KINDS", "ModelKindError", "get_kind", "section_kind", "training_params",
           "generation_params", "training_inputs", "simulated_samples", "model_requests", "requests_from_samples",
           "reference_source", "target_properties", "read_model_kind", "model_hash"]


class ModelKindError(ValueError):
    """An unknown or mismatched model kind (config or model.json); the message is one line."""


@dataclass(frozen=True)
class Request:
    """One structure a model is asked for: its composition, its conditions (name -> value) and seed."""

    composition: str
    conditions: tuple[tuple[str, float], ...]
    seed: int

    @classmethod
    def make(cls, composition: str, conditions: Mapping[str, float], seed: int) -> "Request":
        return cls(composition, tuple((k, float(v)) for k, v in conditions.items()), int(seed))

    @property
    def condition_dict(self) -> dict[str, float]:
        return dict(self.conditions)

    @property
    def sample(self) -> str:
        return sample_name(self.composition, self.condition_dict, self.seed)


@dataclass(frozen=True)
class ModelKind:
    name: str
    schema: str
    description: str
    train: Callable
    sample: Callable
    requests: Callable[[dict, dict], list[Request]]
    condition_names: Callable[[dict], list[str]]
    workflow_keys: frozenset = frozenset({"kind", "enabled", "compositions", "dataset", "generation", "refine"})
    generation_keys: tuple[str, ...] = ("generation",)
    checkpoint_kinds: tuple[str, ...] = field(default=())
    #: optional semantic check of a validated section: ``check(system, section, key)`` raises ValueError
    #: with a message starting with the offending key below ``key`` (e.g. ``targets[0].foo: ...``)
    check: Callable | None = None
    #: optional: ``inputs(system_name, system, section) -> [files]`` replaces the default training inputs
    inputs: Callable | None = None
    #: optional: ``system_generation(system_name, system, section) -> dict`` added to the generation params
    #: (what a sampler needs from the system: potential, protocol settings, start files)
    system_generation: Callable | None = None
    #: whether its request conditions are target properties measured back (inverse_design.csv); False for a
    #: kind whose conditions are not labels of the structure (GlassVAE's energy window, checked in its own table)
    inverse_design: bool = True

    def accepts_checkpoint(self, kind: str) -> bool:
        return kind in (self.checkpoint_kinds or (self.name,))


# ---------------------------------------------------------------------------------------------- DM2
DM2_WORKFLOW_KEYS = frozenset({"kind", "enabled", "target_cooling_rates", "samples_per_rate", "compositions",
                               "generation", "refine"})


def _dm2_requests(system: dict, section: dict) -> list[Request]:
    """Every composition x target cooling rate x ``samples_per_rate`` seeds (from ``seed``)."""
    return [Request.make(comp, {"cooling_rate": rate}, section.get("seed", 0) + i)
            for comp in (section.get("compositions") or system["compositions"])
            for rate in (section.get("target_cooling_rates") or system["cooling_rates"])
            for i in range(section.get("samples_per_rate", 1))]


def split_dm2_params(params: dict) -> tuple[dict, dict]:
    """DM2 training params (section minus workflow keys) -> (model params incl. sigma range, TrainConfig fields)."""
    from .learn.train import TrainConfig

    section = {k: v for k, v in params.items() if k not in DM2_WORKFLOW_KEYS}
    train_params = dict(section.pop("training", {}))
    if "seed" in section:
        train_params.setdefault("seed", section.pop("seed"))
    unknown = set(train_params) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown training keys {sorted(unknown)}")
    return section, train_params


def _dm2_train(inputs, out, work_dir, params: dict, species: Sequence[str], device: str = "cpu",
               progress: bool = True, stop_after: int | None = None) -> dict:
    from .learn.denoise import train_dm2

    model_params, train_params = split_dm2_params(params)
    model_params["species"] = list(species)
    return train_dm2(inputs, out, work_dir, model_params, train_params, device=device, progress=progress,
                     stop_after=stop_after)


def _dm2_sample(model_path, composition: str, conditions: dict, seeds: Sequence[int], params: dict,
                device: str = "cpu", work_dir=None, progress: bool = True, stop_after: int | None = None):
    from .generate.dm2 import Schedule, generate_structures
    from .learn.train import load_model
    from .simulate.systems import atom_counts

    from .config import schema_defaults

    gen = {**schema_defaults("dm2", "generation"), **params.get("generation", {})}  # defaults: the schema only
    model = load_model(model_path, device=device)
    schedule = Schedule(noisy_steps=int(gen["noisy_steps"]), clean_steps=int(gen["clean_steps"]),
                        s_max=float(gen["s_max"]), s_min=float(gen["s_min"]),
                        noise_rule=str(gen["noise"]))
    counts = atom_counts(composition, int(gen["n_atoms"]))
    symbols = [el for el, n in counts.items() for _ in range(n)]
    aspect = tuple(gen["aspect"])
    angles = tuple(gen["angles"])
    pore = float(gen["pore_radius"])
    rate = conditions["cooling_rate"]
    frames = generate_structures(model, symbols, list(seeds), rate, schedule, density=gen.get("density"),
                                 aspect=aspect, angles=angles, pore_radius=pore, device=device, work_dir=work_dir,
                                 checkpoint_every=int(gen["checkpoint_every"]), progress=progress,
                                 stop_after=stop_after)
    record = {"model": str(model_path), "schedule": schedule.__dict__, "n_atoms": len(symbols), "aspect": aspect,
              "angles": angles, "pore_radius": pore, "density": frames[0].info["density_gcc"]}
    return frames, record


DM2 = ModelKind(
    name="dm2", schema="dm2",
    description="DM2 E(3)-equivariant denoiser conditioned on log10(cooling rate) (learn/denoise.py, generate/dm2.py)",
    train=_dm2_train, sample=_dm2_sample, requests=_dm2_requests,
    condition_names=lambda params: ["cooling_rate"],
    workflow_keys=DM2_WORKFLOW_KEYS,
)

# -------------------------------------------------------------------------------------------- AMDEN
AMDEN_WORKFLOW_KEYS = frozenset({"kind", "enabled", "dataset", "compositions", "targets", "samples_per_target",
                                 "reference", "generation", "refine", "sampling_steps", "fracture"})
#: the request condition carrying the number of sampling steps (sample-id tag ``Steps``, info key ``steps``)
STEPS = "steps"


def _amden_requests(system: dict, section: dict) -> list[Request]:
    """``samples_per_target`` structures per target (each its own seed), or unconditioned ones without targets.

    With ``sampling_steps: [n1, n2, ...]`` every request is repeated per number of sampling steps (condition
    ``steps``, the same seeds for every step count, so the step counts are compared sample by sample).
    """
    comp = (section.get("compositions") or system["compositions"])[0]
    targets = section.get("targets") or [{}]
    n = int(section.get("samples_per_target", 1))
    seed = int(section.get("seed", 0))
    steps = [{STEPS: int(s)} for s in (section.get("sampling_steps") or [])] or [{}]
    return [Request.make(comp, {**t, **st}, seed + j * n + i) for st in steps for j, t in enumerate(targets)
            for i in range(n)]


def _condition_names(params: dict) -> list[str]:
    return list(params.get("properties") or []) + ([STEPS] if params.get("sampling_steps") else [])


def _with_steps(conditions: dict, params: dict) -> tuple[dict, dict]:
    """(targets, params) with a ``steps`` condition moved into ``generation.steps``."""
    conditions = dict(conditions)
    if STEPS in conditions:
        params = {**params, "generation": {**(params.get("generation") or {}), "steps": int(conditions.pop(STEPS))}}
    return conditions, params


def _amden_check(system: dict, section: dict, key: str) -> None:
    """Target names must be properties the model is conditioned on; their values finite."""
    import math

    props = list(section.get("properties") or [])
    for j, target in enumerate(section.get("targets") or []):
        for name, value in target.items():
            if name not in props:
                raise ValueError(f"{key}.targets[{j}].{name}: not a property this model is conditioned on "
                                 f"(properties: {', '.join(props) or 'none'})")
            if not math.isfinite(float(value)):
                raise ValueError(f"{key}.targets[{j}].{name}: {value} is not finite")
    if section.get("generation", {}).get("hmc", {}).get("enabled") and not section.get("energy"):
        raise ValueError(f"{key}.generation.hmc.enabled: HMC needs the energy-based variant (energy: true)")
    if section.get("dataset"):
        datasets = system.get("datasets")
        if isinstance(datasets, dict):
            if section["dataset"] not in datasets:
                raise ValueError(f"{key}.dataset: {section['dataset']!r} is not a dataset of this system "
                                 f"({', '.join(datasets) or 'none'})")
            labels = datasets[section["dataset"]].get("labels")
            if labels is not None:
                for i, name in enumerate(props):
                    if name not in labels:
                        raise ValueError(f"{key}.properties[{i}]: {name!r} is not a label of dataset "
                                         f"{section['dataset']!r} (labels: {', '.join(labels) or 'none'})")


def _amden_train(inputs, out, work_dir, params: dict, species: Sequence[str], device: str = "cpu",
                 progress: bool = True, stop_after: int | None = None) -> dict:
    from .learn.amden import train_amden
    from .learn.data import load_glasses

    params = {k: v for k, v in params.items() if k not in AMDEN_WORKFLOW_KEYS}
    return train_amden(load_glasses(inputs), out, work_dir, params, device=device, progress=progress,
                       stop_after=stop_after)


def _amden_sample(model_path, composition: str, conditions: dict, seeds: Sequence[int], params: dict,
                  device: str = "cpu", work_dir=None, progress: bool = True, stop_after: int | None = None):
    """AMDEN's sampler per run of consecutive seeds (sample k of a call has seed ``seed + k``)."""
    from .generate.amden import generate_amden

    return _consecutive_runs(generate_amden, model_path, conditions, seeds, params, device, work_dir, progress)


def _consecutive_runs(generate, model_path, conditions: dict, seeds: Sequence[int], params: dict, device, work_dir,
                      progress):
    """Call ``generate(model_path, n, targets, params, seed, ...)`` per run of consecutive seeds."""
    conditions, params = _with_steps(conditions, params)
    runs: list[list[int]] = []
    for s in seeds:
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    frames, reports = [], []
    for run in runs:
        f, report = generate(model_path, len(run), dict(conditions) or None, params, run[0], device=device,
                             progress=progress, work_dir=work_dir)
        for a in f:  # sampler wall time per structure (for steps_vs_quality.csv)
            a.info["sampler_seconds_per_structure"] = float(report["seconds_per_structure"])
        frames += f
        reports.append(report)
    record = {"model": str(model_path), "generation": params.get("generation", {}), "targets": dict(conditions),
              "reports": reports}
    return frames, record


AMDEN = ModelKind(
    name="amden", schema="amden",
    description="AMDEN property-conditioned score SDE with ghost atoms, guidance and HMC (learn/amden.py, "
                "generate/amden.py)",
    train=_amden_train, sample=_amden_sample, requests=_amden_requests,
    condition_names=_condition_names,
    workflow_keys=AMDEN_WORKFLOW_KEYS, generation_keys=("generation", "properties", "sampling_steps"),
    check=_amden_check,
)

# --------------------------------------------------------------------------------------- AMShortcut
def _amshortcut_train(inputs, out, work_dir, params: dict, species: Sequence[str], device: str = "cpu",
                      progress: bool = True, stop_after: int | None = None) -> dict:
    from .learn.amshortcut import train_amshortcut
    from .learn.data import load_glasses

    params = {k: v for k, v in params.items() if k not in AMDEN_WORKFLOW_KEYS}
    return train_amshortcut(load_glasses(inputs), out, work_dir, params, device=device, progress=progress,
                            stop_after=stop_after)


def _amshortcut_sample(model_path, composition: str, conditions: dict, seeds: Sequence[int], params: dict,
                       device: str = "cpu", work_dir=None, progress: bool = True, stop_after: int | None = None):
    from .generate.amshortcut import generate_amshortcut

    return _consecutive_runs(generate_amshortcut, model_path, conditions, seeds, params, device, work_dir, progress)


AMSHORTCUT = ModelKind(
    name="amshortcut", schema="amshortcut",
    description="AMShortcut (method shortcut) or material ODE (method ode): flow matching on AMDEN's backbone, "
                "ghosts and null property embeddings (learn/amshortcut.py, generate/amshortcut.py)",
    train=_amshortcut_train, sample=_amshortcut_sample, requests=_amden_requests,
    condition_names=_condition_names,
    workflow_keys=AMDEN_WORKFLOW_KEYS, generation_keys=("generation", "properties", "sampling_steps"),
    check=_amden_check,
)


# ---------------------------------------------------------------------------------------------- GNN
GNN_WORKFLOW_KEYS = frozenset({"kind", "enabled", "design", "refine"})
GNN_SPLITS = ("train", "validation", "test", "heldout_rate", "heldout_composition")


def gnn_split_samples(section: dict) -> list[str]:
    """Every glass the GNN section names (train, validation, test, held-out), in order, once."""
    split = section.get("split") or {}
    return list(dict.fromkeys(s for part in GNN_SPLITS for s in split.get(part) or []))


def gnn_design_start(section: dict) -> str:
    """The labelled glass the design starts from: ``design.start``, else the first test glass, else the first
    validation or training glass."""
    d = section.get("design") or {}
    if d.get("start"):
        return d["start"]
    split = section.get("split") or {}
    for part in ("test", "validation", "train"):
        if split.get(part):
            return split[part][0]
    raise ValueError("gnn: no glass to start the design from")


def _gnn_inputs(system_name: str, system: dict, section: dict) -> list[str]:
    names = gnn_split_samples(section)
    start = gnn_design_start(section)
    return [f"results/{system_name}/aqs/{s}.extxyz" for s in names + ([start] if start not in names else [])]


def _gnn_requests(system: dict, section: dict) -> list[Request]:
    """One designed structure: the start glass's composition and cooling rate, the design seed."""
    start = gnn_design_start(section)
    comp, tokens, _ = parse_sample(start)
    conditions = conditions_from_tags(tokens, ["cooling_rate"], start)
    return [Request.make(comp, conditions, int((section.get("design") or {}).get("seed", 4001)))]


def _gnn_system_generation(system_name: str, system: dict, section: dict) -> dict:
    keys = ("potential", "potential_dir", "aqs")
    return {"system": {k: system[k] for k in keys if system.get(k) is not None},
            "start_file": f"results/{system_name}/aqs/{gnn_design_start(section)}.extxyz"}


def _gnn_check(system: dict, section: dict, key: str) -> None:
    aqs = system.get("aqs") or {}
    # strains outside aqs.label_strains fail at training with a message naming both (learn/gnn.py): test
    # configs layered onto config.yaml change the label strains without touching this section
    design = section.get("design") or {}
    if float(design.get("strain", 0.05)) not in [float(x) for x in section.get("strains") or []]:
        raise ValueError(f"{key}.design.strain: {design.get('strain', 0.05):g} is not one of strains "
                         f"{section.get('strains')}")
    quants = {f"q{float(q):g}" for q in design.get("quantiles", [0.5, 0.75, 0.9])}
    for name in design.get("temperatures") or {}:
        if name not in ({"max", "mean", "energy"} | quants):
            raise ValueError(f"{key}.design.temperatures.{name}: not a target function (max, mean, "
                             f"{', '.join(sorted(quants))}, energy)")
    if not aqs:
        raise ValueError(f"{key}: the gnn kind needs the system's aqs section (its labels)")
    if float(section.get("validation_slab") or 0) > 0 and (section.get("split") or {}).get("validation"):
        raise ValueError(f"{key}.validation_slab: split.validation already holds out glasses (use one or the other)")


def _gnn_train(inputs, out, work_dir, params: dict, species: Sequence[str], device: str = "cpu",
               progress: bool = True, stop_after: int | None = None) -> dict:
    from .learn.data import load_glasses
    from .learn.gnn import train_gnn

    params = {k: v for k, v in params.items() if k not in GNN_WORKFLOW_KEYS}
    return train_gnn(load_glasses(inputs), out, work_dir, params, species, device=device, progress=progress,
                     stop_after=stop_after)


def _gnn_sample(model_path, composition: str, conditions: dict, seeds: Sequence[int], params: dict,
                device: str = "cpu", work_dir=None, progress: bool = True, stop_after: int | None = None):
    """Swap MC design from the start glass, one run per seed (the seed drives the Monte Carlo)."""
    from .generate.swap_mc import run_design

    frames, records = [], []
    for seed in seeds:
        design = dict(params.get("design") or {}, seed=int(seed))
        wd = Path(work_dir or ".") / f"design_s{seed}"
        frame, record = run_design(model_path, params["system"], params["start_file"], design, wd,
                                   progress=progress, stop_after=stop_after, device=device)
        frames.append(frame)
        records.append(record)
    return frames, {"designs": records}


GNN = ModelKind(
    name="gnn", schema="gnn",
    description="attention GNN surrogate of per-atom ln(D2min) + GNN-guided swap Monte Carlo design "
                "(learn/models/gnn.py, learn/gnn.py, generate/swap_mc.py)",
    train=_gnn_train, sample=_gnn_sample, requests=_gnn_requests,
    condition_names=lambda params: ["cooling_rate"],
    workflow_keys=GNN_WORKFLOW_KEYS, generation_keys=("design",), check=_gnn_check, inputs=_gnn_inputs,
    system_generation=_gnn_system_generation,
)

# ---------------------------------------------------------------------------------------------- GlassVAE
GLASSVAE_WORKFLOW_KEYS = frozenset({"kind", "enabled", "dataset", "reference", "generation", "refine", "fracture"})


def _glassvae_window(gen: dict) -> dict:
    """The window conditions of a section's generation settings: absolute (eV/atom) or quantiles of the training
    energies (resolved against the trained model when sampling)."""
    if gen.get("energy_window"):
        lo, hi = gen["energy_window"]
        return {"energy_min": lo, "energy_max": hi}
    from .config import schema_defaults

    lo, hi = gen.get("window_quantiles") or schema_defaults("glassvae", "generation")["window_quantiles"]
    return {"energy_quantile_min": lo, "energy_quantile_max": hi}


def _glassvae_requests(system: dict, section: dict) -> list[Request]:
    """``samples`` seeds (from ``seed``) per generation mode: prior (no condition) and energy window."""
    gen = section.get("generation", {})
    dataset = (system.get("datasets") or {}).get(section.get("dataset"), {})
    comp = gen.get("composition") or dataset.get("composition") or system["compositions"][0]
    n_atoms = dataset.get("n_atoms", system.get("n_atoms"))
    if isinstance(n_atoms, int):  # the decoder's fixed atom count must hold the requested composition
        from .simulate.systems import atom_counts

        n = sum(atom_counts(comp, n_atoms).values())
        if n != n_atoms:
            raise ValueError(f"generation.composition {comp} has no whole formula units in the {n_atoms} atoms "
                             f"GlassVAE decodes (nearest: {n})")
    out = []
    for mode in gen.get("modes", ["prior", "window"]):
        cond = {} if mode == "prior" else _glassvae_window(gen)
        out += [Request.make(comp, cond, int(section.get("seed", 1001)) + i) for i in range(int(gen.get("samples", 2)))]
    return out


def _glassvae_check(system: dict, section: dict, key: str) -> None:
    """The training set must be a configured dataset of snapshots with energies (protocol npt_snapshots)."""
    datasets = system.get("datasets")
    name = section.get("dataset")
    if isinstance(datasets, dict):
        if name not in datasets:
            raise ValueError(f"{key}.dataset: {name!r} is not a dataset of this system ({', '.join(datasets) or 'none'})")
        if datasets[name].get("protocol") != "npt_snapshots":
            raise ValueError(f"{key}.dataset: GlassVAE trains on NPT snapshots (protocol npt_snapshots); dataset "
                             f"{name!r} has protocol {datasets[name].get('protocol')!r}")
        if section.get("energy_label") == "inherent_energy" and not datasets[name].get("inherent_energy", True):
            raise ValueError(f"{key}.energy_label: inherent_energy needs datasets.{name}.inherent_energy: true")
    window = (section.get("generation") or {}).get("energy_window")
    if window and not window[0] < window[1]:
        raise ValueError(f"{key}.generation.energy_window: [{window[0]}, {window[1]}] is empty (E_min < E_max)")
    q = (section.get("generation") or {}).get("window_quantiles")
    if q and not q[0] < q[1]:
        raise ValueError(f"{key}.generation.window_quantiles: [{q[0]}, {q[1]}] is empty (lower < upper)")


def _glassvae_train(inputs, out, work_dir, params: dict, species: Sequence[str], device: str = "cpu",
                    progress: bool = True, stop_after: int | None = None) -> dict:
    from .io import read_structures
    from .learn.vae import train_glassvae

    params = {k: v for k, v in params.items() if k not in GLASSVAE_WORKFLOW_KEYS}
    frames = [a for p in inputs for a in read_structures(p)]
    return train_glassvae(frames, out, work_dir, {**params, "species": list(species)}, device=device,
                          progress=progress, stop_after=stop_after)


def _glassvae_sample(model_path, composition: str, conditions: dict, seeds: Sequence[int], params: dict,
                     device: str = "cpu", work_dir=None, progress: bool = True, stop_after: int | None = None):
    from .config import schema_defaults
    from .generate.glassvae import sample_glassvae

    gen = {**schema_defaults("glassvae", "generation"), **params.get("generation", {})}  # defaults: the schema only
    return sample_glassvae(model_path, composition, conditions, seeds, gen, device=device)


GLASSVAE = ModelKind(
    name="glassvae", schema="glassvae",
    description="GlassVAE hierarchical graph VAE with energy and RDF losses, prior and energy-window generation "
    "(learn/models/glassvae.py, learn/vae.py, generate/glassvae.py)",
    train=_glassvae_train, sample=_glassvae_sample, requests=_glassvae_requests,
    condition_names=lambda params: list(_glassvae_window(params.get("generation", {}))),
    workflow_keys=GLASSVAE_WORKFLOW_KEYS, check=_glassvae_check, inverse_design=False,
)

#: every model kind, by name
KINDS: dict[str, ModelKind] = {k.name: k for k in (DM2, AMDEN, AMSHORTCUT, GNN, GLASSVAE)}


# ----------------------------------------------------------------------------------- generic helpers
def get_kind(name: str) -> ModelKind:
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ModelKindError(f"unknown model kind {name!r} (known: {', '.join(sorted(KINDS))})") from None


def section_kind(name: str, section: dict) -> ModelKind:
    """The kind of the config section ``models.<name>`` (its ``kind``, default its name)."""
    return get_kind(section.get("kind", name))


def training_params(name: str, section: dict) -> dict:
    """The part of a model section that determines the trained model (training's params and rerun trigger)."""
    kind = section_kind(name, section)
    return {k: v for k, v in section.items() if k not in kind.workflow_keys}


def generation_params(name: str, section: dict, system: dict | None = None, system_name: str | None = None) -> dict:
    """The part of a model section its sampler reads (generation's params, part of its resume key), plus
    what the kind takes from its system (``system_generation``) when ``system`` is given."""
    kind = section_kind(name, section)
    out = {k: section[k] for k in kind.generation_keys if k in section}
    if kind.system_generation is not None and system is not None:
        out.update(kind.system_generation(system_name, system, section))
    return out


def simulated_samples(system: dict) -> list[str]:
    """Ids of the melt-quenched glasses of a system config: composition x rate x samples_per_rate seeds."""
    return [sample_name(comp, {"cooling_rate": rate}, system["seed"] + i)
            for comp in system["compositions"]
            for rate in system["cooling_rates"]
            for i in range(system["samples_per_rate"])]


def training_inputs(system_name: str, system: dict, name: str, section: dict) -> list[str]:
    """The extxyz files a model trains on: ``dataset: <name>`` or the glasses of its compositions."""
    kind = section_kind(name, section)
    if kind.inputs is not None:
        return kind.inputs(system_name, system, section)
    if section.get("dataset"):
        return [f"results/{system_name}/datasets/{section['dataset']}.extxyz"]
    comps = section.get("compositions") or system["compositions"]
    return [f"results/{system_name}/glasses/{sid}.extxyz" for sid in simulated_samples(system)
            if parse_sample(sid)[0] in comps]


def model_requests(system: dict, name: str, section: dict) -> list[Request]:
    """The structures a model section asks for; two requests with one id are a config error."""
    reqs = section_kind(name, section).requests(system, section)
    seen: dict[str, Request] = {}
    for r in reqs:
        if r.sample in seen:
            raise ValueError(f"models.{name}: two requested structures share the id {r.sample!r} "
                             "(conditions equal to 6 significant digits and the same seed)")
        seen[r.sample] = r
    return reqs


def requests_from_samples(kind: ModelKind, samples: Sequence[str], params: dict) -> list[Request]:
    """Parse sample ids back into requests with the condition names the kind declares."""
    names = kind.condition_names(params)
    out = []
    for s in samples:
        comp, tokens, seed = parse_sample(s)
        out.append(Request.make(comp, conditions_from_tags(tokens, names, s), seed))
    return out


def reference_source(name: str, section: dict) -> str:
    """What a model is benchmarked against: its ``reference``, else the dataset it trained on, else the glasses."""
    return section.get("reference") or section.get("dataset") or "simulated"


def target_properties(system: dict, name: str, section: dict) -> list[str]:
    """Properties a model is asked to hit (its requests' conditions stored as ``target_<name>``)."""
    from .samples import condition_info_key

    if not section_kind(name, section).inverse_design:
        return []
    names = {k for r in model_requests(system, name, section) for k, _ in r.conditions}
    return sorted(n for n in names if condition_info_key(n) != n)


def read_model_kind(model_path) -> tuple[ModelKind, dict]:
    """The registered kind of a model file from its ``.json``; one-line errors naming the file."""
    meta_path = Path(model_path).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: model config missing (a model is <stem>.pt + <stem>.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelKindError(f"{meta_path}: not a model config (invalid JSON: {exc})") from None
    kind = meta.get("kind") if isinstance(meta, dict) else None
    for k in KINDS.values():
        if k.accepts_checkpoint(kind):
            return k, meta
    known = sorted({c for k in KINDS.values() for c in (k.checkpoint_kinds or (k.name,))})
    raise ModelKindError(f"{meta_path}: unknown model kind {kind!r} (known: {', '.join(known)})")


def model_hash(model_path) -> str:
    """sha256 of the model's weights and config files (``.pt`` bytes, then ``.json`` bytes)."""
    h = hashlib.sha256()
    for p in (Path(model_path), Path(model_path).with_suffix(".json")):
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
