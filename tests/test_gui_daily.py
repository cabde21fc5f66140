"""The window as a daily tool (issue 18): promises a user relies on after the first day.

Every page's saved recipe replays headless through ``studio run`` to the same files; the
page defaults are valid on the toy world; nothing of a previous run or set stays on
screen; a partial success says how many inputs it skipped; a drop of a non-image is
refused while hovering; Cancel answers at once; the Jobs history survives a restart.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from studio.core.checkpoints import resources_dir
from studio.gui import settings as prefs
from studio.gui.selftest import Driver
from studio.recipes import load_recipe, save_recipe

TOY = resources_dir() / "toy"


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-daily"), (1280, 720), settle=True) as wd:
        yield wd


def studio_run(recipe: Path) -> int:
    """`studio run recipe.toml`, in this process (the same entry point as the command)."""
    from studio.cli import main

    return main(["run", str(recipe)])


def image_bytes(folder: Path) -> dict[str, bytes]:
    """Pixels of every image by relative path (a PNG's text chunk names its own folder,
    so files in two folders differ there; the pictures must not)."""
    from PIL import Image

    from studio.core.images import list_images

    out = {}
    for p in list_images(folder, recursive=True):
        with Image.open(p) as im:
            out[p.relative_to(folder).as_posix()] = im.convert("RGB").tobytes()
    return out


def replay_page(win, tmp_path: Path, key: str, job: str, small: dict, out_key: str = "out"
                ) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Set up ``job`` on the page, run it from the window into A, save its recipe (as
    Ctrl+S does) pointing at B, replay that with `studio run`; return both outputs."""
    w, d = win
    page = w.show_page(key)
    assert page.panel.select(job)
    f = page.panel.form()
    for k, v in small.items():
        f.set_value(k, v)
    a, b = tmp_path / f"{key}-gui", tmp_path / f"{key}-cli"
    f.set_value(out_key, b)
    rjob, params = w.current_page().current_recipe()
    assert rjob == job
    recipe = save_recipe(tmp_path / f"{key}.toml", rjob, params)
    assert load_recipe(recipe)[1] == params
    rec = page.panel.start(job, dataclasses.replace(params, **{out_key: a}))
    d.wait_job(rec, 300)
    assert studio_run(recipe) == 0
    return image_bytes(a), image_bytes(b)


# -- broken promises: recipes replay -------------------------------------------------------

@pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(), reason="no toy AdaIN")
def test_stylize_recipe_with_two_styles_replays_headless(win, tmp_path):
    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    assert len(page.styles.files) == 2 and page.weights.text() == ""  # "equal"
    page.size.setValue(64)
    page.alpha.setValue(70)
    page.update_preview()
    d.wait(lambda: page.last_spec and page.last_spec["alpha"] == 0.7 and
           not page.runner.busy(), 60, "the preview")
    job, params = page.current_recipe()
    params = dataclasses.replace(params, output=str(tmp_path / "out"))
    recipe = save_recipe(tmp_path / "stylize.toml", job, params)
    import tomllib

    assert tomllib.loads(recipe.read_text())["params"]["style_interpolation_weights"] == [1, 1]
    assert studio_run(recipe) == 0
    outs = sorted((tmp_path / "out").glob("*.png"))
    assert len(outs) == 1
    from PIL import Image

    got = np.asarray(Image.open(outs[0]).convert("RGB"), dtype=np.float32)
    shown = page.last_image.astype(np.float32)
    assert got.shape == shown.shape
    assert np.abs(got - shown).mean() < 2.0  # the picture the page showed
    # and the recipe loads back as "equal" weights
    page.weights.setText("0.2, 0.8")
    assert w.load_recipe_file(recipe) is page and page.weights.text() == ""


def test_toyworld_recipe_replays_to_the_same_files(win, tmp_path):
    a, b = replay_page(win, tmp_path, "toyworld", "toyworld",
                       {"per_class": 2, "splits": ["train"], "workers": 1})
    assert a and a == b


def test_cue_conflict_recipe_replays_to_the_same_files(win, tmp_path):
    a, b = replay_page(win, tmp_path, "texture", "toy-cue-conflict", {})
    assert a and a == b


