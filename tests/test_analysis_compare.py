"""Benchmark table, structure table, plots and the validate CLI on tiny silica-like structure sets."""

from __future__ import annotations

import json

import ase
import numpy as np
import pandas as pd
import pytest

from amorphous_ml import io
from amorphous_ml.cli import main
from amorphous_ml.validate.compare import benchmark_table, load_records, split_halves, structure_table

SETTINGS = {"bond_cutoffs": {"Si-O": 2.0}, "coordination": {"Si-O": 4, "O-Si": 2}, "ring_max_length": 16,
            "rdf_bins": 60, "quests_max_environments": 400}


def cristobalite_like(seed: int, rattle: float = 0.08) -> ase.Atoms:
    from ase.build import bulk
    from matscipy.neighbours import neighbour_list

    a = 7.16
    si = bulk("Si", "diamond", a=a, cubic=True)
    i, j, d = neighbour_list("ijD", si, a * np.sqrt(3) / 4 + 0.1)
    o = si.positions[i[i < j]] + d[i < j] / 2
    atoms = ase.Atoms(f"Si8O{len(o)}", positions=np.vstack([si.positions, o]), cell=si.cell, pbc=True) * (2, 2, 2)
    atoms.positions += np.random.default_rng(seed).normal(0, rattle, atoms.positions.shape)
    atoms.wrap()
    return atoms


def random_box(seed: int) -> ase.Atoms:
    ref = cristobalite_like(0)
    rng = np.random.default_rng(seed)
    return ase.Atoms(ref.get_chemical_symbols(), scaled_positions=rng.random((len(ref), 3)), cell=ref.cell, pbc=True)


def write_sample(tmp_path, atoms, source, rate, seed):
    sample = f"SiO2_{rate:g}Kps_s{seed}"
    atoms.info.update({"system": "sio2", "composition": "SiO2", "cooling_rate": rate, "seed": seed,
                       "source": "simulated" if source == "simulated" else "generated",
                       "model": "md" if source == "simulated" else source})
    path = tmp_path / source / f"{sample}.extxyz"
    io.write_structures(path, atoms)
    out = tmp_path / "metrics" / source / f"{sample}.json"
    rc = main(["structure-metrics", "--structure", str(path), "--out", str(out), "--source", source,
               "--sample", sample, "--descriptors", str(out.with_suffix(".npy")),
               "--settings-json", json.dumps(SETTINGS)])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def metric_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    files = [write_sample(tmp, cristobalite_like(s), "simulated", 100, s) for s in range(1, 5)]
    files += [write_sample(tmp, cristobalite_like(s), "copycat", 100, s) for s in range(1, 4)]
    files += [write_sample(tmp, random_box(s), "noise", 100, s) for s in range(1, 4)]
    return tmp, files


def _rows(table, source):
    return table[table["source"] == source].set_index("metric")


def test_a_model_that_copies_the_reference_is_inside_the_noise(metric_files):
    _, files = metric_files
    table = benchmark_table(load_records(files), SETTINGS)
    copy = _rows(table, "copycat")
    # copycat samples are simulated seeds 1-3; the reference holds seeds 1-4: 35 splits of 3 + 4
    assert (copy["n_splits"] == 35).all() and (copy["test"] == "permutation").all()
    for metric in ("rdf_rmsd", "adf_rmsd", "ring_tvd", "d_density_gcc", "quests_nonoverlap_gen_h0.05"):
        assert copy.loc[metric, "p_value"] > 0.05, metric
        assert copy.loc[metric, "verdict"] == "inside"
    assert copy.loc["quests_nonoverlap_gen_h0.05", "distance"] < 0.2


def test_a_model_that_copies_the_whole_reference_has_zero_distance_and_full_overlap(metric_files):
    """Generated samples identical to the whole simulated reference: every distance is exactly 0 and every
    environment is covered (QUESTS non-overlap 0). All environments are used (no subsample), so the two
    descriptor sets are the same set."""
    import copy

    _, files = metric_files
    reference = load_records(files[:4])
    copies = copy.deepcopy(reference)
    for rec in copies:
        rec["id"]["source"], rec["id"]["model"] = "copycat", "copycat"
    settings = {**SETTINGS, "quests_max_environments": 0}
    rows = _rows(benchmark_table(reference + copies, settings), "copycat")
    assert {"rdf_rmsd", "adf_rmsd", "ring_tvd", "d_density_gcc"} <= set(rows.index)
    assert any(m.startswith("quests_nonoverlap") for m in rows.index)
    for metric, d in rows["distance"].items():
        assert d == pytest.approx(0.0, abs=1e-12), metric
    assert (rows["n_samples"] == 4).all() and (rows["n_reference"] == 4).all()


