"""AdaIN operation, interpolation, masks and colour preservation against re-derivations."""

import numpy as np
import pytest
import torch

from studio.adain import ops
from studio.adain.ops import StyleStats


def _np_mean_std(x: np.ndarray, eps: float = 1e-5):
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1).astype(np.float64)
    var = flat.var(axis=2, ddof=1) + eps          # unbiased, eps on the variance
    return flat.mean(axis=2)[:, :, None, None], np.sqrt(var)[:, :, None, None]


def test_calc_mean_std_is_unbiased_with_eps():
    torch.manual_seed(0)
    x = torch.rand(2, 5, 7, 3) * 4
    mean, std = ops.calc_mean_std(x)
    m_ref, s_ref = _np_mean_std(x.numpy())
    np.testing.assert_allclose(mean.numpy(), m_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std.numpy(), s_ref, rtol=1e-6, atol=1e-6)
    # a constant channel: std is sqrt(eps), not 0
    const = torch.ones(1, 1, 4, 4)
    assert ops.calc_mean_std(const)[1].item() == pytest.approx(np.sqrt(1e-5), rel=1e-4)
    with pytest.raises(ValueError, match="N, C, H, W"):
        ops.calc_mean_std(torch.zeros(3, 4, 4))


def test_adain_matches_formula_and_cached_stats_are_exact():
    torch.manual_seed(1)
    c, s = torch.rand(3, 4, 6, 5), torch.rand(3, 4, 9, 8) * 3 + 1
    mc, sc = _np_mean_std(c.numpy())
    ms, ss = _np_mean_std(s.numpy())
    expect = (c.numpy() - mc) / sc * ss + ms
    out = ops.adain(c, s)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-5, atol=1e-5)
    st = StyleStats(*ops.calc_mean_std(s))
    assert torch.equal(ops.adain_from_stats(c, st.mean, st.std), out)
    assert torch.equal(ops.adain_target(c, st), out)
    # the output has the style's statistics (up to eps)
    m_out, s_out = ops.calc_mean_std(out)
    assert torch.allclose(m_out, st.mean, atol=1e-5)
    assert torch.allclose(s_out, st.std, atol=1e-3)


def test_alpha_blends_in_feature_space():
    torch.manual_seed(2)
    c, s = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    st = StyleStats(*ops.calc_mean_std(s))
    t = ops.adain_target(c, st, alpha=0.3)
    assert torch.allclose(t, 0.3 * ops.adain(c, s) + 0.7 * c, atol=1e-6)
    assert torch.equal(ops.adain_target(c, st, alpha=0.0), c)
    with pytest.raises(ValueError, match="alpha"):
        ops.adain_target(c, st, alpha=1.5)


def test_one_style_broadcasts_over_a_batch():
    torch.manual_seed(3)
    c, s = torch.rand(4, 3, 5, 5), torch.rand(1, 3, 6, 6)
    st = StyleStats(*ops.calc_mean_std(s))
    out = ops.adain_target(c, st)
    for i in range(4):
        assert torch.allclose(out[i:i + 1], ops.adain(c[i:i + 1], s), atol=1e-6)
    with pytest.raises(ValueError, match="2 style statistics for 4 contents"):
        ops.adain_target(c, StyleStats.cat([st, st]))


def test_interpolation_mixes_adain_targets_with_normalised_float_weights():
    torch.manual_seed(4)
    c = torch.rand(1, 3, 5, 5)
    s1, s2 = torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 5) * 2
    st = [StyleStats(*ops.calc_mean_std(s)) for s in (s1, s2)]
    out = ops.adain_target(c, st, weights=[0.5, 1.5], alpha=0.8)
    mixed = 0.25 * ops.adain(c, s1) + 0.75 * ops.adain(c, s2)
    assert torch.allclose(out, 0.8 * mixed + 0.2 * c, atol=1e-6)
    assert ops.normalize_weights(["1", "3"]) == [0.25, 0.75]
    with pytest.raises(ValueError, match="weights"):
        ops.adain_target(c, st)
    with pytest.raises(ValueError, match="positive sum"):
        ops.normalize_weights([0, 0])