def test_synthesize_recipe_replays_to_the_same_files(win, tmp_path):
    a, b = replay_page(win, tmp_path, "synthesize", "synthesize",
                       {"num_images": 4, "batch_size": 4, "iterations": 2, "method": "deep"})
    assert len(a) == 4 and a == b


@pytest.mark.skipif(not (TOY / "tsit_toy_G.pth").is_file(), reason="no toy TSIT")
def test_translate_recipe_replays_to_the_same_files(win, tmp_path):
    w, _ = win
    w.pages["translate"].on_toy_ready()
    a, b = replay_page(win, tmp_path, "translate", "translate", {})
    assert a and a == b


@pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(), reason="no toy AdaIN")
def test_build_recipe_replays_to_the_same_files(win, tmp_path):
    a, b = replay_page(win, tmp_path, "build", "build-stylized",
                       {"splits": ["test"], "batch_size": 8})
    assert a and a == b


def test_pages_without_a_job_have_no_recipe(win):
    w, _ = win
    for key in ("models", "jobs"):
        assert w.pages[key].current_recipe() is None


# -- broken promises: defaults ---------------------------------------------------------------

def test_every_default_form_is_valid_and_small(win):
    w, _ = win
    for page in w.pages.values():
        panel = getattr(page, "panel", None)
        if panel is None:
            continue
        for job in panel.available:
            params = panel.form(job).params()  # raises on an invalid default
            if job == "synthesize":
                batches = -(-params.num_images // params.batch_size)
                # ≈ 0.35 s per iteration of a 16-image batch on 2 cores: about a minute
                assert batches * params.iterations * params.batch_size <= 16 * 150, params
            if job == "train-tsit":
                from studio.tsit.train import resolve_setup

                setup = resolve_setup(params)  # the depth fits the image size
                assert min(setup.hw) >= setup.config.min_side
                assert params.iterations <= 150


@pytest.mark.skipif(not (TOY / "teacher.pth").is_file(), reason="no toy teacher")
def test_train_tsit_defaults_run(win, tmp_path):
    w, d = win
    page = w.show_page("translate")
    page.panel.select("train-tsit")
    params = page.panel.form().params()
    params = dataclasses.replace(params, out=tmp_path / "tsit", iterations=1,
                                 save_every=1, preview_every=1)
    rec = page.panel.start("train-tsit", params)
    d.wait_job(rec, 300)


# -- broken promises: stale state ------------------------------------------------------------

def test_a_new_run_starts_with_an_empty_preview_grid_and_curves(win, tmp_path):
    w, d = win
    page = w.show_page("synthesize")
    page.panel.select("synthesize")
    f = page.panel.form()
    for k, v in (("out", tmp_path / "s1"), ("num_images", 4), ("batch_size", 4),
                 ("iterations", 400), ("preview_every", 1), ("metrics_every", 1),
                 ("method", "deep")):
        f.set_value(k, v)
    rec = page.panel.run()
    d.wait(lambda: page.previews_seen > 0 and page.curves.series, 120, "a preview")
    w.ctx.queue.cancel(rec)
    d.wait_job(rec, 60, "cancelled")
    assert page.feed.count() > 0 and page.preview.has_image()
    f.set_value("out", tmp_path / "s2")
    rec2 = page.panel.run()
    # before the new job sends anything: nothing of the cancelled run is shown
    assert page.feed.count() == 0 and not page.preview.has_image()
    assert not page.curves.series and "waiting" in page.preview.placeholder
    w.ctx.queue.cancel(rec2)
    d.wait_job(rec2, 60, "cancelled")


@pytest.mark.skipif(not (TOY / "teacher.pth").is_file(), reason="no toy teacher")
def test_new_stimuli_clear_plot_browser_and_detail(win, tmp_path):
    w, d = win
    page = w.show_page("texture")
    page.panel.select("toy-cue-conflict")
    page.panel.form().set_value("out", tmp_path / "cc")
    d.wait_job(page.panel.run(), 120)
    f = page.panel.form("shape-bias")
    f.set_value("out", tmp_path / "sb")
    f.set_value("formats", ["png"])
    d.wait_job(page.panel.run(), 300)
    assert page.plot.has_image()
    d.wait(lambda: page.browser.count() > 0 and not page.browser.loading(), 30, "browser")
    page.browser.setCurrentRow(0)
    assert page.detail.has_image()
    info = page.detail_info.text()
    assert "shape <b>" in info and "texture <b>" in info and "toy teacher" in info
    # each model's top probabilities arrive from a worker
    d.wait(lambda: " %" in page.detail_info.text(), 60, "the probabilities")
    top = page.last_probabilities["toy teacher"]
    assert len(top) == 3 and abs(sum(p for _, p in top)) <= 1.0 + 1e-6
    assert top[0][1] >= top[1][1] >= top[2][1]
    # the plot follows the theme: drawn again on a dark background
    before = page.plot.pixmap().toImage().pixelColor(3, 3).lightness()
    page.on_theme_changed("dark")
    d.wait(lambda: page.plot.pixmap() is not None and
           page.plot.pixmap().toImage().pixelColor(3, 3).lightness() < 80, 60, "dark plot")
    assert before > 200
    page.on_theme_changed("light")
    d.wait(lambda: page.plot.pixmap().toImage().pixelColor(3, 3).lightness() > 200, 60,
           "light plot")
    viewer = page.browser.open_viewer(page.browser.item(0))  # double-click enlarges
    assert "shape arrow" in viewer.caption.text() or "shape " in viewer.caption.text()
    assert "toy teacher" in viewer.caption.text() and " %" in viewer.caption.text()
    viewer.close()
    size = w.size()
    page.tabs.setCurrentIndex(1)  # the Stimuli tab must not widen the window
    d.process(30)
    assert w.size() == size
    page.tabs.setCurrentIndex(0)
    # new stimuli: the previous evaluation's plot, grid and detail are gone
    page.panel.select("toy-cue-conflict")
    page.panel.form().set_value("out", tmp_path / "cc2")
    d.wait_job(page.panel.run(), 120)
    assert not page.plot.has_image() and "Stimuli ready" in page.summary.text()
    assert page.browser.count() == 0 and not page.detail.has_image()
    assert page.detail_info.text() == ""


@pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(), reason="no toy AdaIN")
def test_stylize_error_banner_goes_when_the_input_is_fixed(win, tmp_path):
    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    page.size.setValue(64)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    page.content.set_files([str(bad)])
    d.wait(lambda: not page.runner.busy() and page.banner.property("kind") == "error",
           60, "the error")
    assert page.banner.isVisibleTo(page)
    page.use_toy_examples()
    n = page.renders
    d.wait(lambda: page.renders > n and not page.runner.busy(), 60, "the fixed render")
    assert page.banner.property("kind") != "error" or not page.banner.text()


