"""Structure metrics of one glass (an ``ase.Atoms``): neighbours, RDFs, angles, rings, Voronoi, QUESTS.

Every metric accepts triclinic periodic cells with any number of species, and raises ``ValueError``
with a clear message on an empty structure or one that is not periodic in all three directions.
Neighbour lists come from vesin; RDFs, bond angles, rings and Voronoi from OVITO; entropy from QUESTS.

Settings (``DEFAULT_SETTINGS``: the schema's defaults, overridden by ``systems.<name>.analysis`` in the config):

* ``rdf_cutoff``/``rdf_bins``: partial RDFs (OVITO ``CoordinationAnalysisModifier(partial=True)``).
* ``rmsd_rdf_cutoff``/``rmsd_rdf_bins``/``rmsd_adf_cutoff``: the total RDF (5 A, 100 bins) and the
  all-neighbour ADF (3 A, 180 one-degree bins) whose RMSDs AMShortcut (appendix B.5) reports.
* ``bond_cutoffs``: ``{"Si-O": 2.0}``; the bonded network for coordination, bond angles and rings.
* ``coordination``: ``{"Si-O": 4, "O-Si": 2}``; mean coordination and the defect fraction (atoms whose
  count differs from the ideal one) per centre-neighbour pair.
* ``ring_max_length``: longest ring searched, in atoms (0 disables rings). For a network whose bonds all
  join different species (Si-O) ring sizes are reported in network formers (atoms / 2).
* ``voronoi_radii``: ``{"Cu": 1.35, "Zr": 1.55}`` (DM2's radii; empty disables Voronoi analysis) and
  ``voronoi_face_threshold`` (0.01: faces under 1 % of the polyhedron's surface are left out of the
  index, DM2's relative face-area threshold; OVITO ``relative_face_threshold``).
* ``quests_bandwidth`` (0.015 1/A, DM2's and QUESTS' value) for the entropy; ``quests_overlap_bandwidths``
  ([0.015, 0.05]) for the benchmark's overlaps (0.05 also separates a glass from a random box and is
  less strict between glasses), ``quests_k``, ``quests_cutoff``, ``quests_max_environments`` (random
  subset of environments, seeded, so entropy stays cheap at 100k atoms), ``seed``.
* ``permutations`` (most splits of the benchmark's permutation test; every split when there are fewer),
  ``alpha`` (0.05: "inside the noise" when p > alpha), ``trend_metrics`` (scalars checked against the
  simulated trend in log10(rate) at target rates without simulated glasses): see ``compare.py``.
* ``uts_smoothing_strain`` (0.02): Savitzky-Golay window, in strain, of the stress-strain curve before the
  UTS is read off (``fracture.csv``; ``mechanics.smooth_stress``).
* ``minimize``: with a potential, report the energy per atom after a LAMMPS minimisation.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import units
from ..config import schema_defaults
from ..simulate.lammps import INPUT_DIR, run_lammps
from ..simulate.systems import get_potential, write_lammps_data

__all__ = [
    "DEFAULT_SETTINGS",
    "analysis_settings",
    "check_structure",
    "neighbor_pairs",
    "coordination_numbers",
    "coordination_fraction",
    "min_pair_distance",
    "density_gcc",
    "partial_rdfs",
    "first_peak_position",
    "total_rdf",
    "bond_angle_distributions",
    "total_adf",
    "coordination_summary",
    "ring_size_distribution",
    "voronoi_analysis",
    "quests_descriptors",
    "information_entropy",
    "quests_overlap",
    "distribution_rmsd",
    "minimized_energy_per_atom",
    "analyze",
]

#: the schema's ``systems.<name>.analysis`` defaults (workflow/schemas/config.schema.yaml), the one definition
DEFAULT_SETTINGS: dict = schema_defaults("system", "analysis")


def analysis_settings(overrides: dict | None = None) -> dict:
    """``DEFAULT_SETTINGS`` updated with ``overrides``; unknown keys are an error."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown analysis settings {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
    return {**DEFAULT_SETTINGS, **overrides}


def _pair(name: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in str(name).split("-"))
    if not all(parts):
        raise ValueError(f"cannot parse species pair/triplet {name!r} (expected e.g. 'Si-O')")
    return parts


