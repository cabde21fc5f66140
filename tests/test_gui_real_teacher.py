"""The window with real teachers (issue 30): the forms read mean/std as people type them,
the Synthesize page checks a real CIFAR ResNet before a synthesis (what loaded, top-1 on
real images, the run's length), and the Models page lists the community CIFAR files with
their normalisation and shows an imported one as present.

The real files live beside the checkout (``../shared/real``, see its README); the tests
that need them are skipped, saying so, where it is absent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PySide6.QtWidgets import QApplication

from studio.core.params import param
from studio.gui.paramsform import ParamsForm
from studio.recipes import RecipeError

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
RESNET20 = REAL / "cifar10-resnets" / "resnet20-12fca82f.th"
CIFAR_TEST = REAL / "cifar10-test-jpeg"
needs_real = pytest.mark.skipif(
    not (RESNET20.is_file() and CIFAR_TEST.is_dir()),
    reason=f"the real CIFAR-10 teachers and images are not at {REAL} (see "
           "shared/real/README.md: they sit beside the checkout, never in it)")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@dataclass
class NormParams:
    mean: list[float] | None = param(None, "input mean")
    std: list[float] | None = param(None, "input std")
    sizes: list[int] = param(help="sizes", factory=lambda: [32])


# -- the form ------------------------------------------------------------------------------

def test_an_optional_float_list_reads_commas_spaces_and_empty(qtbot):
    form = ParamsForm(NormParams)
    qtbot.addWidget(form)
    ed = form.editors["mean"]
    assert form.value("mean") is None and ed.widget.text() == ""
    assert "empty = default" in ed.widget.placeholderText()
    for text in ("0.485 0.456 0.406", "0.485, 0.456, 0.406", " 0.485,0.456  0.406 ",
                 "0.485,\t0.456,0.406,"):
        ed.widget.setText(text)
        assert form.value("mean") == pytest.approx(IMAGENET_MEAN), text
        assert ed.error == "" and not ed.widget.property("invalid")
    ed.widget.setText("")
    assert form.params().mean is None
    form.set_value("std", IMAGENET_STD)
    assert form.params().std == pytest.approx(IMAGENET_STD)
    form.editors["sizes"].widget.setText("32 64")
    assert form.params().sizes == [32, 64]


def test_a_bad_entry_is_marked_where_it_was_typed_never_dropped(qtbot):
    form = ParamsForm(NormParams)
    qtbot.addWidget(form)
    ed = form.editors["mean"]
    for text in ("0.485 abc 0.406", "0.485,,0.406", "0.485 0.456 1e"):
        ed.widget.setText(text)
        assert ed.error and ed.widget.property("invalid"), text
        assert "Not valid" in ed.widget.toolTip() and "red" not in ed.error
        with pytest.raises(RecipeError, match="Mean"):
            form.params()
    ed.widget.setText("0.5 0.5 0.5")
    assert ed.error == "" and not ed.widget.property("invalid")
    assert "Not valid" not in ed.widget.toolTip()
    # a page's own check (three numbers) is applied while typing and on params()
    form.set_validator("mean", lambda v: None if len(v) == 3 else "needs three numbers")
    ed.widget.setText("0.5 0.5")
    assert "three numbers" in ed.error
    with pytest.raises(RecipeError, match="three numbers"):
        form.params()


def test_a_path_or_name_field_has_a_file_picker(qtbot):
    from studio.gui.widgets import PathEdit
    from studio.inversion.params import SynthesizeParams

    form = ParamsForm(SynthesizeParams)
    qtbot.addWidget(form)
    w = form.editors["teacher"].widget
    assert isinstance(w, PathEdit) and w.text() == "toy"
    w.setText("cifar10-resnet20")
    assert form.value("teacher") == "cifar10-resnet20"  # a name stays a string


# -- the window ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-real"), (1280, 720)) as wd:
        yield wd


def test_synthesize_page_reads_mean_std_and_checks_the_toy_teacher(win):
    w, d = win
    page = w.show_page("synthesize")
    page.panel.select("synthesize")
    f = page.panel.form("synthesize")
    f.editors["mean"].widget.setText("0.5 0.5")
    assert "three numbers" in f.editors["mean"].error
    page.check_teacher()
    assert page.check_record is None and "three numbers" in page.check_label.text()
    f.set_value("mean", None)
    f.editors["std"].widget.setText("0.25 0 0.25")
    assert "> 0" in f.editors["std"].error
    f.set_value("std", None)
    for k, v in (("teacher", "toy"), ("method", "deep"), ("num_images", 8),
                 ("batch_size", 4), ("iterations", 10)):
        f.set_value(k, v)
    params = dataclasses.replace(page.preflight_params(), warmup_iterations=1, device="cpu")
    assert (params.teacher, params.batch_size, params.iterations) == ("toy", 4, 10)
    rec = page.check_teacher(params)
    assert not page.check_button.isEnabled()
    d.wait_job(rec, 180)
    text = page.check_label.text()
    assert "toyvgg · toy · mean 0.5, 0.5, 0.5" in text and "64 px" in text
    assert "Top-1 not measured" in text
    assert "per deep iteration at batch 4" in text and "8 images × 10 iterations" in text
    assert page.check_button.isEnabled() and page.check_box.isVisible()
    # a new teacher makes the shown check stale
    f.set_value("teacher", "cifar10-resnet20")
    assert "changed" in page.check_label.text() and page.check_result is None
    # the Jobs page's "Edit in page" of a check fills the synthesis form again
    assert w.open_recipe("synthesize-preflight", params) is page
    assert f.value("teacher") == "toy" and f.value("batch_size") == 4


@needs_real
def test_the_real_resnet20_check_reports_its_normalisation_and_accuracy():
    from studio.core.jobs import drive
    from studio.inversion.preflight.job import preflight_job
    from studio.inversion.preflight.params import PreflightParams

    res = drive(preflight_job(PreflightParams(
        teacher=str(RESNET20), real=CIFAR_TEST, limit=200, num_images=64, batch_size=8,
        warmup_iterations=1, device="cpu")))
    t = res["teacher"]
    assert (t["arch"], t["data"], t["image_size"]) == ("cifar_resnet20", "cifar10_akamaster",
                                                       32)
    assert t["mean"] == pytest.approx(IMAGENET_MEAN) and t["std"] == pytest.approx(IMAGENET_STD)
    assert t["sha256"].startswith("12fca82f")
    assert res["real_images"] == 200 and 0.6 < res["accuracy"] < 0.95
    assert res["class_match"] is True
    assert (res["iterations"], res["num_batches"]) == (2000, 8)  # the paper's, 64 / 8


@needs_real
def test_synthesize_page_checks_a_real_teacher_with_typed_mean_std(win):
    w, d = win
    page = w.show_page("synthesize")
    page.panel.select("synthesize")
    f = page.panel.form("synthesize")
    f.set_value("teacher", str(RESNET20))
    f.editors["mean"].widget.setText("0.485 0.456 0.406")
    f.editors["std"].widget.setText("0.229, 0.224, 0.225")
    for k, v in (("method", "natural"), ("num_images", 64), ("batch_size", 8),
                 ("iterations", None), ("preset", "cifar10")):
        f.set_value(k, v)
    page.check_real.setText(str(CIFAR_TEST))
    params = page.preflight_params()
    assert params.mean == pytest.approx(IMAGENET_MEAN) and params.std == pytest.approx(
        IMAGENET_STD)
    assert params.real == CIFAR_TEST and params.limit == 1000
    rec = page.check_teacher(dataclasses.replace(params, limit=200, warmup_iterations=1,
                                                 device="cpu"))
    d.wait_job(rec, 300)
    assert 0.6 < page.check_result["accuracy"] < 0.95
    text = page.check_label.text()
    assert "cifar_resnet20 · cifar10_akamaster · mean 0.485, 0.456, 0.406 · std 0.229, " \
           "0.224, 0.225 · 32 px · 10 classes (airplane, automobile, bird, cat, …)" in text
    assert f"on 200 real images of {CIFAR_TEST}" in text and "Top-1 " in text
    assert "per natural iteration at batch 8" in text and "64 images × 2000 iterations" in text
    assert any("top-1" in line for line in page.log.toPlainText().splitlines())
    from studio.gui.selftest import clipped_texts

    assert clipped_texts(w) == []


def test_distilling_after_a_real_synthesis_keeps_its_teacher(win, tmp_path):
    """The one-click follow-up must distil from the teacher that made the data, loaded the
    same way — not the toy teacher of the form's defaults, nor on the toy world."""
    from studio.inversion.params import SynthesizeParams

    w, d = win
    page = w.show_page("synthesize")
    page.synthetic_out = tmp_path / "syn"
    page.synthetic_params = SynthesizeParams(out=tmp_path / "syn", teacher="cifar10-resnet20",
                                             mean=IMAGENET_MEAN, std=IMAGENET_STD)
    page.check_real.setText("")
    assert page.follow_up("distill", review=True) is None
    f = page.panel.form("distill")
    assert (f.value("teacher"), f.value("mean"), f.value("real_test")) == (
        "cifar10-resnet20", pytest.approx(IMAGENET_MEAN), None)
    assert not page.check_box.isVisible()  # the check is about the synthesis form
    page.check_real.setText(str(tmp_path))
    page.follow_up("prune", review=True)
    assert page.panel.form("prune").value("real_test") == tmp_path
    page.panel.select("synthesize")


