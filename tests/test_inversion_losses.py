"""Loss terms of DeepInversion / NaturalInversion against the reference formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.inversion.losses import (
    BNStatistics,
    adi_competition,
    bn_distance,
    energy_score,
    kd_loss,
    l2_prior,
    tv_l2,
)


def _reference_bn(x, rm, rv):
    nch = x.shape[1]
    mean = x.mean([0, 2, 3])
    var = x.permute(1, 0, 2, 3).contiguous().view([nch, -1]).var(1, unbiased=False)
    return torch.norm(rv - var, 2) + torch.norm(rm - mean, 2)


def test_bn_distance_matches_reference_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, 6, 4, generator=g) * 3 + 1
    rm, rv = torch.randn(7, generator=g), torch.rand(7, generator=g) + 0.5
    assert torch.allclose(bn_distance(x, rm, rv), _reference_bn(x, rm, rv), atol=1e-5)
    # zero when the batch has exactly the running statistics
    var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
    assert float(bn_distance(x, mean, var)) == pytest.approx(0.0, abs=1e-5)


def test_bn_statistics_hooks_sum_layers_and_pause():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 3),
                        nn.BatchNorm2d(5)).eval()
    for bn in (net[1], net[4]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    stats = BNStatistics(net, first_bn_multiplier=10.0)
    x = torch.randn(4, 3, 9, 9)
    net(x)
    a = net[0](x)
    b = net[3](net[2](net[1](a)))
    expect = 10 * _reference_bn(a, net[1].running_mean, net[1].running_var) + _reference_bn(
        b, net[4].running_mean, net[4].running_var)
    assert torch.allclose(stats.loss(), expect, atol=1e-4)
    before = stats.loss().clone()
    with stats.paused():
        net(torch.randn(4, 3, 9, 9) * 5)
    assert torch.equal(stats.loss(), before)  # paused passes leave the values alone
    stats.close()
    with pytest.raises(ValueError, match="no BatchNorm2d"):
        BNStatistics(nn.Linear(2, 2))


def test_tv_and_l2_priors():
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    # a single bright pixel: two differences of 1 in each of the four directions
    assert float(tv_l2(x)) == pytest.approx(4 * math.sqrt(2.0))
    assert float(tv_l2(torch.ones(2, 3, 5, 5))) == 0.0
    assert float(l2_prior(torch.full((2, 2), 3.0))) == pytest.approx(6.0)


def test_adi_competition_js_and_clamp():
    same = torch.tensor([[2.0, 0.0, -1.0]])
    # identical outputs: JS = 0 -> term 1 (nothing to gain)
    assert float(adi_competition(same, same)) == pytest.approx(1.0, abs=1e-6)
    far = adi_competition(torch.tensor([[50.0, -50.0]]), torch.tensor([[-50.0, 50.0]]))
    assert 0.0 <= float(far) < 1.0
    # by hand: probabilities clamped to [0.01, 0.99], KL 'batchmean'
    p = torch.tensor([[0.99, 0.01]])
    q = torch.tensor([[0.01, 0.99]])
    m = (0.5 * (torch.softmax(torch.tensor([[50.0, -50.0]]) / 3, 1) +
                torch.softmax(torch.tensor([[-50.0, 50.0]]) / 3, 1))).clamp(0.01, 0.99)
    js = 0.5 * (m * (m.log() - p.log())).sum() + 0.5 * (m * (m.log() - q.log())).sum()
    assert float(far) == pytest.approx(1 - min(1.0, float(js)), abs=1e-5)


def test_kd_loss_and_energy():
    t = torch.tensor([[1.0, 2.0, 3.0]])
    assert float(kd_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    s = torch.tensor([[3.0, 2.0, 1.0]])
    T = 3.0
    pt = F.softmax(t / T, 1)
    expect = (pt * (pt.log() - F.log_softmax(s / T, 1))).sum() * T * T
    assert float(kd_loss(s, t, T)) == pytest.approx(float(expect), rel=1e-5)
    e = energy_score(torch.tensor([[0.0, 0.0], [10.0, -10.0]]))
    assert float(e[0]) == pytest.approx(-math.log(2.0))
    assert float(e[1]) == pytest.approx(-10.0, abs=1e-6)
    assert float(energy_score(torch.tensor([[0.0, 0.0]]), 2.0)) == pytest.approx(-2 * math.log(2))
