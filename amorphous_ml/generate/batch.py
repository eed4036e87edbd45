"""Generation for every model kind: parse sample ids, batch, resume safely, record, write atomically.

:func:`generate_samples` turns sample ids (see :mod:`amorphous_ml.samples`) into structure files with the
sampler of the model's kind (:mod:`amorphous_ml.registry`). It never branches on the kind:

* requests with the same composition and conditions go to the sampler in one batch (one seed each);
  outputs that exist are skipped;
* an interrupted run resumes from ``<work_dir>/<first sample>-<key>/``, where ``key`` hashes the model
  (its ``.pt`` and ``.json`` bytes), the generation parameters (the schedule) and the batch's sample ids
  (composition, conditions, seeds). A retrained model or a changed schedule therefore never resumes a
  stale state; stale states of the same sample are removed;
* every structure gets the provenance (code version, seed, the sampler's parameters), its system,
  composition, conditions (``cooling_rate`` or ``target_<name>``), ``source = "generated"`` and
  ``model = <the config section's name>``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Sequence

import ase

from ..io import write_structures
from ..provenance import provenance
from ..registry import ModelKindError, get_kind, model_hash, read_model_kind, requests_from_samples
from ..samples import condition_info_key

__all__ = ["state_key", "generate_samples"]


def state_key(model_path, params: dict, samples: Sequence[str]) -> str:
    """Key of a resumable generation state: model bytes, generation parameters and the batch's ids."""
    blob = json.dumps({"model": model_hash(model_path), "params": params, "samples": list(samples)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _state_dir(work_dir: Path, first: str, key: str) -> Path:
    """The state directory of this batch; other (stale) states of the same first sample are removed."""
    for old in work_dir.glob(f"{first}-*"):
        if old.is_dir() and old.name != f"{first}-{key}":
            shutil.rmtree(old, ignore_errors=True)
    return work_dir / f"{first}-{key}"


def generate_samples(model_path, name: str, samples: Sequence[str], outs: Sequence, params: dict, *, system: str = "",
                     kind: str | None = None, device: str = "cpu", work_dir=None, progress: bool = True,
                     stop_after: int | None = None) -> list[ase.Atoms]:
    """Generate ``samples`` (ids) with the model at ``model_path`` into ``outs`` (one extxyz each).

    ``name`` is the model's config section name (recorded as ``model``); ``kind``, when given, must be the
    kind of the model file. ``stop_after`` interrupts each batch after that many sampler steps (testing
    resume): nothing is written then. Returns the structures written.
    """
    if len(samples) != len(outs):
        raise ValueError("give one output file per sample")
    model_kind, _ = read_model_kind(model_path)
    if kind is not None and get_kind(kind) is not model_kind:
        raise ModelKindError(f"{Path(model_path).with_suffix('.json')}: model kind {model_kind.name!r}, "
                             f"but models.{name} has kind {kind!r} (retrain it)")
    todo = [(s, Path(o)) for s, o in zip(samples, outs) if not Path(o).exists()]
    if not todo:
        return []
    requests = requests_from_samples(model_kind, [s for s, _ in todo], params)
    batches: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        batches.setdefault((r.composition, r.conditions), []).append(i)
    written = []
    for (composition, conditions), idx in batches.items():
        ids = [todo[i][0] for i in idx]
        base = Path(work_dir) if work_dir is not None else todo[idx[0]][1].parent / ".state"
        state = _state_dir(base, ids[0], state_key(model_path, params, ids))
        try:
            frames, record = model_kind.sample(model_path, composition, dict(conditions),
                                               [requests[i].seed for i in idx], params, device=device,
                                               work_dir=state, progress=progress, stop_after=stop_after)
        except ValueError as exc:  # e.g. an unreachable target: name the config section it came from
            where = f"systems.{system}.models.{name}" if system else f"models.{name}"
            raise ValueError(f"{where}.{exc}" if str(exc).startswith("targets.") else f"{where}: {exc}") from None
        if stop_after is not None:
            continue
        for atoms, i in zip(frames, idx):
            atoms.info.update(provenance(seed=requests[i].seed, params=record))
            atoms.info.update({"system": system, "composition": composition,
                               **{condition_info_key(k): float(v) for k, v in conditions},
                               "source": "generated", "model": name})
            write_structures(todo[i][1], atoms)
            written.append(atoms)
        if state.is_dir() and not any(state.iterdir()):
            state.rmdir()
    return written
