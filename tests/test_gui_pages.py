"""Each page end to end on the toy world: inputs, a small job, preview, outputs, cancel.

The pages' own ``self_test`` (what `studio gui --self-test` runs) is the script; these
tests run it under pytest and add checks for the cases a build may or may not have
(weights shipped or not), using resource folders made for the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PySide6.QtWidgets import QApplication

from studio.core.checkpoints import resources_dir

REAL_RESOURCES = resources_dir()


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-pages"), (1200, 800)) as wd:
        yield wd


def make_resources(tmp: Path, adain: bool = False) -> Path:
    """A resources folder: the real icons/style/teacher, plus random toy AdaIN weights."""
    res = tmp / "resources"
    (res / "toy").mkdir(parents=True)
    for sub in ("icons", "style"):
        (res / sub).symlink_to(REAL_RESOURCES / sub)
    teacher = REAL_RESOURCES / "toy" / "teacher.pth"
    if teacher.is_file():
        (res / "toy" / "teacher.pth").symlink_to(teacher)
    if adain:
        import torch

        from studio.adain import TOY, AdaINModel
        from studio.core.checkpoints import save_state_dict

        torch.manual_seed(0)
        m = AdaINModel(TOY)
        save_state_dict(m.encoder, res / "toy" / "adain_encoder.pth")
        save_state_dict(m.decoder, res / "toy" / "adain_decoder.pth")
    return res


def run_page(win, key):
    w, d = win
    page = w.show_page(key)
    d.process(20)
    try:
        return page, page.self_test(d)
    finally:
        w.ctx.queue.cancel_all()
        w.ctx.queue.wait_all(30, QApplication.processEvents)


def test_toyworld_page_generates_previews_and_cancels(win):
    page, note = run_page(win, "toyworld")
    assert "stall" in note
    assert page.browser.count() > 0


def test_evaluate_page_shows_accuracy_per_class_and_the_confusion_matrix(win):
    page, note = run_page(win, "evaluate")
    res = page.last_result
    assert note.startswith("top-1 ") and res["num_images"] > 0
    assert page.per_class.rowCount() == len(res["per_class"]) == 10
    assert page.per_class.item(0, 0).text() == next(iter(res["per_class"]))
    assert page.confusion.has_image() and page.result_view.value_text("top1") is not None


def test_models_page_imports_verifies_and_names_bad_files(win):
    page, note = run_page(win, "models")
    assert "models listed" in note
    assert any("broken.pth" in e for e in page.log.errors)


def test_jobs_page_history_recipes_rerun_cancel(win):
    page, note = run_page(win, "jobs")
    states = {r.state.value for r in win[0].ctx.queue.records}
    assert {"done", "cancelled"} <= states


def test_texture_page_stimuli_evaluation_and_browser(win):
    if not (REAL_RESOURCES / "toy" / "teacher.pth").is_file():
        pytest.skip("the toy teacher is not shipped in this checkout")
    page, note = run_page(win, "texture")
    assert "shape bias" in note
    page.dec_box.setCurrentIndex(page.dec_box.findData("shape"))
    assert all(r["decision"] == r["shape"] for r in page.filtered())


def test_stylize_page_alpha_moves_only_the_decoder(win, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_RESOURCES", str(make_resources(tmp_path, adain=True)))
    w, d = win
    page = w.pages["stylize"]
    page.session = type(page.session)()  # forget any model loaded from other resources
    assert page.check_model()
    _, note = run_page(win, "stylize")
    assert "decoder only" in note
    assert page.session.decoder_runs >= 3 and page.image.has_image()


def test_stylize_page_without_weights_says_what_is_missing(win, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_RESOURCES", str(make_resources(tmp_path, adain=False)))
    page = win[0].pages["stylize"]
    assert not page.check_model()
    assert "adain_encoder.pth" in page.banner.text() and page.banner.isVisibleTo(page)
    assert not page.render_button.isEnabled()
    page.check_model()


def test_build_page_without_weights_fails_with_a_clear_error(win, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_RESOURCES", str(make_resources(tmp_path, adain=False)))
    page, note = run_page(win, "build")
    assert "clear error" in note
    assert "adain" in page.panel.record.error.lower()


def test_synthesize_page_batch_grid_curves_and_distil_offer(win):
    w, d = win
    page = w.show_page("synthesize")
    page.panel.select("synthesize")
    f = page.panel.form()
    out = w.ctx.toy.root / "t-synth"
    for k, v in (("out", out), ("num_images", 4), ("batch_size", 4), ("iterations", 2),
                 ("preview_every", 1), ("metrics_every", 1), ("method", "deep")):
        f.set_value(k, v)
    rec = page.panel.run()
    d.wait_job(rec, 300)
    assert page.previews_seen > 0
    assert page.curves.series and all(k not in page.curves.series for k in ("batch", "lr"))
    assert (out / "manifest.jsonl").is_file()
    assert page.distill_button.isEnabled() and page.synthetic_out == out

    # a rerun with other settings into the same folder: the window asks first what
    # --overwrite does (issue 32); declining queues nothing and leaves the folder untouched
    before = (out / "manifest.jsonl").read_bytes()
    f.set_value("iterations", 3)
    w.ctx.headless_answer = False
    n = len(w.ctx.queue.records)
    assert page.panel.run() is None and len(w.ctx.queue.records) == n
    assert page.panel.record is rec and (out / "manifest.jsonl").read_bytes() == before
    w.ctx.headless_answer = True
    try:
        again = page.panel.run()
        assert again.params.overwrite and again.params.iterations == 3
        d.wait_job(again, 300)
    finally:
        w.ctx.headless_answer = False
    assert not [r for r in w.ctx.queue.records[n:] if r.state.value == "failed"]
    info = __import__("json").loads((out / "dataset.json").read_text())
    assert info["fingerprint"]["params"]["iterations"] == 3 and info["num_items"] == 4


def test_translate_page_pickers_fill_the_job(win, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_RESOURCES", str(make_resources(tmp_path)))
    page, note = run_page(win, "translate")
    assert "toy TSIT not shipped" in note
    f = page.panel.form("translate")
    assert f.value("content") == [Path(p) for p in page.content_zone.files]


def test_models_page_imports_a_dropped_file(win, tmp_path):
    import torch
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    w, d = win
    page = w.show_page("models")
    f = tmp_path / "dropped_model.pth"
    torch.save({"w": torch.ones(3)}, f)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    page.table.dropEvent(ev)
    rec = page.last
    d.wait_job(rec, 60)
    assert any(r["file"] == "dropped_model.pth" and r["state"].startswith("present")
               for r in page.rows)


def test_stylize_page_recipe_holds_lists_and_replays(win, tmp_path, monkeypatch):
    """Two styles with the window's "equal" weights: the recipe holds real lists (the
    weights written as 1, 1) and `studio run` replays it; loading it back shows "equal"."""
    import tomllib

    from studio.cli import main
    from studio.recipes import parse_recipe, recipe_text, save_recipe

    monkeypatch.setenv("STUDIO_RESOURCES", str(make_resources(tmp_path, adain=True)))
    page = win[0].pages["stylize"]
    page.use_toy_examples()
    page.weights.setText("")
    page.mask.setCurrentIndex(0)
    job, params = page.current_recipe()
    assert job == "adain.stylize" and len(params.style) == 2
    assert params.style_interpolation_weights == [1.0, 1.0] and params.masks == []
    assert parse_recipe(tomllib.loads(recipe_text(job, params)))[1] == params
    params.output = str(tmp_path / "out")
    recipe = save_recipe(tmp_path / "stylize.toml", job, params)
    assert main(["run", str(recipe), "-q"]) == 0
    assert len(list((tmp_path / "out").glob("*_interpolation.png"))) == 1
    page.weights.setText("1, 3")
    assert page.load_recipe(job, params) and page.weights.text() == ""
    params.style_interpolation_weights = [1.0, 3.0]
    assert page.load_recipe(job, params) and page.weights.text() == "1, 3"