def test_jobs_log_keeps_the_time_each_line_was_logged(win, tmp_path):
    import time as _time

    from studio.toyworld.generate import ToyWorldParams

    w, d = win
    rec = w.ctx.queue.submit("toyworld", ToyWorldParams(tmp_path / "t", per_class=1,
                                                        workers=1, splits=["train"]))
    d.wait_job(rec)
    logged = [when for when, _, _ in rec.log]
    assert logged
    _time.sleep(1.1)  # selecting it later must not re-stamp its lines
    jobs = w.show_page("jobs")
    jobs.refresh()
    jobs.select(rec)
    text = jobs.details.toPlainText()
    for when in logged:
        assert _time.strftime("%H:%M:%S", _time.localtime(when)) in text
    assert _time.strftime("%H:%M:%S") not in text or \
        _time.strftime("%H:%M:%S") in {_time.strftime("%H:%M:%S", _time.localtime(t))
                                       for t in logged}


# -- broken promises: partial success, drops, cancel ------------------------------------------

def test_done_with_skipped_inputs_says_so_and_links_errors(win):
    from studio.core.jobs import Log, Progress

    w, d = win
    page = w.show_page("build")

    def job(params, token):
        yield Progress(1, 1)
        for i in range(4):
            yield Log(f"bad{i}.png: cannot identify image file", "warning")
        return {"out": "", "made": 4, "failed": 4, "num_items": 4, "num_errors": 4}

    rec = page.panel.start("build-stylized", page.panel.params(), fn=job, title="build")
    d.wait_job(rec)
    assert rec.skipped == 4 and rec.status_text() == "done — 4 skipped"
    text = page.panel.controls.status_text()
    assert "done — 4 skipped" in text and "see Errors" in text
    assert page.panel.controls.bar.format() == "done — 4 skipped"
    assert page.errors.toPlainText().count("cannot identify") == 4, (page.errors.toPlainText(), page.log.toPlainText())
    page.tabs.setCurrentIndex(0)
    page.panel.controls.status.linkActivated.emit("errors")
    assert page.tabs.tabText(page.tabs.currentIndex()).startswith("Errors")
    jobs = w.pages["jobs"]
    jobs.refresh()
    jobs.select(rec)
    assert "done — 4 skipped" in jobs.details.toPlainText()


