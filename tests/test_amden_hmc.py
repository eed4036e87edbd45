"""HMC denoising moves: invariance of a known (harmonic) distribution, exact restore on rejection."""

import math

import torch

from amorphous_ml.generate.amden import hmc_move, segment_sum

K, MU = 4.0, 1.3  # stiffness (so the target is N(MU, 1/K) per coordinate) and centre
OMEGA_DT = 1.1


def _harmonic(batch, n_graphs, k):
    """E_b = 0.5 k_b sum |x - MU|^2 over the atoms of structure b; returns (E, dE/dx)."""
    def energy_grad(x):
        kk = k[batch][:, None]
        return segment_sum(0.5 * kk * (x - MU) ** 2, batch, n_graphs), kk * (x - MU)
    return energy_grad


def _setup(n_graphs, n_atoms, seed):
    counts = [n_atoms] * n_graphs
    batch = torch.repeat_interleave(torch.arange(n_graphs), n_atoms)
    gens = [torch.Generator().manual_seed(seed + b) for b in range(n_graphs)]
    return counts, batch, gens


def _run(metropolis, n_graphs=2000, n_atoms=4, moves=8, seed=0):
    counts, batch, gens = _setup(n_graphs, n_atoms, seed)
    k = torch.full((n_graphs,), K, dtype=torch.float64)
    x = MU + torch.randn((n_graphs * n_atoms, 3), generator=torch.Generator().manual_seed(99),
                         dtype=torch.float64) / math.sqrt(K)
    # omega dt = 1.1: 15 Verlet steps of the harmonic oscillator rotate phase space by 17.5 rad, away from
    # a multiple of pi, where the energy error would vanish by symmetry (omega dt = 1 gives exactly 5 pi)
    dt = torch.full((n_graphs,), OMEGA_DT / math.sqrt(K), dtype=torch.float64)
    accepted = []
    for _ in range(moves):
        x, acc = hmc_move(_harmonic(batch, n_graphs, k), x, batch, counts, dt, 15, gens, metropolis=metropolis)
        accepted.append(acc.double().mean())
    return x, float(torch.stack(accepted).mean())


def test_hmc_leaves_the_harmonic_distribution_invariant():
    """Started from exact samples of N(MU, 1/K), the chain stays there.

    All M = 2000 x 4 x 3 coordinates are independent N(MU, 1/K) if HMC is exact, so the sample mean has
    standard error sqrt(1/(K M)) and the sample variance sqrt(2/(M-1))/K; we allow 5 standard errors
    (false alarm ~1e-6). Velocity Verlet at omega dt = 1.1 without the Metropolis step samples its shadow
    Hamiltonian instead, whose variance is 1/(K (1 - (omega dt)^2/4)) = 1.43/K: far outside the tolerance,
    which the second half of the test confirms (so the test can fail).
    """
    x, rate = _run(metropolis=True)
    m = x.numel()
    assert 0.2 < rate < 0.97  # both branches of the accept/reject step are exercised
    assert abs(float(x.mean()) - MU) < 5 * math.sqrt(1 / (K * m))
    var_tol = 5 * math.sqrt(2 / (m - 1)) / K
    assert abs(float(x.var()) - 1 / K) < var_tol
    x_biased, _ = _run(metropolis=False)
    assert abs(float(x_biased.var()) - 1 / K) > 3 * var_tol


def test_hmc_relaxes_a_displaced_start_to_the_target():
    counts, batch, gens = _setup(500, 4, 7)
    k = torch.full((500,), K, dtype=torch.float64)
    x = torch.full((2000, 3), MU + 1.0, dtype=torch.float64)  # 2 standard deviations off, no spread
    dt = torch.full((500,), 0.5 / math.sqrt(K), dtype=torch.float64)
    for _ in range(30):
        x, _ = hmc_move(_harmonic(batch, 500, k), x, batch, counts, dt, 15, gens)
    m = x.numel()
    assert abs(float(x.mean()) - MU) < 5 * math.sqrt(1 / (K * m))
    assert abs(float(x.var()) - 1 / K) < 5 * math.sqrt(2 / (m - 1)) / K


def test_a_rejected_move_restores_positions_bit_identically():
    """Structure 0 is soft (tiny energy error, accepted); structure 1 so stiff that Verlet blows up (rejected)."""
    counts, batch, gens = _setup(2, 5, 3)
    k = torch.tensor([1e-3, 1e4], dtype=torch.float64)
    x = torch.randn((10, 3), generator=torch.Generator().manual_seed(5), dtype=torch.float32) * 0.3 + MU
    before = x.clone()
    dt = torch.tensor([0.05, 0.05], dtype=torch.float64)
    new, acc = hmc_move(_harmonic(batch, 2, k.float()), x, batch, counts, dt, 15, gens)
    assert acc.tolist() == [True, False]
    assert torch.equal(new[5:], before[5:])  # bit for bit
    assert not torch.equal(new[:5], before[:5])
    assert torch.equal(x, before)  # the input is not modified in place
