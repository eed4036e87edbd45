"""AMDEN cost on this machine: training step, generation step and HMC move, laptop and paper sizes.

Prints measured numbers (nothing is asserted), per case:

* ``train_step_s``: one optimiser step (loss with ghosts + backward + Adam) for ``batch`` structures,
  median of ``--repeats`` steps after one warm-up step, and its FLOPs (torch FlopCounterMode: matrix
  products only), which no load from other processes can change;
* ``sde_step_s_per_structure``: one reverse-SDE step (graph + model + update) per structure;
* ``hmc_move_s_per_structure`` (energy variant): one HMC move (16 energy + gradient evaluations);
* ``generation_s_per_structure``: ``steps`` SDE steps plus, with HMC, one move per step at t <= 0.5,
  extrapolated from the measured steps.

Cases: a-Si at the laptop default (64 atoms, the ``data`` laptop set size; CONFIG_SCHEMA defaults) and
at paper size (256 atoms, hidden 128, 8 channels, 8 layers, cutoff 6.5 Å, batch 8 in training, 200 SDE
steps, 2000 with HMC). Ghosts fill the box to 0.1 atoms/Å^3 (a-Si: 2x the atoms). Weights are random
(timing depends on sizes and neighbour counts only). Paper-size training is timed for one structure
(``--paper-batch``, default 1: memory) and scaled linearly to batch 8; the paper-size energy variant's
training (double backward) is timed with 2 layers and scaled by 4 to 8 layers (memory), as printed.

``dm2_ratio``: the laptop AMDEN training step against the laptop DM2 step, interleaved (same load).

    python benchmarks/bench_amden.py [--cases laptop paper dm2_ratio] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from torch.utils.flop_counter import FlopCounterMode

from amorphous_ml.generate.amden import _Chunk, _HMCStats, hmc_move, reverse_sde
from amorphous_ml.learn.amden import amden_structures, make_amden_loss, model_config
from amorphous_ml.learn.data import collate
from amorphous_ml.learn.models.amden import AMDEN, wrap_positions

PAPER = dict(hidden=128, channels=8, layers=8, cutoff=6.5)


def si_frames(n_atoms: int, n: int = 2):
    """Si at 2.33 g/cm^3 in a cube: rattled diamond when n_atoms = 8 k^3, else uniform random positions
    (the cost depends on the number of neighbours, i.e. on the number density, not on the order)."""
    k = round((n_atoms / 8) ** (1 / 3))
    frames = []
    for s in range(n):
        if 8 * k ** 3 == n_atoms:
            a = bulk("Si", "diamond", a=5.43, cubic=True).repeat((k, k, k))
            a.rattle(0.2, seed=s)
        else:
            length = (n_atoms * 28.0855 / 6.02214076e23 / 2.33 * 1e24) ** (1 / 3)
            pos = np.random.default_rng(s).uniform(0, length, (n_atoms, 3))
            a = Atoms(["Si"] * n_atoms, positions=pos, cell=[length] * 3, pbc=True)
        frames.append(a)
    return frames


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_training(frames, arch: dict, batch: int, repeats: int) -> dict:
    cfg = model_config(frames, arch)
    torch.manual_seed(0)
    model = AMDEN(cfg)
    items = amden_structures(frames, cfg.species, [], {})
    loss_fn = make_amden_loss()
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = collate([items[i % len(items)] for i in range(batch)])

    def step():
        opt.zero_grad()
        loss_fn(model, b, gen).backward()
        opt.step()

    with FlopCounterMode(display=False) as fc:
        step()
    return {"train_step_s": _median_time(step, repeats), "train_step_gflop": fc.get_total_flops() / 1e9,
            "parameters": sum(p.numel() for p in model.parameters())}


def _chunk(model: AMDEN, frames, n_struct: int):
    cell = np.asarray(frames[0].cell[:])
    n_nodes = int(math.floor(0.1 * abs(np.linalg.det(cell))))
    gens = [torch.Generator().manual_seed(k) for k in range(n_struct)]
    x = torch.cat([torch.rand((n_nodes, 3), generator=g, dtype=torch.float64) @ torch.as_tensor(cell) for g in gens])
    e = torch.randn((n_struct * n_nodes, model.n_classes), dtype=torch.float64)
    cells = torch.as_tensor(np.stack([cell] * n_struct), dtype=torch.float32)
    props = torch.zeros((n_struct, 0))
    return _Chunk(x.float(), e.float(), cells, [n_nodes] * n_struct, props, gens), n_nodes


def time_generation(frames, arch: dict, n_struct: int, repeats: int, energy: bool) -> dict:
    cfg = model_config(frames, {**arch, "energy": energy})
    torch.manual_seed(0)
    model = AMDEN(cfg).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    chunk, n_nodes = _chunk(model, frames, n_struct)
    off = {"enabled": False}

    def sde_step():
        reverse_sde(model, chunk, 0.6, 0.59, 1, 0.0, off, None)

    out = {"nodes_per_structure": n_nodes,
           "sde_step_s_per_structure": _median_time(sde_step, repeats) / n_struct}
    if energy:
        t = torch.full((n_struct,), 0.3)

        def energy_grad(pos):
            return model.guided_energy_and_grad_x(pos, chunk.e, chunk.cells, chunk.batch, chunk.counts, t, chunk.props)

        def move():
            hmc_move(energy_grad, chunk.x, chunk.batch, chunk.counts, torch.full((n_struct,), 0.2), 15, chunk.gens,
                     lambda p: wrap_positions(p, chunk.cells, chunk.batch))

        out["hmc_move_s_per_structure"] = _median_time(move, max(1, repeats // 2)) / n_struct
    return out


def run_case(name: str, n_atoms: int, arch: dict, train_batch: int, time_batch: int, steps: int, hmc_steps: int,
             repeats: int, energy_train_layers: int | None) -> dict:
    frames = si_frames(n_atoms)
    res = {"case": name, "n_atoms": n_atoms, "arch": arch, "train_batch": train_batch}
    tr = time_training(frames, arch, time_batch, repeats)
    scale = train_batch / time_batch
    res["standard"] = {**tr, "train_step_s": tr["train_step_s"] * scale, "train_step_gflop": tr["train_step_gflop"] * scale,
                       "timed_batch": time_batch}
    e_arch = dict(arch)
    layer_scale = 1.0
    if energy_train_layers is not None:
        layer_scale = arch["layers"] / energy_train_layers
        e_arch["layers"] = energy_train_layers
    tre = time_training(frames, {**e_arch, "energy": True}, time_batch, max(1, repeats // 2))
    res["energy"] = {"train_step_s": tre["train_step_s"] * scale * layer_scale,
                     "train_step_gflop": tre["train_step_gflop"] * scale * layer_scale,
                     "timed_batch": time_batch, "timed_layers": e_arch["layers"]}
    gs = time_generation(frames, arch, 2 if n_atoms < 200 else 1, repeats, energy=False)
    ge = time_generation(frames, arch, 2 if n_atoms < 200 else 1, max(1, repeats // 2), energy=True)
    res["standard"].update(gs)
    res["standard"]["generation_steps"] = steps
    res["standard"]["generation_s_per_structure"] = steps * gs["sde_step_s_per_structure"]
    n_hmc = sum(1 for t in np.linspace(0.99, 0.01, hmc_steps + 1)[:-1] if t <= 0.5)
    res["energy"].update(ge)
    res["energy"].update({"generation_steps": hmc_steps, "hmc_moves": n_hmc,
                          "generation_s_per_structure": hmc_steps * ge["sde_step_s_per_structure"]
                          + n_hmc * ge["hmc_move_s_per_structure"]})
    return res


def ratio_to_dm2(rounds: int) -> dict:
    """Laptop AMDEN training step (a-Si, 64 atoms + ghosts, batch 2) against the laptop DM2 step (300-atom
    a-SiO2 at 2.2 g/cm^3, batch 2, config.yaml's model), interleaved round by round so that both see the
    same machine load; the ratio of medians turns the README's idle DM2 training time into an AMDEN one."""
    from amorphous_ml.learn.denoise import make_denoising_loss
    from amorphous_ml.learn.data import structures_from_atoms
    from amorphous_ml.learn.models.dm2 import DM2Config, DM2Denoiser

    rng = np.random.default_rng(0)
    length = (100 * (28.0855 + 2 * 15.999) / 6.02214076e23 / 2.2 * 1e24) ** (1 / 3)
    silica = [Atoms(["Si"] * 100 + ["O"] * 200, positions=rng.uniform(0, length, (300, 3)), cell=[length] * 3, pbc=True)
              for _ in range(2)]
    dm2 = DM2Denoiser(DM2Config(species=["Si", "O"], hidden_irreps="16x0e+8x1o", cutoff=4.0, conditional=False))
    dm2_batch = collate(structures_from_atoms(silica, ["Si", "O"], label_key=None))
    dm2_loss = make_denoising_loss()
    frames = si_frames(64)
    cfg = model_config(frames, {"hidden": 32, "channels": 4, "layers": 3, "cutoff": 5.0})
    amden = AMDEN(cfg)
    a_batch = collate(amden_structures(frames, cfg.species, [], {}))
    a_loss = make_amden_loss()
    gen = torch.Generator().manual_seed(0)
    opts = {"dm2": torch.optim.Adam(dm2.parameters()), "amden": torch.optim.Adam(amden.parameters())}
    steps = {"dm2": lambda: dm2_loss(dm2, dm2_batch, gen), "amden": lambda: a_loss(amden, a_batch, gen)}
    times = {"dm2": [], "amden": []}
    for r in range(rounds + 1):
        for name in (("dm2", "amden") if r % 2 else ("amden", "dm2")):
            t = time.perf_counter()
            opts[name].zero_grad()
            steps[name]().backward()
            opts[name].step()
            if r:
                times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"dm2_step_s": med["dm2"], "amden_step_s": med["amden"], "amden_over_dm2": med["amden"] / med["dm2"],
            "rounds": rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["laptop", "paper", "dm2_ratio"],
                    choices=["laptop", "paper", "dm2_ratio"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--paper-batch", type=int, default=1, help="structures per timed paper-size training step")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    out = {"threads": args.threads, "load_before": load0, "cases": []}
    laptop = {"hidden": 32, "channels": 4, "layers": 3, "cutoff": 5.0}
    for case in args.cases:
        if case == "dm2_ratio":
            r = ratio_to_dm2(max(10, 4 * args.repeats))
        elif case == "laptop":
            r = run_case("a-Si laptop", 64, laptop, 2, 2, 100, 1000, args.repeats, None)
        else:
            r = run_case("a-Si paper", 256, PAPER, 8, args.paper_batch, 200, 2000, max(2, args.repeats // 2), 2)
        out["cases"].append(r)
        print(json.dumps(r, indent=1))
    out["load_after"] = os.getloadavg()
    print(f"load average before {load0}, after {out['load_after']} (2 cores shared with other jobs)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
