"""Load and validate the workflow configuration against ``workflow/schemas/config.schema.yaml``.

Validation fills schema defaults, rejects unknown keys and then checks what a schema cannot express
(elements of each composition are in the potential, potential files exist, ranges ordered, analysis
settings complete, models asked only for what they were trained on). Every problem is raised
as a :class:`ConfigError` whose message is one line naming the offending key.
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path

import jsonschema
import yaml
from pymatgen.core import Composition

from .paths import DEFAULT_CONFIG, POTENTIAL_DIR, SCHEMA_PATH
from .simulate.systems import get_potential

__all__ = ["ConfigError", "load_config", "validate_config", "schema_defaults", "rate_label", "sample_id", "register"]


class ConfigError(ValueError):
    """A bad configuration key or value; the message is one line and names the key."""


def _inline_refs(node, definitions):
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            merged = copy.deepcopy(definitions[name])
            merged.update({k: v for k, v in node.items() if k != "$ref"})
            return _inline_refs(merged, definitions)
        return {k: _inline_refs(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, definitions) for v in node]
    return node


@functools.lru_cache(maxsize=None)
def _schema_and_definitions() -> tuple[dict, dict]:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    definitions = schema.pop("definitions", {})
    return _inline_refs(schema, definitions), _inline_refs(definitions, definitions)


def load_schema() -> dict:
    return copy.deepcopy(_schema_and_definitions()[0])


def _with_defaults(cls):
    validate_props = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    def additional_with_defaults(validator, additional, instance, schema):
        # additionalProperties subschemas (the per-system objects) need their defaults too
        if isinstance(instance, dict) and isinstance(additional, dict):
            extras = [k for k in instance if k not in schema.get("properties", {})]
            for k in extras:
                yield from validator.descend(instance[k], additional, path=k)
        elif additional is False and isinstance(instance, dict):
            extras = sorted(set(instance) - set(schema.get("properties", {})))
            for k in extras:
                yield jsonschema.ValidationError(f"unknown key {k!r}", path=[k])

    return jsonschema.validators.extend(
        cls, {"properties": set_defaults, "additionalProperties": additional_with_defaults}
    )


_Validator = _with_defaults(jsonschema.Draft7Validator)


@functools.lru_cache(maxsize=None)
def _defaults(name: str) -> dict:
    schema, definitions = _schema_and_definitions()
    node = definitions[name] if name in definitions else schema["properties"][name]
    filled: dict = {}
    for _ in _Validator(node).iter_errors(filled):  # filling defaults is a side effect; required keys may miss
        pass
    return filled


def schema_defaults(name: str, *keys: str) -> dict:
    """The schema's defaults of a section (a definition such as ``dm2``, ``fracture``, ``system``, or a top-level
    key such as ``lammps``), nested sections filled; ``keys`` pick a sub-section, e.g.
    ``schema_defaults("dm2", "generation")``. The one place code takes a default value from."""
    out = _defaults(name)
    for k in keys:
        out = out[k]
    return copy.deepcopy(out)


def _key_path(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _best_error(errors):
    return min(errors, key=lambda e: (-len(e.absolute_path), str(e.message)))


def validate_config(config: dict, *, source: str = "config") -> dict:
    """Validate ``config`` in place (defaults filled) and return it; raise ConfigError on the first problem."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys, got {type(config).__name__}")
    errors = list(_Validator(load_schema()).iter_errors(config))
    if errors:
        err = _best_error(errors)
        if err.validator == "additionalProperties" or err.message.startswith("unknown key"):
            key = _key_path(list(err.absolute_path))
            raise ConfigError(f"{source}: {key}: {err.message.splitlines()[0]}")
        raise ConfigError(f"{source}: {_key_path(list(err.absolute_path))}: {err.message.splitlines()[0]}")
    _validate_models(config, source)
    _check_semantics(config, source)
    return config


def load_definition(name: str) -> dict:
    """One definition of the schema (``definitions.<name>``) with its references inlined."""
    definitions = yaml.safe_load(SCHEMA_PATH.read_text()).get("definitions", {})
    return _inline_refs(definitions[name], definitions)


