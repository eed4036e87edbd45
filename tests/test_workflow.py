"""The real Snakemake DAG end to end at tiny scale: glasses -> elastic + fracture -> tables and plot."""


import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from amorphous_ml import io
from conftest import TINY, run_snakemake, models_off

pytestmark = pytest.mark.slow

# Fused silica (experiment): E 72 GPa, K 36.7 GPa, Poisson ratio 0.17 (e.g. Corning 7980 data sheet).
# BKS-family potentials give E 70-110 GPa for MD-quenched glass, and tensile strengths of 5-25 GPa at MD
# strain rates (1e9-1e11 1/s). The tiny glass (150 atoms, 500 K/ps) is far from converged, so the bounds
# allow a factor of about 3 around those values; nu is bounded by 0 and the stability limit 0.5.
E_SILICA_GPA, K_SILICA_GPA = 72.0, 36.7

FRACTURE_COLUMNS = ["source", "model", "composition", "cooling_rate", "n_atoms", "seed", "E_GPa", "UTS_GPa",
                    "strain_at_UTS", "fracture_strain"]


def _simulation_only(tmp_path, name="sim.yaml", edit=None):
    """The tiny config with the generative models switched off (the model chain: tests/test_model_chain.py)."""
    cfg = yaml.safe_load(TINY.read_text())
    for system in cfg["systems"].values():
        system["models"] = models_off()
    if edit:
        edit(cfg)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_sio2_fracture_and_elastic_tables_from_real_lammps(tmp_path):
    sim = _simulation_only(tmp_path)
    run_snakemake(tmp_path, "results/sio2/fracture.csv", "results/sio2/elastic.csv", "--configfile", sim)
    frac = pd.read_csv(tmp_path / "results/sio2/fracture.csv")
    assert list(frac.columns[:10]) == FRACTURE_COLUMNS
    md = frac[frac.source == "simulated"]
    assert len(frac) == len(md) == 1 and md.model.iloc[0] == "md" and md.n_atoms.iloc[0] == 150
    assert E_SILICA_GPA / 3 < md.E_GPa.iloc[0] < 3 * E_SILICA_GPA and 1 < md.UTS_GPa.iloc[0] < 40
    assert (tmp_path / "results/sio2/fracture.png").stat().st_size > 1000
    el = pd.read_csv(tmp_path / "results/sio2/elastic.csv")
    assert K_SILICA_GPA / 3 < el.K_GPa.iloc[0] < 4 * K_SILICA_GPA and 0.0 < el.nu.iloc[0] < 0.5
    glass = io.read_structure(tmp_path / "results/sio2/glasses/SiO2_500Kps_s3.extxyz")
    assert glass.info["cooling_rate"] == 500 and "potential_sha256" in glass.info
    assert (tmp_path / "results/sio2/glasses/SiO2_500Kps_s3.data").exists()

    # adding a cooling rate schedules only the new sample's jobs and the table
    more = _simulation_only(tmp_path, "more.yaml", lambda c: c["systems"]["sio2"]["cooling_rates"].append(1000))
    proc = run_snakemake(tmp_path, "-n", "results/sio2/fracture.csv", "--configfile", more)
    counts = _job_counts(proc.stdout)
    assert counts == {"melt_quench": 1, "fracture": 1, "fracture_table": 1}, proc.stdout[-2000:]

    # switching the LAMMPS accelerator (a resource, not a param) reruns nothing
    accel = _simulation_only(tmp_path, "accel.yaml", lambda c: c["lammps"].update(accelerator="omp"))
    proc = run_snakemake(tmp_path, "-n", "results/sio2/fracture.csv", "results/sio2/elastic.csv",
                         "--configfile", accel)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # launching Snakemake by another name of the same interpreter (python3 instead of python, as the
    # `snakemake` console script does) reruns nothing: the interpreter's path is not part of any rule's command
    other = _other_name_of_this_python()
    proc = run_snakemake(tmp_path, "-n", "results/sio2/fracture.csv", "results/sio2/elastic.csv",
                         "--configfile", sim, python=other)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]


def _other_name_of_this_python() -> str:
    """Another path to this interpreter, in the same directory (a venv has python, python3 and python3.X)."""
    exe = Path(sys.executable)
    names = ["python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}"]
    for name in names:
        if name != exe.name and (exe.parent / name).exists():
            return str(exe.parent / name)
    pytest.skip(f"no second name of {exe} in its directory")


def _job_counts(text: str) -> dict:
    counts, inside = {}, False
    for line in text.splitlines():
        if line.startswith("job ") and "count" in line:
            inside = True
            continue
        if inside:
            parts = line.split()
            if not parts or parts[0].startswith("-"):
                continue
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


def test_failed_lammps_job_leaves_no_output_and_quotes_the_error(tmp_path):
    # 10 fs at 5000 K: atoms are lost
    bad = _simulation_only(tmp_path, "unstable.yaml", lambda c: c["systems"]["sio2"].update(timestep_ps=0.01))
    proc = run_snakemake(tmp_path, "results/sio2/glasses/SiO2_500Kps_s3.extxyz", "--configfile", bad,
                         check=False)
    assert proc.returncode != 0
    assert "ERROR: Lost atoms" in proc.stderr + proc.stdout
    glasses = tmp_path / "results/sio2/glasses"
    assert not glasses.exists() or not list(glasses.iterdir())


def test_model_chain_and_slow_quenches_are_scheduled_first(tmp_path):
    """Priorities the scheduler sees (dry run): the model chain above melt-quenches, the slowest quench
    first, analysis jobs at the default 0."""
    import re
    import subprocess
    import sys

    from amorphous_ml.config import load_config
    from amorphous_ml.simulate.params import melt_quench_atom_steps
    from conftest import ROOT

    # the default config (several cooling rates and DM2); a dry run costs nothing
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "-c2", "-n", "results/sio2/fracture.csv", "results/sio2/structure.csv"],
                          capture_output=True, text=True, check=True)
    prio = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        wc = re.search(r"wildcards: (.*)", block)
        p = re.search(r"priority: ([0-9.]+)", block)
        if rule:
            prio[(rule.group(1), wc.group(1) if wc else "")] = float(p.group(1)) if p else 0.0
    quench = {k[1]: v for k, v in prio.items() if k[0] == "melt_quench"}
    chain = [v for k, v in prio.items() if k[0] in ("train_model", "generate_model", "refine_generated")]
    analysis = [v for k, v in prio.items() if k[0] in ("fracture", "structure_metrics", "fracture_table")]
    assert quench and chain and analysis
    assert min(chain) > max(quench.values()) > min(quench.values()) > max(analysis) == 0
    sio2 = load_config()["systems"]["sio2"]
    by_cost = sorted(quench, key=lambda w: melt_quench_atom_steps(sio2, float(re.search(r"rate=([0-9.e+-]+)", w)[1])))
    assert by_cost == sorted(quench, key=quench.get)
