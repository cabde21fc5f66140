"""The last faults of issue 33: memory guards, odd names, poisoned runs, messages that name
the file.

Each case asserts the exact line a user sees, the exit status, and that what was already
written is unchanged (or, where an input is skipped, that the other outputs are the same
bytes as a build without it). Cases that need a mount, a memory cap or a kill run in the
fault suite (STUDIO_TEST_FAULTS=1, as `make test` sets).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAULTS = os.environ.get("STUDIO_TEST_FAULTS") == "1"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
GiB = 2 ** 30


def _img(path: Path, size: tuple[int, int] = (40, 40), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
        path, format="PNG")
    return path


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _images(out: Path) -> dict[str, bytes]:
    return {k: v for k, v in _tree(out).items() if k.endswith(".png")}


def _lines(err: str, start: str) -> list[str]:
    assert "Traceback" not in err, err
    return [ln for ln in err.splitlines() if ln.startswith(start)]


def _one_error_line(err: str) -> str:
    lines = _lines(err, "studio: error:")
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def world(tmp_path) -> Path:
    """Two classes of 40 px pictures and two styles."""
    for c in ("cat", "dog"):
        for i in range(2):
            _img(tmp_path / "W" / c / f"{c}{i}.png", seed=hash((c, i)) % 1000)
    for j in range(2):
        _img(tmp_path / "T" / f"s{j}.png", seed=100 + j)
    return tmp_path


def _stylized(world: Path, out: str, *extra: str) -> list[str]:
    return ["build", "stylized", "--content", str(world / "W"), "--styles", str(world / "T"),
            "--out", str(world / out), "--model", "toy", "--device", "cpu",
            "--content-size", "36", "--crop", "32", "--style-size", "32",
            "--min-style-size", "32", "--assignment", "hash", "--workers", "0",
            "--cache-dir", "none", "-q", *extra]


# --------------------------------------------------------------------------------------
# 1. Extreme aspect ratios: estimated per image before resizing, skipped with one line


def test_build_stylized_skips_an_image_whose_resize_would_not_fit(world, monkeypatch, capsys):
    import studio.texture_shape.stylized as st

    assert main(_stylized(world, "ref")) == 0
    capsys.readouterr()
    _img(world / "W" / "cat" / "wide.png", (1, 3000))
    _img(world / "W" / "dog" / "flat.png", (20000, 1))
    monkeypatch.setattr(st, "free_memory", lambda device: GiB // 2)
    rc = main(_stylized(world, "out", "--content-size", "256"))
    assert rc == 1
    err = capsys.readouterr().err
    assert _lines(err, "warning: skipped") == [
        f"warning: skipped {world}/W/cat/wide.png: 1x3000 px would be resized to 256x768000 "
        "(about 750 MiB, 512 MiB free); lower --content-size or crop the image",
        f"warning: skipped {world}/W/dog/flat.png: 20000x1 px would be resized to "
        "5120000x256 (1,310,720,000 px, more than the 268,435,456 px an image may have); "
        "lower --content-size or crop the image"]
    assert f"warning: 2 input(s) skipped; every one with its reason in {world}/out/errors.jsonl" \
        in err
    errors = [json.loads(x) for x in (world / "out" / "errors.jsonl").read_text().splitlines()]
    assert sorted(Path(e["source"]).name for e in errors) == ["flat.png", "wide.png"]
    # the other images are made, byte for byte as without the strips (content size aside)
    assert sorted(_images(world / "out")) == sorted(_images(world / "ref"))


def test_build_stylized_names_the_first_ten_skipped_files_and_counts_all(world, capsys):
    for i in range(12):
        (world / "W" / "cat" / f"junk{i:02d}.png").write_text("not an image")
    assert main(_stylized(world, "out")) == 1
    err = capsys.readouterr().err
    named = _lines(err, "warning: skipped")
    assert len(named) == 10 and named[0].startswith(f"warning: skipped {world}/W/cat/junk00.png")
    assert (f"warning: 12 input(s) skipped (the first 10 named above); every one with its "
            f"reason in {world}/out/errors.jsonl") in err
    assert len((world / "out" / "errors.jsonl").read_text().splitlines()) == 12


def test_translate_skips_an_image_that_would_not_fit(world, monkeypatch, capsys):
    import studio.tsit.translate as tt

    wide = _img(world / "in" / "wide.png", (1, 3000))
    ok = _img(world / "in" / "ok.png", (64, 64))
    monkeypatch.setattr(tt, "free_memory", lambda device: 64 * 2**20)
    rc = main(["translate", "--model", "toy", str(ok), str(wide), "--self-style", "--out",
               str(world / "o"), "--device", "cpu", "-q"])
    assert rc == 1
    [line] = _lines(capsys.readouterr().err, "error: skipped")
    assert line == (f"error: skipped {wide}: 1x3000 px would be resized to 64x3008 (about "
                    "81.3 MiB for the network, 64.0 MiB free); crop or shrink it (every output "
                    "using it is skipped)")
    assert sorted(p.name for p in (world / "o").glob("*.png")) == ["ok.png"]


def test_build_translated_skips_an_image_that_would_not_fit(world, monkeypatch, capsys):
    import studio.tsit.translate as tt

    _img(world / "W" / "dog" / "flat.png", (3000, 1))
    monkeypatch.setattr(tt, "free_memory", lambda device: 64 * 2**20)
    rc = main(["build", "translated", "--model", "toy", "--content", str(world / "W"),
               "--style", str(world / "T"), "--out", str(world / "o"), "--device", "cpu",
               "-q"])
    assert rc == 1
    [line] = _lines(capsys.readouterr().err, "error: skipped")
    assert line == (f"error: skipped dog/flat.png: {world}/W/dog/flat.png: 3000x1 px would be "
                    "resized to 3008x64 (about 81.3 MiB for the network, 64.0 MiB free); crop or "
                    "shrink it")
    assert sorted(_images(world / "o")) == ["cat/cat0.png", "cat/cat1.png", "dog/dog0.png",
                                            "dog/dog1.png"]


def test_cue_conflict_squares_before_resizing_so_strips_cost_nothing(world, capsys):
    """A strip is cropped to its square first: no per-image guard is needed, and the
    up-front estimate reads the same free memory (ulimit -v included)."""
    for d, name in (("shapes", "cat"), ("textures", "cat")):
        _img(world / d / name / "a.png", (32, 32))
    _img(world / "shapes" / "cat" / "wide.png", (1, 3000))
    _img(world / "textures" / "cat" / "flat.png", (20000, 1))
    rc = main(["build", "cue-conflict", "--shapes", str(world / "shapes"), "--textures",
               str(world / "textures"), "--out", str(world / "o"), "--size", "32",
               "--model", "toy", "--device", "cpu", "-q"])
    assert rc == 0, capsys.readouterr().err
    assert len(_images(world / "o")) == 4
