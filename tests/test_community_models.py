"""Community CIFAR classifiers: akamaster's option-A ResNets and chenyaofo's layouts, in
their published file formats, loaded by path and by registry name with their own
normalisation; unknown layouts described; the real files in ../shared/real/ when present."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from studio.core import checkpoints as ck
from studio.models.cifar import resnet_6n2, vgg_bn
from studio.models.classifiers import (
    PRESETS,
    build_network,
    default_student,
    describe_layout,
    infer_arch,
    load_classifier,
)
from studio.models.teachers import feature_stages, load_teacher

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
R20 = REAL / "cifar10-resnets" / "resnet20-12fca82f.th"
R56 = REAL / "cifar10-resnets" / "resnet56-4bfd9763.th"
needs_real = pytest.mark.skipif(not R20.is_file(), reason=f"real CIFAR-10 files not found at {REAL}")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _akamaster_file(path: Path, depth: int = 20, seed: int = 0) -> torch.nn.Module:
    """A file in akamaster's format: {'state_dict': {'module.' + key}, 'best_prec1'}, and
    without BatchNorm step counters (saved before torch 0.4.1)."""
    torch.manual_seed(seed)
    net = resnet_6n2(depth, 10, "A").eval()
    sd = {f"module.{k}": v for k, v in net.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": sd, "best_prec1": 91.5}, path)
    return net


@pytest.mark.parametrize("depth", [20, 32, 56])
def test_option_a_files_load_as_they_are_with_imagenet_normalisation(tmp_path, depth):
    f = tmp_path / f"resnet{depth}.th"
    net = _akamaster_file(f, depth)
    clf = load_classifier(weights=f)
    assert (clf.arch, clf.data, clf.input_size) == (f"cifar_resnet{depth}", "cifar10_akamaster", 32)
    assert (clf.mean, clf.std) == IMAGENET
    assert clf.classes[:3] == ["airplane", "automobile", "bird"]
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(clf.logits(x), net(clf.normalize(x)), atol=1e-5)
    # option A has no shortcut weights: a stage change is x[:, :, ::2, ::2] zero-padded
    blk = clf.net.layer2[0]
    y = blk.shortcut(torch.ones(1, 16, 8, 8))
    assert y.shape == (1, 32, 4, 4) and y[0, :8].sum() == 0 and y[0, 24:].sum() == 0
    assert y[0, 8:24].sum() == 16 * 16
    # declared pyramid stages: layer1..3 at 32, 16, 8 px
    assert feature_stages(clf.net) == [clf.net.layer1, clf.net.layer2, clf.net.layer3]


def test_chenyaofo_layouts_are_recognised_with_their_statistics(tmp_path):
    cases = [(resnet_6n2(56, 10, "B"), "cifar_resnet56_b", "cifar10"),
             (resnet_6n2(20, 100, "B"), "cifar_resnet20_b", "cifar100_chenyaofo"),
             (vgg_bn(13, 10), "cifar_vgg13_bn", "cifar10"),
             (vgg_bn(19, 100), "cifar_vgg19_bn", "cifar100_chenyaofo")]
    for i, (net, arch, data) in enumerate(cases):
        f = tmp_path / f"m{i}.pt"
        torch.save(net.state_dict(), f)
        assert infer_arch(net.state_dict())[0] == arch
        clf = load_classifier(weights=f)
        assert (clf.arch, clf.data) == (arch, data)
        assert (clf.mean, clf.std) == (PRESETS[data].mean, PRESETS[data].std)
    # chenyaofo's key names, not ours: classifier.{0,3,6}, layerN.0.downsample.{0,1}, fc
    keys = set(resnet_6n2(20, 10, "B").state_dict()) | set(vgg_bn(11).state_dict())
    assert {"fc.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
            "classifier.0.weight", "classifier.3.weight", "classifier.6.weight"} <= keys
    assert "layer1.0.downsample.0.weight" not in keys


def test_mean_std_and_data_override_the_model_defaults(tmp_path):
    f = tmp_path / "r20.th"
    _akamaster_file(f)
    clf = load_classifier(weights=f, data="cifar10")
    assert clf.mean == PRESETS["cifar10"].mean
    clf = load_classifier(weights=f, mean=[0.5, 0.5, 0.5], std=[0.25])
    assert clf.mean == (0.5, 0.5, 0.5) and clf.std == (0.25, 0.25, 0.25)
    with pytest.raises(ValueError, match="--std must be positive"):
        load_classifier(weights=f, std=[0.2, 0, 0.2])
    t = load_teacher(f, mean=[0.4, 0.4, 0.4])
    assert t.mean == (0.4, 0.4, 0.4) and t.std == IMAGENET[1] and t.image_size == 32


def test_safetensors_files_load(tmp_path):
    from safetensors.torch import save_file

    net = resnet_6n2(20, 10, "A").eval()
    save_file(net.state_dict(), str(tmp_path / "r20.safetensors"))
    clf = load_classifier(weights=tmp_path / "r20.safetensors")
    assert clf.arch == "cifar_resnet20"
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{junk")
    with pytest.raises(ck.CheckpointError, match=r"bad.safetensors: not a readable .safetensors"):
        load_classifier(weights=tmp_path / "bad.safetensors")


def _sd(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return dict(net.state_dict())


def test_unknown_layouts_are_described_not_listed_key_by_key(tmp_path):
    import torchvision

    wide = resnet_6n2(20, 10, "A")
    sd = {k.replace("layer1.0.conv1", "layer1.0.conv1"): v for k, v in _sd(wide).items()}
    sd["layer1.0.conv1.weight"] = torch.zeros(24, 16, 3, 3)  # a width no zoo net has
    cases = {
        "wide.pth": (sd, ["3x3 stem of 16 channels", "residual blocks in 3 stages",
                          "option A", "head 'linear' 64 -> 10 classes"]),
        "densenet.pth": (_sd(torchvision.models.densenet121(num_classes=7)),
                         ["7x7 stem of 64 channels", "no residual blocks",
                          "head 'classifier' 1024 -> 7 classes"]),
        "mlp.pth": ({"net.0.weight": torch.zeros(64, 3072), "net.2.weight": torch.zeros(5, 64)},
                    ["head 'net.2' 64 -> 5 classes"]),
    }
    for name, (state, facts) in cases.items():
        torch.save(state, tmp_path / name)
        with pytest.raises(ck.CheckpointError) as err:
            load_teacher(tmp_path / name)
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / name}: cannot tell the architecture: the file looks like ")
        for fact in facts:
            assert fact in msg, (name, fact, msg)
        assert "cifar_resnet20/32/44/56/110/1202 (option A" in msg  # what Studio supports
        assert "\n" not in msg and "num_batches_tracked" not in msg
    # a known arch forced on a wrong file: what it is, never num_batches_tracked
    torch.save({"state_dict": {f"module.{k}": v for k, v in _sd(resnet_6n2(20)).items()
                               if not k.endswith("num_batches_tracked")}}, tmp_path / "r20.th")
    with pytest.raises(ck.CheckpointMismatch) as err:
        load_teacher(tmp_path / "r20.th", arch="cifar_resnet18")
    assert "looks like a cifar_resnet20" in str(err.value)
    assert "num_batches_tracked" not in str(err.value)
    assert describe_layout({"x": torch.zeros(3)}).startswith("no conv or linear layers")


def test_imported_files_are_usable_by_the_name_they_were_imported_under(tmp_path, monkeypatch):
    mdir = tmp_path / "models"
    monkeypatch.setenv("STUDIO_MODELS", str(mdir))
    src = tmp_path / "mine.th"
    _akamaster_file(src)
    dest = ck.import_model(src, name="my-teacher")
    assert dest == mdir / "my-teacher.th"
    assert load_teacher("my-teacher").arch == "cifar_resnet20"
    assert load_teacher("my-teacher.th").arch == "cifar_resnet20"
    # importing it again is a no-op; a different file of the same name is refused
    notes: list[str] = []
    ck.import_model(src, name="my-teacher", report=notes.append)
    assert "already in the model folder (identical)" in notes[0]
    other = tmp_path / "other.th"
    _akamaster_file(other, seed=1)
    with pytest.raises(ck.CheckpointError, match="already holds a different file"):
        ck.import_model(other, name="my-teacher")
    with pytest.raises(ck.CheckpointError, match="no such file, and not a known model name"):
        load_teacher("not-there")


def test_hash_prefix_in_the_file_name_is_checked(tmp_path):
    f = tmp_path / "resnet20-00000000.th"
    _akamaster_file(f)
    r = ck.verify(f)
    assert r.prefix == "00000000" and r.hash_ok is False and not r.ok
    assert "its name says the hash starts with 00000000" in r.line()
    good = tmp_path / f"resnet20-{ck.sha256_file(f)[:8]}.th"
    f.rename(good)
    r = ck.verify(good)
    assert r.ok and "matches the hash prefix" in r.line()
    with pytest.raises(ck.CheckpointError, match="does not start with"):
        ck.import_model(_copy(good, tmp_path / "x" / "resnet20-deadbeef.th"), tmp_path / "m")


def _copy(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes())
    return dest


def test_registry_knows_the_published_files():
    for depth in (20, 32, 44, 56, 110, 1202):
        spec = ck.REGISTRY[f"cifar10-resnet{depth}"]
        assert spec.url.startswith("https://github.com/akamaster/pytorch_resnet_cifar10/raw/")
        assert spec.url.endswith(spec.filename) and spec.arch == f"cifar_resnet{depth}"
        assert spec.data == "cifar10_akamaster"
    assert ck.REGISTRY["cifar10-resnet56"].sha256.startswith("4bfd9763")
    assert ck.REGISTRY["chenyaofo-cifar100-vgg16_bn"].filename == "cifar100_vgg16_bn-7d8c4031.pt"
    for spec in ck.REGISTRY.values():  # every layout builds on the meta device
        if spec.arch:
            assert ck.expected_layout(spec) is not None


def test_offline_fetch_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "m"))
    r = subprocess.run([sys.executable, "-m", "studio", "models", "fetch", "cifar10-resnet56",
                        "--url", "http://127.0.0.1:9/resnet56-4bfd9763.th"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "no network connection?" in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_students_by_name_and_cifar_defaults():
    assert default_student("cifar_resnet56") == "cifar_resnet20"
    assert default_student("cifar_vgg16_bn") == "cifar_resnet20_b"
    assert default_student("cifar_resnet34") == "cifar_resnet18"
    for arch in ("cifar_resnet20", "cifar_resnet110", "cifar_resnet44_b", "cifar_vgg11_bn"):
        net = build_network(arch, 10)
        assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_l1_filter_pruning_cuts_only_block_inner_convs_of_option_a_resnets():
    from studio.compression.prune import filter_sparsity, prunable_convs, prune_l1_filters

    net = resnet_6n2(20, 10, "A").eval()
    convs = prunable_convs(net)
    assert [c for c, _ in convs] == [b.conv1 for s in (net.layer1, net.layer2, net.layer3)
                                     for b in s]
    prune_l1_filters(net, 0.5)
    assert filter_sparsity(net) == pytest.approx(0.5)
    out = net(torch.rand(2, 3, 32, 32))
    assert torch.isfinite(out).all()
    # a cut filter gives exactly zero after its BN and ReLU
    b = net.layer2[1]
    zero = (b.conv1.weight.flatten(1).abs().sum(1) == 0).nonzero()[0, 0]
    h = F.relu(b.bn1(b.conv1(torch.rand(1, 32, 16, 16))))
    assert h[0, zero].abs().max() == 0


# ---------------------------------------------------------------------------------------
# The real files (../shared/real/)


def _independent_option_a(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """He et al.'s option-A ResNet written from the paper with the raw tensors: no Studio
    module, so a layout or normalisation mistake in the zoo shows up as a difference."""
    def bn(h, k):
        return F.batch_norm(h, sd[k + ".running_mean"], sd[k + ".running_var"],
                            sd[k + ".weight"], sd[k + ".bias"], False, 0.0, 1e-5)

    h = F.relu(bn(F.conv2d(x, sd["conv1.weight"], padding=1), "bn1"))
    for stage in (1, 2, 3):
        i = 0
        while f"layer{stage}.{i}.conv1.weight" in sd:
            p = f"layer{stage}.{i}"
            stride = 2 if stage > 1 and i == 0 else 1
            o = F.relu(bn(F.conv2d(h, sd[p + ".conv1.weight"], stride=stride, padding=1), p + ".bn1"))
            o = bn(F.conv2d(o, sd[p + ".conv2.weight"], padding=1), p + ".bn2")
            if o.shape[1] != h.shape[1]:
                pad = (o.shape[1] - h.shape[1]) // 2
                h = F.pad(h[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad))
            h = F.relu(o + h)
            i += 1
    return F.linear(h.mean((2, 3)), sd["linear.weight"], sd["linear.bias"])


def _subset(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    root = REAL / "cifar10-test-jpeg"
    xs, ys = [], []
    for label, cls in enumerate(sorted(p.name for p in root.iterdir() if p.is_dir())):
        for f in sorted((root / cls).iterdir())[:per_class]:
            xs.append(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255)
            ys.append(label)
    return torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2), torch.tensor(ys)


@needs_real
@pytest.mark.parametrize("path", [R20, R56], ids=["resnet20", "resnet56"])
def test_real_files_load_by_path_and_match_an_independent_implementation(path):
    clf = load_classifier(weights=path)
    assert clf.arch == {R20: "cifar_resnet20", R56: "cifar_resnet56"}[path]
    assert (clf.mean, clf.std) == IMAGENET and clf.sha256.startswith(path.stem.split("-")[1])
    x, y = _subset(20)
    raw = ck.load_state_dict(path, unwrap=("state_dict",), strip_prefixes=("module.",))
    m = torch.tensor(IMAGENET[0]).view(1, 3, 1, 1)
    s = torch.tensor(IMAGENET[1]).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = clf.logits(x)
        ref = _independent_option_a(raw, (x - m) / s)
    assert torch.allclose(ours, ref, atol=1e-4)
    acc = float((ours.argmax(1) == y).float().mean())
    assert 0.7 < acc < 0.95  # 81-83 % on the full JPEG test set (shared/real/README.md)


@needs_real
def test_real_files_import_and_load_by_registry_name(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "models"))
    with pytest.raises(ck.CheckpointError, match="model 'cifar10-resnet20' .* is not installed"):
        load_teacher("cifar10-resnet20")
    notes: list[str] = []
    dest = ck.import_model(R20, report=notes.append)
    assert dest.name == R20.name and notes == ["layout OK (cifar10-resnet20, 97 tensors)"]
    t = load_teacher("cifar10-resnet20")
    assert (t.arch, t.preset.name, t.image_size) == ("cifar_resnet20", "cifar10_akamaster", 32)
    assert t.class_names[-1] == "truck"
    r = ck.verify(dest)
    assert r.ok and "matches the published hash" in r.line()


@needs_real
def test_real_teacher_synthesis_and_distillation_by_command(tmp_path):
    env_cmd = [sys.executable, "-m", "studio"]
    for method in ("natural", "deep"):
        r = subprocess.run(env_cmd + ["synthesize", "--teacher", str(R20), "--method", method,
                                      "--num-images", "20", "--batch-size", "10",
                                      "--iterations", "2", "--out", str(tmp_path / method),
                                      "--device", "cpu", "-q"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert len(list((tmp_path / method).glob("*/*.png"))) == 20
    real = tmp_path / "real"
    for cls in sorted(p.name for p in (REAL / "cifar10-test-jpeg").iterdir()):
        (real / cls).mkdir(parents=True)
        for f in sorted((REAL / "cifar10-test-jpeg" / cls).iterdir())[:5]:
            (real / cls / f.name).write_bytes(f.read_bytes())
    r = subprocess.run(env_cmd + ["distill", "--synthetic", str(tmp_path / "natural"),
                                  "--teacher", str(R20), "--student", "cifar_resnet20",
                                  "--epochs", "1", "--batch-size", "10", "--real-test", str(real),
                                  "--out", str(tmp_path / "student"), "--device", "cpu", "-q",
                                  "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads(r.stdout)
    assert res["student"] == "cifar_resnet20" and res["teacher"] == "cifar_resnet20"
    assert 0.6 < res["teacher_real_acc"] <= 1.0 and 0.0 <= res["final_real_acc"] <= 1.0
    student = load_classifier("cifar_resnet20", tmp_path / "student" / "student.pth")
    assert student.arch == "cifar_resnet20"


def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path):
    net = resnet_6n2(20, 10, "A")
    sd = dict(net.state_dict())
    sd["layer2.1.conv1.weight"] = sd["layer2.1.conv1.weight"].clone()
    sd["layer2.1.conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(sd, tmp_path / "nan.pth")
    with pytest.raises(ck.CheckpointError) as err:
        load_teacher(tmp_path / "nan.pth")
    assert str(err.value) == (f"{tmp_path / 'nan.pth'}: tensor 'layer2.1.conv1.weight' holds 1 "
                              "non-finite value(s) (NaN or inf): the weights are damaged or "
                              "diverged")
    with pytest.raises(ck.CheckpointError, match="non-finite"):
        ck.import_model(tmp_path / "nan.pth", tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_verify_with_a_missing_model_folder_says_so(tmp_path):
    r = subprocess.run([sys.executable, "-m", "studio", "models", "verify", "--dir",
                        str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "nowhere: the model folder does not exist, so there is nothing to verify" in r.stderr
