"""Compare and context help (issue 32): two jobs' outputs side by side from the Jobs page,
each captioned with the file's full provenance; F1 opens the guide at the current page's
section."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PySide6.QtCore import QItemSelectionModel

from studio.core.checkpoints import resources_dir

TOY = resources_dir() / "toy"


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-compare"), (1280, 720), settle=True) as wd:
        yield wd


def select_two(jobs, a, b) -> None:
    jobs.refresh()
    jobs.select(a)
    rows = jobs.records()
    jobs.table.selectionModel().select(
        jobs.table.model().index(rows.index(b), 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    jobs.refresh()


@pytest.mark.skipif(not (TOY / "adain_decoder.pth").is_file(), reason="no toy AdaIN")
def test_two_stylize_runs_compare_file_by_file_with_provenance(win, tmp_path):
    from studio.adain.params import StylizeParams

    w, d = win
    toy = w.ctx.toy
    content = toy.shape_images()[0]
    style = toy.texture_images()[0]
    recs = []
    for alpha, name in ((0.3, "a"), (0.9, "b")):
        p = StylizeParams(content=str(content), style=[str(style)], alpha=alpha,
                          content_size=64, style_size=64, save_ext=".png",
                          output=str(tmp_path / name), workers=1)
        r = w.ctx.queue.submit("adain.stylize", p)
        d.wait_job(r, 120)
        r.last_preview = None  # no previews: the outputs themselves are compared
        recs.append(r)
    jobs = w.show_page("jobs")
    select_two(jobs, *recs)
    assert jobs.buttons["compare"].isEnabled()
    v = jobs.compare()
    assert v is not None and v.view.a is not None and v.view.b is not None
    cap = v.caption.text()
    a_line, b_line = cap.split("\nB: ")[0], cap.split("\nB: ")[1]
    assert f"#{recs[0].id}" in a_line and "alpha 0.3" in a_line
    assert f"#{recs[1].id}" in b_line and "alpha 0.9" in b_line
    for part in ("content " + str(content), "style " + str(style), "config toy"):
        assert part in cap, (part, cap)
    v.close()


def test_jobs_with_only_previews_still_compare_and_one_job_is_refused(win, tmp_path):
    import numpy as np

    from studio.core.jobs import Preview, Progress

    w, d = win

    def job(params, token):
        yield Progress(1, 1)
        yield Preview(np.zeros((8, 8, 3), np.uint8), "p", 1)
        return {}

    a = w.ctx.queue.submit("toyworld", None, fn=job, title="preview only A")
    b = w.ctx.queue.submit("toyworld", None, fn=job, title="preview only B")
    d.wait_job(a)
    d.wait_job(b)
    jobs = w.show_page("jobs")
    select_two(jobs, a, b)
    v = jobs.compare()
    assert v is not None and "(last preview)" in v.caption.text()
    v.close()
    jobs.select(a)
    assert not jobs.buttons["compare"].isEnabled()
    n = len(w.ctx.messages)
    assert jobs.compare() is None and len(w.ctx.messages) == n + 1


def test_the_viewer_caption_gives_a_dataset_files_provenance(win):
    from studio.core.images import list_images
    from studio.gui.viewer import provenance_text

    w, d = win
    f = list_images(w.ctx.toy.world / "train", recursive=True)[0]
    text = provenance_text(f)  # from the folder's manifest.jsonl
    assert "seed 0" in text and "shape " in text and "texture " in text
    page = w.show_page("toyworld")
    page.which.setCurrentText("scenes (train)")
    page.refresh_browser()
    d.wait(lambda: page.browser.count() > 0 and not page.browser.loading(), 30, "browser")
    v = page.browser.open_viewer(page.browser.item(0))
    assert "seed " in v.caption.text() and "texture " in v.caption.text()
    v.close()


def test_f1_opens_the_guide_at_the_pages_section(win):
    w, d = win
    for key in w.page_keys():
        page = w.show_page(key)
        docs = w.open_docs()
        d.process(30)
        assert docs.current == "gui.md"
        assert docs.section == page.title, (key, docs.section)
        assert (2, "Pages") in docs.headings() or (3, page.title) in docs.headings()
        # the section's heading is at the top of the window, not somewhere below
        top = docs.browser.cursorRect().top()
        assert 0 <= top < docs.browser.viewport().height() // 3, (key, top)
    docs.close()


def test_the_section_stays_at_the_top_when_the_help_window_is_resized(win):
    w, d = win
    w.show_page("stylize")
    docs = w.open_docs()
    d.process(30)
    docs.resize(900, 640)
    d.process(60)
    assert docs.section == "Stylize"
    top = docs.browser.cursorRect().top()
    assert 0 <= top < docs.browser.viewport().height() // 3, top
    docs.close()