def check_structure(atoms) -> None:
    """Raise ``ValueError`` unless ``atoms`` has atoms and a 3D-periodic cell of non-zero volume."""
    if atoms is None or len(atoms) == 0:
        raise ValueError("structure metrics need a non-empty structure (got 0 atoms)")
    if not all(atoms.pbc):
        raise ValueError(f"structure metrics need a cell periodic in x, y and z (pbc = {list(atoms.pbc)})")
    if abs(atoms.cell.volume) < 1e-9:
        raise ValueError("structure metrics need a cell with non-zero volume")


def neighbor_pairs(atoms, cutoff: float, quantities: str = "ijd"):
    """Full (both directions) periodic neighbour list within ``cutoff`` (Å), via matscipy.

    matscipy rather than vesin here: vesin imports torch whenever it is installed (about 2 s per job), and
    the analysis jobs need no torch; the models keep vesin-torch (``learn/graphs.py``)."""
    from matscipy.neighbours import neighbour_list

    check_structure(atoms)
    if cutoff <= 0:
        raise ValueError(f"neighbour cutoff must be positive, got {cutoff}")
    out = neighbour_list(quantities, positions=atoms.get_positions(), cell=atoms.cell.array,
                         pbc=np.asarray(atoms.pbc), cutoff=float(cutoff))
    return out if isinstance(out, tuple) else (out,)


def _species_mask(atoms, symbol: str) -> np.ndarray:
    symbols = np.asarray(atoms.get_chemical_symbols())
    mask = symbols == symbol
    if not mask.any():
        raise ValueError(f"no {symbol} atoms in structure {atoms.get_chemical_formula()}")
    return mask


def coordination_numbers(atoms, center: str, neighbor: str, cutoff: float) -> np.ndarray:
    """Number of ``neighbor`` atoms within ``cutoff`` (Å) of each ``center`` atom, in atom order."""
    centers = _species_mask(atoms, center)
    neighbors = np.asarray(atoms.get_chemical_symbols()) == neighbor
    i, j = neighbor_pairs(atoms, cutoff, "ij")
    keep = neighbors[j]
    counts = np.bincount(i[keep], minlength=len(atoms))
    return counts[centers]


def coordination_fraction(atoms, center: str, neighbor: str, cutoff: float, n: int) -> float:
    """Fraction of ``center`` atoms with exactly ``n`` ``neighbor`` atoms within ``cutoff``."""
    return float(np.mean(coordination_numbers(atoms, center, neighbor, cutoff) == n))


def min_pair_distance(atoms) -> float:
    """Shortest interatomic distance (Å) including periodic images; periodic images of an atom count."""
    check_structure(atoms)
    cutoff = 3.0
    max_cutoff = 2.0 * float(np.max(atoms.cell.cellpar()[:3])) + 1.0
    while True:
        (d,) = neighbor_pairs(atoms, cutoff, "d")
        if len(d):
            return float(d.min())
        if cutoff > max_cutoff:
            return float("inf")
        cutoff *= 2.0


def density_gcc(atoms) -> float:
    """Mass density in g/cm^3."""
    check_structure(atoms)
    return units.density_gcc(atoms)


# ---------------------------------------------------------------- OVITO: RDFs, bond angles, Voronoi
def _ovito_pipeline(atoms):
    from ovito.io.ase import ase_to_ovito
    from ovito.pipeline import Pipeline, StaticSource

    check_structure(atoms)
    return Pipeline(source=StaticSource(data=ase_to_ovito(atoms)))


