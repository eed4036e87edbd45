"""Refining generated structures: overlaps are pushed apart, LAMMPS minimises and runs NVT + NPT."""

import sys
from pathlib import Path

import numpy as np
from matscipy.neighbours import neighbour_list

from amorphous_ml.cli import main
from amorphous_ml.io import read_structure, write_structures
from amorphous_ml.simulate.refine import push_apart
from amorphous_ml.simulate.systems import get_potential, read_lammps_data

sys.path.insert(0, str(Path(__file__).parent))
from dm2_fixtures import cristobalite  # noqa: E402


def _overlapping(seed=0):
    """beta-cristobalite with three O atoms dropped almost onto Si atoms and one coincident pair."""
    atoms = cristobalite(repeat=(2, 2, 2), rattle=0.05, seed=seed)
    sym = np.array(atoms.get_chemical_symbols())
    si, o = np.where(sym == "Si")[0], np.where(sym == "O")[0]
    for k in range(3):
        atoms.positions[o[k]] = atoms.positions[si[10 + k]] + [0.2, 0.1, 0.0]
    atoms.positions[o[5]] = atoms.positions[o[40]]
    atoms.info.update(seed=7, source="generated", model="dm2", cooling_rate=10.0)
    return atoms


def test_push_apart_leaves_no_pair_closer_than_the_threshold():
    atoms = _overlapping()
    pushed, n_close = push_apart(atoms, 1.0)
    assert n_close == 4
    assert neighbour_list("d", pushed, 3.0).min() >= 1.0 - 1e-9
    # atoms away from the overlaps do not move (beyond wrapping into the cell)
    atoms.wrap()
    moved = np.linalg.norm(pushed.positions - atoms.positions, axis=1)
    assert np.count_nonzero(moved > 1e-9) <= 8


def test_refine_cli_turns_overlapping_silica_into_a_relaxed_structure(tmp_path, monkeypatch):
    write_structures(tmp_path / "gen.extxyz", _overlapping())
    monkeypatch.chdir(tmp_path)  # relative paths, as Snakemake passes them
    rc = main(["refine", "--input", "gen.extxyz", "--potential", "sio2_bjp",
               "--params-json", '{"refine": {"nvt_ps": 0.3, "npt_ps": 0.3}}',
               "--out-extxyz", "out/ref.extxyz", "--out-data", "out/ref.data",
               "--log", "logs/ref.log", "--accelerator", "omp", "--threads", "1"])
    tmp_path = tmp_path / "out"
    assert rc == 0
    refined = read_structure(tmp_path / "ref.extxyz")
    assert neighbour_list("d", refined, 3.0).min() > 1.2
    sym = np.array(refined.get_chemical_symbols())
    i, j = neighbour_list("ij", refined, 2.0)
    cn = np.bincount(i[(sym[i] == "Si") & (sym[j] == "O")], minlength=len(refined))[sym == "Si"]
    assert np.mean(cn == 4) >= 0.9
    assert refined.info["seed"] == 7 and refined.info["source"] == "generated" and refined.info["refined"]
    assert refined.info["pairs_pushed_apart"] == 4 and "potential_sha256" in refined.info
    assert refined.get_potential_energy() < 0 and refined.get_stress().shape == (6,)
    data = read_lammps_data(tmp_path / "ref.data", get_potential("sio2_bjp").species)
    np.testing.assert_allclose(data.positions, refined.positions, atol=1e-5)
    # no MD: the generator's own structure, minimised only, is labelled for the benchmark's "raw" rows
    rc = main(["refine", "--input", "gen.extxyz", "--potential", "sio2_bjp",
               "--params-json", '{"refine": {"nvt_ps": 0, "npt_ps": 0}}',
               "--out-extxyz", "out/min.extxyz", "--out-data", "out/min.data",
               "--log", "logs/min.log", "--accelerator", "omp", "--threads", "1"])
    assert rc == 0
    raw = read_structure(tmp_path / "min.extxyz")
    assert raw.info["minimized"] and not raw.info["refined"]
    assert neighbour_list("d", raw, 3.0).min() > 1.0
