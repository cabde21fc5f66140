"""The synthesis job: dataset layout, manifest, seeds, resume, ranks, formats, cancel."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.images import read_params
from studio.core.jobs import Cancelled, CancelToken, Log, Metrics, Preview, drive
from studio.inversion.synthesize import SynthesizeParams, batch_labels, synthesize_job
from studio.models.teachers import DataPreset, teacher_from_model
from studio.recipes import recipe_text
from studio.toyworld.models import ToyVGG, ToyVGGConfig

TINY = DataPreset("tiny", 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4)


def tiny_teacher(seed: int = 0):
    torch.manual_seed(seed)
    net = ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1), num_classes=4))
    return teacher_from_model(net, "toyvgg", TINY)


def run(p, teacher=None, events=None, token=None):
    return drive(synthesize_job(p, token, teacher=teacher or tiny_teacher()),
                 events.append if events is not None else None)


def manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def params(out, **kw):
    base = dict(out=out, method="natural", num_images=10, batch_size=4, iterations=2,
                preview_every=1, metrics_every=1, device="cpu", seed=3)
    base.update(kw)
    return SynthesizeParams(**base)


def test_labels_are_balanced_across_the_dataset():
    labs = torch.cat([batch_labels(b, 4, 10, 3) for b in range(3)])
    assert labs.tolist() == [g % 3 for g in range(10)]


def test_natural_dataset_layout_manifest_and_events(tmp_path):
    out = tmp_path / "syn"
    events = []
    summary = run(params(out), events=events)
    assert summary["num_items"] == 10 and summary["method"] == "natural"
    assert summary["classes"] == list(tiny_teacher().class_names)
    recs = manifest(out)
    assert len(recs) == 10
    by_name = {r["file_name"]: r for r in recs}
    r = by_name["class_001/b00002_001.png"]  # image g = 9 -> label 9 % 4 = 1
    assert r["label"] == 1 and r["batch"] == 2 and r["method"] == "natural"
    for key in ("seed", "teacher_sha256", "teacher_confidence", "teacher_pred", "loss_loss",
                "loss_ce", "loss_r_feature", "loss_tv_l2", "loss_l2"):
        assert key in r
    # every batch has its own seed; images of one batch share it
    seeds = {rec["batch"]: rec["seed"] for rec in recs}
    assert len(set(seeds.values())) == 3
    assert {rec["seed"] for rec in recs if rec["batch"] == 0} == {seeds[0]}
    img = Image.open(out / "class_001/b00002_001.png")
    assert img.size == (16, 16) and img.mode == "RGB"
    assert read_params(out / "class_001/b00002_001.png")["batch"] == 2
    assert any(isinstance(e, Preview) for e in events)
    mets = [e for e in events if isinstance(e, Metrics)]
    assert mets and {"loss", "ce", "r_feature", "tv_l2", "l2"} <= set(mets[0].values)


def test_outputs_are_denormalised_with_teacher_statistics(tmp_path):
    """Noise in normalised space N(0,1) -> pixels mean*255 ± std*255, not min-max stretched."""
    out = tmp_path / "noise"
    run(params(out, method="noise", num_images=8, batch_size=8))
    arr = np.stack([np.asarray(Image.open(p)) for p in sorted(out.rglob("*.png"))]) / 255.0
    assert abs(arr.mean() - 0.5) < 0.03  # TINY mean 0.5
    assert 0.2 < arr.std() < 0.3         # TINY std 0.25 (a per-image stretch gives ~0.29+)
    assert arr.min() >= 0 and arr.max() <= 1


def test_resume_and_single_batch_regeneration_are_identical(tmp_path):
    out = tmp_path / "syn"
    run(params(out))
    victim = out / "class_002/b00001_002.png"  # image g = 6 in batch 1
    original = victim.read_bytes()
    before = (out / "class_000/b00000_000.png").stat().st_mtime_ns
    victim.unlink()
    events = []
    run(params(out), events=events)
    assert victim.read_bytes() == original  # batch 1 regenerated alone, same bytes
    assert (out / "class_000/b00000_000.png").stat().st_mtime_ns == before  # not redone
    assert any("1 to do" in e.message for e in events if isinstance(e, Log))
    assert len(manifest(out)) == 10


def test_ranks_split_batches_and_give_the_single_process_dataset(tmp_path, monkeypatch):
    single = tmp_path / "single"
    run(params(single))
    multi = tmp_path / "multi"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    r1 = run(params(multi))
    assert r1["batches"] == [1]
    monkeypatch.setenv("RANK", "0")
    run(params(multi))
    assert manifest(multi) == manifest(single)
    for rec in manifest(single):
        assert (multi / rec["file_name"]).read_bytes() == (single / rec["file_name"]).read_bytes()


def test_webdataset_output(tmp_path):
    out = tmp_path / "wds"
    summary = run(params(out, method="deep", format="webdataset", shard_batches=2))
    assert summary["num_items"] == 10
    shards = sorted((out / "shards").glob("*.tar"))
    assert len(shards) == 2  # 8 images per shard
    with tarfile.open(shards[0]) as tf:
        names = tf.getnames()
    assert "class_000__b00000_000.png" in [n.replace("_png", ".png") for n in names] or \
        any(n.endswith(".cls") for n in names)
    from studio.inversion.data import load_labelled

    data = load_labelled(out, tiny_teacher().class_names)
    assert len(data) == 10 and sorted(data.labels.tolist()) == sorted(g % 4 for g in range(10))


def test_cancel_leaves_only_complete_batches(tmp_path):
    out = tmp_path / "syn"
    token = CancelToken()
    seen = []

    def on(e):
        seen.append(e)
        if isinstance(e, Metrics) and e.values["batch"] == 1.0:
            token.cancel()

    with pytest.raises(Cancelled):
        drive(synthesize_job(params(out, iterations=3), token, teacher=tiny_teacher()), on)
    files = sorted(p.name for p in out.rglob("*.png"))
    assert files == sorted(f"b00000_{j:03d}.png" for j in range(4))


def test_adi_trains_the_student_between_batches(tmp_path):
    events = []
    run(params(tmp_path / "adi", method="deep", adi_scale=0.5, adi_student="toyvgg_small",
               num_images=8, adi_student_epochs=1), events=events)
    msgs = [e.message for e in events if isinstance(e, Log)]
    assert sum("ADI: student trained on" in m for m in msgs) == 2
    assert any("trained on 8 images" in m for m in msgs)
    recs = manifest(tmp_path / "adi")
    assert all("loss_adi" in r for r in recs)


def test_adi_refuses_several_ranks(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="one process"):
        run(params(tmp_path / "x", method="deep", adi_scale=0.5))


def test_params_round_trip_as_recipe():
    text = recipe_text("synthesize", params("/tmp/x", method="deep"))
    assert 'job = "synthesize"' in text and 'method = "deep"' in text


def test_deep_inversion_uses_the_imagenet_settings_for_an_imagenet_teacher():
    import dataclasses

    from studio.inversion.deep import DEEP_IMAGENET, DeepInversionConfig
    from studio.inversion.synthesize import deep_config, make_engine

    def imagenet_values(cfg):
        return {k: getattr(cfg, k) for k in DEEP_IMAGENET}

    assert imagenet_values(deep_config(params("/tmp/x", method="deep", data="imagenet"))) \
        == DEEP_IMAGENET
    assert imagenet_values(deep_config(params("/tmp/x", method="deep", arch="resnet50"))) \
        == DEEP_IMAGENET  # --data auto, a torchvision arch: ImageNet
    # --data auto, resolved from the teacher's preset (an ImageNet preset made small)
    small_imagenet = dataclasses.replace(TINY, name="imagenet")
    torch.manual_seed(0)
    net = ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1), num_classes=4))
    teacher = teacher_from_model(net, "toyvgg", small_imagenet)
    p = params("/tmp/x", method="deep")
    assert p.data == "auto"
    assert imagenet_values(deep_config(p, teacher)) == DEEP_IMAGENET
    engine = make_engine(p, teacher, torch.arange(4), 0, torch.device("cpu"))
    assert imagenet_values(engine.cfg) == DEEP_IMAGENET
    # CIFAR and toy teachers keep the paper's CIFAR-10 settings
    cifar = DeepInversionConfig(iterations=2)
    for q, t in ((params("/tmp/x", method="deep", data="cifar10"), None),
                 (params("/tmp/x", method="deep"), None),
                 (params("/tmp/x", method="deep"), tiny_teacher())):
        assert deep_config(q, t) == cifar
    # explicit options still win over the ImageNet settings
    q = params("/tmp/x", method="deep", data="imagenet", lr=0.01, r_feature=1.0, jitter=4,
               flip=False, adi_scale=0.5)
    cfg = deep_config(q, teacher)
    assert (cfg.lr, cfg.r_feature, cfg.jitter, cfg.flip, cfg.adi_scale) == (0.01, 1.0, 4,
                                                                           False, 0.5)
    assert cfg.first_bn_multiplier == 10.0 and cfg.betas == (0.5, 0.9) and cfg.cosine_lr