def partial_rdfs(atoms, cutoff: float = 6.0, bins: int = 120) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Partial pair distribution functions g_ab(r) (OVITO), keyed ``"A-B"`` (alphabetical); bin centres in A.

    A one-element structure gets its single pair (``"Si-Si"``).
    """
    from ovito.modifiers import CoordinationAnalysisModifier

    if cutoff <= 0 or bins < 1:
        raise ValueError(f"RDF needs a positive cutoff and bins (got {cutoff}, {bins})")
    pipe = _ovito_pipeline(atoms)
    single = len(set(atoms.get_chemical_symbols())) == 1
    pipe.modifiers.append(CoordinationAnalysisModifier(cutoff=cutoff, number_of_bins=bins, partial=not single))
    rdf = pipe.compute().tables["coordination-rdf"]
    table = rdf.xy()
    r = table[:, 0].copy()
    if single:
        el = atoms.get_chemical_symbols()[0]
        return r, {f"{el}-{el}": table[:, 1].copy()}
    names = rdf.y.component_names
    return r, {"-".join(sorted(_pair(n))): table[:, k + 1].copy() for k, n in enumerate(names)}


def first_peak_position(r, g, threshold: float = 1.0) -> float:
    """Position of the first local maximum of g(r) that rises to ``threshold`` or above (NaN if none).

    The peaks of ``scipy.signal.find_peaks(g, height=threshold)`` (a flat top counts at its middle bin; a
    test checks the two agree), found here in a loop over the bins: importing scipy.signal alone costs
    ~0.4 s, more than this analysis, in every structure-metrics job of the DAG.
    """
    g = np.concatenate([[0.0], np.asarray(g, float), [0.0]])  # a peak in the last bin still counts
    i = 1
    while i < len(g) - 1:
        if g[i] > g[i - 1]:
            j = i
            while j < len(g) - 2 and g[j + 1] == g[i]:
                j += 1  # the flat top i..j
            if g[j + 1] < g[i] and g[i] >= threshold:
                return float(np.asarray(r)[(i + j) // 2 - 1])
            i = j + 1
        else:
            i += 1
    return float("nan")


def total_rdf(atoms, cutoff: float = 5.0, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Total g(r) over all atom pairs (OVITO), as used for the RDF RMSD of AMShortcut B.5."""
    from ovito.modifiers import CoordinationAnalysisModifier

    if cutoff <= 0 or bins < 1:
        raise ValueError(f"RDF needs a positive cutoff and bins (got {cutoff}, {bins})")
    pipe = _ovito_pipeline(atoms)
    pipe.modifiers.append(CoordinationAnalysisModifier(cutoff=cutoff, number_of_bins=bins, partial=False))
    table = pipe.compute().tables["coordination-rdf"].xy()
    return table[:, 0].copy(), table[:, 1].copy()


def _bonds_modifier(bond_cutoffs: dict | float):
    from ovito.modifiers import CreateBondsModifier

    if isinstance(bond_cutoffs, (int, float)):
        return CreateBondsModifier(mode=CreateBondsModifier.Mode.Uniform, cutoff=float(bond_cutoffs))
    if not bond_cutoffs:
        raise ValueError("bond angles need bond_cutoffs, e.g. {'Si-O': 2.0}")
    mod = CreateBondsModifier(mode=CreateBondsModifier.Mode.Pairwise)
    for pair, cut in bond_cutoffs.items():
        a, b = _pair(pair)
        mod.set_pairwise_cutoff(a, b, float(cut))
    return mod


def _angle_histogram(atoms, bond_cutoffs, bins: int, by_type: bool):
    from ovito.modifiers import BondAngleDistributionModifier as BADM

    pipe = _ovito_pipeline(atoms)
    pipe.modifiers.append(_bonds_modifier(bond_cutoffs))
    partition = BADM.Partition.ByParticleType if by_type else BADM.Partition.Off
    pipe.modifiers.append(BADM(bins=bins, partition=partition))
    table = pipe.compute().tables["bond-angle-distr"]
    xy = table.xy()
    if xy.shape[1] > 2:
        names = table.y.component_names
    elif by_type:  # one element: OVITO gives one unnamed column
        el = atoms.get_chemical_symbols()[0]
        names = (f"{el}-{el}-{el}",)
    else:
        names = ("all",)
    width = 180.0 / bins
    out = {}
    for k, name in enumerate(names):
        counts = xy[:, k + 1].astype(float)
        total = counts.sum()
        out[str(name)] = counts / (total * width) if total > 0 else counts  # probability per degree
    return xy[:, 0].copy(), out


