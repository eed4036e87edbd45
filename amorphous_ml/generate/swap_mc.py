"""GNN-guided, property-oriented swap Monte Carlo over inherent structures (Wang & Zhang 2021, Methods).

One trial (:meth:`SwapMC.trial`):

1. pick one atom of each of the two species with probability ``softmax(z)^n`` normalised within its
   species (paper Eq. 5, ``z`` = predicted ln(D2min) at the design strain, ``n = bias_power``);
2. swap their species and minimise with conjugate gradients at fixed box (LAMMPS, one instance kept alive
   for the whole run: :class:`Minimizer`), giving the trial inherent structure and its energy;
3. rebuild the k-nearest-neighbour graph and recompute the prediction only for atoms within ``n_layers``
   hops of an atom that changed species or moved by more than ``displacement_tol`` (graph-local update;
   with the default tolerance 0 this equals a full evaluation);
4. accept with probability ``prod_F min(1, exp(-(F_trial - F_old) / C_F))`` over the target functions
   (max, mean and quantiles of the predicted ln(D2min); ``C_F`` = ``temperatures``). ``energy``, the
   inherent-structure energy per atom (eV), is a target function too: not the paper's (it argues energy is an
   indirect measure of plastic resistance), but the classic energy-guided swap MC it is compared with, alone or
   beside the ln(D2min) terms.

A rejected trial leaves the state untouched (the next trial starts from the stored accepted positions,
scattered back into LAMMPS). Every ``validate_every`` accepted steps, and at the end, the true mean
ln(D2min) at the design strain is computed with the 12-mode AQS protocol of
:mod:`amorphous_ml.simulate.aqs` (run to the design strain only) and :func:`amorphous_ml.validate.aqs.aqs_labels`.

The run is seeded (numpy PCG64) and checkpoints its state after every accepted step (positions,
species, predictions, generator state, trace); a rerun with the same work directory resumes from the last
accepted state and replays the trials after it identically.
"""

from __future__ import annotations

import copy
import ctypes
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ase
import numpy as np
from tqdm.auto import tqdm

from ..io import atomic_path

__all__ = ["DesignSettings", "Minimizer", "SwapMC", "target_functions", "selection_probabilities",
           "true_mean_ln_d2min", "run_design", "TRACE_COLUMNS"]

TRACE_COLUMNS = ["trial", "accepted", "n_accepted", "i", "j", "acceptance_probability", "trial_pred_mean",
                 "pred_mean", "true_mean", "trial_energy_per_atom_eV", "energy_per_atom_eV", "evaluated_atoms",
                 "cg_iterations"]


@dataclass
class DesignSettings:
    strain: float = 0.05
    trials: int = 20
    bias_power: float = 6.0
    validate_every: int = 5
    quantiles: list = field(default_factory=lambda: [0.5, 0.75, 0.9])
    #: C per target function: "max", "mean", "q<quantile>" (e.g. q0.9), "energy" (eV/atom); missing ones are not targets
    temperatures: dict = field(default_factory=lambda: {"max": 0.05, "mean": 0.002, "q0.5": 0.005,
                                                        "q0.75": 0.005, "q0.9": 0.005})
    displacement_tol: float = 0.0
    seed: int = 0
    minimize: dict = field(default_factory=lambda: {"etol": 0.0, "ftol": 1.0e-5, "maxiter": 5000,
                                                    "maxeval": 50000, "dmax": 0.1})

    @classmethod
    def from_dict(cls, d: dict) -> "DesignSettings":
        return cls(**{k: copy.deepcopy(v) for k, v in d.items() if k in cls.__dataclass_fields__})


def target_functions(z: np.ndarray, quantiles) -> dict[str, float]:
    """Max, mean and quantiles of the per-atom predicted ln(D2min) (NaN-free input)."""
    out = {"max": float(np.max(z)), "mean": float(np.mean(z))}
    for q in quantiles:
        out[f"q{float(q):g}"] = float(np.quantile(z, float(q)))
    return out


def selection_probabilities(z: np.ndarray, mask: np.ndarray, power: float) -> np.ndarray:
    """``softmax(z)^n`` normalised over the atoms in ``mask`` (= exp(n z) / sum exp(n z))."""
    x = power * z[mask]
    w = np.exp(x - x.max())
    return w / w.sum()


def _min_image(d: np.ndarray, cell: np.ndarray) -> np.ndarray:
    frac = np.linalg.solve(cell.T, d.T).T
    return (frac - np.round(frac)) @ cell


