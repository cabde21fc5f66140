"""TSIT training: official losses, checkpoints in the official layout, resume, SIS, data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tracking_read import tb_scalars

from studio.core.checkpoints import load_state_dict, save_state_dict
from studio.core.jobs import Log, Metrics, Preview, drive
from studio.core.tracking import read_metrics
from studio.toyworld.models import ToyVGG
from studio.tsit.data import UnpairedFolders, instance_edges, one_hot, resolve_unpaired
from studio.tsit.losses import build_perceptual, feature_matching_loss, gan_loss
from studio.tsit.model import load_generator
from studio.tsit.train import TrainTSITParams, lr_at, resolve_setup, train_job

torch.set_num_threads(1)


def _folder(root: Path, n: int, seed: int, size: int = 32) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 255, (size + i, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"im{i:02d}.png")
    return root


@pytest.fixture()
def toy_encoder(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_state_dict(ToyVGG(), tmp_path / "toy_teacher.pth")


def _params(tmp_path: Path, enc: Path, **kw) -> TrainTSITParams:
    base = TrainTSITParams(
        data=tmp_path / "data", out=tmp_path / "run", task="summer2winter", ngf=4, depth=4,
        size=32, batch_size=2, iterations=3, ndf=8, perceptual="toy",
        perceptual_weights=enc, preview_every=2, save_every=2, log_every=1, device="cpu",
        pairing="random", threads=1)
    return replace(base, **kw)


def test_hinge_and_feature_matching_follow_the_official_formulas():
    real = [[torch.tensor([0.5, 2.0])], [torch.tensor([-1.0])]]
    # D on real: mean(relu(1 - x)) per scale, averaged over scales
    assert gan_loss(real, True, True).item() == pytest.approx(((0.5 + 0) / 2 + 2.0) / 2)
    assert gan_loss(real, False, True).item() == pytest.approx(((1.5 + 3.0) / 2 + 0) / 2)
    assert gan_loss(real, True, False).item() == pytest.approx((-1.25 + 1.0) / 2)
    fake = [[torch.ones(2), torch.zeros(1)], [torch.zeros(2), torch.zeros(1)]]
    ref = [[torch.zeros(2), torch.ones(1)], [torch.zeros(2), torch.ones(1)]]
    # only intermediate outputs count, each weighted lambda_feat / num_D
    assert feature_matching_loss(fake, ref, 10.0).item() == pytest.approx(1.0 * 10 / 2)


def test_ttur_and_linear_decay_schedule():
    p = TrainTSITParams(data=Path("x"), lr=0.0002)
    assert lr_at(p, 0, 0, 400, niter=100, niter_decay=100) == 0.0002
    assert lr_at(p, 100, 0, 400, 100, 100) == pytest.approx(0.0002)
    assert lr_at(p, 150, 0, 400, 100, 100) == pytest.approx(0.0001)
    p2 = replace(p, iterations=100, decay_iterations=50)
    assert lr_at(p2, 0, 75, 100, 0, 0) == pytest.approx(0.0001)
    s = resolve_setup(TrainTSITParams(data=Path("x"), task="photo2art"))
    assert (s.lambda_vgg, s.lambda_feat, s.n_layers_D, s.hw) == (1.0, 2.0, 3, (256, 256))
    s = resolve_setup(TrainTSITParams(data=Path("x"), task="cityscapes"))
    assert (s.lambda_vgg, s.lambda_feat, s.n_layers_D, s.batch_size) == (20.0, 10.0, 4, 16)
    assert s.hw == (256, 512) and s.config.use_vae
    with pytest.raises(ValueError, match="multiple of 16"):
        resolve_setup(TrainTSITParams(data=Path("x"), depth=4, size=40))


def test_perceptual_fallback_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("STUDIO_RESOURCES", str(tmp_path / "res"))
    enc, note = build_perceptual("auto")
    assert "RANDOM ToyVGG" in note and enc is not None
    assert len(enc(torch.zeros(1, 3, 32, 32))) == 4
    with pytest.raises(Exception, match="VGG-19 weights not found"):
        build_perceptual("vgg19")


def test_train_checkpoints_previews_and_exact_resume(tmp_path, toy_encoder):
    _folder(tmp_path / "data" / "trainA", 5, 1)
    _folder(tmp_path / "data" / "trainB", 4, 2)
    (tmp_path / "data" / "trainA" / "zz_broken.png").write_bytes(b"not an image")
    events = []
    res = drive(train_job(_params(tmp_path, toy_encoder)), events.append)
    assert res["finished"] and res["iteration"] == 3
    assert any("zz_broken.png" in e for e in res["errors"])
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[0].image.shape == (32, 96, 3)
    metrics = [e for e in events if isinstance(e, Metrics)]
    assert {"GAN", "GAN_Feat", "VGG", "D_Fake", "D_real", "lr"} <= set(metrics[-1].values)
    assert any(isinstance(e, Log) and "NOTICE" in e.message for e in events)
    run = tmp_path / "run"
    for f in ("latest_net_G.pth", "latest_net_D.pth", "train_state.pth", "preview.png",
              "options.json"):
        assert (run / f).is_file()
    g = load_generator(run / "latest_net_G.pth")  # the official layout, strictly
    assert g.config.ngf == 4 and g.config.depth == 4 and not g.training
    assert "style_stream.res_4.conv_1.weight_orig" in load_state_dict(run / "latest_net_G.pth")

    # an uninterrupted run of 5 equals 3 + a resumed 2; the official --tf_log writes
    # TensorBoard events to OUT/logs, and metrics.jsonl reads as one run
    drive(train_job(_params(tmp_path, toy_encoder, iterations=5, tf_log=True)))
    resumed = load_state_dict(run / "latest_net_G.pth")
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4, 5]
    assert [s for s, _ in tb_scalars(run / "logs")["GAN"]] == [4, 5]
    drive(train_job(_params(tmp_path, toy_encoder, iterations=5, out=tmp_path / "straight")))
    straight = load_state_dict(tmp_path / "straight" / "latest_net_G.pth")
    for k in straight:
        torch.testing.assert_close(resumed[k], straight[k], rtol=0, atol=0)


def test_sis_training_with_label_maps_and_vae(tmp_path, toy_encoder):
    labels, images = tmp_path / "labels", _folder(tmp_path / "images", 3, 5, 32)
    labels.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 4, (32, 32), dtype=np.uint8), "L").save(
            labels / f"im{i:02d}.png")
    Image.fromarray(np.zeros((32, 32), np.uint8), "L").save(labels / "orphan.png")
    events = []
    res = drive(train_job(_params(tmp_path, toy_encoder, data=labels, style=images,
                                  task="ade20k", label_nc=4, contain_dontcare=False,
                                  iterations=1, batch_size=1, n_layers_D=3)), events.append)
    assert res["finished"]
    assert any("without a partner" in getattr(e, "message", "") for e in events)
    g = load_generator(tmp_path / "run" / "latest_net_G.pth", "ade20k")
    assert g.style_stream is None and g.config.use_vae and g.config.semantic_nc == 4
    assert (tmp_path / "run" / "latest_net_E.pth").is_file()


def test_data_helpers(tmp_path):
    _folder(tmp_path / "trainA", 3, 1)
    _folder(tmp_path / "trainB", 2, 2)
    a, b = resolve_unpaired(tmp_path, None)
    assert a.name == "trainA" and b.name == "trainB"
    with pytest.raises(FileNotFoundError, match="trainA"):
        resolve_unpaired(tmp_path / "trainA", None)
    ds = UnpairedFolders(a, b, (32, 32), pairing="fixed", flip=False)
    # official pairing: sorted lists, style list doubled, item i with item i
    assert [ds.item_paths(i)[1].name for i in range(3)] == ["im00.png", "im01.png", "im00.png"]
    item = ds[0]
    assert item["content"].shape == (3, 32, 32) and -1 <= item["content"].min() <= 1
    lab = torch.tensor([[[[0, 1], [2, 2]]]])
    oh = one_hot(lab, 3, instance=torch.tensor([[[[1, 1], [1, 2]]]]))
    assert oh.shape == (1, 4, 2, 2) and oh[0, 2, 1, 1] == 1 and oh[0, 3].tolist() == [
        [0.0, 1.0], [1.0, 1.0]]
    assert instance_edges(torch.tensor([[[[5, 5, 5]]]])).sum() == 0
    with pytest.raises(ValueError, match="label id 3"):
        one_hot(torch.tensor([[[[3]]]]), 3)


def test_style_statistics_loss_option(tmp_path, toy_encoder):
    """--lambda_style (a named deviation): AdaIN's mean/std loss against the style image,
    zero for the style itself, reported as its own term, refused without an encoder."""
    from studio.tsit.losses import style_statistics_loss
    from studio.tsit.model import calc_mean_std

    enc, _ = build_perceptual("toy", toy_encoder)
    x, s = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    expect = sum(torch.nn.functional.mse_loss(a, b)
                 for fx, fs in zip(enc(x), enc(s))
                 for a, b in zip(calc_mean_std(fx), calc_mean_std(fs)))
    assert style_statistics_loss(enc, x, s).item() == pytest.approx(float(expect), rel=1e-5)
    assert style_statistics_loss(enc, s, s).item() == pytest.approx(0.0, abs=1e-10)
    _folder(tmp_path / "data" / "trainA", 3, 1)
    _folder(tmp_path / "data" / "trainB", 3, 2)
    events = []
    drive(train_job(_params(tmp_path, toy_encoder, iterations=1, lambda_style=2.0)),
          events.append)
    assert [e for e in events if isinstance(e, Metrics)][-1].values["Style"] > 0
    with pytest.raises(ValueError, match="--lambda_style needs"):
        drive(train_job(_params(tmp_path, toy_encoder, iterations=1, lambda_style=1.0,
                                perceptual="none", out=tmp_path / "r2")))


def test_target_folder_pairs_each_content_with_its_translation(tmp_path, toy_encoder,
                                                                monkeypatch):
    """--target (a named deviation): the image at the content's relative path is the
    perceptual loss's target (not the content), the style image still feeds the style
    stream, flips are shared, and content without a target is skipped by name."""
    from studio.tsit.losses import PerceptualLoss

    content = _folder(tmp_path / "data" / "trainA", 3, 1)
    style = _folder(tmp_path / "data" / "trainB", 3, 2)
    target = tmp_path / "target"
    target.mkdir()
    for i in range(2):  # im02 has no target
        Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(target / f"im{i:02d}.png")
    ds = UnpairedFolders(content, style, (32, 32), pairing="fixed", flip=True, seed=3,
                         target_dir=target)
    assert len(ds) == 2 and ds.unmatched == [str(content / "im02.png")]
    for i in range(2):
        item = ds[i]
        assert torch.equal(item["target"], torch.ones(3, 32, 32))
        plain = UnpairedFolders(content, style, (32, 32), pairing="fixed", flip=True, seed=3)
        torch.testing.assert_close(item["content"], plain[i]["content"])  # same flip

    goals = []
    real_forward = PerceptualLoss.forward

    def spy(self, x, y):
        goals.append(y.detach().clone())
        return real_forward(self, x, y)

    monkeypatch.setattr(PerceptualLoss, "forward", spy)
    events = []
    drive(train_job(_params(tmp_path, toy_encoder, iterations=1, target=target)),
          events.append)
    assert goals and all(torch.equal(g, torch.ones_like(g)) for g in goals)
    assert any("1 content files without a target" in getattr(e, "message", "")
               for e in events)
    preview = next(e for e in events if isinstance(e, Preview))
    assert preview.image.shape == (32, 128, 3)  # content | style | target | output
    with pytest.raises(ValueError, match="--target is for style tasks"):
        drive(train_job(_params(tmp_path, toy_encoder, iterations=1, target=target,
                                task="ade20k", style=style, out=tmp_path / "r3")))
