"""Structures from outside the workflow: LAMMPS data files, types mapped by mass, int seeds, strict sample ids."""

from __future__ import annotations

import json

import ase
import numpy as np
import pytest

from amorphous_ml import io
from amorphous_ml.cli import main
from amorphous_ml.simulate.systems import random_packing, read_lammps_data, write_lammps_data


def _silica(seed=1):
    return random_packing({"Si": 8, "O": 16}, 2.2, seed=seed)


def test_lammps_data_file_is_read_with_types_mapped_by_mass_even_when_type_1_is_oxygen(tmp_path):
    atoms = _silica()
    path = tmp_path / "glass.data"
    write_lammps_data(path, atoms, ("O", "Si"))  # type 1 = O, against the potential's (Si, O) order
    for read in (lambda: read_lammps_data(path, ("Si", "O")), lambda: io.read_structure(path)):
        back = read()
        assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
        np.testing.assert_allclose(back.cell[:], atoms.cell[:], atol=1e-8)
        assert all(back.pbc)


def test_lammps_data_masses_that_disagree_with_the_species_fail_in_one_line(tmp_path):
    path = tmp_path / "glass.lmp"
    write_lammps_data(path, _silica(), ("O", "Si"))
    with pytest.raises(ValueError, match=r"mass 15\.999.*O.*not one of \['Cu', 'Zr'\]") as exc:
        read_lammps_data(path, ("Cu", "Zr"))
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="type 1 has mass 15.999 .O. but species says Si") as exc:
        io.read_structure(path, species=["Si", "O"])
    assert "\n" not in str(exc.value)


def test_lammps_data_atom_style_is_detected_or_asked_for(tmp_path):
    path = tmp_path / "glass.dat"
    write_lammps_data(path, _silica(), ("Si", "O"))
    text = path.read_text()
    assert "Atoms # charge" in text
    path.write_text(text.replace("Atoms # charge", "Atoms"))  # a charge file without the style comment
    with pytest.raises(ValueError, match="atom style") as exc:
        io.read_structure(path)
    assert "\n" not in str(exc.value)
    assert io.read_structure(path, atom_style="charge").get_chemical_formula() == "O16Si8"
    atomic = tmp_path / "atomic.data"
    ase.io.write(atomic, _silica(), format="lammps-data", atom_style="atomic", specorder=["Si", "O"], masses=True)
    assert io.read_structure(atomic).get_chemical_formula() == "O16Si8"  # 5 columns: atomic


def test_structure_metrics_cli_reads_a_lammps_data_file_and_writes_int_seeds(tmp_path, capsys):
    data = tmp_path / "theirs.data"
    write_lammps_data(data, _silica(), ("O", "Si"))
    out = tmp_path / "m.json"
    settings = json.dumps({"quests_max_environments": 24, "rdf_bins": 20})
    assert main(["structure-metrics", "--structure", str(data), "--out", str(out), "--source", "theirs",
                 "--sample", "SiO2_10Kps_s9", "--settings-json", settings]) == 0
    rec = json.loads(out.read_text())
    assert rec["id"]["seed"] == 9 and rec["id"]["composition"] == "SiO2" and rec["scalars"]["formula"] == "O16Si8"
    # an extxyz seed (read back as a numpy integer) is an int in the JSON, not "10"
    xyz = tmp_path / "s.extxyz"
    atoms = _silica(2)
    atoms.info.update(seed=np.int64(10), cooling_rate=10.0, composition="SiO2")
    io.write_structures(xyz, atoms)
    out2 = tmp_path / "m2.json"
    assert main(["structure-metrics", "--structure", str(xyz), "--out", str(out2), "--source", "theirs",
                 "--settings-json", settings]) == 0
    assert json.loads(out2.read_text())["id"]["seed"] == 10
    table = tmp_path / "structure.csv"
    assert main(["structure-table", str(out), str(out2), "--out", str(table)]) == 0
    import pandas as pd

    assert list(pd.read_csv(table)["seed"]) == [9, 10]  # numbers, sorted as numbers
    # an id that does not parse unambiguously is refused in one line
    assert main(["structure-metrics", "--structure", str(data), "--out", str(tmp_path / "x.json"),
                 "--sample", "SiO2_0_1Kps_s0", "--settings-json", settings]) == 1
    err = capsys.readouterr().err
    assert "does not parse" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
