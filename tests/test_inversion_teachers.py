"""Teachers: DAFL/DeepInversion checkpoint layouts, architecture inference, feature stages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from studio.core.checkpoints import CheckpointError, CheckpointMismatch, save_state_dict
from studio.models.cifar import resnet18, resnet34, vgg11, vgg16
from studio.models.classifiers import PRESETS, build_network, canonical_arch, infer_arch
from studio.models.teachers import discover_stages, feature_stages, load_teacher
from studio.toyworld.models import ToyVGG, ToyVGGConfig


def test_cifar_resnet_keys_follow_dafl_layout():
    sd = resnet34(10).state_dict()
    for k in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.2.bn2.bias",
              "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.running_mean",
              "layer3.5.conv2.weight", "layer4.2.bn2.weight", "linear.weight", "linear.bias"):
        assert k in sd, k
    assert "layer1.0.shortcut.0.weight" not in sd  # identity shortcut, as in DAFL
    assert sum(v.numel() for k, v in sd.items() if "num_batches" not in k and
               "running" not in k) == 21282122  # DAFL ResNet-34 parameter count
    assert infer_arch(sd)[:2] == ("cifar_resnet34", 10)
    assert infer_arch(resnet18(100).state_dict())[:2] == ("cifar_resnet18", 100)


def test_cifar_vgg_keys_and_inference():
    sd = vgg16(10).state_dict()
    assert "features.0.bias" in sd and "features.1.running_mean" in sd  # conv has a bias
    assert {"classifier.1.weight", "classifier.4.weight", "classifier.6.weight"} <= set(sd)
    assert infer_arch(sd)[:2] == ("cifar_vgg16", 10)
    assert infer_arch(vgg11(100).state_dict())[:2] == ("cifar_vgg11", 100)
    out = vgg11(10).eval()(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10)  # forward returns logits only (the reference's VGG crashed)


def test_toy_config_inferred_from_keys():
    cfg = ToyVGGConfig(widths=(8, 16, 24, 32), convs=(1, 2, 1, 1), num_classes=7)
    arch, nc, got = infer_arch(ToyVGG(cfg).state_dict())
    assert (arch, nc) == ("toyvgg", 7) and got.widths == cfg.widths and got.convs == cfg.convs


def test_load_teacher_wrapped_checkpoint_and_errors(tmp_path):
    torch.manual_seed(0)
    net = resnet18(100)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}},
               tmp_path / "wrapped.pth")
    t = load_teacher(tmp_path / "wrapped.pth")
    assert (t.arch, t.num_classes, t.preset.name, t.image_size) == ("cifar_resnet18", 100,
                                                                    "cifar100", 32)
    assert not any(p.requires_grad for p in t.model.parameters()) and not t.model.training
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(t.model(x), net.eval()(x), atol=1e-5)
    assert len(t.sha256) == 64
    # a VGG file forced into a ResNet: mismatch names the file and the keys
    save_state_dict(vgg11(10), tmp_path / "vgg.pth")
    with pytest.raises(CheckpointMismatch, match="vgg.pth"):
        load_teacher(tmp_path / "vgg.pth", arch="cifar_resnet18")
    # the one namespace: resnet18 is torchvision's; the error says what the file is
    save_state_dict(resnet18(10), tmp_path / "dafl.pth")
    with pytest.raises(CheckpointMismatch, match="looks like a cifar_resnet18"):
        load_teacher(tmp_path / "dafl.pth", arch="resnet18")
    torch.save({"foo.weight": torch.zeros(3, 3)}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="cannot tell the architecture"):
        load_teacher(tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="no such file"):
        load_teacher(tmp_path / "missing.pth")


def test_denormalize_uses_teacher_statistics():
    t = load_teacher_from(resnet18(10))
    x01 = torch.rand(2, 3, 32, 32)
    assert torch.allclose(t.denormalize(t.normalize(x01)), x01, atol=1e-6)
    m = torch.tensor(PRESETS["cifar10"].mean).view(1, 3, 1, 1)
    assert torch.allclose(t.denormalize(torch.zeros(1, 3, 2, 2)), m.expand(1, 3, 2, 2))


def load_teacher_from(model):
    from studio.models.teachers import teacher_from_model

    return teacher_from_model(model, "cifar_resnet18", "cifar10")


@pytest.mark.parametrize("make,size,chans", [
    (lambda: resnet34(10), 32, [64, 128, 256, 512]),
    (lambda: vgg11(10), 32, [64, 128, 256, 512]),
    (lambda: vgg16(10), 32, [64, 128, 256, 512]),
    (lambda: ToyVGG(), 64, [32, 64, 128, 256]),
])
def test_feature_stages_are_fine_to_coarse(make, size, chans):
    net = make().eval()
    outs = []
    hs = [m.register_forward_hook(lambda m, i, o: outs.append(o)) for m in feature_stages(net)]
    net(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    assert [o.shape[1] for o in outs] == chans
    assert [o.shape[-1] for o in outs] == [size, size // 2, size // 4, size // 8]


def test_discover_stages_on_unknown_network():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(16 * 4 * 4, 3))
    stages = discover_stages(net, 16)
    assert stages == [net[4], net[7]]  # last ReLU at 16 px, then at 8 px


def test_build_network_rejects_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'"):
        build_network("resnet9000", 10)


def test_one_arch_namespace_with_the_old_spellings_as_aliases():
    import torchvision

    assert canonical_arch("tv-resnet18") == "resnet18"
    assert canonical_arch("toyvgg-small") == "toyvgg_small"
    torch.manual_seed(0)
    a = build_network("cifar_resnet34", 10).state_dict()
    assert set(a) == set(resnet34(10).state_dict())
    assert type(build_network("resnet18", 10)) is torchvision.models.ResNet
    assert set(build_network("tv-resnet18", 10).state_dict()) == set(
        build_network("resnet18", 10).state_dict())


def test_a_teacher_is_a_classifier_of_the_zoo():
    """One network + normalisation bundle: a teacher's logits are a Classifier's."""
    from studio.models.classifiers import Classifier
    from studio.models.teachers import teacher_from_model

    t = teacher_from_model(resnet18(10), "cifar_resnet18", "cifar10")
    assert isinstance(t, Classifier) and t.model is t.net
    assert (t.mean, t.std, t.input_size) == (PRESETS["cifar10"].mean, PRESETS["cifar10"].std, 32)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(t.logits(x), t.model(t.normalize(x)))
