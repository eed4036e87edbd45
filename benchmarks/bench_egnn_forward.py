"""CPU cost of the EGNN backbone (AMDEN, AMShortcut) and of its periodic graph, per structure, one thread.

Builds one batch of ``--batch`` structures from an extxyz set (default: the a-Si ``quench`` dataset of a
workflow run), a backbone of the given size (default: the laptop a-Si AMShortcut network of config.yaml) and
times, interleaved, ``--repeats`` forward passes without gradients and ``build_graph`` calls. With
``--compare-tree DIR`` (another checkout of this repository, e.g. ``git worktree add /tmp/old HEAD~1``) the
same is timed for that tree's ``egnn.py`` and ``graphs.py`` with the same weights, alternating with this
tree's, and the outputs of the two are compared: an A/B on one machine state, which a shared machine's drift
(measured here: +-40 % between runs minutes apart) would otherwise swamp.

    python benchmarks/bench_egnn_forward.py --frames results/si/datasets/quench.extxyz [--compare-tree /tmp/old]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from amorphous_ml import io
from amorphous_ml.learn import graphs
from amorphous_ml.learn.models import egnn


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", default="results/si/datasets/quench.extxyz")
    p.add_argument("--batch", type=int, default=128, help="structures per forward pass")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--compare-tree", default=None, help="another checkout whose backbone is timed alongside")
    args = p.parse_args()
    torch.set_num_threads(1)
    frames = io.read_structures(args.frames)
    batch_frames = [frames[k % len(frames)] for k in range(args.batch)]
    pos = torch.as_tensor(np.concatenate([a.positions for a in batch_frames]), dtype=torch.float32)
    cells = torch.as_tensor(np.stack([a.cell[:] for a in batch_frames]), dtype=torch.float32)
    counts = [len(a) for a in batch_frames]
    batch = torch.repeat_interleave(torch.arange(args.batch), torch.as_tensor(counts))
    cfg = {"hidden": args.hidden, "channels": args.channels, "layers": args.layers, "cutoff": args.cutoff, "n_norm": 40.0}
    torch.manual_seed(0)
    n_in = 8
    trees = {"this": (egnn, graphs)}
    if args.compare_tree:
        root = Path(args.compare_tree) / "amorphous_ml" / "learn"
        trees["compare"] = (_load(root / "models" / "egnn.py", "egnn_compare"), _load(root / "graphs.py", "graphs_compare"))
    nets = {name: mods[0].EGNN(n_in, cfg) for name, mods in trees.items()}
    for net in nets.values():
        net.load_state_dict(nets["this"].state_dict())
        net.eval()
    x = torch.randn(len(pos), n_in)
    g = graphs.build_graph(pos, batch, cells, batch, args.cutoff, counts)
    print(f"{args.batch} structures of {np.mean(counts):.0f} atoms, {g.edge_index.shape[1] / args.batch:.0f} edges "
          f"per structure at {args.cutoff} A")
    times = {f"{name}_{part}": [] for name in trees for part in ("net", "graph")}
    with torch.no_grad():
        ref = nets["this"](x, g.edge_index, g.edge_vec)
        for name, net in nets.items():
            h, d = net(x, g.edge_index, g.edge_vec)
            if name != "this":
                print(f"{name} vs this: max |dh| {float((h - ref[0]).abs().max()):.2e}, "
                      f"max |d delta| {float((d - ref[1]).abs().max()):.2e}")
        for _ in range(args.repeats):
            for name, (_, gmod) in trees.items():
                c0 = time.process_time()
                nets[name](x, g.edge_index, g.edge_vec)
                times[f"{name}_net"].append(1e3 * (time.process_time() - c0) / args.batch)
                c0 = time.process_time()
                gmod.build_graph(pos, batch, cells, batch, args.cutoff, counts)
                times[f"{name}_graph"].append(1e3 * (time.process_time() - c0) / args.batch)
    for key, v in times.items():
        print(f"{key}: {statistics.median(v):.3f} CPU ms per structure (median of {len(v)}, min {min(v):.3f})")


if __name__ == "__main__":
    main()
