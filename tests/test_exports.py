"""Every export loads right in the users' own tools: torchvision's ImageFolder, Hugging Face
``datasets.load_dataset`` (the folder, and ``"imagefolder"`` with ``data_dir``) and a
4-worker WebDataset DataLoader / WebLoader, through the README's own snippets.

Labels are checked against the folder names, provenance columns against the manifest,
and splits against each other.
"""

from __future__ import annotations

import json
import re
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


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_snippets() -> dict[str, str]:
    """The README's two loading snippets ("imagefolder", "webdataset"), as written."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Loading what Studio writes"):]
    section = section[:section.index("\n## ", 3)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the loading section has one ImageFolder and one WebDataset block"
    return dict(zip(("imagefolder", "webdataset"), blocks, strict=True))


def run_snippet(code: str, where: Path, info: dict, monkeypatch, hf_cache: Path) -> dict:
    """Run a README snippet in the folder that holds ``out`` (the export); returns its
    variables. An export without splits has no ``train`` split folder or shard set: the
    snippet's one ``"out/train"`` / ``["train"]`` then names the whole folder / ``data``
    (the only change, so the text cannot drift from what runs)."""
    if not info["splits"]:
        for a, b in (('"out/train"', '"out"'), ('["train"]', '["data"]')):
            if a in code:
                assert code.count(a) == 1, a
                code = code.replace(a, b)
    monkeypatch.chdir(where)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(hf_cache))
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)  # the README's own code, as written
    return ns


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
def test_imagefolder_exports_load_in_torchvision_and_datasets(kind, inputs, tmp_path,
                                                              monkeypatch):
    out = tmp_path / "out"
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
    # the README's snippet as written: both HF calls give label a ClassLabel of the folders
    ns = run_snippet(readme_snippets()["imagefolder"], tmp_path, info, monkeypatch,
                     tmp_path / "hf-readme")
    assert ns["tv"].class_to_idx == info["class_to_idx"]
    for name in ("hf", "hf_folders"):
        got = ns[name]
        assert sorted(got) == sorted(sp or "train" for sp in splits), name
        for split, part in got.items():
            want = [r for r in rows if (r.get("split") or "train") == split]
            assert part.features["label"].names == info["classes"], name
            assert Counter(part["label"]) == Counter(r["label"] for r in want), name
    assert set(ns["hf_folders"]["train"].column_names) == {"image", "label"}


@pytest.mark.parametrize("kind", WEBDATASET)
def test_webdataset_exports_load_with_four_workers(kind, inputs, tmp_path, monkeypatch):
    import torch

    out = tmp_path / "out"
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
    _check_webdataset_snippet(out, info, rows, tmp_path, monkeypatch)


def _check_webdataset_snippet(out: Path, info: dict, rows: list[dict], where: Path,
                              monkeypatch) -> None:
    """The README's WebDataset block as written: its 4-worker loader yields the train
    split once, and ``load_dataset(out)`` reads the shards (``cls`` a ClassLabel)."""
    ns = run_snippet(readme_snippets()["webdataset"], where, info, monkeypatch,
                     where / "hf-readme")
    split = "train" if info["splits"] else None
    want = Counter(r["key"] for r in rows if r.get("split") == split)
    seen = Counter(meta["key"] for _img, _cls, meta in ns["loader"])
    assert seen == want and max(seen.values()) == 1
    hf = ns["hf"]
    assert sorted(hf) == sorted(info["splits"] or ["train"])
    for name, part in hf.items():
        assert part.features["cls"].names == info["classes"]
        assert part.features["json"]["label"].names == info["classes"]
        n = sum(1 for r in rows if (r.get("split") or "train") == name)
        assert part.num_rows == n
        for row in part.select(range(min(3, n))):
            assert row["cls"] == row["json"]["label"] == info["class_to_idx"][row["json"]["class"]]
            assert row["png"].size[0] > 0


def test_a_small_webdataset_beside_its_records_loads_everywhere(tmp_path, monkeypatch):
    """Issue 31's case: 3 shards (fewer than the snippet's 4 workers) next to
    dataset.json, manifest.jsonl and errors.jsonl, which outvoted 2 shards and made HF
    pick its JSON builder (CastError) before the WebDataset card."""
    out = tmp_path / "out"
    assert main(["synthesize", "--teacher", "toy", "--method", "noise", "--num-images", "9",
                 "--batch-size", "3", "--shards", "3", "--format", "webdataset",
                 "--out", str(out),
                 "--device", "cpu", "-q"]) == 0
    info, rows = _info(out), _manifest(out)
    assert len(info["shards"]) == 3
    assert {p.name for p in out.iterdir()} >= {"dataset.json", "manifest.jsonl",
                                               "errors.jsonl", "README.md"}
    _check_webdataset_snippet(out, info, rows, tmp_path, monkeypatch)