def test_a_random_box_is_outside_the_noise_on_every_structural_distance(metric_files):
    _, files = metric_files
    table = benchmark_table(load_records(files), SETTINGS)
    noise = _rows(table, "noise")
    for col in ("rdf_rmsd", "adf_rmsd", "rdf_rmsd_O_Si", "angle_rmsd_O_Si_O", "d_defect_Si_O",
                "quests_nonoverlap_gen_h0.05"):
        # the observed split is the most extreme of all 35: p = 1/35
        assert noise.loc[col, "p_value"] == pytest.approx(1 / 35), col
        assert noise.loc[col, "distance"] > noise.loc[col, "noise_p95"], col
        assert noise.loc[col, "verdict"] == "outside", col
    assert noise.loc["d_density_gcc", "distance"] == pytest.approx(0.0, abs=1e-9)  # same cell and atoms
    assert noise.loc["d_defect_Si_O", "difference"] > 0.5
    assert noise.loc["quests_nonoverlap_gen_h0.05", "distance"] > 0.7
    sim = _rows(table, "simulated")  # the calibration rows: two halves (2 + 2) of the simulated set
    assert (sim["test"] == "halves").all() and (sim["n_samples"] == 2).all() and (sim["n_reference"] == 2).all()
    assert (sim["verdict"] == "untestable").all()  # 6 splits: p cannot go below 1/6


def test_noise_floor_halves_are_disjoint_and_cover_the_set_sorted_by_numeric_seed():
    recs = [{"id": {"seed": s, "sample": f"x{s}"}} for s in (5, 1, 10, 3, 2, 4, 9)]
    a, b = split_halves(recs)
    assert {r["id"]["seed"] for r in a} | {r["id"]["seed"] for r in b} == {1, 2, 3, 4, 5, 9, 10}
    assert not {id(r) for r in a} & {id(r) for r in b}
    assert [r["id"]["seed"] for r in a] == [1, 3, 5, 10]  # 10 after 9, not after 1


def test_structure_table_has_one_row_per_sample_and_cli_tables_and_plots(metric_files, tmp_path):
    _, files = metric_files
    table = structure_table(load_records(files))
    assert len(table) == 10
    assert list(table.columns[:7]) == ["source", "model", "stage", "composition", "cooling_rate", "seed", "sample"]
    assert (table.loc[table.source == "simulated", "ring_mean_size"] == 6.0).all()
    files = [str(f) for f in files]
    assert main(["structure-table", *files, "--out", str(tmp_path / "structure.csv")]) == 0
    assert main(["benchmark-table", *files, "--out", str(tmp_path / "benchmark.csv"),
                 "--settings-json", json.dumps(SETTINGS)]) == 0
    bench = pd.read_csv(tmp_path / "benchmark.csv")
    assert list(dict.fromkeys(bench["source"])) == ["simulated", "copycat", "noise"]
    assert {"distance", "noise_median", "noise_p95", "p_value", "verdict"} <= set(bench.columns)
    for kind in ("rdf", "angles", "rings", "voronoi"):
        out = tmp_path / f"{kind}.png"
        assert main(["plot-structure", *files, "--kind", kind, "--out", str(out)]) == 0
        assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot-parity", str(tmp_path / "structure.csv"), "--out", str(tmp_path / "parity.png")]) == 0
    assert (tmp_path / "parity.png").stat().st_size > 1000


def test_structure_metrics_cli_rejects_a_non_periodic_structure_in_one_line(tmp_path, capsys):
    path = tmp_path / "mol.extxyz"
    io.write_structures(path, ase.Atoms("SiO2", positions=[[0, 0, 0], [1.6, 0, 0], [-1.6, 0, 0]]))
    rc = main(["structure-metrics", "--structure", str(path), "--out", str(tmp_path / "m.json")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "periodic" in err and "Traceback" not in err
    assert main(["benchmark-table", str(tmp_path / "missing.json"), "--out", str(tmp_path / "b.csv")]) == 1