def _drag(zone, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    zone.dragEnterEvent(enter)
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    return enter, drop, mime


def test_a_non_image_drop_is_refused_while_hovering(win, tmp_path):
    w, _ = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    before = list(page.styles.files)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    enter, drop, _ = _drag(page.styles, [txt])
    assert not enter.isAccepted()
    page.styles.dropEvent(drop)
    assert page.styles.files == before  # the chosen styles are kept
    img = QImage(8, 8, QImage.Format.Format_RGB888)
    img.fill(0)
    png = tmp_path / "s.png"
    img.save(str(png))
    enter, drop, _ = _drag(page.styles, [txt, png])
    assert enter.isAccepted()
    page.styles.dropEvent(drop)
    assert page.styles.files == [str(png)]
    page.use_toy_examples()


def test_cancel_shows_cancelling_at_once(win, tmp_path):
    from studio.core.jobs import Progress

    w, d = win
    page = w.show_page("toyworld")
    gate = {"go": False}

    def slow(params, token):
        for i in range(1000):
            yield Progress(i + 1, 1000)
            while not gate["go"] and not token.cancelled:
                import time as _t

                _t.sleep(0.01)
            if gate["go"]:
                import time as _t

                _t.sleep(0.5)  # a long step: the worker notices the cancel only after it
        return {}

    rec = page.panel.start("toyworld", page.panel.params(), fn=slow, title="slow")
    d.wait_running(rec)
    gate["go"] = True
    c = page.panel.controls
    assert c.cancel_button.isEnabled()
    page.cancel()  # Esc
    # synchronously, before the worker has reached its next step
    assert rec.state.value == "running" and rec.cancelling
    assert "cancelling…" in c.status_text() and not c.cancel_button.isEnabled()
    assert not c.pause_button.isEnabled() and c.bar.format() == "cancelling…"
    assert rec.status_text() == "cancelling…"
    d.wait_job(rec, 10, "cancelled")
    assert "cancelled" in c.status_text()


# -- persistent history ------------------------------------------------------------------------

def test_history_persists_across_restarts_with_rerun_and_edit(win, tmp_path):
    from studio.gui.mainwindow import MainWindow
    from studio.toyworld.generate import ToyWorldParams

    w, d = win
    params = ToyWorldParams(tmp_path / "h", per_class=1, workers=1, splits=["train"])
    rec = w.ctx.queue.submit("toyworld", params, title="history job", page="toyworld")
    d.wait_job(rec)
    assert rec.last_preview is not None  # the job's own last preview
    w.save_history()
    assert (prefs.history_dir() / "history.json").is_file()

    w2 = MainWindow(confirm=lambda text: True)  # a restart
    w2.ctx.headless = True
    try:
        old = [r for r in w2.ctx.queue.records if r.title == "history job"]
        assert len(old) == 1 and w2.history_loaded >= 1
        r = old[0]
        assert r.state.value == "done" and r.params == params and r.restored
        assert r.outputs() == [(tmp_path / "h").resolve()]
        assert r.last_preview is not None and r.last_preview.size() == rec.last_preview.size()
        assert r.last_preview.pixelColor(10, 10) == rec.last_preview.pixelColor(10, 10)
        assert r.log and r.log[0][0] == rec.log[0][0]  # original time stamps
        jobs = w2.show_page("jobs")
        jobs.refresh()
        jobs.select(r)
        assert jobs.selected() is r and jobs.buttons["rerun"].isEnabled()
        assert jobs.buttons["edit"].isEnabled()
        jobs.edit_in_page()
        assert w2.current_page().key == "toyworld"
        assert w2.current_page().current_recipe() == ("toyworld", params)
        w2.show_page("jobs")
        jobs.select(r)
        again = jobs.rerun()
        assert again.id > max(x.id for x in w2.ctx.queue.records if x is not again)
        Driver(w2, log=lambda s: None).wait_job(again)
    finally:
        w2.ctx.queue.cancel_all()
        w2.ctx.queue.wait_all(30, QApplication.processEvents)
        w2.close()


def test_a_damaged_history_file_is_ignored(win, tmp_path):
    from studio.gui.workers import JobQueue

    (tmp_path / "history.json").write_text("{not json")
    q = JobQueue()
    assert q.load_history(tmp_path) == 0 and q.records == []
    (tmp_path / "history.json").write_text('{"jobs": [{"id": 3, "job": "no-such-job"}]}')
    assert q.load_history(tmp_path) == 0


# -- layout ---------------------------------------------------------------------------------

def test_the_clip_checker_finds_a_cut_label(qapp):
    from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

    from studio.gui.selftest import clipped_texts

    top = QWidget()
    lay = QVBoxLayout(top)
    label = QLabel("a rather long status line that cannot fit in forty pixels", top)
    label.setFixedWidth(40)
    lay.addWidget(label)
    top.resize(300, 100)
    top.show()
    QApplication.processEvents()
    assert any("rather long" in p for p in clipped_texts(top))
    top.close()


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (3840, 2160)])
def test_every_page_fits_without_clipping_or_growing(win, size):
    from studio.gui.selftest import clipped_texts

    w, d = win
    w.resize(*size)
    for key in w.page_keys():
        w.show_page(key)
        d.process(30)
        assert (w.width(), w.height()) == size, f"{key} resized the window"
        assert clipped_texts(w) == [], key
    hint = w.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720
    w.resize(1280, 720)