class Minimizer:
    """A LAMMPS instance (Python module) holding one structure; :meth:`minimize` sets positions and types,
    runs CG at fixed box and returns the minimum. Atom sorting is off, so a minimisation depends only on
    the positions and types it is given (reproducible across instances: resume gives identical results)."""

    def __init__(self, system: dict, atoms: ase.Atoms, log_path, minimize: dict):
        from ..simulate.lammps import LammpsError, load_lammps_module
        from ..simulate.protocols import _potential_vars
        from ..simulate.systems import write_lammps_data

        self._error = LammpsError
        potvars, self.potential_files, self.species = _potential_vars(system)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.n = len(atoms)
        self.m = dict(minimize)
        lammps = load_lammps_module()
        self.lmp = lammps.lammps(cmdargs=["-nocite", "-screen", "none", "-log", str(self.log_path)])
        self.version = str(self.lmp.version())
        with tempfile.TemporaryDirectory(prefix=".amorphous-ml-swap-") as tmp:
            data = Path(tmp) / "in.data"
            write_lammps_data(data, atoms, self.species)
            self._commands([
                "units metal", "atom_style charge", "boundary p p p", "atom_modify map array sort 0 0.0",
                f"read_data {data}",
                f"variable potdir string {potvars['potdir']}",
                f"include {potvars['potential']}",
                f"neighbor {potvars.get('skin', 2.0)} bin", "neigh_modify every 1 delay 0 check yes",
                "thermo_style custom step pe fnorm", "thermo_modify lost error", "thermo 0",
                "min_style cg", f"min_modify dmax {self.m.get('dmax', 0.1)}",
            ])

    def _commands(self, cmds):
        from ..simulate.lammps import _log_tail

        try:
            for c in cmds:
                self.lmp.command(c)
        except Exception as exc:
            raise self._error(f"LAMMPS failed in swap MC ({c}): {exc}\n--- tail of {self.log_path} ---\n"
                              f"{_log_tail(self.log_path)}") from None

    def minimize(self, positions: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, float, int]:
        """CG minimum from ``positions`` with LAMMPS ``types`` (1-based): positions, energy (eV), iterations."""
        n = self.n
        x = (ctypes.c_double * (3 * n))(*np.asarray(positions, dtype=np.float64).ravel())
        t = (ctypes.c_int * n)(*np.asarray(types, dtype=np.int64).tolist())
        self.lmp.scatter_atoms("x", 1, 3, x)
        self.lmp.scatter_atoms("type", 0, 1, t)
        m = self.m
        self._commands(["reset_timestep 0",
                        f"minimize {m.get('etol', 0.0)} {m.get('ftol', 1e-5)} {m.get('maxiter', 5000)} "
                        f"{m.get('maxeval', 50000)}"])
        out = np.ctypeslib.as_array(self.lmp.gather_atoms("x", 1, 3)).reshape(n, 3).copy()
        pe = float(self.lmp.get_thermo("pe"))
        iters = int(self.lmp.extract_global("ntimestep"))
        if not np.all(np.isfinite(out)) or not np.isfinite(pe):
            raise self._error(f"swap MC minimisation gave NaN (see {self.log_path})")
        return out, pe, iters

    def close(self):
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None


def true_mean_ln_d2min(system: dict, atoms: ase.Atoms, strain: float, work_dir, settings=None) -> float:
    """Mean over atoms of the 12-mode-averaged ln(D2min) at ``strain`` from real AQS runs (to ``strain`` only)."""
    from ..io import write_structures
    from ..simulate.aqs import run_aqs_mode
    from ..validate.aqs import aqs_labels, label_name

    a = system["aqs"]
    sub = dict(system, aqs=dict(a, label_strains=[float(strain)], max_strain=float(strain)))
    work_dir = Path(work_dir).resolve()  # LAMMPS runs in its log directory: absolute paths only
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".aqs-validate-", dir=work_dir) as tmp:
        files = []
        for mode in a["modes"]:
            frames, _ = run_aqs_mode(sub, atoms, mode, Path(tmp) / f"{mode}.log", settings, workdir=tmp)
            files.append(Path(tmp) / f"{mode}.extxyz")
            write_structures(files[-1], frames)
        labelled = aqs_labels(files, a["d2min_cutoff"], [float(strain)], list(a["modes"]), per_mode=False)
    return float(np.nanmean(labelled.arrays[label_name(float(strain))]))


