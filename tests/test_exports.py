"""Every export loads right in the users' own tools: torchvision's ImageFolder, Hugging Face
``datasets.load_dataset`` and a 4-worker WebDataset DataLoader / WebLoader.

Labels are checked against the folder names, provenance columns against the manifest,
and splits against each other.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from studio.cli import main

datasets = pytest.importorskip("datasets")
wds = pytest.importorskip("webdataset")
torchvision = pytest.importorskip("torchvision")


def _manifest(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]


def _info(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export-inputs")
    assert main(["toyworld", "generate", "--out", str(root / "world"), "--per-class", "2",
                 "--size", "64", "--splits", "train,test", "--test-per-class", "1",
                 "--num-classes", "4", "-q"]) == 0
    assert main(["toyworld", "generate", "--out", str(root / "shapes"), "--per-class", "2",
                 "--kind", "shape", "--size", "48", "--num-classes", "4", "-q"]) == 0
    assert main(["toyworld", "generate", "--out", str(root / "textures"), "--per-class",
                 "1", "--kind", "texture", "--size", "64", "--num-classes", "4", "-q"]) == 0
    return root


def _build(kind: str, inputs: Path, out: Path, fmt: str) -> None:
    f = ["--format", fmt] if fmt != "imagefolder" else []
    cmd = {
        "toyworld": ["toyworld", "generate", "--per-class", "3", "--size", "32", "--splits",
                     "train,test", "--test-per-class", "2", "--num-classes", "5"],
        "toy-cue-conflict": ["build", "toy-cue-conflict", "--size", "32"],
        "cue-conflict": ["build", "cue-conflict", "--shapes", str(inputs / "shapes"),
                         "--textures", str(inputs / "textures"), "--model", "toy", "--size",
                         "32", *f],
        "stylized": ["build", "stylized", "--preset", "toy", "--content",
                     str(inputs / "world"), "--styles", str(inputs / "textures"),
                     "--cache-dir", "none", "--workers", "0", *f],
        "synthesize": ["synthesize", "--teacher", "toy", "--method", "noise", "--num-images",
                       "12", "--batch-size", "6", *f],
        "translated": ["build", "translated", "--model", "toy", "--content",
                       str(inputs / "shapes"), "--style", str(inputs / "textures"), *f],
    }[kind]
    rc = main([*cmd, "--out", str(out), "--device", "cpu", "-q"])
    assert rc in (0, 1)  # 1: an input was refused by rule (listed in errors.jsonl)


IMAGEFOLDER = ["toyworld", "toy-cue-conflict", "cue-conflict", "stylized", "synthesize",
               "translated"]
WEBDATASET = ["cue-conflict", "stylized", "synthesize", "translated"]


@pytest.mark.parametrize("kind", IMAGEFOLDER)
def test_imagefolder_exports_load_in_torchvision_and_datasets(kind, inputs, tmp_path):
    out = tmp_path / kind
    _build(kind, inputs, out, "imagefolder")
    info, rows = _info(out), _manifest(out)
    assert info["classes"] == sorted(info["classes"])
    splits = info["splits"] or [None]
    by_file = {r["file_name"]: r for r in rows}
    # torchvision: label = the sorted class folder's index, equal to ours, per split
    for sp in splits:
        root = out / sp if sp else out
        tv = torchvision.datasets.ImageFolder(str(root))
        assert tv.class_to_idx == {c: info["class_to_idx"][c] for c in tv.classes}
        assert tv.classes == info["classes"]  # every class folder is there in this test
        for path, label in tv.samples:
            rel = Path(path).relative_to(out).as_posix()
            assert by_file[rel]["label"] == label == info["class_to_idx"][Path(path).parent.name]
    # Hugging Face: named splits, label a ClassLabel with our names, provenance columns
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert sorted(ds) == sorted(sp or "train" for sp in splits)
    for name, part in ds.items():
        want = [r for r in rows if (r.get("split") or "train") == name]
        assert part.features["label"].names == info["classes"]
        assert Counter(part["label"]) == Counter(r["label"] for r in want)
        assert Counter(part["class"]) == Counter(r["class"] for r in want)
        provenance = set(want[0]) - {"file_name"}
        assert provenance <= set(part.column_names), provenance - set(part.column_names)
        row = part[0]
        assert row["image"].size[0] > 0
        assert part.features["label"].int2str(row["label"]) == row["class"]
        if info.get("teacher_classes"):
            assert part.features["teacher_label"].names == info["teacher_classes"]
            assert info["teacher_classes"][row["teacher_label"]] == row["class"]


@pytest.mark.parametrize("kind", WEBDATASET)
def test_webdataset_exports_load_with_four_workers(kind, inputs, tmp_path):
    import torch

    out = tmp_path / kind
    _build(kind, inputs, out, "webdataset")
    info, rows = _info(out), _manifest(out)
    per_split = Counter(r.get("split") for r in rows)
    assert sum(s["samples"] for s in info["shards"]) == len(rows)
    for prefix, pattern in info["shard_patterns"].items():
        split = None if prefix == "data" else prefix
        n = per_split[split]
        shards = [s for s in info["shards"] if s["split"] == split]
        assert min(n, 4) <= len(shards) <= 8  # a shard for each of 4 workers
        url = str(out / pattern)
        pipe = (wds.WebDataset(url, shardshuffle=False).decode("pil")
                .to_tuple("png", "cls", "json"))
        seen = []
        loader = torch.utils.data.DataLoader(pipe, batch_size=None, num_workers=4)
        for img, cls, meta in loader:
            assert int(cls) == meta["label"] == info["class_to_idx"][meta["class"]]
            assert meta.get("split") == split and img.size[0] > 0
            seen.append(meta["key"])
        assert len(seen) == n and len(set(seen)) == n  # every sample once, no other split
        web = wds.WebLoader(wds.WebDataset(url, shardshuffle=False).to_tuple("cls"),
                            batch_size=None, num_workers=4)
        assert sum(1 for _ in web) == n
