"""TSIT generator: official checkpoint layout, numerical equivalence, loading, fast path."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from studio.core.checkpoints import CheckpointMismatch, save_state_dict
from studio.tsit.fast import make_fast
from studio.tsit.model import (
    ConvEncoder,
    MultiscaleDiscriminator,
    TSITConfig,
    build_generator,
    get_preset,
    init_weights,
    load_encoder,
    load_generator,
    official_keys,
)

torch.set_num_threads(1)

# ---------------------------------------------------------------------------------------
# The official key layout, written out from the official module tree by hand


def _sn(prefix: str, bias: bool = True) -> list[str]:
    return ([f"{prefix}.bias"] if bias else []) + [
        f"{prefix}.weight_orig", f"{prefix}.weight_u", f"{prefix}.weight_v"]


def _fade(prefix: str) -> list[str]:
    bn = f"{prefix}.param_free_norm"
    return [f"{bn}.running_mean", f"{bn}.running_var", f"{bn}.num_batches_tracked",
            f"{prefix}.mlp_gamma.weight", f"{prefix}.mlp_gamma.bias",
            f"{prefix}.mlp_beta.weight", f"{prefix}.mlp_beta.bias"]


def expected_generator_keys(style_stream: bool) -> list[str]:
    widths = [3, 64, 128, 256, 512, 1024, 1024, 1024, 1024]
    keys = []
    for stream in ["content_stream"] + (["style_stream"] if style_stream else []):
        for i in range(8):
            p = f"{stream}.res_{i}"
            keys += _sn(f"{p}.conv_0") + _sn(f"{p}.conv_1")
            if widths[i] != widths[i + 1]:
                keys += _sn(f"{p}.conv_s", bias=False)
    keys += ["fc.weight", "fc.bias"]
    for name, learned in [("head_0", 0), ("G_middle_0", 0), ("G_middle_1", 0), ("up_0", 1),
                          ("up_1", 1), ("up_2", 1), ("up_3", 1)]:
        keys += _sn(f"{name}.conv_0") + _sn(f"{name}.conv_1")
        if learned:
            keys += _sn(f"{name}.conv_s", bias=False)
        keys += _fade(f"{name}.norm_0") + _fade(f"{name}.norm_1")
        if learned:
            keys += _fade(f"{name}.norm_s")
    return keys + ["conv_img.weight", "conv_img.bias"]


def test_full_size_key_layout_matches_the_official_release():
    ast = official_keys("summer2winter")
    assert len(ast) == 356
    assert sorted(ast) == sorted(expected_generator_keys(style_stream=True))
    for task in ("cityscapes", "ade20k"):
        sis = official_keys(task)
        assert len(sis) == 277
        assert sorted(sis) == sorted(expected_generator_keys(style_stream=False))


def test_full_size_shapes_and_parameter_count_without_allocating():
    g = build_generator(get_preset("summer2winter").config, device="meta")
    assert g.content_stream.res_0.conv_0.weight_orig.is_meta
    n = sum(p.numel() for p in g.parameters())
    assert round(n / 1e6, 1) == 398.1
    assert round(sum(p.numel() for p in g.content_stream.parameters()) / 1e6, 1) == 66.7
    sd = g.state_dict()
    assert tuple(sd["up_3.norm_0.mlp_gamma.weight"].shape) == (128, 128, 3, 3)
    assert tuple(sd["up_0.conv_s.weight_orig"].shape) == (512, 1024, 1, 1)
    assert tuple(sd["fc.weight"].shape) == (1024, 3, 3, 3)
    city = build_generator(get_preset("cityscapes").config, device="meta").state_dict()
    assert tuple(city["fc.weight"].shape) == (1024 * 2 * 4, 256)  # 512x256 -> 4x2 latent
    assert tuple(city["content_stream.res_0.conv_0.weight_orig"].shape) == (36, 36, 3, 3)


def test_encoder_and_discriminator_keys():
    enc = ConvEncoder(64, 256, layer6=True).state_dict()
    assert len(enc) == 22 and "layer6.0.weight_orig" in enc and "layer1.0.bias" not in enc
    d = MultiscaleDiscriminator(3, 64, 3, 2).state_dict()
    assert "discriminator_1.model1.0.0.weight_orig" in d and "discriminator_0.model0.0.bias" in d
    assert "discriminator_0.model1.0.0.bias" not in d  # bias removed under the norm
    assert "discriminator_0.model3.0.weight" in d and "discriminator_0.model4.0.weight" not in d


# ---------------------------------------------------------------------------------------
# An independent re-derivation of the official forward, straight from the state_dict


def _w(sd, p):
    if f"{p}.weight_orig" in sd:  # torch spectral norm in eval(): no power iteration
        w = sd[f"{p}.weight_orig"]
        sigma = sd[f"{p}.weight_u"] @ (w.reshape(w.shape[0], -1) @ sd[f"{p}.weight_v"])
        return w / sigma
    return sd[f"{p}.weight"]


def _conv(sd, p, x):
    w = _w(sd, p)
    return F.conv2d(x, w, sd.get(f"{p}.bias"), padding=w.shape[-1] // 2)


def _inorm(x):
    m = x.mean(dim=(2, 3), keepdim=True)
    v = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - m) / torch.sqrt(v + 1e-5)


def _lrelu(x):
    return torch.where(x > 0, x, 0.2 * x)


def _stream(sd, p, x, depth):
    feats = []
    for i in range(depth + 1):
        if i:
            x = x[:, :, ::2, ::2]  # nearest x0.5
        b = f"{p}.res_{i}"
        xs = _lrelu(_inorm(_conv(sd, f"{b}.conv_s", x))) if f"{b}.conv_s.weight_orig" in sd else x
        dx = _lrelu(_inorm(_conv(sd, f"{b}.conv_0", x)))
        dx = _lrelu(_inorm(_conv(sd, f"{b}.conv_1", dx)))
        x = xs + dx
        feats.append(x)
    return feats


def _fade_ref(sd, p, x, f):
    rm = sd[f"{p}.param_free_norm.running_mean"].view(1, -1, 1, 1)
    rv = sd[f"{p}.param_free_norm.running_var"].view(1, -1, 1, 1)
    xn = (x - rm) / torch.sqrt(rv + 1e-5)
    return xn * (1 + _conv(sd, f"{p}.mlp_gamma", f)) + _conv(sd, f"{p}.mlp_beta", f)


def _adain_ref(c, s):
    def ms(t):
        n, ch = t.shape[:2]
        flat = t.reshape(n, ch, -1)
        return flat.mean(2).view(n, ch, 1, 1), (flat.var(2) + 1e-5).sqrt().view(n, ch, 1, 1)
    cm, cs = ms(c)
    sm, ss = ms(s)
    return (c - cm) / cs * ss + sm


def reference_forward(sd, content, style, noise, names, depth, alpha=1.0):
    ft = _stream(sd, "content_stream", content, depth)
    sft = _stream(sd, "style_stream", style, depth)
    x = _conv(sd, "fc", noise)
    for name, k in zip(names, range(depth, 0, -1)):
        x = alpha * _adain_ref(x, sft[k]) + (1 - alpha) * x
        f = ft[k]
        xs = (_conv(sd, f"{name}.conv_s", _fade_ref(sd, f"{name}.norm_s", x, f))
              if f"{name}.conv_s.weight_orig" in sd else x)
        dx = _conv(sd, f"{name}.conv_0", _lrelu(_fade_ref(sd, f"{name}.norm_0", x, f)))
        dx = _conv(sd, f"{name}.conv_1", _lrelu(_fade_ref(sd, f"{name}.norm_1", dx, f)))
        x = (xs + dx).repeat_interleave(2, 2).repeat_interleave(2, 3)  # nearest x2
    return torch.tanh(_conv(sd, "conv_img", _lrelu(x)))


def _trained_like(cfg: TSITConfig, seed: int = 0):
    """A generator with non-trivial weights, BN statistics and spectral-norm vectors."""
    torch.manual_seed(seed)
    g = build_generator(cfg)
    init_weights(g, "xavier", 0.7)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(1000)
    g.train()
    with torch.no_grad():  # a few power iterations: u, v become realistic
        x = torch.randn(2, cfg.semantic_nc, cfg.min_side, cfg.min_side)
        for _ in range(3):
            g(x, x)
    return g.eval()


@pytest.mark.parametrize("depth,ngf", [(7, 4), (5, 8)])
def test_forward_equals_the_reference_math(tmp_path, depth, ngf):
    cfg = TSITConfig(ngf=ngf, depth=depth)
    g = _trained_like(cfg).double()
    path = save_state_dict(g, tmp_path / "latest_net_G.pth")
    loaded = load_generator(path, "summer2winter")
    assert not loaded.training and loaded.config.ngf == ngf and loaded.config.depth == depth
    loaded = loaded.double()
    side = cfg.min_side
    wide = 2 if depth < 7 else 1  # a non-square input where it is cheap
    torch.manual_seed(1)
    content = torch.rand(2, 3, side, side * wide, dtype=torch.float64) * 2 - 1
    style = torch.rand(2, 3, side, side * wide, dtype=torch.float64) * 2 - 1
    noise = loaded.sample_noise(content)
    assert noise.shape == (2, 3, 2, 2 * wide)
    sd = {k: v.double() if v.is_floating_point() else v for k, v in
          torch.load(path, weights_only=True).items()}
    with torch.no_grad():
        ours = loaded(content, style, noise=noise)
        ref = reference_forward(sd, content, style, noise, cfg.decoder_names(), depth)
        half = loaded(content, style, noise=noise, alpha=0.5)
        ref_half = reference_forward(sd, content, style, noise, cfg.decoder_names(), depth, 0.5)
    assert ours.shape == (2, 3, side, side * wide)
    assert ours.std() > 0.05  # not a saturated or constant image
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(half, ref_half, rtol=0, atol=1e-10)
    assert (half - ours).abs().max() > 1e-3  # alpha really changes the result


def test_same_noise_reproduces_and_new_noise_changes():
    g = _trained_like(TSITConfig(ngf=4, depth=4))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    n = g.sample_noise(x, torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = g(x, x, noise=n), g(x, x, noise=n.clone())
        c = g(x, x, noise=g.sample_noise(x, torch.Generator().manual_seed(4)))
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4


def test_fast_path_matches_eager_in_float32():
    for cfg in (TSITConfig(ngf=4, depth=7), TSITConfig(ngf=8, depth=5, fade_stats="batch")):
        g = _trained_like(cfg)
        x = torch.rand(2, 3, cfg.min_side, cfg.min_side) * 2 - 1
        s = torch.rand(2, 3, cfg.min_side, cfg.min_side) * 2 - 1
        n = g.sample_noise(x)
        with torch.no_grad():
            ref = g(x, s, noise=n)
        out = make_fast(g)(x, s, noise=n)
        torch.testing.assert_close(out, ref, rtol=0, atol=2e-4)
    # in float64 the two paths are the same math to rounding
    g = _trained_like(TSITConfig(ngf=4, depth=5)).double()
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    n = g.sample_noise(x).double()
    with torch.no_grad():
        ref = g(x, x, noise=n)
    out = make_fast(g, channels_last=False)(x, x, noise=n)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-11)


def test_batch_stats_mode_differs_from_running_stats():
    g = _trained_like(TSITConfig(ngf=4, depth=4))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    n = g.sample_noise(x)
    before = g.up_0.norm_0.param_free_norm.running_mean.clone()
    with torch.no_grad():
        a = g(x, x, noise=n)
        g.set_fade_stats("batch")
        b = g(x, x, noise=n)
    assert not g.training and (a - b).abs().max() > 1e-3
    # eval() with batch statistics leaves the stored statistics untouched
    assert torch.equal(g.up_0.norm_0.param_free_norm.running_mean, before)


def test_sis_vae_generator_and_encoder_load(tmp_path):
    cfg = get_preset("ade20k").config
    from dataclasses import replace

    cfg = replace(cfg, ngf=4, depth=5, crop_size=64, semantic_nc=6, label_nc=5)
    g = _trained_like_sis(cfg)
    path = save_state_dict(g, tmp_path / "latest_net_G.pth")
    loaded = load_generator(path, "ade20k")
    assert loaded.style_stream is None and loaded.config.use_vae
    assert loaded.config.latent_hw == (2, 2)
    label = torch.zeros(1, 6, 64, 64)
    label[:, 2] = 1
    z = torch.randn(1, 256)
    with torch.no_grad():
        out = loaded(label, noise=z)
    assert out.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="needs 64x64"):
        loaded(torch.zeros(1, 6, 128, 128), noise=z)
    enc = init_weights(ConvEncoder(4, 256, layer6=True))
    epath = save_state_dict(enc, tmp_path / "latest_net_E.pth")
    mu, logvar = load_encoder(epath)(torch.rand(1, 3, 100, 80))
    assert mu.shape == logvar.shape == (1, 256)


def _trained_like_sis(cfg):
    torch.manual_seed(0)
    g = init_weights(build_generator(cfg), "xavier", 0.7)
    return g.eval()


def test_wrong_checkpoints_are_refused_with_reasons(tmp_path):
    g = build_generator(TSITConfig(ngf=4, depth=4))
    sd = g.state_dict()
    sd.pop("up_1.norm_0.param_free_norm.running_var")
    sd["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad_G.pth"
    torch.save(sd, bad)
    with pytest.raises(CheckpointMismatch) as err:
        load_generator(bad)
    msg = str(err.value)
    assert "bad_G.pth" in msg and "running_var" in msg and "extra.weight" in msg
    enc = tmp_path / "latest_net_E.pth"
    save_state_dict(ConvEncoder(4), enc)
    with pytest.raises(Exception, match=re.escape("not a TSIT generator")):
        load_generator(enc)
    # a DDP-wrapped save loads too
    ddp = tmp_path / "ddp_G.pth"
    torch.save({"module." + k: v for k, v in g.state_dict().items()}, ddp)
    assert load_generator(ddp).config.depth == 4


def test_input_size_errors_name_the_rule():
    g = build_generator(TSITConfig(ngf=4, depth=4)).eval()
    with pytest.raises(ValueError, match="multiple of 16"):
        g(torch.zeros(1, 3, 40, 32))
    with pytest.raises(ValueError, match="at least 32"):
        g(torch.zeros(1, 3, 16, 32))
