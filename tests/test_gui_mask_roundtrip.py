"""Stylize round trips that must not lose or change work (issue 32, first block).

A mask chosen on the Stylize page is saved in the recipe and the PNG, and comes back by
every way a user reloads it (File ▸ Load recipe, a .toml dropped on the window, *Load from
PNG…*), with the same page state and the same pixels as `studio run` of the saved recipe;
a mask that is gone is said in one line. A changed build into an existing output folder
is asked about before it is queued, so the Jobs history keeps no refused *failed* entry.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from studio.core.paths import resources_dir

TOY = resources_dir() / "toy"
pytestmark = pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(),
                                reason="no toy AdaIN")


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-mask"), (1280, 720), settle=True) as wd:
        yield wd


def studio_run(recipe: Path) -> int:
    """`studio run recipe.toml`, in this process (the command's own entry point)."""
    from studio.cli import main

    return main(["run", str(recipe)])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def make_mask(path: Path) -> Path:
    """A grey mask at a size unlike the content's (77x53): a diagonal split, so a
    preview that resized it another way than the job would pick other feature cells."""
    y, x = np.mgrid[0:53, 0:77]
    Image.fromarray(((x * 53 + y * 77) > 53 * 77 * 0.9).astype(np.uint8) * 255).save(path)
    return path


def rendered(page, d, what: str) -> None:
    """Wait until the page shows the render of what its widgets say now."""
    d.wait(lambda: not page.runner.busy() and page.last_spec == page.spec(), 60, what)


def fresh_page(w, d):
    """The Stylize page back on its everyday settings (no mask, alpha 1)."""
    page = w.show_page("stylize")
    page.restore_mask("")
    page.alpha.setValue(100)
    page.update_preview()
    rendered(page, d, "the reset render")
    assert page.mask.currentData() == "" and not page.mask_path.isVisibleTo(page)
    return page


@pytest.fixture(scope="module")
def saved(win, tmp_path_factory, qapp):
    """A mask chosen as a user does, the recipe saved by File ▸ Save recipe, the image by
    Save…, and `studio run` of that recipe: (mask, recipe, png, the command's pixels)."""
    from studio.gui import mainwindow
    from studio.gui.pages import stylize

    w, d = win
    tmp = tmp_path_factory.mktemp("mask-saved")
    mask = make_mask(tmp / "mask.png")
    page = w.show_page("stylize")
    page.use_toy_examples()
    assert len(page.styles.files) == 2
    page.size.setValue(64)
    page.alpha.setValue(80)
    assert page.choose_mask_file(str(mask))  # Regions ▸ mask image… with the file chosen
    rendered(page, d, "the masked render")
    assert page.mask.currentData() == "file" and page.last_spec["mask_file"] == str(mask)
    recipe, png = tmp / "masked.toml", tmp / "masked.png"
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(mainwindow.QFileDialog, "getSaveFileName",
                   staticmethod(lambda *a, **k: (str(recipe), "")))
        w.save_recipe_dialog()  # File ▸ Save recipe (Ctrl+S)
        mp.setattr(stylize.QFileDialog, "getSaveFileName",
                   staticmethod(lambda *a, **k: (str(png), "")))
        page.save_dialog()  # Save…
    finally:
        mp.undo()
    assert tomllib.loads(recipe.read_text())["params"]["masks"] == [str(mask)]
    from studio.core.images import read_params

    assert read_params(png)["adain"]["mask_file"] == str(mask)
    shown = page.last_image.copy()
    assert studio_run(recipe) == 0
    out = Path(tomllib.loads(recipe.read_text())["params"]["output"])
    made = sorted(out.glob("*.png"))
    assert len(made) == 1
    cli = pixels(made[0])
    # the window's picture and its saved file are the command's, byte for byte
    assert shown.shape == cli.shape and np.array_equal(shown, cli)
    assert np.array_equal(pixels(png), cli)
    return mask, recipe, png, cli, made[0]


def _load_by_menu(w, path: Path, monkeypatch) -> None:
    from studio.gui import mainwindow

    monkeypatch.setattr(mainwindow.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    w.load_recipe_dialog()  # File ▸ Load recipe… (Ctrl+O)


def _load_by_drop(w, path: Path, monkeypatch) -> None:
    w.show_page("models")  # dropped anywhere: the recipe opens its own page
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    w.dragEnterEvent(enter)
    assert enter.isAccepted()
    w.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))