@needs_real
def test_models_page_lists_the_cifar_resnets_with_their_input_and_imports_one(win, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "models"))
    w, d = win
    page = w.show_page("models")
    page.refresh()

    def row(name: str) -> dict:
        return next(r for r in page.rows if r["name"] == name)

    r = row("cifar10-resnet20")
    assert r["state"] == "missing" and r["arch"] == "cifar_resnet20"
    assert r["input"] == "ImageNet mean/std, 32 px, CIFAR-10 classes"
    assert row("chenyaofo-cifar10-resnet20")["input"] == \
        "CIFAR-10 mean/std, 32 px, CIFAR-10 classes"
    i = page.rows.index(r)
    cols = {page.table.horizontalHeaderItem(j).text(): page.table.item(i, j).text()
            for j in range(page.table.columnCount())}
    assert cols["Arch"] == "cifar_resnet20" and cols["Input"].startswith("ImageNet mean/std")
    page.table.selectRow(i)
    assert "mean 0.485, 0.456, 0.406, std 0.229, 0.224, 0.225" in page.detail.text()
    rec = page.import_files([str(RESNET20)])
    d.wait_job(rec, 120)
    r = row("cifar10-resnet20")
    assert r["state"] == "present" and r["path"] == tmp_path / "models" / RESNET20.name
    assert (tmp_path / "models" / RESNET20.name).is_file()
    w.ctx.queue.wait_all(30, QApplication.processEvents)
