"""Stylize sweeps (issue 32): a contact sheet rendered progressively in the window, saved
as one image plus the individual files and one recipe that `studio run` replays to the
same pixels."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from conftest import main_window

from studio.core.checkpoints import resources_dir

TOY = resources_dir() / "toy"
pytestmark = pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(),
                                reason="no toy AdaIN")


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-sweep"), (1280, 720), settle=True) as wd:
        yield wd


def pixels(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


def test_sweep_params_read_either_separator_and_are_torch_free():
    import subprocess
    import sys

    from studio.adain.sweep.params import SweepParams

    p = SweepParams(content="a.png,b.png", style=["s.png"], alphas="0,0.5,1")
    assert p.content == ["a.png", "b.png"] and p.alphas == [0.0, 0.5, 1.0]
    code = ("import sys, studio.adain.sweep.params\n"
            "print([m for m in ('torch', 'PySide6') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True).stdout.strip() == "[]"


def test_an_alpha_sweep_fills_in_and_its_recipe_replays_the_same_sheet(win, tmp_path):
    from studio.cli import main

    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    page.size.setValue(64)
    page.alpha.setValue(100)
    page.sweep_mode.setCurrentIndex(page.sweep_mode.findData("alpha"))
    page.sweep_alphas.setText("0, 0.5 1")  # commas and spaces
    params = page.sweep_params(tmp_path / "window")
    assert params.alphas == [0.0, 0.5, 1.0] and len(params.style) == 2
    previews: list[np.ndarray] = []
    rec = page.run_sweep(params)
    rec.handle.preview.connect(lambda img, cap, step: previews.append(step))
    d.wait_job(rec, 180)
    out = tmp_path / "window"
    # one sheet, every cell alone, one recipe, a manifest
    cells = sorted((out / "cells").glob("*.png"))
    assert len(cells) == 1 * 2 * 3 and (out / "sheet.png").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {c["alpha"] for c in manifest["cells"]} == {0.0, 0.5, 1.0}
    # rendered progressively: the sheet was shown before it was complete
    assert page.sweep_previews >= 2 and min(previews) < 6
    assert "sheet saved" in page.status.text() and page.image.has_image()
    # every cell names where it came from
    from studio.core.images import read_params

    meta = read_params(cells[0])
    assert {"content", "style", "alpha", "model", "model_sha256"} <= set(meta)
    # the recipe replays: the same sheet and cells, pixel for pixel
    recipe = out / "sweep.toml"
    doc = tomllib.loads(recipe.read_text())
    assert doc["job"] == "stylize-sweep" and doc["params"]["alphas"] == [0.0, 0.5, 1.0]
    doc["params"]["output"] = str(tmp_path / "replay")
    import tomli_w

    again = tmp_path / "replay.toml"
    again.write_text(tomli_w.dumps(doc))
    assert main(["run", str(again)]) == 0
    assert pixels(tmp_path / "replay" / "sheet.png") == pixels(out / "sheet.png")
    for c in cells:
        assert (tmp_path / "replay" / "cells" / c.name).read_bytes() == c.read_bytes(), c
    # and the same recipe run into its own folder again is accepted (same settings)
    assert main(["run", str(recipe)]) == 0


def test_a_contents_by_styles_sheet_and_its_recipe_opens_in_the_page(win, tmp_path):
    from studio.recipes import load_recipe

    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    page.size.setValue(64)
    shapes = w.ctx.toy.shape_images()
    page.sweep_contents.set_files([str(p) for p in shapes[1:3]])
    page.sweep_mode.setCurrentIndex(page.sweep_mode.findData("styles"))
    assert not page.sweep_alphas.isEnabled()
    page.alpha.setValue(80)
    rec = page.run_sweep(page.sweep_params(tmp_path / "grid"))
    d.wait_job(rec, 180)
    assert rec.result["rows"] == 3 and rec.result["columns"] == 2
    assert len(list((tmp_path / "grid" / "cells").glob("*.png"))) == 6
    # a sweep with other settings into the same folder is refused, naming them
    other = dataclasses.replace(page.sweep_params(tmp_path / "grid"), alpha=0.3)
    rec = page.run_sweep(other)
    d.wait_job(rec, 60, state="failed")
    assert "alpha" in rec.error and "--overwrite" in rec.error
    # the recipe opens in the Stylize page with its inputs and steps
    page.sweep_contents.set_files([])
    page.alpha.setValue(100)
    jt, params = load_recipe(tmp_path / "grid" / "sweep.toml")
    page.show_sweep(False)  # folded by default: the image boxes keep the height
    assert not page.sweep_box.isVisibleTo(page)
    assert w.open_recipe(jt.name, params) is page
    assert page.sweep_box.isVisibleTo(page) and page.sweep_toggle.isChecked()
    assert page.sweep_mode.currentData() == "styles" and page.alpha.value() == 80
    assert len(page.sweep_contents.files) == 2
    page.sweep_contents.set_files([])
    page.sweep_mode.setCurrentIndex(0)
    d.wait(lambda: not page.runner.busy(), 60, "the render")


def test_a_bad_alpha_list_is_said_not_run(win):
    w, _ = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    page.sweep_mode.setCurrentIndex(page.sweep_mode.findData("alpha"))
    page.sweep_alphas.setText("0 1.5")
    n = len(w.ctx.queue.records)
    assert page.run_sweep() is None and "in [0, 1]" in page.status.text()
    assert len(w.ctx.queue.records) == n
    page.sweep_alphas.setText("0 0.25 0.5 0.75 1")
