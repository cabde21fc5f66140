"""Pruning: masks, sparsity accounting, fine-tuning with fixed masks, the prune job."""

from __future__ import annotations

import json

import pytest
import torch
from colour_world import colour_folder, colour_teacher
from torch import nn
from tracking_read import tb_scalars

from studio.compression.prune import (
    PruneParams,
    filter_sparsity,
    make_permanent,
    prune_global_magnitude,
    prune_job,
    prune_l1_filters,
    weight_sparsity,
)
from studio.core.jobs import drive
from studio.core.tracking import read_metrics
from studio.models.cifar import resnet18
from studio.toyworld.models import ToyVGG, ToyVGGConfig


def small_net():
    torch.manual_seed(0)
    return ToyVGG(ToyVGGConfig(widths=(8, 8, 16, 16), convs=(1, 1, 1, 1), num_classes=3)).eval()


def test_l1_filter_pruning_cuts_lowest_norm_filters_and_their_bn():
    net = small_net()
    conv = net.features.conv2_1
    norms = conv.weight.detach().abs().flatten(1).sum(1)
    weakest = set(torch.argsort(norms)[:4].tolist())
    cut = prune_l1_filters(net, 0.5)
    assert cut == 4 + 8 + 8  # stem skipped; half of 8, 16, 16 filters
    zero = {i for i in range(8) if float(conv.weight[i].detach().abs().sum()) == 0}
    assert zero == weakest
    # the channel is gone: BN output (and so the ReLU) is exactly zero there
    acts = {}
    net.features.relu2_1.register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
    net(torch.randn(2, 3, 16, 16))
    assert all(float(acts["a"][:, i].detach().abs().sum()) == 0 for i in weakest)
    assert filter_sparsity(net) == pytest.approx(0.5)


def test_global_magnitude_reaches_target_and_masks_survive_training():
    net = small_net()
    prune_global_magnitude(net, 0.6)
    assert weight_sparsity(net) == pytest.approx(0.6, abs=0.01)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(3):
        loss = net(torch.randn(4, 3, 16, 16)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    make_permanent(net)
    assert not any(hasattr(m, "weight_orig") for m in net.modules())
    assert weight_sparsity(net) == pytest.approx(0.6, abs=0.01)
    assert isinstance(net.features.conv1_1.weight, nn.Parameter)


def test_resnet_filter_pruning_keeps_the_network_runnable():
    net = resnet18(10).eval()
    prune_l1_filters(net, 0.3)
    make_permanent(net)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert filter_sparsity(net) == pytest.approx(0.3, abs=0.02)
    assert set(net.state_dict()) == set(resnet18(10).state_dict())  # loads as a ResNet-18


def test_prune_job_reports_accuracy_per_sparsity(tmp_path):
    teacher = colour_teacher(tmp_path / "teacher-data")
    real = colour_folder(tmp_path / "real", 6, 7)
    syn = colour_folder(tmp_path / "syn", 8, 3)
    p = PruneParams(synthetic=syn, out=tmp_path / "pr", real_test=real,
                    sparsities=[0.0, 0.5], epochs=2, batch_size=8, optimizer="adam", lr=0.005,
                    weight_decay=0.0, device="cpu", log_dir=str(tmp_path / "tb"))
    res = drive(prune_job(p, None, teacher=teacher))
    assert res["teacher_real_acc"] == 1.0
    # tracked: each sparsity's epochs as its own curve, its summary at step = sparsity in %
    recs = read_metrics(tmp_path / "pr")
    assert [(r["step"], sorted(r)) for r in recs[:2]] == [
        (e, ["sparsity_0/loss", "sparsity_0/real_acc", "step", "time"]) for e in (1, 2)]
    summary = [r for r in recs if "acc_finetuned" in r]
    assert [(r["step"], r["acc_finetuned"]) for r in summary] == [
        (0, res["rows"][0]["real_acc_finetuned"]), (50, res["rows"][1]["real_acc_finetuned"])]
    assert [s for s, _ in tb_scalars(tmp_path / "tb")["sparsity_0.5/loss"]] == [1, 2]
    rows = res["rows"]
    assert [r["target_sparsity"] for r in rows] == [0.0, 0.5]
    assert rows[0]["real_acc_pruned"] == 1.0  # nothing pruned: the teacher itself
    assert rows[1]["filter_sparsity"] == pytest.approx(0.5, abs=0.1)
    assert all(0.0 <= r["real_acc_finetuned"] <= 1.0 for r in rows)
    assert (tmp_path / "pr" / "pruned_l1-filter_0.5.pth").is_file()
    assert json.loads((tmp_path / "pr" / "prune.json").read_text())["rows"][1]["target_sparsity"] \
        == 0.5
    # the teacher itself was not touched
    assert not any(hasattr(m, "weight_orig") for m in teacher.model.modules())
    with pytest.raises(ValueError, match="sparsity"):
        drive(prune_job(PruneParams(synthetic=syn, out=tmp_path / "x", sparsities=[1.0],
                                    device="cpu"), None, teacher=teacher))


def test_prune_cli_prints_the_table(tmp_path, capsys):
    from studio.cli import main
    from studio.core.checkpoints import save_state_dict

    save_state_dict(colour_teacher(tmp_path / "teacher-data").model, tmp_path / "t.pth")
    colour_folder(tmp_path / "syn", 4, 3)
    code = main(["prune", "--synthetic", str(tmp_path / "syn"), "--teacher",
                 str(tmp_path / "t.pth"), "--method", "global-magnitude", "--sparsities", "0.5",
                 "--epochs", "1", "--batch-size", "6", "--out", str(tmp_path / "p"),
                 "--device", "cpu", "-q"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["sparsity", "weights0", "filters", "pruned", "finetuned"]
    assert lines[1].split()[:2] == ["0.50", "0.500"]