def test_stylize_actions_stay_in_view_at_1280x720(win):
    from PySide6.QtCore import QPoint

    w, d = win
    w.resize(1280, 720)
    page = w.show_page("stylize")
    d.process(30)
    for b in (page.render_button, page.save_button, page.load_button):
        y = b.mapTo(w, QPoint(0, b.height())).y()
        assert b.isVisible() and y <= w.height(), b.text()


def test_long_status_texts_wrap_instead_of_widening(win, tmp_path):
    w, d = win
    w.resize(1280, 720)
    page = w.show_page("texture")
    page.summary.setText("Stimuli ready in " + "/very/long/folder" * 30)
    page.tabs.setCurrentIndex(1)  # the Stimuli tab
    page.model_box.addItem("a model with a very long name " * 5)
    d.process(30)
    assert (w.width(), w.height()) == (1280, 720)
    page.panel.controls.set_status("running · 00:28 elapsed · ETA 00:16 · " + "x " * 200)
    d.process(30)
    assert (w.width(), w.height()) == (1280, 720)
    page.tabs.setCurrentIndex(0)


def test_curve_ticks_are_values_and_accuracy_has_its_own_axis(qapp):
    from studio.gui.widgets import CurvePlot

    assert CurvePlot.tick_label(0.30103, True) == "2"
    assert CurvePlot.tick_label(-2.0, True) == "0.01"
    assert CurvePlot.tick_label(0.5, False) == "0.5"
    assert CurvePlot.is_share("top1_acc") and CurvePlot.is_share("val_accuracy")
    assert not CurvePlot.is_share("loss_kl")
    plot = CurvePlot(None, "t", log_y=True)
    plot.resize(400, 240)
    for i in range(10):
        plot.add_point("loss", i, 10 ** (-i / 3))
        plot.add_point("acc", i, i / 10)
    img = plot.grab()
    assert not img.isNull()


# -- viewer and result tables ----------------------------------------------------------------

def test_result_values_read_as_results():
    from studio.gui.widgets import flatten_result, format_value

    assert format_value("student_top1_acc", 0.10000000149011612) == "10.0 %"
    assert format_value("sparsity", 0.5) == "50.0 %"
    assert format_value("loss", float("nan")) == "–"
    assert format_value("kl_loss", 0.123456789) == "0.1235"
    assert format_value("images", 123456) == "123 456"
    rows = dict(flatten_result({"a": {"acc": 0.5}, "runs": [{"sparsity": 0.1}]}))
    assert rows == {"a.acc": 0.5, "runs[0].sparsity": 0.1}


