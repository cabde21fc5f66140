"""NaturalInversion and DeepInversion engines on tiny teachers."""

from __future__ import annotations

import pytest
import torch

from studio.inversion.deep import DeepInversion, DeepInversionConfig
from studio.inversion.natural import (
    AdaptiveChannelScaling,
    FeatureTransferPyramid,
    Generator,
    NaturalInversion,
    NaturalInversionConfig,
)
from studio.models.teachers import DataPreset, teacher_from_model
from studio.toyworld.models import ToyVGG, ToyVGGConfig

TINY = DataPreset("tiny", 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4)


def tiny_teacher(seed: int = 0):
    torch.manual_seed(seed)
    net = ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1), num_classes=4))
    # non-trivial running statistics, as a trained network has
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return teacher_from_model(net, "toyvgg", TINY)


def test_generator_matches_official_layout_at_32px():
    g = Generator(10, 32)
    assert g.l1.in_features == 1034 and g.l1.out_features == 128 * 8 * 8
    kinds = [type(m).__name__ for m in g.conv_blocks]
    assert kinds == ["BatchNorm2d", "LeakyReLU", "Upsample", "Conv2d", "BatchNorm2d",
                     "LeakyReLU", "Upsample", "Conv2d", "BatchNorm2d", "LeakyReLU", "Conv2d"]
    convs = [m for m in g.conv_blocks if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(128, 128), (128, 64), (64, 3)]
    assert g(torch.randn(2, 1034)).shape == (2, 3, 32, 32)
    assert Generator(100, 32).l1.in_features == 1124  # CIFAR-100: one-hot of size 100
    assert Generator(10, 64)(torch.randn(2, 1034)).shape == (2, 3, 64, 64)


def test_pyramid_and_channel_scaling_shapes():
    ftp = FeatureTransferPyramid([64, 128, 256, 512])
    assert [(c.in_channels, c.out_channels) for c in ftp.reduce] == [(128, 64), (256, 128),
                                                                     (512, 256)]
    feats = [torch.randn(2, c, s, s) for c, s in ((64, 32), (128, 16), (256, 8), (512, 4))]
    out = ftp(torch.randn(2, 3, 32, 32), feats)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1.0  # tanh-bounded
    acs = AdaptiveChannelScaling(256)
    assert acs.alpha.shape == (256, 3, 1, 1)
    assert 4.7 < float(acs.alpha.detach().mean()) < 5.3 and 0.8 < float(acs.alpha.detach().std()) < 1.2


def test_natural_inversion_is_seeded_and_lowers_the_loss():
    t = tiny_teacher()
    labels = torch.arange(8) % 4
    cfg = NaturalInversionConfig(iterations=12, lr_generator=1e-2, lr_pyramid=5e-3)
    a = NaturalInversion(t, labels, cfg, seed=7)
    losses = [a.step()["loss"] for _ in range(12)]
    assert min(losses[6:]) < losses[0]
    assert a.best_loss == pytest.approx(min(losses))
    best = a.best()
    assert best.shape == (8, 3, 16, 16)
    b = NaturalInversion(t, labels, cfg, seed=7)
    for _ in range(12):
        b.step()
    assert torch.allclose(b.best(), best, atol=1e-5)  # same seed -> same batch
    c = NaturalInversion(t, labels, cfg, seed=8)
    c.step()
    assert not torch.allclose(c.current(), a.current())
    for e in (a, b, c):
        e.close()
    # the teacher is left without hooks and frozen
    assert not any(m._forward_hooks for m in t.model.modules())


def test_natural_best_equals_rerender_at_best_iteration():
    """The parameter snapshot gives the image the reference re-renders at its best step."""
    t = tiny_teacher()
    labels = torch.arange(4) % 4
    e = NaturalInversion(t, labels, NaturalInversionConfig(channels_last=False), seed=3)
    losses, renders = [], []
    for _ in range(5):
        # generator BN runs on batch statistics: a re-render depends only on the parameters
        with torch.no_grad():
            renders.append(e.render(jitter=False))
        losses.append(e.step()["loss"])
    i = min(range(5), key=lambda k: losses[k])
    assert torch.allclose(e.best(), renders[i], atol=1e-5)
    e.close()


def test_deep_inversion_keeps_a_copy_of_the_best():
    t = tiny_teacher()
    labels = torch.arange(8) % 4
    e = DeepInversion(t, labels, DeepInversionConfig(iterations=10, lr=0.1), seed=1)
    losses = []
    snaps = []
    for _ in range(10):
        snaps.append(e.current().clone())
        losses.append(e.step()["loss"])
    i = min(range(10), key=lambda k: losses[k])
    assert torch.equal(e.best(), snaps[i])
    if i != 9:  # the reference would have returned the live (last) tensor
        assert not torch.equal(e.best(), e.current())
    assert losses[-1] < losses[0]
    e.close()


def test_adi_term_uses_the_student():
    t = tiny_teacher()
    torch.manual_seed(5)
    student = ToyVGG(ToyVGGConfig(widths=(4, 4, 4, 4), convs=(1, 1, 1, 1), num_classes=4))
    for p in student.parameters():
        p.requires_grad_(False)
    e = DeepInversion(t, torch.arange(4), DeepInversionConfig(adi_scale=1.0), seed=1,
                      student=student)
    terms = e.step()
    assert 0.0 <= terms["adi"] <= 1.0
    e.close()


def test_torchvision_teacher_runs_natural_inversion():
    """An ImageNet-layout network: stages layer1..4, pyramid residual upsampled to the image."""
    from studio.models.classifiers import PRESETS, DataPreset, build_network, infer_arch

    torch.manual_seed(0)
    net = build_network("resnet18", 5)
    assert infer_arch(net.state_dict())[:2] == ("resnet18", 5)
    pre = DataPreset("small-imagenet", 32, PRESETS["imagenet"].mean, PRESETS["imagenet"].std, 5)
    t = teacher_from_model(net, "resnet18", pre)
    e = NaturalInversion(t, torch.arange(4) % 5, NaturalInversionConfig(), seed=0)
    assert e.pyramid.channels == [64, 128, 256, 512]
    assert e.step()["loss"] > 0 and e.best().shape == (4, 3, 32, 32)
    e.close()