def _load_by_png(w, path: Path, monkeypatch) -> None:
    from studio.gui.pages import stylize

    monkeypatch.setattr(stylize.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    w.pages["stylize"].load_params_dialog()  # Load from PNG…


@pytest.mark.parametrize("way", ["menu", "drop", "png", "cli-png"])
def test_a_mask_comes_back_by_every_way_with_the_commands_pixels(win, saved, way,
                                                                 monkeypatch):
    w, d = win
    mask, recipe, png, cli, cli_png = saved
    page = fresh_page(w, d)
    load, path = {"menu": (_load_by_menu, recipe), "drop": (_load_by_drop, recipe),
                  "png": (_load_by_png, png), "cli-png": (_load_by_png, cli_png)}[way]
    n = len(w.ctx.messages)
    load(w, path, monkeypatch)
    assert w.current_page() is page and len(w.ctx.messages) == n  # no error said
    rendered(page, d, f"the render after loading by {way}")
    assert page.mask.currentData() == "file" and page.mask_file == str(mask)
    # named where Regions are chosen (in view at 1280x720), the full path on the next line
    assert page.mask.currentText() == "mask: mask.png"
    assert page.mask_path.isVisibleTo(page) and page.mask_path.text() == str(mask)
    assert page.image.caption == "alpha 0.80 · mask mask.png"
    assert not page.mask_warning
    assert page.alpha.value() == 80 and page.size.value() == 64
    assert page.current_recipe()[1].masks == [str(mask)]
    assert np.array_equal(page.last_image, cli)  # the masked picture, not an interpolation
    from studio.gui.selftest import clipped_texts

    assert clipped_texts(w) == [] and (w.width(), w.height()) == (1280, 720)


def test_the_mask_is_chosen_in_the_regions_list(win, tmp_path, monkeypatch):
    """Regions ▸ mask image… opens the picker (also when picked again) and names the file."""
    from studio.gui.pages import stylize

    w, d = win
    page = fresh_page(w, d)
    first, second = make_mask(tmp_path / "first.png"), make_mask(tmp_path / "second.png")
    answers = [str(first), "", str(second)]
    monkeypatch.setattr(stylize.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (answers.pop(0), "")))
    monkeypatch.setattr(w.ctx, "headless", False)
    i = page.mask.findData("file")
    page.mask.setCurrentIndex(i)
    page.mask.activated.emit(i)
    rendered(page, d, "the masked render")
    assert page.mask_file == str(first) and page.mask.currentText() == "mask: first.png"
    assert page.mask_button.isVisibleTo(page)
    page.mask_button.click()  # cancelled: the mask in use stays
    assert page.mask.currentData() == "file" and page.mask_file == str(first)
    page.mask.activated.emit(i)  # picked again in the list: asks again
    rendered(page, d, "the render with the second mask")
    assert page.mask_file == str(second) and page.mask.currentText() == "mask: second.png"
    assert not answers


def test_a_mask_that_is_gone_is_said_in_one_line(win, saved, tmp_path):
    from studio.core.images import read_params, save_image
    from studio.recipes import load_recipe, save_recipe

    w, d = win
    mask, recipe, png, cli, _ = saved
    gone = tmp_path / "gone.png"
    jt, params = load_recipe(recipe)
    moved = save_recipe(tmp_path / "moved.toml", jt.name,
                        dataclasses.replace(params, masks=[str(gone)]))
    page = fresh_page(w, d)
    page.choose_mask_file(str(mask))
    assert w.open_recipe_path(moved) is page
    assert page.mask.currentData() == ""  # nothing to split by: a plain interpolation
    note = page.banner  # above the page's columns: in view at any window size
    assert note.isVisibleTo(page) and "gone.png" in note.text() and "no longer exists" \
        in note.text() and "\n" not in note.text()
    rendered(page, d, "the render without the mask")
    assert note.isVisibleTo(page) and "gone.png" in note.text()  # the render keeps it
    from studio.gui.selftest import clipped_texts

    assert clipped_texts(w) == [] and (w.width(), w.height()) == (1280, 720)
    # the same from a saved PNG whose mask was moved
    meta = read_params(png)
    meta["adain"]["mask_file"] = str(gone)
    moved_png = save_image(pixels(png), tmp_path / "moved.png", params=meta)
    w.open_recipe_path(recipe)
    rendered(page, d, "the masked render")
    assert not note.isVisibleTo(page) and page.mask_file == str(mask)
    page.load_params(moved_png)
    assert page.mask.currentData() == "" and note.isVisibleTo(page) and "gone.png" in note.text()
    # choosing a mask again takes the line away
    page.choose_mask_file(str(mask))
    assert not note.isVisibleTo(page)
    rendered(page, d, "the masked render again")