def bond_angle_distributions(atoms, bond_cutoffs: dict | float, bins: int = 180,
                             triplets: list[str] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bond-angle distributions P(theta) per triplet ``"A-B-C"`` (B is the vertex), normalised per degree.

    Bonds are pairs within ``bond_cutoffs`` (per-pair dict, or one float for every pair: "all triplets
    within a cutoff" for one-element systems). Triplets with no angles are dropped unless requested.
    An angle of exactly 180 degrees (ideal beta-cristobalite) falls outside OVITO's histogram.
    """
    theta, hists = _angle_histogram(atoms, bond_cutoffs, bins, by_type=True)
    if triplets is None:
        return theta, {k: v for k, v in hists.items() if v.sum() > 0}
    out = {}
    for t in triplets:
        a, b, c = _pair(t)
        key = next((k for k in (f"{a}-{b}-{c}", f"{c}-{b}-{a}") if k in hists), None)
        out[t] = hists[key] if key is not None else np.zeros_like(theta)
    return theta, out


def total_adf(atoms, cutoff: float = 3.0, bins: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """All-triplet angle distribution with every neighbour within ``cutoff`` (AMShortcut B.5), per degree."""
    theta, hists = _angle_histogram(atoms, float(cutoff), bins, by_type=False)
    return theta, next(iter(hists.values()))


def coordination_summary(atoms, coordination: dict, bond_cutoffs: dict) -> dict[str, float]:
    """Mean coordination and defect fraction per ``"Center-Neighbor": ideal`` entry.

    Keys: ``cn_Si_O`` (mean) and ``defect_Si_O`` (fraction of Si whose O count differs from ideal).
    """
    out = {}
    for pair, ideal in coordination.items():
        center, neighbor = _pair(pair)
        cut = bond_cutoffs.get(f"{center}-{neighbor}", bond_cutoffs.get(f"{neighbor}-{center}"))
        if cut is None:
            raise ValueError(f"coordination {pair!r} has no bond cutoff in bond_cutoffs {bond_cutoffs}")
        cn = coordination_numbers(atoms, center, neighbor, float(cut))
        out[f"cn_{center}_{neighbor}"] = float(cn.mean())
        out[f"defect_{center}_{neighbor}"] = float(np.mean(cn != int(ideal)))
    return out


def _perpendicular_widths(cell) -> np.ndarray:
    cell = np.asarray(cell)
    return abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)


def ring_size_distribution(atoms, bond_cutoffs: dict, max_length: int = 24) -> dict[int, float]:
    """Shortest-path ring counts per original cell up to ``max_length`` atoms, keyed by ring size.

    OVITO's ``FindRingsModifier`` on the bonds within ``bond_cutoffs``. It would also count cycles that
    close through the periodic boundary, so a cell narrower than ``max_length`` bonds (a wrapping cycle
    spans a lattice vector, at least the smallest cell width long) is replicated first and the counts
    divided back. On wide cells this equals matscipy's ``ring_statistics`` (tested), which needs N^2
    memory (38 GB at 100k atoms). For a network whose bonds all join two different species (Si-O)
    sizes are in network formers (atoms / 2), the usual convention for silica.
    """
    from ovito.modifiers import FindRingsModifier

    check_structure(atoms)
    if not bond_cutoffs:
        raise ValueError("ring statistics need bond_cutoffs, e.g. {'Si-O': 2.0}")
    if max_length < 3:
        raise ValueError(f"ring_max_length must be at least 3 atoms, got {max_length}")
    pairs = {_pair(k): float(v) for k, v in bond_cutoffs.items()}
    present = set(atoms.get_chemical_symbols())
    pairs = {k: v for k, v in pairs.items() if k[0] in present and k[1] in present}
    if not pairs:
        return {}
    bond = max(pairs.values())
    reps = np.maximum(1, np.ceil(int(max_length) * bond * 1.001 / _perpendicular_widths(atoms.cell))).astype(int)
    big = atoms.repeat(tuple(reps)) if np.prod(reps) > 1 else atoms
    pipe = _ovito_pipeline(big)
    pipe.modifiers.append(_bonds_modifier({f"{a}-{b}": v for (a, b), v in pairs.items()}))
    pipe.modifiers.append(FindRingsModifier(minimum_ring_size=3, maximum_ring_size=int(max_length)))
    hist = pipe.compute().tables["ring-size-histogram"].xy()
    bipartite = all(a != b for a, b in pairs)
    out: dict[int, float] = {}
    for length, n in hist:
        if n > 0:
            size = int(length) // 2 if bipartite else int(length)
            out[size] = out.get(size, 0.0) + float(n) / np.prod(reps)
    return out


def voronoi_analysis(atoms, radii: dict | None = None, face_threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi indices ``<n3,n4,n5,n6>`` (N, 4) and atomic volumes (A^3), radical tessellation with radii.

    ``radii`` (A) per element weight the tessellation (OVITO ``use_radii``); without it the plain
    Voronoi construction is used. Faces smaller than ``face_threshold`` x the polyhedron's surface are
    left out of the index (OVITO ``relative_face_threshold``; DM2 used 0.01).
    """
    from ovito.modifiers import VoronoiAnalysisModifier

    pipe = _ovito_pipeline(atoms)
    if radii:
        missing = set(atoms.get_chemical_symbols()) - set(radii)
        if missing:
            raise ValueError(f"voronoi_radii lacks {sorted(missing)}")

        def set_radii(frame, data):
            for t in data.particles_.particle_types_.types_:
                t.radius = float(radii[t.name])

        pipe.modifiers.append(set_radii)
    pipe.modifiers.append(VoronoiAnalysisModifier(compute_indices=True, use_radii=bool(radii),
                                                 relative_face_threshold=float(face_threshold)))
    data = pipe.compute()
    index = np.asarray(data.particles["Voronoi Index"])
    padded = np.zeros((len(atoms), 7), dtype=int)
    padded[:, : min(7, index.shape[1])] = index[:, :7]
    # OVITO's index array starts at n1: <n3,n4,n5,n6> are columns 2:6
    return padded[:, 2:6].copy(), np.asarray(data.particles["Atomic Volume"], float).copy()


# ------------------------------------------------------------------------------------- QUESTS
def _numba_cache() -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "amorphous-ml" / "numba"))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)


