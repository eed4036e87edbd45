#!/usr/bin/env bash
# CI, after the README's test command: a non-editable install (a wheel of this checkout) must run outside
# the source tree, i.e. the schema, the default config, the LAMMPS inputs and the potentials must come from
# the wheel. The wheel goes into a fresh venv that borrows the dependencies .venv already installed (a .pth
# line), so nothing is downloaded or unpacked twice; .venv's editable amorphous_ml is not importable there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
purelib() { "$1/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/pip" wheel -q --no-deps -w "$tmp/dist" .
rm -rf build
python3 -m venv --without-pip "$tmp/venv"
purelib "$VENV" >"$(purelib "$tmp/venv")/borrowed-dependencies.pth"
"$VENV/bin/pip" --python "$tmp/venv/bin/python" install -q --no-deps "$tmp"/dist/amorphous_ml-*.whl
cd "$tmp"
py="$tmp/venv/bin/python"
"$py" -c "import amorphous_ml.paths as p, sys; assert '_data' in str(p.INPUT_DIR) and p.INPUT_DIR.is_dir(), p.INPUT_DIR; print('data from', p.INPUT_DIR.parent)"
"$py" -m amorphous_ml check-config
"$py" -m amorphous_ml melt-quench --system-name si --composition Si --rate 1000 --seed 1 --out-extxyz glass.extxyz \
    --out-data glass.data --log melt_quench.log --system-json '{"potential": "si_sw", "timestep_ps": 0.001,
    "n_atoms": 64, "initial_density": 2.3, "box_aspect": [1, 1, 1], "melt": {"temperature": 3000,
    "nvt_ps": 0.5, "npt_ps": 0.5}, "quench": {"final_temperature": 300, "anneal_ps": 0.5, "pressure_bar": 0}}'
echo "wheel check: the installed wheel validated the default config and made a glass outside the tree"
