"""The teacher check before a synthesis (`synthesize-preflight`) on the toy teacher: what
loaded, top-1 on a real folder (and a folder of other classes said so), the estimate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.jobs import Log, drive
from studio.inversion.preflight.job import format_duration, preflight_job
from studio.inversion.preflight.params import PreflightParams
from studio.models.classifiers import PRESETS
from studio.registry import job_types


def image_folder(root: Path, classes: list[str], per_class: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / "test" / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
                root / "test" / c / f"{i}.png")
    return root


def run(p: PreflightParams) -> tuple[dict, list[Log]]:
    logs: list[Log] = []
    res = drive(preflight_job(p), lambda e: logs.append(e) if isinstance(e, Log) else None)
    return res, logs


def test_the_check_is_a_registered_job_with_a_torch_free_params_class():
    jt = job_types()["synthesize-preflight"]
    assert jt.params is PreflightParams
    assert jt.fn is preflight_job


def test_toy_teacher_check_reports_what_loaded_accuracy_and_estimate(tmp_path):
    toy = PRESETS["toy"]
    real = image_folder(tmp_path / "real", list(toy.class_names))
    res, logs = run(PreflightParams(teacher="toy", real=real, limit=8, method="deep",
                                    num_images=12, batch_size=4, iterations=10,
                                    warmup_iterations=1, device="cpu"))
    t = res["teacher"]
    assert (t["arch"], t["data"], t["image_size"]) == ("toyvgg", "toy", 64)
    assert t["mean"] == pytest.approx(toy.mean) and t["std"] == pytest.approx(toy.std)
    assert t["classes"] == list(toy.class_names) and len(t["sha256"]) == 64
    assert res["real_images"] == 8 and 0.0 <= res["accuracy"] <= 1.0
    assert res["class_match"] is True
    assert (res["preset"], res["batch_size"], res["num_batches"], res["iterations"]) == \
        ("toy", 4, 3, 10)
    assert res["seconds_per_iteration"] > 0
    assert res["estimate_seconds"] == pytest.approx(res["seconds_per_iteration"] * 10 * 3)
    text = "\n".join(x.message for x in logs)
    assert "teacher toyvgg (toy: mean 0.5,0.5,0.5 std 0.25,0.25,0.25, 64 px, 10 classes)" \
        in text
    assert f"on 8 real images of {real}" in text
    assert "s per iteration at batch 4 -> about" in text and "12 images x 10 iterations on cpu" \
        in text
    assert res["summary"].count(";") == 2


def test_a_folder_of_other_classes_is_said_and_noise_needs_no_timing(tmp_path):
    real = image_folder(tmp_path / "real", ["apple", "pear"], per_class=1)
    res, logs = run(PreflightParams(teacher="toy", real=real, method="noise", num_images=8,
                                    batch_size=8, device="cpu"))
    assert res["class_match"] is False
    assert any(x.level == "warning" and "not the teacher's classes" in x.message for x in logs)
    assert res["seconds_per_iteration"] == 0.0 and res["iterations"] == 0


def test_the_paper_default_iterations_are_estimated_when_none_are_set():
    res, _ = run(PreflightParams(teacher="toy", preset="cifar10", method="natural",
                                 num_images=4, batch_size=4, warmup_iterations=1,
                                 device="cpu"))
    assert res["iterations"] == 2000 and res["num_batches"] == 1


def test_durations_read_as_a_person_plans():
    assert [format_duration(s) for s in (40, 1260, 7920, 3 * 86400)] == \
        ["40 s", "21 min", "2.2 h", "3.0 days"]