def test_result_tab_is_a_table_with_percentages(win):
    from studio.core.jobs import Progress

    w, d = win
    page = w.show_page("synthesize")

    def job(params, token):
        yield Progress(1, 1)
        return {"student": {"top1_acc": 0.10000000149011612}, "kl": float("nan"),
                "history": [{"epoch": 1, "loss": 2.0, "real_acc": 0.3},
                            {"epoch": 2, "loss": 1.0, "real_acc": 0.6}]}

    rec = page.panel.start("distill", page.panel.form("distill").params(), fn=job)
    d.wait_job(rec)
    assert page.result_view.value_text("student.top1_acc") == "10.0 %"
    assert page.result_view.value_text("kl") == "–"
    assert page.result_view.value_text("history[1].real_acc") == "60.0 %"
    chart = page.result_view.chart  # the per-epoch history as a chart
    assert not chart.isHidden() and chart.series["real_acc"] == [(1.0, 0.3), (2.0, 0.6)]
    assert chart.title == "per epoch" and "loss" in chart.series


def test_image_viewer_enlarges_zooms_and_compares(win):
    from PySide6.QtGui import QPixmap

    from studio.gui.viewer import ImageViewer
    from studio.gui.widgets import ImageView, ThumbGrid

    a = QImage(32, 32, QImage.Format.Format_RGB888)
    a.fill(0xFF0000)
    b = QImage(32, 32, QImage.Format.Format_RGB888)
    b.fill(0x0000FF)
    view = ImageView(None)
    view.set_image(a, "result · alpha 1.00")
    view.set_before(b)
    viewer = view.open_viewer()
    assert isinstance(viewer, ImageViewer) and viewer.isVisible()
    assert viewer.view.a is not None and viewer.view.b is not None
    assert viewer.view.mode == "side"  # A | B at once
    assert "result · alpha 1.00" in viewer.caption.text()
    assert "32×32 px" in viewer.caption.text()
    s0 = viewer.view.scale
    viewer.view.zoom(2.0)
    assert viewer.view.scale == pytest.approx(s0 * 2)
    viewer.view.actual_size()
    assert viewer.view.scale == 1.0
    viewer.compare.setCurrentIndex(viewer.compare.findData("flip"))
    img = viewer.view.grab().toImage()
    assert not img.isNull()
    grid = ThumbGrid(None, thumb=32)
    for i in range(3):
        grid.add_image(QPixmap.fromImage(a), f"item {i}")
    viewer.close()
    grid.itemActivated.emit(grid.item(1))  # double-click / Enter
    viewer = ImageViewer.shared(grid)
    assert viewer.isVisible() and viewer.index == 1 and len(viewer.items) == 3
    viewer.step(1)
    assert "item 2" in viewer.caption.text()
    viewer.close()


# -- conveniences -------------------------------------------------------------------------------

def test_dropping_a_recipe_on_the_window_opens_its_page(win, tmp_path):
    from studio.toyworld.generate import ToyWorldParams

    w, _ = win
    params = ToyWorldParams(tmp_path / "o", per_class=3, workers=1)
    recipe = save_recipe(tmp_path / "r.toml", "toyworld", params)
    w.show_page("models")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(recipe))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    w.dragEnterEvent(enter)
    assert enter.isAccepted()
    w.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert w.current_page().key == "toyworld"
    assert w.current_page().current_recipe() == ("toyworld", params)
    # now a recent recipe
    assert str(recipe.resolve()) in prefs.recent("recipes")
    w._fill_recent()
    # named by its path (issue 32: two r.toml of two projects must not read the same)
    assert any(a.text().endswith("/r.toml") for a in w.recent_menu.actions())
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    mime2 = QMimeData()
    mime2.setUrls([QUrl.fromLocalFile(str(txt))])
    enter2 = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime2,
                             Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    w.dragEnterEvent(enter2)
    assert not enter2.isAccepted()


def test_a_bad_recipe_dropped_is_reported(win, tmp_path):
    w, _ = win
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\njob = "toyworld"\n[params]\nper_class = "many"\n')
    assert w.open_recipe_path(bad) is None
    assert "per_class" in w.ctx.messages[-1][1]


def test_pickers_open_in_the_workspace_and_share_one_folder(win, tmp_path):
    w, _ = win
    prefs.put("folders/last", "")
    assert prefs.last_dir("stylize-content") == str(w.ctx.toy.root)
    prefs.remember_dir("recipes", tmp_path / "x.toml")
    assert prefs.last_dir("stylize-content") == str(tmp_path)
    assert prefs.last_dir("masks") == str(tmp_path)