def quests_descriptors(structures, k: int = 32, cutoff: float = 5.0, max_environments: int | None = None,
                       seed: int = 0) -> np.ndarray:
    """QUESTS descriptors (one row per atomic environment) of one or more structures.

    With ``max_environments`` a seeded random subset of rows is kept (cost of entropy is quadratic).
    """
    _numba_cache()
    from quests.descriptor import get_descriptors

    if not isinstance(structures, (list, tuple)):
        structures = [structures]
    if not structures:
        raise ValueError("QUESTS descriptors need at least one structure")
    for a in structures:
        check_structure(a)
    x = get_descriptors(list(structures), k=int(k), cutoff=float(cutoff))
    if max_environments and len(x) > max_environments:
        rng = np.random.default_rng(seed)
        x = x[np.sort(rng.choice(len(x), size=int(max_environments), replace=False))]
    return x


def information_entropy(atoms_or_descriptors, bandwidth: float = 0.05, **descriptor_kwargs) -> float:
    """QUESTS information entropy (nats) of the atomic environments."""
    _numba_cache()
    from quests.entropy import entropy

    x = atoms_or_descriptors
    if not isinstance(x, np.ndarray):
        x = quests_descriptors(x, **descriptor_kwargs)
    return float(entropy(x, h=float(bandwidth)))


def quests_overlap(test, reference, bandwidth: float = 0.05, eps: float = 1e-5, **descriptor_kwargs) -> float:
    """Fraction of ``test`` environments covered by ``reference`` (QUESTS: delta entropy below ``eps``).

    Either argument is a structure, a list of structures or a descriptor array. 1 for a set with itself.
    """
    _numba_cache()
    from quests.entropy import delta_entropy

    xs = [v if isinstance(v, np.ndarray) else quests_descriptors(v, **descriptor_kwargs) for v in (test, reference)]
    with np.errstate(divide="ignore"):
        delta = delta_entropy(xs[0], xs[1], h=float(bandwidth))
    return float(np.mean(delta < eps))


def distribution_rmsd(f_gen, f_ref) -> float:
    """RMSD between two binned distributions (AMShortcut B.5, eq. 18): sqrt(mean_i (f_gen_i - f_ref_i)^2)."""
    f_gen, f_ref = np.asarray(f_gen, float), np.asarray(f_ref, float)
    if f_gen.shape != f_ref.shape:
        raise ValueError(f"distributions have different binning: {f_gen.shape} vs {f_ref.shape}")
    return float(np.sqrt(np.mean((f_gen - f_ref) ** 2)))


# ------------------------------------------------------------------------ LAMMPS minimisation
def minimized_energy_per_atom(atoms, potential: str, log_path=None, *, accelerator=None, binary=None,
                              mpi_launch=None, potential_dir=None) -> float:
    """Potential energy per atom (eV) after a conjugate-gradient minimisation (``lammps_inputs/minimize.in``)."""
    check_structure(atoms)
    pot = get_potential(potential)
    with tempfile.TemporaryDirectory(prefix="amorphous-ml-min-") as tmp:
        data = Path(tmp) / "in.data"
        write_lammps_data(data, atoms, pot.species)
        log = Path(log_path) if log_path else Path(tmp) / "minimize.log"
        result = run_lammps(
            INPUT_DIR / "minimize.in",
            {"data_in": str(data), **pot.lammps_vars(potential_dir)},
            log,
            accelerator=accelerator, binary=binary, mpi_launch=mpi_launch, cwd=tmp,
        )
        return float(result.last("PotEng") / result.last("Atoms"))


