"""Classifiers: architectures by name, both weight formats, clear mismatch errors."""

from __future__ import annotations

import pytest
import torch

from studio.core.checkpoints import CheckpointError, CheckpointMismatch
from studio.models.classifiers import (
    IMAGENET_MEAN,
    build_network,
    infer_num_classes,
    load_classifier,
    zero_init_last_bn,
)


@pytest.fixture(scope="module")
def squeeze_sd():
    torch.manual_seed(0)
    return build_network("squeezenet1_1", 1000).state_dict()


def test_plain_torchvision_state_dict(tmp_path, squeeze_sd):
    path = tmp_path / "squeezenet.pth"
    torch.save(squeeze_sd, path)
    clf = load_classifier("squeezenet1_1", path)
    assert clf.mean == IMAGENET_MEAN and clf.input_size == 224 and not clf.net.training
    for k, v in clf.net.state_dict().items():
        assert torch.equal(v, squeeze_sd[k])


def test_texture_vs_shape_pth_tar_with_module_prefix(tmp_path, squeeze_sd):
    path = tmp_path / "model.pth.tar"
    torch.save({"epoch": 60, "arch": "squeezenet1_1", "best_prec1": 0.0,
                "state_dict": {f"module.{k}": v for k, v in squeeze_sd.items()}}, path)
    assert infer_num_classes(path) == 1000
    clf = load_classifier("squeezenet1_1", path)
    for k, v in clf.net.state_dict().items():
        assert torch.equal(v, squeeze_sd[k])


def test_dataparallel_on_features_only(tmp_path, squeeze_sd):
    # texture-vs-shape VGG/AlexNet: only `features` was wrapped -> features.module.N...
    sd = {k.replace("features.", "features.module.", 1) if k.startswith("features.") else k: v
          for k, v in squeeze_sd.items()}
    path = tmp_path / "vgg_style.pth.tar"
    torch.save({"state_dict": sd}, path)
    clf = load_classifier("squeezenet1_1", path)
    assert torch.equal(clf.net.state_dict()["features.0.weight"], squeeze_sd["features.0.weight"])


def test_wrong_architecture_names_the_keys(tmp_path, squeeze_sd):
    path = tmp_path / "squeezenet.pth"
    torch.save(squeeze_sd, path)
    with pytest.raises(CheckpointMismatch) as err:
        load_classifier("mobilenet_v3_small", path, num_classes=1000)
    msg = str(err.value)
    assert "squeezenet.pth" in msg and "missing key" in msg and "unexpected key" in msg


def test_not_a_state_dict_and_missing_file(tmp_path):
    path = tmp_path / "junk.pth"
    torch.save({"epoch": 3, "note": "no weights"}, path)
    with pytest.raises(CheckpointError, match="not a plain state_dict"):
        load_classifier("squeezenet1_1", path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_classifier("squeezenet1_1", tmp_path / "nope.pth")


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'resnet5o'"):
        build_network("resnet5o", 10)


def test_toy_classifier_and_shipped_teacher():
    from studio.core.checkpoints import find_model
    from studio.toyworld.generate import SHAPES

    clf = load_classifier("toyvgg", find_model("toy-teacher"))
    assert clf.classes == list(SHAPES) and clf.input_size == 64
    x = torch.rand(2, 3, 64, 64)
    assert clf.logits(x).shape == (2, 10)


def test_cifar_stem_and_zero_gamma():
    net = build_network("cifar_resnet18", 10)  # DAFL's layout: what synthesize inverts
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert "linear.weight" in net.state_dict() and not hasattr(net, "maxpool")
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert zero_init_last_bn(net) == 8
    assert all(float(b.bn2.weight.detach().abs().sum()) == 0 for layer in
               (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer)


def test_class_names_from_trainer_sidecar(tmp_path):
    import json

    net = build_network("toyvgg", 3)
    d = tmp_path / "run"
    d.mkdir()
    torch.save(net.state_dict(), d / "model.pth")
    (d / "train.json").write_text(json.dumps({"classes": ["b", "a", "c"]}))
    assert load_classifier("toyvgg", d / "model.pth").classes == ["b", "a", "c"]
    assert load_classifier("toyvgg", d / "model.pth", classes=["x", "y", "z"]).classes == [
        "x", "y", "z"]
