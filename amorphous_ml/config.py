"""Load and validate the workflow configuration against ``workflow/schemas/config.schema.yaml``.

Validation fills schema defaults, rejects unknown keys and then checks what a schema cannot express
(elements of each composition are in the potential, potential files exist). Every problem is raised
as a :class:`ConfigError` whose message is one line naming the offending key.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import yaml
from pymatgen.core import Composition

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"

__all__ = ["ConfigError", "load_config", "validate_config", "rate_label", "sample_id", "register"]


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


def load_schema() -> dict:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    definitions = schema.pop("definitions", {})
    return _inline_refs(schema, definitions)


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
    from .simulate.systems import get_potential
    from .simulate.lammps import POTENTIAL_DIR

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
        _check_datasets(name, system, pot, source)
        if "aqs" in system:
            _check_aqs(name, system, source)


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
        melts = ds["protocol"] != "quench" or ds["start"] == "random"
        if melts and ds["protocol"] != "liquid" and ds["melt"]["temperature"] <= ds["hold"]["temperature"]:
            raise ConfigError(f"{source}: {key}.melt.temperature: {ds['melt']['temperature']} K must exceed "
                              f"hold.temperature {ds['hold']['temperature']} K")
        if ds["seed"] + ds["samples"] + 1 > 900000000:
            raise ConfigError(f"{source}: {key}.seed: seed + samples exceeds 900000000 (LAMMPS seed range)")


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


def rate_label(rate: float) -> str:
    """Cooling rate as it appears in file names: ``100``, ``0.1``, ``2.5e-05``."""
    return f"{float(rate):g}"


def sample_id(composition: str, rate: float, seed: int) -> str:
    return f"{composition}_{rate_label(rate)}Kps_s{int(seed)}"


def _check_config_cmd(args) -> int:
    config = load_config(args.config)
    systems = ", ".join(f"{k} ({len(v['compositions'])} compositions x {len(v['cooling_rates'])} rates)"
                        for k, v in config["systems"].items())
    print(f"{args.config or DEFAULT_CONFIG}: valid; systems: {systems}")
    if args.show:
        print(yaml.safe_dump(config, sort_keys=False))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("check-config", help="validate a workflow config (defaults filled, unknown keys rejected)",
                              description="Validate a config file against workflow/schemas/config.schema.yaml.")
    p.add_argument("config", nargs="?", help="config YAML (default: the embedded config.yaml)")
    p.add_argument("--show", action="store_true", help="print the config with defaults filled in")
    p.set_defaults(func=_check_config_cmd)