def _validate_models(config: dict, source: str) -> None:
    """Each ``systems.<s>.models.<name>`` against the schema definition of its kind (amorphous_ml.registry).

    ``kind`` defaults to the section's name and is kept in the section; defaults of the kind are filled.
    """
    from .registry import ModelKindError, model_requests, section_kind

    for sys_name, system in config["systems"].items():
        for name, section in system.get("models", {}).items():
            key = f"systems.{sys_name}.models.{name}"
            try:
                kind = section_kind(name, section)
            except ModelKindError as exc:
                raise ConfigError(f"{source}: {key}.kind: {exc}") from None
            body = {k: v for k, v in section.items() if k != "kind"}
            errors = list(_Validator(load_definition(kind.schema)).iter_errors(body))
            if errors:
                err = _best_error(errors)
                where = _key_path([key, *err.absolute_path])
                raise ConfigError(f"{source}: {where}: {err.message.splitlines()[0]}")
            section.clear()
            section.update(body, kind=kind.name)
            if section.get("enabled", True):
                try:
                    if kind.check is not None:
                        kind.check(system, section, key)
                    model_requests(system, name, section)
                except ValueError as exc:
                    msg = str(exc)
                    raise ConfigError(f"{source}: {msg if msg.startswith(key) else f'{key}: {msg}'}") from None


def _check_semantics(config: dict, source: str) -> None:
    for name, system in config["systems"].items():
        pot = get_potential(system["potential"])
        potdir = Path(system.get("potential_dir") or POTENTIAL_DIR)
        for f in pot.files(potdir):
            if not f.is_file():
                raise ConfigError(f"{source}: systems.{name}.potential_dir: potential file {f} does not exist")
        for i, comp in enumerate(system["compositions"]):
            key = f"systems.{name}.compositions[{i}]"
            try:
                elements = {str(e) for e in Composition(comp).elements}
            except Exception:
                raise ConfigError(f"{source}: {key}: {comp!r} is not a chemical formula") from None
            missing = elements - set(pot.species)
            if missing:
                raise ConfigError(
                    f"{source}: {key}: element(s) {', '.join(sorted(missing))} not in potential "
                    f"{pot.name} ({', '.join(pot.species)})"
                )
        for i, rate in enumerate(system["cooling_rates"]):
            if not math.isfinite(rate):
                raise ConfigError(f"{source}: systems.{name}.cooling_rates[{i}]: must be finite")
        melt, quench = system["melt"], system["quench"]
        if melt["temperature"] <= quench["final_temperature"]:
            raise ConfigError(
                f"{source}: systems.{name}.melt.temperature: {melt['temperature']} K must exceed "
                f"quench.final_temperature {quench['final_temperature']} K"
            )
        _check_fracture(system, f"{source}: systems.{name}.fracture")
        _check_analysis(system, f"{source}: systems.{name}.analysis")
        for model, section in system["models"].items():
            if section.get("enabled", True):  # a switched-off model is never run
                _check_model(system, section, f"{source}: systems.{name}.models.{model}")
        _check_datasets(name, system, pot, source)
        if "aqs" in system:
            _check_aqs(name, system, source)


#: how far (decades of cooling rate) a conditional model may be asked to extrapolate beyond the rates it
#: was trained on; the schema's target_cooling_rates description says the same
MAX_EXTRAPOLATION_DECADES = 1.0


def _check_fracture(system: dict, key: str) -> None:
    f = system["fracture"]
    if f["modulus_max_strain"] > f["max_strain"]:
        raise ConfigError(f"{key}.modulus_max_strain: {f['modulus_max_strain']} lies beyond the test's "
                          f"max_strain {f['max_strain']} (the modulus fit would have no upper bound)")


def _elements(system: dict) -> set[str]:
    return {str(e) for comp in system["compositions"] for e in Composition(comp).elements}


def _check_analysis(system: dict, key: str) -> None:
    a = system["analysis"]
    cutoffs = {tuple(k.split("-")) for k in a["bond_cutoffs"]}
    for pair in a["coordination"]:
        parts = tuple(pair.split("-"))
        if len(parts) != 2 or (parts not in cutoffs and parts[::-1] not in cutoffs):
            raise ConfigError(f"{key}.coordination.{pair}: no bond cutoff for this pair in analysis.bond_cutoffs "
                              f"({', '.join(a['bond_cutoffs']) or 'empty'})")
    if a["voronoi_radii"]:
        missing = _elements(system) - set(a["voronoi_radii"])
        if missing:
            raise ConfigError(f"{key}.voronoi_radii: no radius for element(s) {', '.join(sorted(missing))} "
                              "of the system's compositions")


