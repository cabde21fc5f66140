"""Knowledge distillation on synthetic images, evaluated on a real set every epoch."""

from __future__ import annotations

import json

import torch
from colour_world import colour_folder, colour_teacher

from studio.compression.distill import DistillParams, augment_batch, distill_job
from studio.core.checkpoints import load_into
from studio.core.jobs import Metrics, drive
from studio.core.tracking import read_metrics
from studio.inversion.data import load_labelled
from studio.models.classifiers import build_network
from studio.toyworld.models import ToyVGG


def test_labels_are_matched_by_class_name(tmp_path):
    colour_folder(tmp_path / "d", 2, 0)
    # folders sort as blue, green, red; the teacher's order is red, green, blue
    data = load_labelled(tmp_path / "d", ("red", "green", "blue"), 16)
    assert data.labels.tolist() == [2, 2, 1, 1, 0, 0]
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype == torch.uint8


def test_augment_batch_keeps_shape_and_content():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 16, 16)
    y = augment_batch(x, g)
    assert y.shape == x.shape
    const = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(augment_batch(const, g), const)  # reflect padding: no black borders


def test_distill_student_learns_from_the_teacher(tmp_path):
    teacher = colour_teacher(tmp_path / "teacher-data")
    real = colour_folder(tmp_path / "real", 8, 7)
    synthetic = colour_folder(tmp_path / "syn", 12, 3)
    events = []
    p = DistillParams(synthetic=synthetic, out=tmp_path / "kd", student="toyvgg_small",
                      real_test=real, epochs=4, batch_size=12, optimizer="adam", lr=0.01,
                      weight_decay=0.0, device="cpu")
    res = drive(distill_job(p, None, teacher=teacher), events.append)
    assert res["teacher_real_acc"] == 1.0
    assert [h["epoch"] for h in res["history"]] == [1, 2, 3, 4]
    assert all(0.0 <= h["real_acc"] <= 1.0 for h in res["history"])
    assert res["final_real_acc"] >= 0.9  # colours are easy: the soft labels carry them
    assert res["history"][-1]["loss"] < res["history"][0]["loss"]
    assert len([e for e in events if isinstance(e, Metrics)]) == 4
    recs = read_metrics(tmp_path / "kd")  # one metrics.jsonl line per epoch
    assert [(r["step"], r["loss"], r["real_acc"]) for r in recs] == [
        (h["epoch"], h["loss"], h["real_acc"]) for h in res["history"]]
    saved = json.loads((tmp_path / "kd" / "distill.json").read_text())
    assert saved["final_real_acc"] == res["final_real_acc"]
    student = load_into(build_network("toyvgg_small", 3), tmp_path / "kd" / "student.pth")
    assert isinstance(student, ToyVGG)


def test_distill_cli(tmp_path, capsys):
    from studio.cli import main
    from studio.core.checkpoints import save_state_dict

    save_state_dict(colour_teacher(tmp_path / "teacher-data").model, tmp_path / "t.pth")
    colour_folder(tmp_path / "syn", 4, 3)
    colour_folder(tmp_path / "real", 2, 7)
    code = main(["distill", "--synthetic", str(tmp_path / "syn"), "--teacher",
                 str(tmp_path / "t.pth"), "--real-test", str(tmp_path / "real"), "--epochs", "1",
                 "--batch-size", "6", "--student", "toyvgg_small", "--out", str(tmp_path / "kd"),
                 "--device", "cpu", "-q"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["student"] == "toyvgg_small" and out["num_synthetic"] == 12
    assert (tmp_path / "kd" / "student.pth").is_file()
    code = main(["distill", "--synthetic", str(tmp_path / "nowhere"), "--teacher",
                 str(tmp_path / "t.pth"), "--out", str(tmp_path / "kd2"), "-q"])
    assert code == 2 and "nowhere" in capsys.readouterr().err