# ------------------------------------------------------------------------------ everything
def analyze(atoms, settings: dict | None = None, *, potential: str | None = None, log_path=None,
            lammps_kwargs: dict | None = None, timings: dict | None = None,
            extras: dict | None = None) -> tuple[dict, dict]:
    """Every metric of one structure: ``(scalars, distributions)``.

    ``scalars`` is a flat dict (one row of ``structure.csv``); ``distributions`` holds the binned
    curves (lists) for the benchmark distances and plots. With ``potential`` the energy per atom after
    minimisation is included. ``timings`` (a dict) is filled with seconds per metric; ``extras`` (a dict)
    receives the QUESTS descriptor array under ``"quests_descriptors"`` (for overlaps between sets).
    """
    s = analysis_settings(settings)
    check_structure(atoms)
    timings = timings if timings is not None else {}
    scalars: dict = {"n_atoms": len(atoms), "formula": atoms.get_chemical_formula()}
    dists: dict = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        value = fn()
        timings[name] = time.perf_counter() - t0
        return value

    scalars["density_gcc"] = timed("density", lambda: density_gcc(atoms))
    scalars["min_pair_distance"] = timed("min_pair_distance", lambda: min_pair_distance(atoms))
    r, g = timed("partial_rdf", lambda: partial_rdfs(atoms, s["rdf_cutoff"], s["rdf_bins"]))
    dists["rdf"] = {"r": r.tolist(), **{k: v.tolist() for k, v in g.items()}}
    for pair, gr in g.items():
        scalars[f"rdf_first_peak_{pair.replace('-', '_')}"] = first_peak_position(r, gr)
    r, g = timed("total_rdf", lambda: total_rdf(atoms, s["rmsd_rdf_cutoff"], s["rmsd_rdf_bins"]))
    dists["total_rdf"] = {"r": r.tolist(), "g": g.tolist()}
    theta, p = timed("total_adf", lambda: total_adf(atoms, s["rmsd_adf_cutoff"], s["adf_bins"]))
    dists["total_adf"] = {"theta": theta.tolist(), "p": p.tolist()}
    if s["bond_cutoffs"]:
        theta, p = timed("bond_angles", lambda: bond_angle_distributions(atoms, s["bond_cutoffs"], s["adf_bins"]))
        dists["adf"] = {"theta": theta.tolist(), **{k: v.tolist() for k, v in p.items()}}
        for name, pk in p.items():
            scalars[f"angle_mean_{name.replace('-', '_')}"] = float(np.sum(theta * pk) / np.sum(pk))
    if s["coordination"]:
        scalars.update(timed("coordination", lambda: coordination_summary(atoms, s["coordination"], s["bond_cutoffs"])))
    if s["ring_max_length"]:
        rings = timed("rings", lambda: ring_size_distribution(atoms, s["bond_cutoffs"], s["ring_max_length"]))
        dists["rings"] = {str(k): v for k, v in sorted(rings.items())}
        total = sum(rings.values())
        scalars["ring_mean_size"] = float(sum(k * v for k, v in rings.items()) / total) if total else float("nan")
        scalars["rings_per_atom"] = float(total / len(atoms))
    if s["voronoi_radii"]:
        index, volume = timed("voronoi", lambda: voronoi_analysis(atoms, s["voronoi_radii"],
                                                                       s["voronoi_face_threshold"]))
        symbols = np.asarray(atoms.get_chemical_symbols())
        labels = np.array(["<" + ",".join(map(str, row)) + ">" for row in index])
        ico = labels == "<0,0,12,0>"
        scalars["voronoi_icosahedral_fraction"] = float(ico.mean())
        dists["voronoi"] = {}
        for el in sorted(set(symbols.tolist())):
            sel = symbols == el
            scalars[f"voronoi_icosahedral_fraction_{el}"] = float(ico[sel].mean())
            scalars[f"atomic_volume_{el}"] = float(volume[sel].mean())
            values, counts = np.unique(labels[sel], return_counts=True)
            order = np.argsort(-counts)[:10]
            dists["voronoi"][el] = {str(values[i]): float(counts[i] / sel.sum()) for i in order}
    x = timed("quests_descriptors", lambda: quests_descriptors(
        atoms, k=s["quests_k"], cutoff=s["quests_cutoff"], max_environments=s["quests_max_environments"],
        seed=s["seed"]))
    if extras is not None:
        extras["quests_descriptors"] = x
    scalars["quests_entropy"] = timed("quests_entropy", lambda: information_entropy(x, s["quests_bandwidth"]))
    if potential and s["minimize"]:
        scalars["energy_per_atom_min"] = timed("minimized_energy", lambda: minimized_energy_per_atom(
            atoms, potential, log_path, **(lammps_kwargs or {})))
    return scalars, dists