class SwapMC:
    """State and trials of one design run (see the module docstring)."""

    def __init__(self, model, system: dict, start: ase.Atoms, settings: DesignSettings, work_dir):
        self.model = model
        self.system = system
        self.s = settings
        if float(settings.strain) not in [float(x) for x in model.cfg.strains]:
            raise ValueError(f"design.strain {settings.strain:g} is not a strain the GNN predicts "
                             f"({model.cfg.strains})")
        self.k = [float(x) for x in model.cfg.strains].index(float(settings.strain))
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.cell = np.asarray(start.cell[:], dtype=np.float64)
        self.template = start.copy()
        self.template.calc = None
        self.minimizer = Minimizer(system, start, self.work_dir / "swap_mc.lammps.log", settings.minimize)
        self.species = list(self.minimizer.species)
        symbols = start.get_chemical_symbols()
        if sorted(set(symbols)) != sorted(self.species) or len(self.species) != 2:
            raise ValueError(f"swap MC needs both species {self.species} in the start structure")
        self.rng = np.random.default_rng(int(settings.seed))
        self.state_path = self.work_dir / "swap_mc_state.json"
        self.trace: list[dict] = []
        self.trial_index = 0
        self.n_accepted = 0
        self.last_validated = 0
        if self.state_path.exists():
            self._load()
        else:
            types = np.array([self.species.index(s) + 1 for s in symbols])
            pos, pe, it = self.minimizer.minimize(start.positions, types)
            self._set_state(pos, types, pe)
            self.pred = self._predict_full()
            true0 = start.info.get("true_mean_ln_d2min")
            self.trace.append(self._row(0, True, -1, -1, 1.0, self.pred, pe, len(start), it, true0))
            self._save()

    # ------------------------------------------------------------------ state
    def _set_state(self, pos, types, pe):
        self.positions, self.types, self.energy = np.asarray(pos), np.asarray(types), float(pe)
        self.graph = self.model.graph(self.positions, self.cell)

    def _predict_full(self):
        return self.model.predict(self.types - 1 if self._species_match() else self._model_species(self.types),
                                  self.positions, self.cell, self.graph)

    def _species_match(self) -> bool:
        return list(self.model.cfg.species) == self.species

    def _model_species(self, types):
        return self.model.species_index([self.species[t - 1] for t in types])

    def model_species(self, types=None) -> np.ndarray:
        types = self.types if types is None else types
        return types - 1 if self._species_match() else self._model_species(types)

    def atoms(self) -> ase.Atoms:
        a = self.template.copy()
        a.set_chemical_symbols([self.species[t - 1] for t in self.types])
        a.positions = self.positions
        a.arrays[f"pred_ln_d2min_{self.s.strain:g}"] = self.pred[:, self.k].copy()
        return a

    def _row(self, trial, accepted, i, j, p, trial_pred, trial_pe, n_eval, iters, true=None) -> dict:
        return {"trial": int(trial), "accepted": bool(accepted), "n_accepted": int(self.n_accepted),
                "i": int(i), "j": int(j), "acceptance_probability": float(p),
                "trial_pred_mean": float(np.mean(trial_pred[:, self.k])),
                "pred_mean": float(np.mean(self.pred[:, self.k])),
                "true_mean": float("nan") if true is None else float(true),
                "trial_energy_per_atom_eV": float(trial_pe) / len(self.types),
                "energy_per_atom_eV": self.energy / len(self.types), "evaluated_atoms": int(n_eval),
                "cg_iterations": int(iters)}

    def _save(self):
        state = {"trial_index": self.trial_index, "n_accepted": self.n_accepted,
                 "last_validated": self.last_validated, "positions": self.positions.tolist(),
                 "types": self.types.tolist(), "energy": self.energy, "pred": self.pred.tolist(),
                 "rng": self.rng.bit_generator.state, "trace": self.trace,
                 "settings": self.s.__dict__}
        with atomic_path(self.state_path) as tmp:
            Path(tmp).write_text(json.dumps(state))

    def _load(self):
        state = json.loads(self.state_path.read_text())
        if state["settings"] != json.loads(json.dumps(self.s.__dict__)):
            raise ValueError(f"{self.state_path}: saved by a run with other design settings; remove it to start afresh")
        self._set_state(np.array(state["positions"]), np.array(state["types"]), state["energy"])
        self.pred = np.array(state["pred"])
        self.trial_index, self.n_accepted = state["trial_index"], state["n_accepted"]
        self.last_validated = state["last_validated"]
        self.rng.bit_generator.state = state["rng"]
        self.trace = state["trace"]

    # ------------------------------------------------------------------ one trial
    def targets(self, pred, energy: float) -> dict[str, float]:
        """The target functions of a state: :func:`target_functions` of its prediction, and ``energy`` (eV/atom)."""
        return {**target_functions(pred[:, self.k], self.s.quantiles), "energy": float(energy) / len(self.types)}

    def trial(self) -> dict:
        """Propose, minimise, predict and decide one swap; update the state if accepted."""
        z = self.pred[:, self.k]
        picks = []
        for t in (1, 2):
            idx = np.flatnonzero(self.types == t)
            picks.append(int(idx[self.rng.choice(len(idx), p=selection_probabilities(z, self.types == t,
                                                                                       self.s.bias_power))]))
        i, j = picks
        types = self.types.copy()
        types[i], types[j] = self.types[j], self.types[i]
        pos, pe, iters = self.minimizer.minimize(self.positions, types)
        graph = self.model.graph(pos, self.cell)
        moved = np.linalg.norm(_min_image(pos - self.positions, self.cell), axis=1) > self.s.displacement_tol
        changed = np.flatnonzero(moved | (types != self.types))
        from ..learn.models.gnn import affected_nodes

        affected = affected_nodes(changed, self.graph[0], graph[0], len(types), self.model.cfg.n_layers)
        pred, n_eval = self.model.predict_local(self.model_species(types), graph, self.pred, affected)
        old, new = self.targets(self.pred, self.energy), self.targets(pred, pe)
        p = 1.0
        for name, c in self.s.temperatures.items():
            if name not in new:
                raise ValueError(f"design.temperatures.{name}: not a target function ({', '.join(new)})")
            d = new[name] - old[name]
            p *= 1.0 if d <= 0 else float(np.exp(-d / float(c)))
        accept = bool(self.rng.random() < p)
        self.trial_index += 1
        if accept:
            self._set_state(pos, types, pe)
            self.graph = graph
            self.pred = pred
            self.n_accepted += 1
        return self._row(self.trial_index, accept, i, j, p, pred, pe, n_eval, iters)

    def run(self, trials: int | None = None, stop_after: int | None = None, progress: bool = False,
            validate=None) -> list[dict]:
        """Trials up to ``trials`` (default: settings); ``validate(atoms) -> true mean`` every
        ``validate_every`` accepted steps and at the end. ``stop_after`` ends after that many trials of this
        call without finishing (tests of resume)."""
        total = int(self.s.trials if trials is None else trials)
        bar = tqdm(total=total, initial=self.trial_index, desc="swap MC", disable=not progress, mininterval=2.0)
        done = 0
        while self.trial_index < total:
            if stop_after is not None and done >= stop_after:
                bar.close()
                return self.trace
            row = self.trial()
            done += 1
            bar.update(1)
            if row["accepted"]:
                if validate is not None and self.s.validate_every and self.n_accepted % int(self.s.validate_every) == 0:
                    row["true_mean"] = float(validate(self.atoms()))
                    self.last_validated = self.n_accepted
                self.trace.append(row)
                self._save()
            else:
                self.trace.append(row)
        bar.close()
        if validate is not None and self.last_validated != self.n_accepted and self.n_accepted > 0:
            last = max(k for k, r in enumerate(self.trace) if r["accepted"])
            self.trace[last]["true_mean"] = float(validate(self.atoms()))
            self.last_validated = self.n_accepted
        self._save()
        return self.trace

    def close(self):
        self.minimizer.close()