def _check_model(system: dict, section: dict, key: str) -> None:
    for i, comp in enumerate(section.get("compositions") or []):
        if comp not in system["compositions"]:
            raise ConfigError(f"{key}.compositions[{i}]: {comp!r} is not among the system's compositions "
                              f"({', '.join(system['compositions'])}), so no glass of it is simulated to train on")
    if "sigma_min" in section and section["sigma_min"] > section["sigma_max"]:
        raise ConfigError(f"{key}.sigma_min: {section['sigma_min']} exceeds sigma_max {section['sigma_max']}")
    gen = section.get("generation") or {}
    if "s_min" in gen and gen["s_min"] > gen["s_max"]:
        raise ConfigError(f"{key}.generation.s_min: {gen['s_min']} exceeds s_max {gen['s_max']}")
    if gen.get("noisy_steps") == 0 and gen.get("clean_steps") == 0:
        raise ConfigError(f"{key}.generation.noisy_steps: noisy_steps and clean_steps are both 0, so nothing "
                          "would be denoised (the random start would be written as generated)")
    if section.get("conditional", True) and section.get("target_cooling_rates"):
        trained = [math.log10(r) for r in system["cooling_rates"]]
        lo, hi = min(trained), max(trained)
        for i, rate in enumerate(section["target_cooling_rates"]):
            x = math.log10(rate)
            if x < lo - MAX_EXTRAPOLATION_DECADES - 1e-9 or x > hi + MAX_EXTRAPOLATION_DECADES + 1e-9:
                raise ConfigError(
                    f"{key}.target_cooling_rates[{i}]: {rate:g} K/ps lies more than {MAX_EXTRAPOLATION_DECADES:g} "
                    f"decade outside the trained cooling rates ({min(system['cooling_rates']):g}-"
                    f"{max(system['cooling_rates']):g} K/ps)")


def _check_datasets(name: str, system: dict, pot, source: str) -> None:
    """What the schema cannot say about ``systems.<name>.datasets``: label names, per-protocol keys."""
    from .validate.labels import check_labels

    for dname, ds in system.get("datasets", {}).items():
        key = f"systems.{name}.datasets.{dname}"
        try:
            check_labels(ds["labels"], system, key=f"{key}.labels")
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if ds.get("composition"):
            missing = {str(e) for e in Composition(ds["composition"]).elements} - set(pot.species)
            if missing:
                raise ConfigError(f"{source}: {key}.composition: element(s) {', '.join(sorted(missing))} "
                                  f"not in potential {pot.name}")
        liquid = ds["protocol"] == "liquid" or (ds["protocol"] == "quench" and ds["start"] == "liquid")
        if liquid and isinstance(ds.get("n_atoms"), list):
            raise ConfigError(f"{source}: {key}.n_atoms: a set made from one liquid run has one size (an integer)")
        if ds["protocol"] == "melt_quench":
            if "cooling_rate" not in ds:
                raise ConfigError(f"{source}: {key}.cooling_rate: required by protocol melt_quench")
            if ds["hold"]["nvt_ps"]:
                raise ConfigError(f"{source}: {key}.hold.nvt_ps: melt_quench holds in NPT only (use hold.npt_ps)")
        if ds["protocol"] == "npt_snapshots":
            _check_npt_snapshots(system, ds, f"{source}: {key}")
        melts = ds["protocol"] != "quench" or ds["start"] == "random"
        if melts and ds["protocol"] not in ("liquid", "npt_snapshots") and \
                ds["melt"]["temperature"] <= ds["hold"]["temperature"]:
            raise ConfigError(f"{source}: {key}.melt.temperature: {ds['melt']['temperature']} K must exceed "
                              f"hold.temperature {ds['hold']['temperature']} K")
        if ds["seed"] + ds["samples"] + 1 > 900000000:
            raise ConfigError(f"{source}: {key}.seed: seed + samples exceeds 900000000 (LAMMPS seed range)")


