"""Sample ids: one file name per structure, for every source (simulated glasses and every model).

A sample id is ``<composition>[_<value><Tag>]..._s<seed>``:

* ``composition``: the formula as in the config (``SiO2``, ``Cu50Zr50``; no ``_``);
* one token per *condition* the structure was made for, in the order the model declares them: the
  value formatted with ``%g`` followed by the condition's tag (``[A-Z][A-Za-z0-9]*``). The cooling rate's
  tag is ``Kps`` (``SiO2_100Kps_s1``, the glasses' and DM2's ids, unchanged); any other condition
  (a target property, an energy bound) gets the CamelCase of its name: ``shear_modulus_GPa`` ->
  ``ShearModulusGPa`` (``SiO2_30ShearModulusGPa_s1``), ``energy_max_eV`` -> ``EnergyMaxEV``;
* ``s<seed>``: the seed.

Unconditioned structures have no condition token (``Si_s1``). The id is unambiguous: the composition
holds no ``_``, a value is ``[0-9.e+-]+`` and every tag starts with a capital letter, so
:func:`parse_sample` recovers composition, (tag, value) pairs and seed. Which condition a tag stands for
is resolved against the names a model declares (:func:`conditions_from_tags`).

The conditions also travel in the structure's ``info`` (so the tables carry them as columns, not only in
the id): the cooling rate as ``cooling_rate`` (as for simulated glasses), any other condition ``c`` as
``target_c`` so a target is never mistaken for the measured label of the same name.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

__all__ = ["SAMPLE_PATTERN", "condition_tag", "condition_info_key", "format_value", "sample_name",
           "parse_sample", "conditions_from_tags", "target_columns"]

#: tags of conditions whose tag is not the CamelCase of their name
SPECIAL_TAGS = {"cooling_rate": "Kps"}
#: conditions stored in ``info`` under their own name (every other one as ``target_<name>``)
PLAIN_INFO_KEYS = {"cooling_rate", "steps"}  # steps: number of sampling steps
TARGET_PREFIX = "target_"

_VALUE = r"[0-9.e+-]+"
_TAG = r"[A-Z][A-Za-z0-9]*"
_COMPOSITION = r"[A-Z][A-Za-z0-9.]*"
#: regular expression of every sample id (the Snakemake wildcard constraint of ``{sample}``)
SAMPLE_PATTERN = rf"{_COMPOSITION}(?:_{_VALUE}{_TAG})*_s[0-9]+"
_TOKEN = re.compile(rf"^({_VALUE})({_TAG})$")
_FULL = re.compile(rf"^{SAMPLE_PATTERN}$")


def condition_tag(name: str) -> str:
    """The tag of a condition in sample ids: ``Kps`` for ``cooling_rate``, else the CamelCase of the name."""
    if name in SPECIAL_TAGS:
        return SPECIAL_TAGS[name]
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    tag = "".join(p[0].upper() + p[1:] for p in parts)
    if not re.fullmatch(_TAG, tag):
        raise ValueError(f"condition name {name!r} gives no valid sample-id tag (it must start with a letter)")
    return tag


def condition_info_key(name: str) -> str:
    """Where a condition is stored in a generated structure's ``info``."""
    return name if name in PLAIN_INFO_KEYS else TARGET_PREFIX + name


def format_value(value: float) -> str:
    """A condition value as it appears in ids: ``%g`` (``100``, ``0.1``, ``2.5e-05``, ``-4.3``)."""
    return f"{float(value):g}"


def sample_name(composition: str, conditions: Mapping[str, float], seed: int) -> str:
    """The id of one structure: ``sample_name("SiO2", {"cooling_rate": 100}, 1) == "SiO2_100Kps_s1"``."""
    tokens = [composition] + [f"{format_value(v)}{condition_tag(k)}" for k, v in conditions.items()]
    sid = "_".join(tokens + [f"s{int(seed)}"])
    if not _FULL.match(sid):
        raise ValueError(f"{sid!r} is not a valid sample id (composition {composition!r} must be a formula)")
    return sid


def parse_sample(sample: str) -> tuple[str, list[tuple[str, float]], int]:
    """``"SiO2_100Kps_s1"`` -> ``("SiO2", [("Kps", 100.0)], 1)``; ValueError if it is no sample id."""
    if not _FULL.match(sample):
        raise ValueError(f"{sample!r} is not a sample id (<composition>[_<value><Tag>]..._s<seed>)")
    parts = sample.split("_")
    tokens = []
    for tok in parts[1:-1]:
        m = _TOKEN.match(tok)
        tokens.append((m[2], float(m[1])))
    return parts[0], tokens, int(parts[-1][1:])


def conditions_from_tags(tokens: Iterable[tuple[str, float]], names: Iterable[str], sample: str = "") -> dict:
    """Map parsed (tag, value) tokens to the condition names a model declares, in the id's order."""
    by_tag = {condition_tag(n): n for n in names}
    out = {}
    for tag, value in tokens:
        if tag not in by_tag:
            known = ", ".join(sorted(by_tag)) or "none"
            raise ValueError(f"sample {sample!r}: condition tag {tag!r} is not one this model takes ({known})")
        out[by_tag[tag]] = value
    return out


def target_columns(info: Mapping) -> dict:
    """The target conditions recorded in a structure's info (``target_*`` keys), for table columns."""
    return {k: info[k] for k in sorted(info) if k.startswith(TARGET_PREFIX)}
