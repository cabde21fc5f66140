"""Shape bias: the formula, the 16-class mean mapping, the naming parser, the outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.jobs import drive
from studio.texture_shape.shape_bias import (
    CATEGORIES16,
    Decision,
    ShapeBiasParams,
    aggregate_imagenet16,
    decide,
    imagenet16_indices,
    parse_stimulus_name,
    scan_stimuli,
    shape_bias_job,
    summarize,
)


def test_imagenet16_mapping_is_the_reference_table():
    idx = imagenet16_indices()
    assert list(idx) == list(CATEGORIES16)
    flat = [i for v in idx.values() for i in v]
    assert len(flat) == 207 and len(set(flat)) == 207
    assert idx["airplane"] == [404] and idx["oven"] == [766] and len(idx["dog"]) == 109


@pytest.mark.parametrize("name, expected", [
    ("airplane1-bicycle2.png", ("airplane", 1, "bicycle", 2)),
    ("knife10-elephant3.png", ("knife", 10, "elephant", 3)),
    ("cat7-cat1.png", ("cat", 7, "cat", 1)),
    ("0001_cl_dnn_0_airplane_airplane1-bicycle2.png", ("airplane", 1, "bicycle", 2)),
])
def test_parse_stimulus_name(name, expected):
    assert parse_stimulus_name(name) == expected


@pytest.mark.parametrize("bad", ["airplane-bicycle.png", "airplane1bicycle2.png", "x.png"])
def test_parse_stimulus_name_rejects(bad):
    with pytest.raises(ValueError, match="not a cue-conflict name"):
        parse_stimulus_name(bad)


def test_mean_aggregation_not_sum():
    idx = imagenet16_indices()
    p = torch.zeros(2, 1000)
    # image 0: all mass on ONE dog class (109 members) vs a little on the airplane class.
    # Sum would say dog (0.6 > 0.4); the mean says airplane (0.4 > 0.6 / 109).
    p[0, idx["dog"][0]] = 0.6
    p[0, idx["airplane"][0]] = 0.4
    # image 1: knife gets 0.2 (1 member) but all 4 bear classes 0.15 each: mean 0.15 < 0.2
    for i in idx["bear"]:
        p[1, i] = 0.15
    p[1, idx["knife"][0]] = 0.2
    scores = aggregate_imagenet16(p)
    assert scores.shape == (2, 16)
    assert scores[0, CATEGORIES16.index("dog")].item() == pytest.approx(0.6 / 109)
    assert scores[0, CATEGORIES16.index("airplane")].item() == pytest.approx(0.4)
    assert [CATEGORIES16[i] for i in scores.argmax(1)] == ["airplane", "knife"]
    # the same via decide() on logits (softmax then mean)
    logits = torch.full((1, 1000), -20.0)
    logits[0, idx["truck"][3]] = 5.0
    assert decide(logits, [], CATEGORIES16) == ["truck"]


def test_decide_direct_argmax_for_category_models():
    logits = torch.tensor([[0.1, 3.0, 0.2], [5.0, 0.0, 0.0]])
    assert decide(logits, ["circle", "square", "star"], ["circle", "square"]) == [
        "square", "circle"]
    # a decision outside the stimulus categories is kept (counted as "other")
    assert decide(torch.tensor([[0.0, 0.0, 9.0]]), ["circle", "square", "star"],
                  ["circle", "square"]) == ["star"]


def test_shape_bias_formula_hand_made_table():
    rows = [
        # conflicts: 3 shape, 1 texture, 2 other
        ("cat", "dog", "cat"), ("cat", "knife", "cat"), ("dog", "cat", "dog"),
        ("dog", "knife", "knife"), ("cat", "dog", "bird"), ("dog", "cat", "oven"),
        # same-category images: excluded whatever the decision
        ("cat", "cat", "cat"), ("dog", "dog", "knife"), ("dog", "dog", "dog"),
    ]
    ds = [Decision(f"{s}/{s}1-{t}1.png", s, t, d) for s, t, d in rows]
    out = summarize(ds, ["cat", "dog", "knife"])
    assert out["shape_bias"] == pytest.approx(3 / 4)
    assert (out["n_conflict"], out["n_shape"], out["n_texture"], out["n_other"]) == (6, 3, 1, 2)
    # our shares divide by the conflicts (6); model-vs-human's fractions by all images (9)
    assert out["shape_decision_share"] == pytest.approx(3 / 6)
    assert out["texture_decision_share"] == pytest.approx(1 / 6)
    assert out["other_decision_share"] == pytest.approx(2 / 6)
    assert out["model_vs_human"] == pytest.approx({"fraction-correct-shape": 3 / 9,
                                                   "fraction-correct-texture": 1 / 9,
                                                   "shape-bias": 3 / 4})
    assert out["n_same_category"] == 3 and out["same_category_accuracy"] == pytest.approx(2 / 3)
    assert out["per_category"]["cat"]["shape_bias"] == pytest.approx(1.0)   # 2 shape, 0 tex
    assert out["per_category"]["dog"]["shape_bias"] == pytest.approx(1 / 2)  # 1 shape, 1 tex
    assert out["per_category"]["knife"]["shape_bias"] is None                # no images


def _stimuli(root, cats=("circle", "square", "star")):
    rng = np.random.default_rng(0)
    for s in cats:
        (root / s).mkdir(parents=True)
        for t in cats:
            arr = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / s / f"{s}1-{t}1.png")
    (root / "circle" / "notes.txt").write_text("not an image")
    (root / "circle" / "square1-star1.png").write_bytes(b"")  # wrong folder


def test_scan_stimuli_reports_skips(tmp_path):
    _stimuli(tmp_path)
    stim, cats, skipped = scan_stimuli(tmp_path)
    assert cats == ["circle", "square", "star"]
    assert len(stim) == 9 and sum(s.conflict for s in stim) == 6
    reasons = " ".join(r for _, r in skipped)
    assert "not an image" in reasons and "folder 'circle'" in reasons


def test_job_writes_csv_summary_and_plots_for_two_weight_formats(tmp_path):
    from studio.toyworld.models import ToyVGG, ToyVGGConfig

    _stimuli(tmp_path / "stim")
    (tmp_path / "stim" / "star" / "star2-circle1.png").write_bytes(b"\x89PNG\r\n broken")
    torch.manual_seed(0)
    net = ToyVGG(ToyVGGConfig(widths=(4, 4, 4, 4), num_classes=3))
    plain = tmp_path / "plain.pth"
    torch.save(net.state_dict(), plain)
    wrapped = tmp_path / "wrapped.pth.tar"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in
                                           net.state_dict().items()}}, wrapped)
    # 3 classes named like the stimulus categories
    params = ShapeBiasParams(stimuli=tmp_path / "stim", out=tmp_path / "out",
                             models=[f"toyvgg={plain}", f"toyvgg={wrapped}"],
                             names=["plain", "wrapped"], classes=["circle", "square", "star"],
                             formats=["png", "svg", "pdf"])
    result = drive(shape_bias_job(params))  # widths are read from the files
    a = json.loads((tmp_path / "out" / "plain" / "summary.json").read_text())
    b = json.loads((tmp_path / "out" / "wrapped" / "summary.json").read_text())
    assert a["n_conflict"] == 6 and a["n_images"] == 9
    assert [e[0].endswith("star2-circle1.png") for e in a["errors"]] == [True]
    assert {k: a[k] for k in ("n_shape", "n_texture", "n_other")} == \
        {k: b[k] for k in ("n_shape", "n_texture", "n_other")}
    rows = list(csv.DictReader((tmp_path / "out" / "plain" / "decisions.csv").open()))
    assert list(rows[0]) == ["file", "shape", "texture", "decision", "correct-shape",
                             "correct-texture"]
    assert len(rows) == 9
    for r in rows:
        assert r["correct-shape"] == str(int(r["decision"] == r["shape"]))
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / "out" / f"shape_bias.{ext}").stat().st_size > 1000
        assert (tmp_path / "out" / f"shape_bias_box.{ext}").stat().st_size > 1000
    assert set(result["shape_bias"]) == {"plain", "wrapped"}
