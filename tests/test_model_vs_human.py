"""model-vs-human interoperability of `studio eval shape-bias`.

The raw-data file must be what bethgelab/model-vs-human writes for a model (its
``ResultPrinter``) and reads (``plotting_helper.get_experimental_data``), and its
``ShapeBias`` analysis must give our numbers. Their definitions are re-derived here, in
the test, from their implementation (modelvshuman/plotting/analyses.py, ``ShapeBias``):

    correct_texture = texture category parsed from imagename:
                      imagename.split("_")[-1].split(".")[0].split("-")[-1], digits removed
    correct_shape   = category
    df2 = rows with correct_shape != correct_texture        (the cue conflicts)
    fraction-correct-shape   = #(df2: object_response == correct_shape)   / len(df)
    fraction-correct-texture = #(df2: object_response == correct_texture) / len(df)
    shape-bias = fraction-correct-shape / (fraction-correct-shape + fraction-correct-texture)

Note the denominator len(df): ALL rows, same-category images included.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.jobs import drive
from studio.texture_shape.shape_bias import (
    Decision,
    ShapeBiasParams,
    read_summary,
    shape_bias_job,
    summarize,
    write_mvh_raw_data,
)

HEADER = "subj,session,trial,rt,object_response,category,condition,imagename"


def their_texture(imagename: str) -> str:
    """model-vs-human's ShapeBias.get_texture_category, written out here."""
    last_word = imagename.split("_")[-1].split(".")[0].split("-")[-1]
    return "".join(ch for ch in last_word if not ch.isdigit())


def their_shape_bias(rows: list[dict]) -> dict:
    """model-vs-human's ShapeBias.analysis on the rows of one decision maker."""
    assert len(rows) > 0, "empty dataframe"
    conflict = [r for r in rows if r["category"] != their_texture(r["imagename"])]
    fs = sum(r["object_response"] == r["category"] for r in conflict) / len(rows)
    ft = sum(r["object_response"] == their_texture(r["imagename"]) for r in conflict) / len(rows)
    return {"fraction-correct-shape": fs, "fraction-correct-texture": ft,
            "shape-bias": fs / (fs + ft) if fs + ft else None}


def read_raw_data_dir(folder: Path) -> list[dict]:
    """As their get_experimental_data: every .csv of the dataset folder, lower-cased
    column names, concatenated."""
    rows = []
    for f in sorted(folder.iterdir()):
        if f.name.endswith(".csv"):
            with f.open(newline="") as fh:
                for r in csv.DictReader(fh):
                    rows.append({k.lower(): v for k, v in r.items()})
    return rows


def _approx(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12)


# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, texture", [
    ("airplane1-bicycle2.png", "bicycle"),
    ("knife10-elephant3.png", "elephant"),
    ("cat7-cat1.png", "cat"),
    ("0001_cl_dnn_0_airplane_airplane1-bicycle2.png", "bicycle"),
    ("circle1-square1.png", "square"),
])
def test_their_imagename_rule(name, texture):
    assert their_texture(name) == texture


# 3 cats x (conflicts + same-category), with known shape / texture / other decisions
TABLE = [
    ("cat", "dog", "cat"), ("cat", "knife", "cat"), ("dog", "cat", "dog"),
    ("dog", "knife", "knife"), ("cat", "dog", "bird"), ("dog", "cat", "oven"),
    ("cat", "cat", "cat"), ("dog", "dog", "knife"), ("dog", "dog", "dog"),
    ("knife", "cat", "cat"), ("knife", "knife", "knife"),
]


