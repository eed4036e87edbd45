"""GlassVAE's dataset: NPT snapshots along independent cooling trajectories (real LAMMPS, Mendelev Cu-Zr)."""

import numpy as np
import pytest

from amorphous_ml.config import ConfigError, validate_config
from amorphous_ml.io import read_structures


def _dataset(**kw):
    ds = dict(protocol="npt_snapshots", composition="Cu50Zr50", n_atoms=108, temperatures=[1000, 700], cooling_rate=50,
              melt={"temperature": 2000})
    ds.update(kw)
    return ds


def _config(ds):
    return {"systems": {"cuzr": {"potential": "cuzr_mendelev", "compositions": ["Cu50Zr50"], "timestep_ps": 0.002,
                                 "cooling_rates": [10], "datasets": {"glassvae": ds}}}}


def test_snapshots_carry_energies_composition_and_the_temperature_they_were_taken_at(tmp_path):
    from amorphous_ml.simulate.datasets import dataset_part, dataset_parts, part_params

    cfg = validate_config(_config(_dataset(melt={"temperature": 2000, "nvt_ps": 1, "npt_ps": 1}, cooling_rate=200,
                                           equilibrate_ps=1, snapshots_per_temperature=3, snapshot_every_ps=0.4,
                                           trajectories=2, seed=7)))
    system = cfg["systems"]["cuzr"]
    assert system["datasets"]["glassvae"]["samples"] == 12  # trajectories x temperatures x snapshots
    assert dataset_parts(system, "glassvae") == ["p0000", "p0001"]  # one sequential part per trajectory
    parts = []
    for k, part in enumerate(("p0000", "p0001")):
        out = tmp_path / f"{part}.extxyz"
        dataset_part("cuzr", part_params(system, "glassvae", part), out, tmp_path / "logs" / part)
        parts.append(read_structures(out))
    frames = parts[0] + parts[1]
    assert len(parts[0]) == len(parts[1]) == 6
    assert [a.info["temperature_K"] for a in parts[1]] == [1000.0] * 3 + [700.0] * 3
    assert [a.info["sample"] for a in frames] == [f"glassvae_{i:04d}" for i in range(12)]
    assert [a.info["seed"] for a in frames] == [7] * 6 + [8] * 6  # each trajectory its own seed
    assert [a.info["trajectory"] for a in frames] == [0] * 6 + [1] * 6
    assert all(a.info["protocol"] == "npt_snapshots" for a in frames)
    for a in frames:
        assert a.get_chemical_symbols().count("Cu") == 54 and len(a) == 108
        e = a.get_potential_energy() / len(a)
        assert -5.2 < e < -4.4  # Mendelev Cu50Zr50: about -4.85 eV/atom near T_g
        # a minimised snapshot lies below the thermal one by about 3/2 k_B T per atom
        excess = e - a.info["inherent_energy"] / len(a)
        kt = 8.617e-5 * a.info["temperature_K"]
        assert 0.5 * kt < excess < 3.0 * kt
        assert 6.0 < a.get_masses().sum() / 6.022e23 / (a.get_volume() * 1e-24) < 8.0  # NPT density g/cm^3
    # snapshots of one temperature are different configurations, and the two trajectories are different glasses
    assert np.abs(frames[0].positions - frames[1].positions).max() > 0.1
    assert abs(parts[0][-1].info["inherent_energy"] - parts[1][-1].info["inherent_energy"]) > 1e-3
    assert all(a.info["dataset"] == "glassvae" and "code_version" in a.info for a in frames)


def test_dataset_config_rejects_a_missing_temperature_list_and_an_unknown_protocol():
    with pytest.raises(ConfigError, match="temperatures"):
        validate_config(_config({"protocol": "npt_snapshots", "cooling_rate": 10}))
    with pytest.raises(ConfigError, match="cooling_rate"):
        validate_config(_config({"protocol": "npt_snapshots", "temperatures": [900]}))
    with pytest.raises(ConfigError, match="melt.temperature"):
        validate_config(_config(_dataset(cooling_rate=10, melt={"temperature": 900})))
    with pytest.raises(ConfigError, match="protocol"):
        validate_config(_config(_dataset(protocol="teleport")))
    with pytest.raises(ConfigError, match="snapshots_per_temperature"):
        validate_config(_config(_dataset(snapshots_per_temperature=0)))


def test_a_glassvae_composition_the_decoded_atom_count_cannot_hold_is_a_config_error():
    ds = _dataset(cooling_rate=10)
    cfg = _config(ds)
    cfg["systems"]["cuzr"]["models"] = {"glassvae": {"dataset": "glassvae", "generation": {"composition": "Cu64Zr36"}}}
    with pytest.raises(ConfigError, match="models.glassvae.*Cu64Zr36.*108"):
        validate_config(cfg)
    cfg["systems"]["cuzr"]["models"]["glassvae"]["generation"]["composition"] = "Cu1Zr2"  # 36 units of 3
    validate_config(cfg)


@pytest.mark.parametrize("section,match", [
    ({"latent_batchnorm": -1.0}, r"models\.glassvae\.latent_batchnorm"),
    ({"free_bits": "many"}, r"models\.glassvae\.free_bits"),
    ({"generation": {"energy_window": [-4.8, -4.9]}}, r"models\.glassvae\.generation\.energy_window.*empty"),
    ({"generation": {"modes": ["posterior"]}}, r"models\.glassvae\.generation\.modes"),
    ({"dataset": "nowhere"}, r"models\.glassvae\.dataset.*'nowhere'"),
])
def test_a_bad_glassvae_section_is_a_one_line_error_naming_the_key(section, match):
    cfg = _config(_dataset(cooling_rate=10))
    cfg["systems"]["cuzr"]["models"] = {"glassvae": {"dataset": "glassvae", **section}}
    with pytest.raises(ConfigError, match=match) as err:
        validate_config(cfg)
    assert "\n" not in str(err.value)


def test_glassvae_trains_only_on_npt_snapshots():
    cfg = _config({"protocol": "melt_quench", "cooling_rate": 10, "samples": 2})
    cfg["systems"]["cuzr"]["models"] = {"glassvae": {"dataset": "glassvae"}}
    with pytest.raises(ConfigError, match=r"models\.glassvae\.dataset: GlassVAE trains on NPT snapshots"):
        validate_config(cfg)
