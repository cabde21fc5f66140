"""AdaIN networks: official layouts, faithful forward pass, loaders, caching, toy encoder."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from studio.adain import ops
from studio.adain.model import (
    OFFICIAL,
    TOY,
    AdaINConfig,
    AdaINModel,
    decoder,
    infer_config,
    mirror_decoder,
    vgg_encoder,
    vgg_normalised,
)
from studio.core.checkpoints import CheckpointMismatch, save_state_dict

VGG_KEYS = {0: (3, 3, 1, 1), 2: (64, 3, 3, 3), 5: (64, 64, 3, 3), 9: (128, 64, 3, 3),
            12: (128, 128, 3, 3), 16: (256, 128, 3, 3), 19: (256, 256, 3, 3),
            22: (256, 256, 3, 3), 25: (256, 256, 3, 3), 29: (512, 256, 3, 3),
            **{k: (512, 512, 3, 3) for k in (32, 35, 38, 42, 45, 48, 51)}}
DEC_KEYS = {1: (256, 512, 3, 3), 5: (256, 256, 3, 3), 8: (256, 256, 3, 3),
            11: (256, 256, 3, 3), 14: (128, 256, 3, 3), 18: (128, 128, 3, 3),
            21: (64, 128, 3, 3), 25: (64, 64, 3, 3), 28: (3, 64, 3, 3)}

TINY = AdaINConfig("custom", (4, 8, 8, 16), (1, 2, 1, 1))


def _layout(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def test_official_layouts_match_the_published_files():
    vgg, dec = vgg_normalised(), decoder()
    assert len(vgg) == 53
    expect = {}
    for k, shape in VGG_KEYS.items():
        expect[f"{k}.weight"], expect[f"{k}.bias"] = shape, (shape[0],)
    assert _layout(vgg.state_dict()) == expect
    assert sum(p.numel() for p in vgg.parameters()) == 20_024_396
    expect = {}
    for k, shape in DEC_KEYS.items():
        expect[f"{k}.weight"], expect[f"{k}.bias"] = shape, (shape[0],)
    assert _layout(dec.state_dict()) == expect
    assert sum(p.numel() for p in dec.parameters()) == 3_505_219
    # the config-generated networks are the same layouts
    assert _layout(vgg_encoder(OFFICIAL.encoder_widths, OFFICIAL.encoder_convs).state_dict()) \
        == _layout(vgg.state_dict())
    assert _layout(mirror_decoder(512, (64, 128, 256, 512), (2, 2, 4, 1)).state_dict()) \
        == _layout(dec.state_dict())
    assert [type(m).__name__ for m in OFFICIAL.build_decoder()] == \
        [type(m).__name__ for m in dec]
    assert infer_config(vgg.state_dict(), dec.state_dict()) == OFFICIAL


def _reference_forward(vgg_sd, dec_sd, content, style, alpha):
    """pytorch-AdaIN's test path re-derived from the checkpoint keys with functional ops."""
    def conv(x, sd, k, relu=True):
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), sd[f"{k}.weight"], sd[f"{k}.bias"])
        return F.relu(x) if relu else x

    def encode(x):
        x = F.conv2d(x, vgg_sd["0.weight"], vgg_sd["0.bias"])
        for k in (2, 5):
            x = conv(x, vgg_sd, k)
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        for k in (9, 12):
            x = conv(x, vgg_sd, k)
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        for k in (16, 19, 22, 25):
            x = conv(x, vgg_sd, k)
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        return conv(x, vgg_sd, 29)   # relu4_1

    def decode(t):
        x = conv(t, dec_sd, 1)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for k in (5, 8, 11, 14):
            x = conv(x, dec_sd, k)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for k in (18, 21):
            x = conv(x, dec_sd, k)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = conv(x, dec_sd, 25)
        return conv(x, dec_sd, 28, relu=False)

    fc, fs = encode(content), encode(style)
    n, c = fc.shape[:2]
    fcv = fc.reshape(n, c, -1).double()
    fsv = fs.reshape(n, c, -1).double()
    mc, sc = fcv.mean(2, keepdim=True), (fcv.var(2, unbiased=True, keepdim=True) + 1e-5).sqrt()
    ms, ss = fsv.mean(2, keepdim=True), (fsv.var(2, unbiased=True, keepdim=True) + 1e-5).sqrt()
    t = ((fcv - mc) / sc * ss + ms).reshape(fc.shape).float()
    return decode(alpha * t + (1 - alpha) * fc)