def test_a_changed_build_into_a_used_folder_is_asked_about_before_it_is_queued(
        win, tmp_path, monkeypatch):
    w, d = win
    src = Path(w.ctx.toy.world) / "test"
    content = tmp_path / "content"
    for cls in sorted(p for p in src.iterdir() if p.is_dir())[:2]:
        (content / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:2]:
            (content / cls.name / f.name).write_bytes(f.read_bytes())
    page = w.show_page("build")
    assert page.panel.select("build-stylized")
    f = page.panel.form()
    out = tmp_path / "out"
    for k, v in (("content", content), ("out", out), ("batch_size", 4), ("alpha", 1.0)):
        f.set_value(k, v)
    rec = page.panel.run()
    d.wait_job(rec, 300)
    before = (out / "manifest.jsonl").read_bytes()
    asked: list[str] = []

    def ask(title: str, text: str, accept: str) -> bool:
        asked.append(text)
        assert w.ctx.queue.records[-1] is rec  # nothing queued yet
        return w.ctx.headless_answer

    monkeypatch.setattr(page, "ask", ask)
    f.set_value("alpha", 0.5)
    n = len(w.ctx.queue.records)
    w.ctx.headless_answer = False
    try:
        assert page.panel.run() is None  # declined: nothing queued, nothing failed
        assert len(asked) == 1 and "alpha: 1.0 -> 0.5" in asked[0] and "Start afresh" in \
            asked[0] and "--overwrite" not in asked[0]
        assert len(w.ctx.queue.records) == n and (out / "manifest.jsonl").read_bytes() == before
        assert "not started" in page.panel.controls.status.text()
        w.ctx.headless_answer = True
        again = page.panel.run()
        assert len(asked) == 2 and again is not None and again.params.overwrite
        d.wait_job(again, 300)
    finally:
        w.ctx.headless_answer = False
    assert not [r for r in w.ctx.queue.records[n:] if r.state.value == "failed"]
    assert len(w.ctx.queue.records) == n + 1
    import json

    info = json.loads((out / "dataset.json").read_text())
    assert info["fingerprint"]["params"]["alpha"] == 0.5
    # the same settings again resume without a question
    rec3 = page.panel.run()
    assert len(asked) == 2
    d.wait_job(rec3, 300)


def test_the_folder_check_reads_the_fingerprint_and_writes_nothing(tmp_path):
    import json

    from studio.gui.pages.base import settings_changed
    from studio.toyworld.params import ToyWorldParams

    out = tmp_path / "o"
    (out / ".studio").mkdir(parents=True)
    # a derived value stored in another form ("1,1" for a list) is the job's to judge
    fp = {"job": "toyworld", "params": {"per_class": 3, "splits": "1,1"}, "inputs": {}}
    (out / ".studio" / "fingerprint.json").write_text(json.dumps(fp))
    before = sorted(f.relative_to(out) for f in out.rglob("*"))
    p = ToyWorldParams(out, per_class=4, splits=["train"])
    assert settings_changed(p, "toyworld") == [("per_class", 3, 4)]
    assert settings_changed(dataclasses.replace(p, per_class=3), "toyworld") == []
    assert settings_changed(p, "build-stylized") == [("job", "toyworld", "build-stylized")]
    assert settings_changed(dataclasses.replace(p, overwrite=True), "toyworld") == []
    assert settings_changed(ToyWorldParams(tmp_path / "new", per_class=4), "toyworld") == []
    assert sorted(f.relative_to(out) for f in out.rglob("*")) == before
    assert not (tmp_path / "new").exists()