def test_masks_style_each_region_with_its_own_statistics():
    torch.manual_seed(5)
    c = torch.rand(1, 3, 8, 8)
    s1, s2 = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6) * 3 + 2
    st = [StyleStats(*ops.calc_mean_std(s)) for s in (s1, s2)]
    # one full mask == plain AdaIN
    full = torch.ones(1, 16, 16)
    assert torch.allclose(ops.adain_target(c, st[:1], masks=full), ops.adain(c, s1), atol=1e-6)
    # left half style 1, right half style 2 (masks given at 2x the feature resolution)
    left = torch.zeros(16, 16)
    left[:, :8] = 1
    out = ops.adain_target(c, st, masks=torch.stack([left, 1 - left]))
    for k, (sl, s) in enumerate(((slice(0, 4), s1), (slice(4, 8), s2))):
        region = c[..., sl]
        mr, sr = _np_mean_std(region.numpy())
        ms, ss = _np_mean_std(s.numpy())
        expect = (region.numpy() - mr) / sr * ss + ms
        np.testing.assert_allclose(out[..., sl].numpy(), expect, rtol=1e-5, atol=1e-5,
                                   err_msg=f"region {k}")
    # positions no mask covers keep the content features
    top = torch.zeros(1, 8, 8)
    top[:, :4] = 1
    out = ops.adain_target(c, st[:1], masks=top)
    assert torch.equal(out[..., 4:, :], c[..., 4:, :])
    with pytest.raises(ValueError, match="masks for"):
        ops.adain_target(c, st, masks=top)


def _np_coral(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """CORAL as pytorch-AdaIN computes it, re-derived with an eigen-decomposition."""
    def stats(x):
        f = x.reshape(3, -1).astype(np.float64)
        m, s = f.mean(1, keepdims=True), f.std(1, ddof=1, keepdims=True)
        return f, m, s

    def sqrtm(a):
        w, v = np.linalg.eigh(a)
        return v @ np.diag(np.sqrt(w)) @ v.T

    sf, sm, ss = stats(source)
    tf, tm, ts = stats(target)
    sn, tn = (sf - sm) / ss, (tf - tm) / ts
    cs, ct = sn @ sn.T + np.eye(3), tn @ tn.T + np.eye(3)
    out = sqrtm(ct) @ np.linalg.inv(sqrtm(cs)) @ sn
    return (out * ts + tm).reshape(source.shape)


def test_coral_matches_the_reference_formula():
    torch.manual_seed(6)
    style = torch.rand(3, 20, 16)
    content = torch.rand(3, 12, 10) * 0.5 + torch.tensor([0.4, 0.1, 0.3]).view(3, 1, 1)
    out = ops.coral(style, content)
    np.testing.assert_allclose(out.numpy(), _np_coral(style.numpy(), content.numpy()),
                               rtol=1e-4, atol=1e-4)
    # recoloured style carries the content's channel means exactly
    assert torch.allclose(out.reshape(3, -1).mean(1), content.reshape(3, -1).mean(1),
                          atol=1e-5)


def test_luminance_helpers_keep_the_content_colour():
    torch.manual_seed(7)
    content = torch.rand(2, 3, 8, 8)
    assert torch.allclose(ops.combine_luminance(content, content), content, atol=1e-5)
    grey = torch.rand(2, 1, 8, 8).expand(-1, 3, -1, -1)
    mixed = ops.combine_luminance(grey, content)
    assert torch.allclose(ops.luminance(mixed), ops.luminance(grey), atol=1e-5)
    yiq = torch.einsum("ij,njhw->nihw", ops._YIQ, mixed)[:, 1:]
    assert torch.allclose(yiq, torch.einsum("ij,njhw->nihw", ops._YIQ, content)[:, 1:],
                          atol=1e-5)
    style = torch.rand(1, 3, 6, 6) * 0.2
    matched = ops.match_luminance(style, content)
    assert matched.shape == (2, 3, 6, 6)
    lc, lm = ops.luminance(content), ops.luminance(matched)
    assert torch.allclose(lm.mean(dim=(2, 3)), lc.mean(dim=(2, 3)), atol=1e-4)
    assert torch.allclose(lm.std(dim=(2, 3)), lc.std(dim=(2, 3)), atol=1e-3)