@pytest.fixture(scope="module")
def official_files(tmp_path_factory):
    """Random weights in the exact official layout, written as the published files are."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("official")
    vgg, dec = vgg_normalised(), decoder()
    with torch.no_grad():  # keep activations in a sane range through 9 convs
        for m in list(vgg) + list(dec):
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2.0 / (m.in_channels * 9)) ** 0.5)
                m.bias.uniform_(-0.05, 0.05)
    save_state_dict(vgg, d / "vgg_normalised.pth")
    save_state_dict(dec, d / "decoder.pth")
    return d / "vgg_normalised.pth", d / "decoder.pth"


def test_stylize_equals_the_reference_forward_on_official_files(official_files):
    vgg_path, dec_path = official_files
    model = AdaINModel.load_official(vgg_path, dec_path)
    vgg_sd = torch.load(vgg_path, weights_only=True)
    dec_sd = torch.load(dec_path, weights_only=True)
    torch.manual_seed(1)
    content, style = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 36, 36)
    for alpha in (1.0, 0.6):
        ours = model.stylize(content, style, alpha=alpha)
        with torch.no_grad():
            ref = _reference_forward(vgg_sd, dec_sd, content, style, alpha)
        assert ours.shape == ref.shape == (1, 3, 40, 48)
        scale = ref.abs().max().item()
        assert (ours - ref).abs().max().item() <= 1e-4 * max(1.0, scale)


def test_cached_pieces_give_exactly_the_same_images(official_files):
    model = AdaINModel.load_official(*official_files)
    torch.manual_seed(2)
    contents, style = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32)
    direct = model.stylize(contents, style, alpha=0.7)
    stats = model.style_stats(style)
    assert stats.mean.shape == (1, 512, 1, 1)
    assert torch.equal(model.stylize(contents, stats, alpha=0.7), direct)
    with torch.inference_mode():   # the GUI's alpha slider: decoder only on cached features
        feats = model.encode(contents)
        again = model.decode(model.target(feats, stats, alpha=0.7))
    assert torch.equal(again, direct)


def test_wrong_files_name_the_file_the_keys_and_the_source(official_files, tmp_path):
    vgg_path, dec_path = official_files
    with pytest.raises(CheckpointMismatch) as err:   # files swapped
        AdaINModel.load_official(dec_path, vgg_path)
    msg = str(err.value)
    assert str(dec_path) in msg and "missing key(s)" in msg and "unexpected key(s)" in msg
    assert "naoto0804/pytorch-AdaIN" in msg
    sd = torch.load(dec_path, weights_only=True)
    del sd["28.bias"]
    broken = save_state_dict(sd, tmp_path / "decoder.pth")
    with pytest.raises(CheckpointMismatch, match=r"1 missing key\(s\): 28.bias"):
        AdaINModel.load_official(vgg_path, broken)
    from studio.core.checkpoints import CheckpointError
    with pytest.raises(CheckpointError, match="no such file"):
        AdaINModel.load_official(tmp_path / "nope.pth", dec_path)


def test_any_trained_pair_loads_with_its_config_inferred(tmp_path):
    for cfg in (TOY, TINY):
        m = AdaINModel(cfg)
        e = save_state_dict(m.encoder, tmp_path / f"{cfg.name}_enc.pth")
        d = save_state_dict(m.decoder, tmp_path / f"{cfg.name}_dec.pth")
        loaded = AdaINModel.from_files(e, d)
        assert loaded.config.mirror() == cfg.mirror()
        assert loaded.config.encoder_convs == cfg.encoder_convs
        x = torch.rand(1, 3, 24, 24)
        assert torch.equal(loaded.stylize(x, x), m.eval().stylize(x, x))


def test_the_adain_layer_is_a_named_option(tmp_path):
    cfg = AdaINConfig("custom", (4, 8, 8, 16), (1, 2, 1, 1), layer="relu3_1")
    assert cfg.mirror() == ((4, 8, 8), (1, 2, 1)) and cfg.feature_channels == 8
    torch.manual_seed(0)
    m = AdaINModel(cfg).eval()
    x = torch.rand(2, 3, 32, 32)
    feats = m.encode_with_intermediate(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 32, 32), (8, 16, 16), (8, 8, 8)]
    assert torch.equal(m.encode(x), feats[-1])
    assert m.decode(m.encode(x)).shape == x.shape
    e = save_state_dict(m.encoder, tmp_path / "enc.pth")
    d = save_state_dict(m.decoder, tmp_path / "dec.pth")
    loaded = AdaINModel.from_files(e, d)
    assert loaded.config.layer == "relu3_1" and loaded.config.mirror() == cfg.mirror()
    assert torch.equal(loaded.stylize(x, x[:1]), m.stylize(x, x[:1]))
    with pytest.raises(CheckpointMismatch):  # a relu3_1 decoder is not a relu4_1 one
        AdaINModel.from_files(e, d, AdaINConfig("custom", (4, 8, 8, 16), (1, 2, 1, 1)))
    with pytest.raises(ValueError, match="relu1_1, relu2_1, relu3_1, relu4_1"):
        AdaINConfig(layer="relu5_1")


def test_content_low_pass_is_a_named_option():
    """``content_sigma`` (the toy AdaIN's deviation) blurs the content, not the style,
    before encoding; 0 (the paper) changes no bit; the stylised output follows it."""
    import dataclasses

    torch.manual_seed(0)
    m = AdaINModel(TINY).eval()
    blur = AdaINModel(dataclasses.replace(TINY, content_sigma=2.0)).eval()
    blur.load_state_dict(m.state_dict())
    c = torch.zeros(1, 3, 32, 32)
    c[..., ::2, :] = 1.0  # 1 px stripes: gone after a sigma-2 low-pass
    s = torch.rand(1, 3, 32, 32)
    assert torch.equal(m.encode_content(c), m.encode(c))
    assert torch.equal(blur.encode_content(c), m.encode(ops.low_pass(c, 2.0)))
    assert ops.low_pass(c, 2.0).std() < 0.05 * c.std()
    assert torch.equal(blur.style_stats(s).mean, m.style_stats(s).mean)  # styles untouched
    assert torch.allclose(blur.stylize(c, s), m.stylize(ops.low_pass(c, 2.0), s))
    with pytest.raises(ValueError, match="content_sigma must be >= 0"):
        AdaINConfig(content_sigma=-1.0)


def test_interpolation_masks_and_colour_through_the_model():
    torch.manual_seed(3)
    model = AdaINModel(TINY).eval()
    c = torch.rand(2, 3, 16, 16)
    s1, s2 = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 20, 20)
    out = model.stylize(c, [s1, s2], weights=[1.0, 3.0], alpha=0.5)
    with torch.inference_mode():
        f = model.encode(c)
        t = 0.25 * ops.adain(f, model.encode(s1).expand(2, -1, -1, -1)) + \
            0.75 * ops.adain(f, model.encode(s2).expand(2, -1, -1, -1))
        expect = model.decode(0.5 * t + 0.5 * f)
    assert torch.allclose(out, expect, atol=1e-5)
    m = torch.zeros(2, 16, 16)
    m[0, :, :8], m[1, :, 8:] = 1, 1
    assert model.stylize(c, [s1, s2], masks=m).shape == (2, 3, 16, 16)
    for method in ("coral", "luminance"):
        assert model.stylize(c, s1, preserve_color=method).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="style images"):
        model.stylize(c, model.style_stats(s1), preserve_color="coral")


# ---------------------------------------------------------------------------------------
# The toy encoder: the toy classifier with BN folded and activations normalised


def test_derived_toy_encoder_computes_the_classifier_features():
    from studio.adain.toy import activation_means, derive_encoder
    from studio.toyworld.models import ToyVGG, ToyVGGConfig, normalize

    torch.manual_seed(4)
    clf = ToyVGG(ToyVGGConfig(widths=(4, 8, 8, 16), convs=(1, 2, 1, 1)))
    with torch.no_grad():   # non-trivial BatchNorm statistics and affine parameters
        for m in clf.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    clf.eval()
    images = torch.rand(12, 3, 32, 32)
    folded = derive_encoder(clf, images, normalise=False)
    zero_pad = torch.nn.Sequential(*[torch.nn.ZeroPad2d(1) if isinstance(m, torch.nn.ReflectionPad2d)
                                     else m for m in folded])
    with torch.no_grad():
        assert torch.allclose(zero_pad(images), clf.features(normalize(images)), atol=1e-5)
    normed = derive_encoder(clf, images)
    means = activation_means(normed, images)
    assert len(means) == 5
    for a in means:   # every live filter's mean ReLU activation is 1
        alive = a[a > 1e-6]
        assert torch.allclose(alive, torch.ones_like(alive), atol=1e-4)
    # only a positive per-channel rescaling of the last layer separates the two
    last = activation_means(folded, images)[-1]
    with torch.no_grad():
        assert torch.allclose(normed(images) * last.view(1, -1, 1, 1), folded(images),
                              atol=1e-4)
    model = AdaINModel(AdaINConfig("toy", (4, 8, 8, 16), (1, 2, 1, 1)), encoder=normed)
    assert model.encode(images).shape == (12, 16, 4, 4)


def test_shipped_toy_adain_paints_the_figure_and_keeps_the_ground():
    """The embedded default is exemplar-trained (studio/resources/toy/README.md): on held-out
    silhouettes the figure takes a colour that changes with the style while the ground
    stays grey but for a faint tint (bricks: 0.12 between channels; the judges' numbers
    are pinned in test_toy_quality.py)."""
    from studio.toyworld.generate import TEXTURES, render

    model = AdaINModel.load_toy()
    assert model.config == TOY and model.config.layer == "relu2_1"
    rng = np.random.default_rng(99)  # not a training seed

    def tensor(a):
        return torch.from_numpy(a).permute(2, 0, 1).float()[None] / 255

    contents = [tensor(render("shape", s, None, 64, rng)) for s in ("heart", "star", "arrow")]
    styles = [tensor(render("texture", None, t, 64, rng)) for t in TEXTURES]
    with torch.inference_mode():
        for c in contents:
            grey = c[0].mean(0)
            figure = (grey - grey.median()).abs() > 0.1
            colours = []
            for s in styles:
                out = model.stylize(c, s).clamp(0, 1)[0]
                ground = out[:, ~figure].mean(1)
                assert float(ground.max() - ground.min()) < 0.15  # at most a faint tint
                colours.append(out[:, figure].mean(1))
            spread = torch.stack(colours).std(0).mean().item()
            assert spread > 0.15, spread  # the figure's colour follows the style


def test_a_flat_region_stays_flat_whatever_the_style():
    """Why the toy AdaIN cannot paint a style's pattern into a flat silhouette (issue 19):
    AdaIN moves only each channel's mean and std, so a constant content gives a constant
    target, and reflection-padded convs with nearest upsampling decode it to one colour —
    the colour changes with the style, the pattern cannot appear."""
    from studio.toyworld.generate import render

    model = AdaINModel.load_toy().eval()
    rng = np.random.default_rng(5)
    flat = torch.full((1, 3, 64, 64), 0.5)
    colours = []
    with torch.inference_mode():
        for t in ("stripes", "dots", "checks"):
            s = torch.from_numpy(render("texture", None, t, 64, rng)).permute(2, 0, 1)
            out = model.stylize(flat, s[None].float() / 255)[0]
            assert out.std(dim=(1, 2)).max().item() < 1e-4  # one colour, no pattern
            colours.append(out[:, 0, 0])
    assert min((a - b).abs().max().item() for a, b in
               ((colours[0], colours[1]), (colours[0], colours[2]), (colours[1], colours[2]))
               ) > 0.02  # ... which is the style's


def test_fused_conv_relu_gives_the_same_bits(monkeypatch):
    import studio.adain.fast as model_mod

    if model_mod._CONV_RELU is None:
        pytest.skip("this torch build has no oneDNN fused convolution")
    calls = []

    def counting(*args):
        calls.append(args[7])  # the post-op: always the fused ReLU
        return model_mod._pointwise_conv()(*args)

    monkeypatch.setattr(model_mod, "_CONV_RELU", counting)
    torch.manual_seed(0)
    m = AdaINModel(TINY).eval().to(memory_format=torch.channels_last)
    layers = list(m.encoder)[:m.taps["relu4_1"]] + list(m.decoder)
    n_relu = sum(isinstance(c, torch.nn.ReLU) for c in layers)
    for shape in ((3, 3, 20, 20), (2, 3, 21, 27)):  # odd sizes: ceil-mode pools
        x = torch.rand(shape).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            m.fuse_relu = False
            plain = m.decode(m.encode(x))
            assert not calls
            m.fuse_relu = True
            fused = m.decode(m.encode(x))
        assert len(calls) == n_relu and set(calls) == {"relu"}
        assert torch.equal(plain, fused)
        calls.clear()
    m.decode(m.encode(x)).sum()          # autograd on: the plain modules run
    assert not calls