def _check_npt_snapshots(system: dict, ds: dict, key: str) -> None:
    """GlassVAE's trajectories: required keys, one size, a melt above the sampled temperatures; ``samples`` is
    set to trajectories x temperatures x snapshots (the frame count the dataset gathers)."""
    for k in ("temperatures", "cooling_rate"):
        if k not in ds:
            raise ConfigError(f"{key}.{k}: required by protocol npt_snapshots")
    if isinstance(ds.get("n_atoms"), list):
        raise ConfigError(f"{key}.n_atoms: a trajectory has one size (an integer)")
    if ds["melt"]["temperature"] <= max(ds["temperatures"]):
        raise ConfigError(f"{key}.melt.temperature: {ds['melt']['temperature']} K must exceed the highest "
                          f"sampled temperature {max(ds['temperatures'])} K")
    dt = ds.get("timestep_ps") or system["timestep_ps"]
    if ds["snapshot_every_ps"] < dt:
        raise ConfigError(f"{key}.snapshot_every_ps: {ds['snapshot_every_ps']} ps is shorter than the timestep {dt} ps")
    ds["samples"] = int(ds["trajectories"]) * len(ds["temperatures"]) * int(ds["snapshots_per_temperature"])


def _check_aqs(name: str, system: dict, source: str) -> None:
    """AQS label strains on the strain grid. (aqs.compositions / cooling_rates are filters and may name
    values the system lacks: a layered config, merged by Snakemake onto config.yaml, may change the rates.)"""
    from .simulate.aqs import label_steps

    a = system["aqs"]
    try:
        label_steps(a["strain_step"], a["label_strains"], a["max_strain"])
    except ValueError as exc:
        raise ConfigError(f"{source}: systems.{name}.aqs.label_strains: {exc}") from None


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Read a YAML config (default: the embedded ``config.yaml``), apply overrides, validate."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if overrides:
        config.update(overrides)
    return validate_config(config, source=str(path))


def _read_yaml(path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys, got {type(data).__name__}")
    return data


def named_configs_self_contained(paths) -> bool:
    """Whether configs named on the command line replace the embedded config.yaml (any of them has
    ``self_contained: true``) instead of being merged into it."""
    return any(_read_yaml(p).get("self_contained") is True for p in paths or ())


def merge_config(base: dict, update: dict) -> dict:
    """Snakemake's merge of a --configfile into the workflow config: mappings merged key by key
    (recursively), everything else (lists, values) replaced."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def workflow_config(paths=()) -> dict:
    """The configuration the workflow runs with for ``snakemake --configfile PATHS...`` (validated)."""
    paths = [Path(p) for p in paths or ()]
    config = {} if named_configs_self_contained(paths) else _read_yaml(DEFAULT_CONFIG)
    for p in paths:
        merge_config(config, _read_yaml(p))
    return validate_config(config, source=", ".join(map(str, paths)) or str(DEFAULT_CONFIG))


def rate_label(rate: float) -> str:
    """Cooling rate as it appears in file names: ``100``, ``0.1``, ``2.5e-05``."""
    return f"{float(rate):g}"


def sample_id(composition: str, rate: float, seed: int) -> str:
    return f"{composition}_{rate_label(rate)}Kps_s{int(seed)}"


def _check_config_cmd(args) -> int:
    # what the workflow runs with for `--configfile FILE`: merged into config.yaml unless self-contained
    config = workflow_config([args.config]) if args.config else load_config()
    systems = ", ".join(f"{k} ({len(v['compositions'])} compositions x {len(v['cooling_rates'])} rates)"
                        for k, v in config["systems"].items())
    print(f"{args.config or DEFAULT_CONFIG}: valid; systems: {systems}")
    if args.show:
        print(yaml.safe_dump(config, sort_keys=False))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("check-config", help="validate a workflow config (defaults filled, unknown keys rejected)",
                              description="Validate a config file against workflow/schemas/config.schema.yaml, "
                              "as the workflow reads it with --configfile FILE: merged into the embedded "
                              "config.yaml, or alone where it says self_contained: true.")
    p.add_argument("config", nargs="?", help="config YAML (default: the embedded config.yaml)")
    p.add_argument("--show", action="store_true", help="print the config with defaults filled in")
    p.set_defaults(func=_check_config_cmd)
