"""Small things that cost trust (issue 32): number lists with either separator, a stale
image marked, results and curves that read as values, layouts from 1024×640 to 1920×1080,
a fresh install's model folder, the toy preset, recent files by path, a partial success
not shown as plain success, readable reference labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PySide6.QtWidgets import QApplication

from studio.core.checkpoints import resources_dir

TOY = resources_dir() / "toy"


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-small"), (1280, 720), settle=True) as wd:
        yield wd


# -- number lists -----------------------------------------------------------------------------

def test_seeds_take_commas_or_spaces_and_say_how_when_wrong(qapp):
    from studio.gui.paramsform import ParamsForm
    from studio.tsit.params import TranslateParams

    f = ParamsForm(TranslateParams)
    f.show()
    ed = f.editors["seeds"]
    for text in ("0 1 2", "0,1,2", "0, 1, 2", "0 1, 2", " 0  1\t2 "):
        ed.widget.setText(text)
        assert f.value("seeds") == [0, 1, 2], text
        assert ed.error == "" and ed.error_label.isHidden()
    ed.widget.setText("0;1")
    QApplication.processEvents()
    assert "commas or spaces" in ed.error
    assert not ed.error_label.isHidden() and "0 1 2" in ed.error_label.text()
    ed.widget.setText("3")
    assert ed.error_label.isHidden() and f.params().seeds == [3]
    f.close()


@pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(), reason="no toy AdaIN")
def test_style_weights_take_spaces_and_a_bad_entry_marks_the_old_image(win):
    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    page.size.setValue(64)
    page.weights.setText("0.3 0.7")
    page.update_preview()
    d.wait(lambda: page.last_spec and page.last_spec["weights"] == [0.3, 0.7]
           and not page.runner.busy(), 60, "the weighted render")
    assert page.image.stale == ""
    page.weights.setText("0.3, lots")
    page.update_preview()
    assert page.image.stale.startswith("not updated:") and "weights" in page.image.stale
    assert "d14343" in page.weights.styleSheet()
    assert page.image.has_image()  # the old picture stays, marked
    page.weights.setText("")
    page.update_preview()
    assert "d14343" not in page.weights.styleSheet()
    d.wait(lambda: page.image.stale == "" and not page.runner.busy(), 60, "the good render")


# -- results read as results ----------------------------------------------------------------

PRUNE = {"teacher": "toyvgg", "method": "l1-filter", "teacher_real_acc": 0.9,
         "rows": [{"target_sparsity": s, "weight_sparsity": s * 0.9, "real_acc_pruned": a,
                   "real_acc_finetuned": a + 0.1}
                  for s, a in ((0.3, 0.7), (0.5, 0.5), (0.7, 0.2))]}


def test_prune_rows_read_as_sparsities_and_plot_against_them(qapp):
    from studio.gui.widgets import ResultTable, result_label, result_series

    assert result_label("rows[0].target_sparsity") == ("rows 1", "target sparsity")
    assert result_label("rows[2].history[0].loss") == ("rows 3", "history 1 · loss")
    assert result_label("student.top1_acc") == ("", "student · top1 acc")
    t = ResultTable()
    t.set_result(PRUNE)
    labels = [t.table.item(i, 0).text() for i in range(t.table.rowCount())]
    assert not any("[" in s or "rows 1." in s for s in labels), labels
    assert "rows 2 of 3 · target sparsity 50.0 %" in labels
    assert labels.count("target sparsity") == 3
    assert t.value_text("rows[1].target_sparsity") == "50.0 %"
    assert t.value_text("rows[2].real_acc_finetuned") == "30.0 %"
    xname, series = result_series(PRUNE)
    assert xname == "target_sparsity"
    assert [x for x, _ in series["real_acc_finetuned"]] == [0.3, 0.5, 0.7]
    assert t.chart.title == "per target_sparsity" and not t.chart.isHidden()


def test_curve_ticks_are_never_cut(qapp):
    from studio.gui.widgets import CurvePlot

    assert CurvePlot.tick_label(36000, False) == "36k"
    assert CurvePlot.tick_label(1.2e6, False) == "1.2M"
    assert CurvePlot.tick_label(0.0001, False) == "1e-04"
    plot = CurvePlot(None, "t")
    plot.resize(300, 200)
    for i in range(10):
        plot.add_point("images", i, 36000 + 1000 * i)
    left, _ = plot.tick_labels()
    assert all("e+" not in s for s in left), left
    assert not plot.grab().isNull()


# -- layouts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(1024, 640), (1920, 1080)])
def test_every_page_fits_and_every_tab_is_in_view(win, size):
    from PySide6.QtWidgets import QTabWidget

    from studio.gui.selftest import clipped_texts

    w, d = win
    w.resize(*size)
    try:
        for key in w.page_keys():
            page = w.show_page(key)
            d.process(30)
            assert (w.width(), w.height()) == size, f"{key} resized the window"
            assert clipped_texts(w) == [], key
            for tabs in page.findChildren(QTabWidget):
                if not tabs.isVisible():
                    continue
                bar = tabs.tabBar()
                for i in range(bar.count()):  # no tab behind scroll arrows
                    r = bar.tabRect(i)
                    assert r.right() <= bar.width() and r.width() > 20, (key, bar.tabText(i))
    finally:
        w.resize(1280, 720)


def test_stylize_column_is_not_cut_at_1024(win):
    w, d = win
    w.resize(1024, 640)
    try:
        page = w.show_page("stylize")
        d.process(50)
        for b in (page.content.choose, page.styles.choose, page.render_button):
            right = b.mapTo(w, b.rect().topRight()).x()
            left_edge = page.image.mapTo(w, page.image.rect().topLeft()).x()
            assert b.isVisible() and right < left_edge, b.text()
        scroll = page.content.parentWidget().parentWidget().parentWidget()
        assert scroll.horizontalScrollBar().isHidden() or \
            scroll.horizontalScrollBar().maximum() == 0
    finally:
        w.resize(1280, 720)


def test_image_boxes_grow_with_the_window_and_keep_their_captions(win):
    w, d = win
    page = w.show_page("stylize")
    page.use_toy_examples()
    sizes = {}
    for size in ((1280, 720), (1920, 1080)):
        w.resize(*size)
        d.process(80)
        grid = page.styles.grid
        sizes[size] = (page.styles.height(), grid.thumb)
        for z in (page.content, page.styles):  # the names under the images are whole
            g = z.grid
            r = g.visualItemRect(g.item(0))
            assert g.viewport().rect().contains(r), (size, r, g.viewport().rect())
    w.resize(1280, 720)
    assert sizes[(1920, 1080)][0] > sizes[(1280, 720)][0]
    assert sizes[(1920, 1080)][1] > sizes[(1280, 720)][1] >= 72


def test_placeholders_wrap_in_narrow_views(qapp):
    from PySide6.QtGui import QImage

    from studio.gui.widgets import ImageView

    v = ImageView(None, "last preview of the selected job")
    v.resize(170, 200)
    img = v.grab().toImage()
    assert isinstance(img, QImage)
    # the text is drawn inside the view: the columns near its edges stay empty
    bg = img.pixelColor(5, 5)
    assert all(img.pixelColor(x, y) == bg for x in (4, 5, 6, 163, 164, 165)
               for y in range(5, 195, 2))


# -- fresh install, presets, recent files, partial success ------------------------------------

def test_open_folder_on_a_fresh_install_makes_the_model_folder(win, tmp_path, monkeypatch):
    from studio.gui.pages import base

    w, _ = win
    page = w.show_page("models")
    folder = tmp_path / "fresh-models"
    monkeypatch.setenv("STUDIO_MODELS", str(folder))
    opened = []
    monkeypatch.setattr(base, "open_path", lambda p: opened.append(Path(p)) or True)
    n = len(w.ctx.messages)
    assert not folder.exists()
    assert page.open_folder()
    assert folder.is_dir() and opened == [folder]
    assert len(w.ctx.messages) == n  # no "does not exist (moved or deleted?)"
    assert "made the model folder" in page.log.toPlainText()


def test_a_lost_output_says_what_may_have_happened(win, tmp_path):
    from studio.gui.pages.base import open_location

    w, _ = win
    page = w.show_page("jobs")
    assert not open_location(page, tmp_path / "gone")
    title, text = w.ctx.messages[-1]
    assert "moved or deleted" in text and "before writing" in text
    assert QApplication.clipboard().text() == str(tmp_path / "gone")


def test_the_toy_teacher_takes_the_toy_preset(win):
    w, _ = win
    page = w.show_page("synthesize")
    page.panel.select("synthesize")
    f = page.panel.form("synthesize")
    assert f.value("teacher") == "toy" and f.value("preset") == "toy"
    f.set_value("teacher", "cifar10-resnet20")
    assert f.value("preset") == "cifar10"
    f.set_value("preset", "cifar100")
    f.set_value("teacher", "cifar100-resnet20")
    assert f.value("preset") == "cifar100"  # a real teacher's own choice is kept
    f.set_value("teacher", "toy")
    assert f.value("preset") == "toy"
    params = dataclasses.replace(f.params(), teacher="x.pth", preset="cifar100")
    page.panel.load_recipe("synthesize", params)  # a recipe's preset wins
    assert f.value("preset") == "cifar100"
    f.set_value("teacher", "toy")


def test_open_recent_shows_where_the_recipes_are(win, tmp_path):
    from studio.gui import settings as prefs
    from studio.gui.widgets import recent_label

    w, _ = win
    a, b = tmp_path / "p1" / "build.toml", tmp_path / "p2" / "build.toml"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text("")
        prefs.add_recent("recipes", str(p))
    w._fill_recent()
    texts = [x.text() for x in w.recent_menu.actions()]
    assert recent_label(b) in texts and recent_label(a) in texts
    assert recent_label(a) != recent_label(b) and "p1/build.toml" in recent_label(a)
    long = Path("/data") / ("x" * 100) / "deep" / "recipe.toml"
    assert len(recent_label(long)) <= 70 and recent_label(long).endswith("recipe.toml")


def test_done_with_skips_is_not_painted_as_success(win):
    from studio.core.jobs import Progress

    w, d = win
    page = w.show_page("build")
    bar = page.panel.controls.bar

    def partial(params, token):
        yield Progress(1, 1)
        return {"out": str(params.out), "made": 8, "failed": 2}

    def failing(params, token):
        yield Progress(0, 1)
        raise ValueError("no styles")

    params = page.panel.params()
    rec = page.panel.start("build-stylized", params, fn=partial)
    d.wait_job(rec)
    assert bar.format() == "done — 2 skipped" and bar.property("state") == "warning"
    rec = page.panel.start("build-stylized", params, fn=failing)
    assert bar.property("state") == ""  # a new run starts plain
    d.wait_job(rec, state="failed")
    assert bar.property("state") == "error"
    from studio.gui import theme

    qss = theme.stylesheet("dark")
    assert 'QProgressBar[state="warning"]::chunk' in qss


# -- shape-bias reference labels --------------------------------------------------------------

def test_reference_labels_do_not_overlap_and_read_in_dark(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from studio.texture_shape.plots import _reference_places, matrix_plot
    from studio.texture_shape.shape_bias import REFERENCE_SHAPE_BIAS

    refs = sorted(REFERENCE_SHAPE_BIAS.items(), key=lambda kv: kv[1])
    labels = [(1 - r, f"{n} {r:.0%}") for n, r in refs]
    for rows in (4, 10, 16):
        places = _reference_places(labels, rows, 0.34 * rows)
        boxes = []
        for (x, text), (y, side) in zip(labels, places):
            length = len(text) * 7 * 0.55 / 72 / (0.34 * rows / (rows + 0.4))
            x0, x1 = (x, x + 0.025) if side == "left" else (x - 0.025, x)
            boxes.append((x0, x1, y - length, y))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap = a[0] < b[1] - 1e-9 and b[0] < a[1] - 1e-9 and \
                    a[2] < b[3] - 1e-9 and b[2] < a[3] - 1e-9
                assert not overlap, (rows, a, b)
    summ = {"m": {"shape_bias": 0.3, "per_category": {"cat": {"shape_bias": 0.3}}}}
    with plt.style.context("dark_background"):
        fig_files = matrix_plot(summ, ["cat", "dog"], tmp_path / "p", REFERENCE_SHAPE_BIAS,
                                formats=("png",))
    assert Path(fig_files[0]).is_file()


def test_the_content_caption_is_whole_under_the_toy_banner(win):
    w, d = win
    w.resize(1280, 720)
    page = w.show_page("stylize")
    page.use_toy_examples()
    note = ("photo.jpg is not from the toy world, and the model in use is the toy AdaIN "
            "trained on toy images only: expect flat colour. For real images import the "
            "official vgg_normalised.pth and decoder.pth on the Models page.")
    page.banner.set(note, "info")
    try:
        d.process(80)
        for z in (page.content, page.styles):
            g = z.grid
            r = g.visualItemRect(g.item(0))
            assert g.viewport().rect().contains(r), (r, g.viewport().rect())
    finally:
        page.banner.set(page.model_error, "warning")