def run_design(model_path, system: dict, start_file, design: dict, work_dir, progress: bool = True,
               stop_after: int | None = None, validate: bool = True, device: str = "cpu"):
    """Design from the labelled start structure ``start_file``; returns the designed structure (its
    ``info['design_trace']`` is the trace as JSON columns) and a record for provenance."""
    from ..io import read_structure
    from ..learn.train import load_model
    from ..validate.aqs import label_name

    settings = DesignSettings.from_dict(design)
    work_dir = Path(work_dir).resolve()
    model = load_model(model_path, device=device)
    start = read_structure(start_file)
    key = label_name(float(settings.strain))
    if key in start.arrays:
        start.info["true_mean_ln_d2min"] = float(np.nanmean(start.arrays[key]))
    for k in list(start.arrays):
        if k.startswith("ln_d2min"):
            del start.arrays[k]
    mc = SwapMC(model, system, start, settings, work_dir)
    try:
        check = (lambda a: true_mean_ln_d2min(system, a, settings.strain, Path(work_dir) / "aqs")) if validate else None
        trace = mc.run(stop_after=stop_after, progress=progress, validate=check)
        if stop_after is not None and mc.trial_index < settings.trials:
            raise InterruptedError(f"swap MC stopped after trial {mc.trial_index} (stop_after)")
        out = mc.atoms()
    finally:
        mc.close()
    from ase.calculators.singlepoint import SinglePointCalculator

    out.calc = SinglePointCalculator(out, energy=mc.energy)
    cols = {c: [r[c] for r in trace] for c in TRACE_COLUMNS}
    out.info["design_trace"] = json.dumps(cols)
    out.info["design_start"] = str(start_file)
    record = {"model": str(model_path), "design": settings.__dict__, "start": str(start_file),
              "trials": mc.trial_index, "accepted": mc.n_accepted,
              "acceptance_rate": mc.n_accepted / max(1, mc.trial_index)}
    return out, record
