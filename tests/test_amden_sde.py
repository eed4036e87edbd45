"""The reverse-SDE integrator (with and without HMC moves) recovers a known data distribution when it is
given the exact score.

Data: positions X ~ N(MU_X, S2_X) per coordinate, element features E ~ N(MU_E, S2_E) per component.
Under the VE schedule X_t ~ N(MU_X, S2_X + sigma_X^2), under the VP schedule
E_t ~ N(alpha MU_E, alpha^2 S2_E + sigma_E^2), so the exact noise predictions are
eps_X = sigma_X (X_t - MU_X) / (S2_X + sigma_X^2) and eps_E = sigma_E (E_t - alpha MU_E) / (alpha^2 S2_E + sigma_E^2),
and -log p_t(X) = sum 0.5 (X - MU_X)^2 / (S2_X + sigma_X^2) is the exact noise energy for HMC. A sign or
factor error in the drift, the diffusion coefficients, the final step or the HMC energy/score pairing
shifts the mean or the variance of the samples far beyond the tolerances below.
"""

import math

import numpy as np
import pytest
import torch

from amorphous_ml.generate.amden import _Chunk, _HMCStats, reverse_sde, segment_sum
from amorphous_ml.learn.models.amden import NoiseSchedule

MU_X, S2_X = 50.0, 0.25
MU_E, S2_E = 0.7, 0.09
BOX = 100.0


class GaussianOracle:
    """Stands in for AMDEN with the exact score of the Gaussian data above."""

    schedule = NoiseSchedule(1.7, 1.5)

    def guided_eps(self, x, e, cells, batch, counts, t, props, w=0.0):
        s = self.schedule
        tt = t[batch][:, None]
        sx, a, se = s.sigma_x(tt), s.alpha_e(tt), s.sigma_e(tt)
        return sx * (x - MU_X) / (S2_X + sx ** 2), se * (e - a * MU_E) / (a ** 2 * S2_E + se ** 2)

    def guided_energy_and_grad_x(self, x, e, cells, batch, counts, t, props, w=0.0):
        var = (S2_X + self.schedule.sigma_x(t[batch][:, None]) ** 2)
        return segment_sum(0.5 * (x - MU_X) ** 2 / var, batch, len(counts)), (x - MU_X) / var


def _start(n_samples, n_nodes, t0, seed=0):
    s = GaussianOracle.schedule
    gens = [torch.Generator().manual_seed(seed + k) for k in range(n_samples)]
    counts = [n_nodes] * n_samples
    x = torch.cat([MU_X + math.sqrt(S2_X + s.sigma_x(t0) ** 2) * torch.randn((n_nodes, 3), generator=g,
                                                                              dtype=torch.float64) for g in gens])
    a, se = s.alpha_e(t0), s.sigma_e(t0)
    e = torch.cat([a * MU_E + math.sqrt(a ** 2 * S2_E + se ** 2) * torch.randn((n_nodes, 2), generator=g,
                                                                               dtype=torch.float64) for g in gens])
    cells = torch.eye(3, dtype=torch.float64).expand(n_samples, 3, 3) * BOX
    return _Chunk(x, e, cells.contiguous(), counts, torch.zeros((n_samples, 0), dtype=torch.float64), gens)


def _check(values, mu, var, n_se=5.0, rel_bias=0.0):
    m = values.numel()
    assert abs(float(values.mean()) - mu) < n_se * math.sqrt(var / m) + rel_bias * math.sqrt(var)
    assert abs(float(values.var()) - var) < n_se * var * math.sqrt(2 / (m - 1)) + rel_bias * var


@pytest.mark.parametrize("hmc_on", [False, True])
def test_reverse_sde_with_the_exact_score_recovers_the_data_distribution(hmc_on):
    chunk = _start(200, 10, 0.99)
    hmc = {"enabled": hmc_on, "t_max": 0.5, "leapfrog_steps": 5, "dt0": 0.4}
    stats = _HMCStats(0.1)
    reverse_sde(GaussianOracle(), chunk, 0.99, 0.01, 200, 0.0, hmc, stats)
    # statistical tolerance (5 standard errors over 6000 / 4000 values) plus 3 % for the time discretisation
    _check(chunk.x, MU_X, S2_X, rel_bias=0.03)
    _check(chunk.e, MU_E, S2_E, rel_bias=0.03)
    if hmc_on:
        rates = [b["rate"] for b in stats.report().values()]
        assert len(rates) == 5 and min(rates) > 0.5


def test_a_wrong_sign_in_the_score_is_detected():
    """The tolerance of the test above has power: the same run with the score's sign flipped fails it."""

    class Flipped(GaussianOracle):
        def guided_eps(self, *args, **kw):
            ex, ee = super().guided_eps(*args, **kw)
            return -ex, ee

    chunk = _start(200, 10, 0.99)
    reverse_sde(Flipped(), chunk, 0.99, 0.01, 200, 0.0, {"enabled": False}, None)
    with pytest.raises(AssertionError):
        _check(chunk.x, MU_X, S2_X, rel_bias=0.03)
    assert np.isfinite(chunk.e.numpy()).all()