def test_f1_shows_the_docs_inside_the_app(win):
    w, _ = win
    assert w.shortcuts()["docs"] == "F1"
    docs = w.open_docs()
    assert docs.isVisible() and docs.current == "gui.md"
    assert "Studio" in docs.browser.toPlainText()
    docs.close()


def test_open_output_that_cannot_open_says_so(win, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from studio.gui.pages.base import open_location

    w, _ = win
    page = w.pages["toyworld"]
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: False))
    assert not open_location(page, tmp_path)
    title, text = w.ctx.messages[-1]
    assert "Cannot open" in title and str(tmp_path) in text
    assert QApplication.clipboard().text() == str(tmp_path)
    assert not open_location(page, tmp_path / "gone")
    assert "does not exist" in w.ctx.messages[-1][1]
    assert not open_location(page, None)
    assert w.ctx.messages[-1][0] == "Nothing to open"


@pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(), reason="no toy AdaIN")
def test_toy_model_on_a_photo_says_so(win, tmp_path):
    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    page.size.setValue(64)
    photo = tmp_path / "photo.png"
    img = QImage(80, 60, QImage.Format.Format_RGB888)
    img.fill(0x808080)
    img.save(str(photo))
    page.content.set_files([str(photo)])
    d.wait(lambda: not page.runner.busy() and "not from the toy world" in page.banner.text(),
           60, "the note")
    assert "Models page" in page.banner.text()
    page.use_toy_examples()
    d.wait(lambda: not page.runner.busy() and "not from the toy world" not in
           page.banner.text(), 60, "the note to go")


def test_two_runs_compare_in_the_viewer(win, tmp_path):
    from PySide6.QtCore import QItemSelectionModel

    from studio.toyworld.generate import ToyWorldParams

    w, d = win
    recs = []
    for i in range(2):
        r = w.ctx.queue.submit("toyworld", ToyWorldParams(tmp_path / f"c{i}", per_class=1,
                                                          workers=1, splits=["train"]))
        d.wait_job(r)
        recs.append(r)
    jobs = w.show_page("jobs")
    jobs.refresh()
    jobs.select(recs[0])
    rows = jobs.records()
    jobs.table.selectionModel().select(
        jobs.table.model().index(rows.index(recs[1]), 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    jobs.refresh()
    assert set(jobs.selected_all()) == set(recs) and jobs.buttons["compare"].isEnabled()
    v = jobs.compare()
    assert v is not None and v.view.b is not None and "B: #" in v.caption.text()
    v.close()


@pytest.mark.skipif(not (TOY / "tsit_toy_G.pth").is_file(), reason="no toy TSIT")
def test_toy_tsit_on_a_photo_says_so(win, tmp_path):
    w, _ = win
    page = w.show_page("translate")
    page.panel.select("translate")
    page.on_toy_ready()
    assert "not from the toy world" not in page.banner.text()
    photo = tmp_path / "photo.png"
    img = QImage(80, 60, QImage.Format.Format_RGB888)
    img.fill(0x808080)
    img.save(str(photo))
    page.content_zone.set_files([str(photo)])
    assert "not from the toy world" in page.banner.text() and "Models page" in \
        page.banner.text()
    page.content_zone.set_files([])
    page.on_toy_ready()
    assert "not from the toy world" not in page.banner.text()


def test_recent_images_are_offered_in_every_image_box(win, tmp_path):
    w, _ = win
    page = w.show_page("stylize")
    img = QImage(8, 8, QImage.Format.Format_RGB888)
    img.fill(0x123456)
    png = tmp_path / "recent.png"
    img.save(str(png))
    enter, drop, _ = _drag(page.content, [png])
    page.content.dropEvent(drop)
    assert str(png.resolve()) == prefs.recent("images")[0]
    page.use_toy_examples()
    styles = page.styles
    styles._fill_recent()
    names = [a.text() for a in styles.recent_menu.actions()]
    assert "recent.png" in names
    n = len(styles.files)
    styles.use_recent(str(png.resolve()))
    assert len(styles.files) == n + 1 and styles.files[-1] == str(png.resolve())
    page.use_toy_examples()