def test_hand_table_their_metrics_vs_ours(tmp_path):
    ds = [Decision(f"{s}/{s}{k}-{t}1.png", s, t, d) for k, (s, t, d) in enumerate(TABLE, 1)]
    ours = summarize(ds, ["cat", "dog", "knife"])
    raw = tmp_path / "cue-conflict_m_session-1.csv"
    write_mvh_raw_data(raw, ds, subj="m")
    rows = read_raw_data_dir(tmp_path)
    theirs = their_shape_bias(rows)
    # 11 images, 7 conflicts: 3 shape, 2 texture (dog/knife->knife, knife/cat->cat), 2 other
    assert (ours["n_images"], ours["n_conflict"], ours["n_shape"], ours["n_texture"]) == \
        (11, 7, 3, 2)
    assert theirs == pytest.approx({"fraction-correct-shape": 3 / 11,
                                    "fraction-correct-texture": 2 / 11,
                                    "shape-bias": 3 / 5})
    assert ours["model_vs_human"] == pytest.approx(theirs)
    assert ours["shape_bias"] == pytest.approx(theirs["shape-bias"])
    # ours divide by the conflicts, theirs by all images: different numbers, different names
    assert ours["shape_decision_share"] == pytest.approx(3 / 7)
    assert ours["texture_decision_share"] == pytest.approx(2 / 7)
    assert ours["other_decision_share"] == pytest.approx(2 / 7)
    for c in ("cat", "dog", "knife"):
        sub = [r for r in rows if r["category"] == c]
        assert ours["per_category"][c]["model_vs_human"] == pytest.approx(their_shape_bias(sub))
    # knife: 1 conflict decided by texture, 1 same-category -> their fraction 1/2, ours 1/1
    assert ours["per_category"]["knife"]["model_vs_human"]["fraction-correct-texture"] == 0.5
    assert ours["per_category"]["knife"]["texture_decision_share"] == 1.0


def test_legacy_names_read_not_written(tmp_path):
    ds = [Decision(f"{s}/{s}1-{t}1.png", s, t, d) for s, t, d in TABLE]
    ours = summarize(ds, ["cat", "dog", "knife"])
    assert ours["texture_fraction"] == ours["texture_decision_share"]
    assert ours.get("shape_fraction") == ours["shape_decision_share"]
    assert ours["per_category"]["dog"]["other_fraction"] == \
        ours["per_category"]["dog"]["other_decision_share"]
    assert ours.get("no_such_key", 7) == 7
    text = json.dumps(ours)
    assert "texture_fraction" not in text and "shape_fraction" not in text
    # an older summary.json (legacy names) reads with the current names
    old = tmp_path / "summary.json"
    old.write_text(json.dumps({"shape_bias": 0.5, "shape_fraction": 0.25,
                               "texture_fraction": 0.25, "other_fraction": 0.5,
                               "per_category": {"cat": {"texture_fraction": 0.1}}}))
    s = read_summary(old)
    assert s["texture_decision_share"] == 0.25 and s["texture_fraction"] == 0.25
    assert s["per_category"]["cat"]["texture_decision_share"] == 0.1


def _stimuli(root, cats=("circle", "square", "star")):
    """18 flat-coloured images (a random untrained net decides by colour, so the
    decisions differ from image to image)."""
    rng = np.random.default_rng(1)
    for s in cats:
        (root / s).mkdir(parents=True)
        for i in (1, 2):
            for t in cats:
                arr = np.broadcast_to(rng.integers(0, 255, (1, 1, 3), dtype=np.uint8),
                                      (32, 32, 3))
                Image.fromarray(np.ascontiguousarray(arr)).save(root / s / f"{s}{i}-{t}1.png")


@pytest.fixture(scope="module")
def job_out(tmp_path_factory):
    from studio.toyworld.models import ToyVGG, ToyVGGConfig

    tmp = tmp_path_factory.mktemp("mvh")
    _stimuli(tmp / "stim")
    weights = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = ToyVGG(ToyVGGConfig(widths=(4, 4, 4, 4), num_classes=3))
        with torch.no_grad():
            net.fc.bias.zero_()  # else the bias alone decides
        weights.append(tmp / f"net{seed}.pth")
        torch.save(net.state_dict(), weights[-1])
    params = ShapeBiasParams(stimuli=tmp / "stim", out=tmp / "out",
                             models=[f"toyvgg={w}" for w in weights],
                             names=["toy_a", "toy b"], classes=["circle", "square", "star"],
                             plot=False)
    return tmp / "out", drive(shape_bias_job(params))


