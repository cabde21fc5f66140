"""Classifier trainer: Bag-of-Tricks pieces, data formats, checkpoints, resume, DDP."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tracking_read import tb_scalars

from studio.core.jobs import Metrics, Preview, drive
from studio.core.tracking import read_metrics
from studio.datasets.readers import read_source
from studio.datasets.writers import OutputItem, make_writer
from studio.toyworld.generate import ToyWorldParams, generate_job, iter_images
from studio.trainer.trainer import (
    TrainParams,
    epoch_batches,
    lr_at,
    param_groups,
    soft_cross_entropy,
    topk_correct,
    train_job,
)

CLASSES = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    p = ToyWorldParams(root / "if", per_class=8, size=32, seed=5, num_classes=3,
                       shape_texture_correlation=1.0, splits=["train", "test"],
                       test_per_class=4, workers=1)
    drive(generate_job(p))
    # the same images as WebDataset shards
    w = make_writer("webdataset", root / "wds", shard_size=10).open()
    items = list(iter_images(p))
    outs = [OutputItem(it.key, CLASSES.index(it.category), it.category) for it, _ in items]
    for idx, out in w.pending(outs):
        w.write(out, items[idx][1], record={"split": items[idx][0].split}, index=idx)
    w.finalize({}, CLASSES)
    return root


def _params(world, out, **kw):
    base = dict(data=[world / "if"], out=out, arch="toyvgg", epochs=2, batch_size=8, lr=0.2,
                warmup_epochs=0.5, image_size=32, augment="cifar", workers=0, device="cpu",
                threads=1, label_smoothing=0.1, weight_decay=5e-4)
    base.update(kw)
    return TrainParams(**base)


def test_lr_schedule_warmup_cosine_linear_scaling():
    p = TrainParams(data=[], out=Path("x"), epochs=10, warmup_epochs=2, schedule="cosine")
    spe = 100
    assert lr_at(p, 0, spe, 0.4) == pytest.approx(0.4 / 200)
    assert lr_at(p, 199, spe, 0.4) == pytest.approx(0.4)
    assert lr_at(p, 200, spe, 0.4) == pytest.approx(0.4)
    mid = 200 + 400
    assert lr_at(p, mid, spe, 0.4) == pytest.approx(0.2)
    assert lr_at(p, 999, spe, 0.4) < 1e-5
    s = TrainParams(data=[], out=Path("x"), epochs=90, warmup_epochs=0, schedule="step",
                    step_epochs=[30, 60])
    assert [lr_at(s, e * spe, spe, 0.1) for e in (0, 29, 30, 60)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001])


def test_no_bias_decay_groups():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    g = param_groups(net, 1e-4, True)
    assert [p.shape for p in g[0]["params"]] == [torch.Size([4, 3, 3, 3]), torch.Size([2, 4])]
    assert g[0]["weight_decay"] == 1e-4 and g[1]["weight_decay"] == 0.0
    assert len(g[1]["params"]) == 4  # conv bias, BN gamma, BN beta, linear bias
    assert len(param_groups(net, 1e-4, False)) == 1


def test_mixup_loss_and_batches():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    ya, yb = torch.tensor([0]), torch.tensor([2])
    lam = torch.tensor([0.3])
    ce = torch.nn.functional.cross_entropy
    want = 0.3 * ce(logits, ya, label_smoothing=0.1) + 0.7 * ce(logits, yb, label_smoothing=0.1)
    assert soft_cross_entropy(logits, ya, yb, lam, 0.1).item() == pytest.approx(want.item())
    b = epoch_batches(10, 4, epoch=3, seed=1, mixup_alpha=0.2)
    assert [len(x) for x in b] == [4, 4]  # drop_last
    assert b == epoch_batches(10, 4, epoch=3, seed=1, mixup_alpha=0.2)
    assert b != epoch_batches(10, 4, epoch=4, seed=1, mixup_alpha=0.2)
    assert all(0 <= lam <= 1 and j >= 0 for batch in b for (_, _, j, lam) in batch)
    assert all(lam == 1.0 for batch in epoch_batches(10, 4, 0, 1) for (*_, lam) in batch)


def test_topk():
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05]])
    assert topk_correct(logits, torch.tensor([2, 0]), ks=(1, 2)) == [1, 2]


def test_three_formats_read_the_same_labels(world):
    a = read_source(world / "if")
    b = read_source(world / "wds")
    c = read_source(world / "if" / "manifest.jsonl")
    assert a.classes == b.classes == c.classes == CLASSES  # dataset.json order, not sorted

    def key(src):
        return sorted((it.split, it.class_name) for it in src.items)

    assert key(a) == key(b) == key(c)
    assert len(a.split(["train"])) == 24 and len(a.split(["test"])) == 12
    img_if = a.items[0].load()
    same = [it for it in b.items if it.class_name == a.items[0].class_name]
    assert img_if.size == same[0].load().size == (32, 32)


def test_train_checkpoint_resume_is_exact(world, tmp_path):
    events = []
    full = drive(train_job(_params(world, tmp_path / "full")), events.append)
    assert full["epochs"] == 2 and full["steps"] == 6
    assert {"top1", "top5", "val_loss"} <= set(full["final"])
    assert any(isinstance(e, Preview) for e in events)
    assert any(isinstance(e, Metrics) and "top1" in e.values for e in events)
    for f in ("model.pth", "checkpoint.pth", "metrics.jsonl", "train.json"):
        assert (tmp_path / "full" / f).is_file()
    meta = json.loads((tmp_path / "full" / "train.json").read_text())
    assert meta["classes"] == CLASSES

    # one epoch, then resume to two: bitwise the same weights, and one record per epoch
    # in metrics.jsonl and in the TensorBoard events (--log_dir) across the resume
    tb = tmp_path / "tb"
    drive(train_job(_params(world, tmp_path / "res", epochs=2, max_steps=3, log_dir=str(tb))))
    assert [r["epoch"] for r in read_metrics(tmp_path / "res") if "epoch" in r] == [1]
    resumed = []
    drive(train_job(_params(world, tmp_path / "res", epochs=2, log_dir=str(tb))),
          resumed.append)
    assert any("resumed" in getattr(e, "message", "") for e in resumed)
    recs = [r for r in read_metrics(tmp_path / "res") if "epoch" in r]
    assert [(r["epoch"], r["step"]) for r in recs] == [(1, 3), (2, 6)]
    assert recs[-1]["top1"] == json.loads((tmp_path / "res" / "train.json").read_text()
                                          )["final"]["top1"]
    events = tb_scalars(tb)
    assert [s for s, _ in events["top1"]] == [3, 6]
    assert events["train_loss"][-1][1] == pytest.approx(recs[-1]["train_loss"], rel=1e-5)
    a = torch.load(tmp_path / "full" / "model.pth", weights_only=True)
    b = torch.load(tmp_path / "res" / "model.pth", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_mixed_datasets_finetune_and_mixup(world, tmp_path):
    first = drive(train_job(_params(world, tmp_path / "a", epochs=1)))
    res = drive(train_job(_params(world, tmp_path / "b", epochs=1,
                                  data=[world / "if", world / "wds"], mixup_alpha=0.2,
                                  init=Path(first["model"]), nesterov=True)))
    assert res["steps"] == 48 // 8
    log = json.loads((tmp_path / "b" / "train.json").read_text())
    assert log["params"]["init"].endswith("model.pth")


def test_finetune_to_other_class_count_needs_reset_head(world, tmp_path):
    from studio.models.classifiers import build_network

    other = build_network("toyvgg", 7)
    path = tmp_path / "seven.pth"
    torch.save(other.state_dict(), path)
    from studio.core.checkpoints import CheckpointMismatch

    with pytest.raises(CheckpointMismatch, match="reset_head"):
        drive(train_job(_params(world, tmp_path / "c", epochs=1, init=path)))
    res = drive(train_job(_params(world, tmp_path / "d", epochs=1, init=path, reset_head=True,
                                  max_steps=1)))
    assert res["steps"] == 1


def test_bad_image_is_named(world, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(world / "if", bad)
    victim = sorted((bad / "train" / "circle").glob("*.png"))[0]
    victim.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    from studio.core.images import ImageError

    with pytest.raises(ImageError, match=victim.name):
        drive(train_job(_params(world, tmp_path / "e", data=[bad], epochs=1)))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("STUDIO_TEST_DDP") != "1",
                    reason="starts three torch processes (~35 s on 2 cores); "
                           "run with STUDIO_TEST_DDP=1")
def test_ddp_two_processes_equal_one(world, tmp_path):
    """torchrun --nproc_per_node 2 on CPU (gloo) gives the single-process weights."""
    args = ["train", "classifier", "--data", str(world / "if"), "--arch", "toyvgg",
            "--epochs", "1", "--batch-size", "8", "--lr", "0.2", "--image-size", "32",
            "--augment", "cifar", "--workers", "0", "--threads", "1", "--device", "cpu",
            "--warmup-epochs", "0.5", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "studio", *args, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", "-m", "studio", *args, "--out",
                          str(tmp_path / "two")], env=env, capture_output=True, text=True,
                         timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    a = torch.load(tmp_path / "one" / "model.pth", weights_only=True)
    b = torch.load(tmp_path / "two" / "model.pth", weights_only=True)
    for k in a:
        if a[k].dtype.is_floating_point:
            assert torch.allclose(a[k], b[k], atol=1e-4, rtol=1e-4), k
        else:
            assert torch.equal(a[k], b[k]), k
    ta = json.loads((tmp_path / "one" / "train.json").read_text())["final"]
    tb = json.loads((tmp_path / "two" / "train.json").read_text())["final"]
    assert ta["top1"] == tb["top1"] and math.isclose(ta["train_loss"], tb["train_loss"],
                                                     rel_tol=1e-4)


def test_params_round_trip_through_a_recipe():
    import tomllib

    from studio.recipes import parse_recipe, recipe_text

    p = TrainParams(data=[Path("sin"), Path("in")], out=Path("o"), init=Path("w.pth.tar"),
                    mixup_alpha=0.2, schedule="step", step_epochs=[30], classes=["a", "b"])
    jt, q = parse_recipe(tomllib.loads(recipe_text("train-classifier", p)))
    assert jt.name == "train-classifier" and q == p


def test_fit_linear_probe_is_the_regularised_logistic_regression_optimum():
    from studio.trainer.probe import fit_linear_probe

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 5, generator=g) * 3
    y = torch.arange(60) % 3
    x = centres[y] + torch.randn(60, 5, generator=g)
    w, b, ce = fit_linear_probe(x, y, 3, l2=0.01)
    assert ((x @ w.T + b).argmax(1) == y).float().mean() > 0.95
    # first-order optimality of mean CE + l2/2 ||W||^2 (bias unpenalised)
    wv, bv = w.double().requires_grad_(), b.double().requires_grad_()
    loss = torch.nn.functional.cross_entropy(x.double() @ wv.T + bv, y) + 0.005 * (wv ** 2).sum()
    loss.backward()
    assert wv.grad.abs().max() < 1e-4 and bv.grad.abs().max() < 1e-4
    assert ce == pytest.approx(float(torch.nn.functional.cross_entropy(x @ w.T + b, y)), rel=1e-4)
    # more regularisation, smaller weights
    w2, _, _ = fit_linear_probe(x, y, 3, l2=1.0)
    assert w2.norm() < w.norm()


def test_linear_probe_freezes_features_and_lp_ft_starts_from_it(world, tmp_path):
    base = drive(train_job(_params(world, tmp_path / "base", epochs=1)))
    init = torch.load(base["model"], weights_only=True)
    lp = drive(train_job(_params(world, tmp_path / "lp", init=Path(base["model"]),
                                 mode="linear-probe")))
    probe = lp["history"][0]
    assert lp["epochs"] == 1 and lp["steps"] == 0 and probe["epoch"] == 0
    assert probe["probe_ce"] > 0 and 0 <= probe["top1"] <= 100
    after = torch.load(lp["model"], weights_only=True)
    changed = {k for k in init if not torch.equal(init[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}  # features and BN statistics untouched
    # LP-FT: the same probe first (epoch 0), then every weight trains from it
    ft = drive(train_job(_params(world, tmp_path / "lpft", init=Path(base["model"]),
                                 mode="lp-ft", epochs=2, max_steps=3, new_head=True)))
    assert ft["history"][0]["probe_ce"] == pytest.approx(probe["probe_ce"], rel=1e-6)
    assert ft["history"][0]["top1"] == probe["top1"]
    resumed = drive(train_job(_params(world, tmp_path / "lpft", init=Path(base["model"]),
                                      mode="lp-ft", epochs=2, new_head=True)))
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2]  # the probe is not redone
    tuned = torch.load(resumed["model"], weights_only=True)
    convs = [k for k in init if k.endswith("weight") and init[k].ndim == 4]
    assert convs and all(not torch.equal(tuned[k], init[k]) for k in convs)
    assert [r["epoch"] for r in read_metrics(tmp_path / "lpft") if "epoch" in r] == [0, 1, 2]
    # --new-head: FT as in the paper, from a random head (seeded), not --init's
    from studio.trainer.trainer import build_model

    net, notes = build_model(_params(world, tmp_path / "x", init=Path(base["model"]),
                                     new_head=True), 3)
    again, _ = build_model(_params(world, tmp_path / "x", init=Path(base["model"]),
                                   new_head=True), 3)
    sd = net.state_dict()
    assert "new head: fc freshly initialised" in notes
    assert {k for k in init if not torch.equal(init[k], sd[k])} == {"fc.weight", "fc.bias"}
    assert torch.equal(sd["fc.weight"], again.state_dict()["fc.weight"])  # seeded


def test_a_probe_replaces_a_head_of_another_class_count_without_reset_head(world, tmp_path):
    """The probe (and --new-head) replace the head anyway: a pretrained file with another
    class count needs no --reset-head there; fine-tuning still refuses it, naming the option."""
    ten = tmp_path / "ten.pth"
    from studio.models.classifiers import build_network

    torch.save(build_network("toyvgg", 10).state_dict(), ten)
    lp = drive(train_job(_params(world, tmp_path / "lp", init=ten, mode="linear-probe")))
    assert torch.load(lp["model"], weights_only=True)["fc.weight"].shape[0] == 3
    with pytest.raises(Exception, match="reset_head"):
        drive(train_job(_params(world, tmp_path / "ft", init=ten, epochs=1)))