def test_job_writes_their_raw_data_files(job_out):
    out, result = job_out
    folder = out / "raw-data" / "cue-conflict"
    # their file naming: <dataset>_<model, '_' -> '-'>_session-1.csv; only these files
    assert sorted(p.name for p in folder.iterdir()) == [
        "cue-conflict_toy-a_session-1.csv", "cue-conflict_toy-b_session-1.csv"]
    assert result["raw_data"]["toy_a"] == str(folder / "cue-conflict_toy-a_session-1.csv")
    for name, sub in (("toy_a", "toy_a"), ("toy b", "toy_b")):
        raw = Path(result["raw_data"][name])
        assert raw.read_bytes().split(b"\n", 1)[0] == HEADER.encode() + b"\r"  # as theirs
        rows = list(csv.DictReader(raw.open(newline="")))
        dec = list(csv.DictReader((out / sub / "decisions.csv").open(newline="")))
        assert len(rows) == len(dec) == 18
        for k, (r, d) in enumerate(zip(rows, dec), start=1):
            assert (r["subj"], r["session"], r["trial"], r["rt"], r["condition"]) == \
                (name, "1", str(k), "NaN", "NaN")
            assert r["imagename"] == Path(d["file"]).name
            assert r["category"] == d["shape"]                      # shape = the folder
            assert their_texture(r["imagename"]) == d["texture"]    # their parse = ours
            assert r["object_response"] == d["decision"]
        # trials in their ImageFolder order: sorted folders, sorted file names
        assert [(r["category"], r["imagename"]) for r in rows] == sorted(
            (r["category"], r["imagename"]) for r in rows)


def test_their_shape_bias_on_our_files_matches_our_summaries(job_out):
    out, result = job_out
    rows = read_raw_data_dir(out / "raw-data" / "cue-conflict")
    assert {r["subj"] for r in rows} == {"toy_a", "toy b"}
    # the fixture's two random nets decide differently, with shape, texture and other
    # decisions (else this test could not tell the decision makers or the metrics apart)
    sums = result["summaries"]
    assert sums["toy_a"]["shape_bias"] != sums["toy b"]["shape_bias"]
    assert all(s["n_shape"] and s["n_texture"] and s["n_other"] for s in sums.values())
    for name, sub in (("toy_a", "toy_a"), ("toy b", "toy_b")):
        mine = [r for r in rows if r["subj"] == name]
        theirs = their_shape_bias(mine)
        summary = json.loads((out / sub / "summary.json").read_text())
        assert summary["mvh_raw_data"] == result["raw_data"][name]
        assert summary["model_vs_human"] == theirs   # the same arithmetic: bit-identical
        assert _approx(summary["shape_bias"], theirs["shape-bias"])
        assert summary["n_images"] == len(mine)
        for c in ("circle", "square", "star"):
            th = their_shape_bias([r for r in mine if r["category"] == c])
            assert summary["per_category"][c]["model_vs_human"] == th, (name, c)
            assert _approx(summary["per_category"][c]["shape_bias"], th["shape-bias"])


def test_their_dataframe_code_path(job_out):
    """The same with pandas, as their reader and ShapeBias do it (when pandas is here)."""
    pd = pytest.importorskip("pandas")
    out, _ = job_out
    folder = out / "raw-data" / "cue-conflict"
    df = pd.DataFrame()
    for f in sorted(folder.iterdir()):
        if f.name.endswith(".csv"):
            d2 = pd.read_csv(f)
            d2.columns = [c.lower() for c in d2.columns]
            df = pd.concat([df, d2])
    assert list(df.columns) == HEADER.split(",")
    assert df.rt.isna().all() and df.condition.isna().all()   # "NaN" reads as missing
    df.condition = df.condition.astype(str)                   # as their reader does
    for name, sub in (("toy_a", "toy_a"), ("toy b", "toy_b")):
        sel = df.loc[df["subj"].isin([name])].copy()
        sel["correct_texture"] = sel["imagename"].apply(their_texture)
        sel["correct_shape"] = sel["category"]
        df2 = sel.loc[sel.correct_shape != sel.correct_texture]
        fs = len(df2.loc[df2.object_response == df2.correct_shape]) / len(sel)
        ft = len(df2.loc[df2.object_response == df2.correct_texture]) / len(sel)
        summary = json.loads((out / sub / "summary.json").read_text())
        assert _approx(summary["model_vs_human"]["fraction-correct-shape"], fs)
        assert _approx(summary["model_vs_human"]["fraction-correct-texture"], ft)
        if fs + ft:
            assert _approx(summary["model_vs_human"]["shape-bias"], fs / (fs + ft))
