"""The panel follows the job (issue 32): a new run is shown where it runs, a page's bar and
state belong to the job it sets up, light actions do not wait behind long ones, and a
slow training says how far it is at every iteration.

Most jobs here are stand-ins (``fn=``) that yield the events a real job yields: what is
tested is the window's view of a job, not the engines.
"""

from __future__ import annotations

import csv
import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from conftest import main_window
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QPushButton

from studio.core.jobs import Preview, Progress
from studio.gui.pages.base import JobPage


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    with main_window(tmp_path_factory.mktemp("gui-follow"), (1280, 720), settle=True) as wd:
        yield wd


def quick(result=None, steps: int = 2, image: bool = True):
    """A stand-in job: a few steps, a preview, then ``result``."""
    def fn(params, token):
        for i in range(steps):
            token.check()
            yield Progress(i + 1, steps, f"step {i + 1}")
            if image:
                yield Preview(np.full((8, 8, 3), 40 * i, np.uint8), "stand-in", i + 1)
        return result if result is not None else {"ok": True}
    return fn


def failing(message: str = "stand-in failure"):
    def fn(params, token):
        yield Progress(0, 1, "")
        raise ValueError(message)
    return fn


def held(gate: threading.Event, steps: int = 1000, message: str = ""):
    """A long stand-in (a training): steps until ``gate`` is set or it is cancelled."""
    def fn(params, token):
        for i in range(steps):
            token.check()
            yield Progress(i, steps, message or f"iteration {i}")
            if gate.wait(0.02):
                break
        return {"iterations": i}
    return fn


# -- a new job is shown where it runs ---------------------------------------------------------

def test_every_job_page_shows_a_new_run_on_its_live_tab(win):
    """Whatever tab the last run left open (its Result, Log, Errors, a plan), a new run
    opens the tab where it runs; only Curves (live too) is left as chosen."""
    w, d = win
    for key, page in w.pages.items():
        if not isinstance(page, JobPage) or not page.panel.available:
            continue
        name = page.panel.job_name()
        params = page.panel.params()
        live = page.live_tab()
        for stale in (page.result_view, page.log):
            page.tabs.setCurrentWidget(stale)
            rec = page.panel.start(name, params, fn=quick())
            assert page.tabs.currentWidget() is live, (key, page.tabs.tabText(
                page.tabs.currentIndex()))
            d.wait_job(rec)
        page.tabs.setCurrentWidget(page.curves)
        rec = page.panel.start(name, params, fn=quick())
        assert page.tabs.currentWidget() is page.curves, key
        d.wait_job(rec)


def test_a_build_after_a_dry_run_shows_the_live_grid_not_the_plan(win, tmp_path):
    w, d = win
    page = w.show_page("build")
    params = dataclasses.replace(page.panel.params(), out=tmp_path / "built")
    plan = {"contents": 30, "classes": 10, "to_make": 30, "styles_usable": 20,
            "styles_rejected": 0, "flops_total": 1e12, "estimated_seconds": 12.0,
            "device": "cpu", "model": "toy"}
    rec = page.panel.start("build-stylized", dataclasses.replace(params, dry_run=True),
                           fn=quick(plan, image=False), title="build-stylized (dry run)")
    d.wait_job(rec)
    assert "Plan" in page.plan_label.text()
    assert page.tabs.currentIndex() == 1  # the plan is shown (Outputs tab)
    for stale in (page.errors, None):  # with the Errors tab open, or the plan
        if stale is not None:
            page.tabs.setCurrentWidget(stale)
        rec = page.panel.start("build-stylized", params, fn=quick({"out": str(params.out),
                                                                   "made": 2}))
        assert page.tabs.currentWidget() is page.preview_tab
        assert "Plan" not in page.plan_label.text() and "building" in page.plan_label.text()
        d.wait_job(rec)
        d.wait(lambda: page.feed.count() > 0, 10, "the live grid")
        assert page.preview.has_image()


def test_switching_the_job_resets_the_bar_and_state(win):
    w, d = win
    page = w.show_page("synthesize")
    panel, controls = page.panel, page.panel.controls
    assert panel.select("synthesize")
    rec = panel.start("synthesize", panel.params(), fn=failing())
    d.wait_job(rec, state="failed")
    assert controls.bar.format() == "failed" and "failed" in controls.status_text()
    for job in ("distill", "prune"):
        assert panel.select(job)
        assert controls.record is None
        assert controls.bar.format() == "" and controls.bar.value() == 0
        assert controls.status_text() == "ready"
        assert not panel.open_button.isEnabled()
    # back on the job that failed: its state is shown again
    assert panel.select("synthesize")
    assert controls.record is rec and "failed" in controls.status_text()
    # a distillation done, then back to Synthesize: no "done" of the distillation there
    assert panel.select("distill")
    rec = panel.start("distill", panel.params(), fn=quick(image=False))
    d.wait_job(rec)
    assert controls.bar.format() == "done"
    assert panel.select("synthesize")
    assert "done" not in controls.bar.format() and "done" not in controls.status_text()


def test_train_tsit_starts_without_the_last_translations(win):
    w, d = win
    page = w.show_page("translate")
    page.outputs.add_image(QImage(8, 8, QImage.Format.Format_RGB888), "last translation")
    assert page.panel.select("train-tsit")
    rec = page.panel.start("train-tsit", page.panel.params(), fn=quick(image=False))
    assert page.outputs.count() == 0
    d.wait_job(rec)
    page.panel.select("translate")


def test_a_successful_retry_clears_the_old_failure_in_the_status_bar(win):
    w, d = win
    page = w.show_page("toyworld")
    params = page.panel.params()
    rec = page.panel.start("toyworld", params, fn=failing("the disk is full"))
    d.wait_job(rec, state="failed")
    d.process(20)
    assert "the disk is full" in w.statusBar().currentMessage()
    other = w.ctx.queue.submit("toyworld", params, fn=quick(image=False), page="models")
    d.wait_job(other)  # another page's job does not take the message away
    assert "the disk is full" in w.statusBar().currentMessage()
    again = page.panel.start("toyworld", params, fn=quick(image=False))
    d.wait_job(again)
    assert w.statusBar().currentMessage() == ""


def _fake_evaluation(root: Path) -> tuple[Path, Path, dict]:
    """Stimuli, a decisions.csv and a summary as shape-bias writes them (2 stimuli)."""
    stim, out = root / "stimuli", root / "eval"
    rows = [("cat/cat1-dog1.png", "cat", "dog", "cat", "1", "0"),
            ("dog/dog1-cat1.png", "dog", "cat", "dog", "1", "0")]
    from PIL import Image

    for f, *_ in rows:
        (stim / f).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (200, 30, 30)).save(stim / f)
    (out / "m").mkdir(parents=True)
    with open(out / "m" / "decisions.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["file", "shape", "texture", "decision", "correct-shape",
                     "correct-texture"])
        wr.writerows(rows)
    summary = {"m": {"shape_bias": 1.0, "n_shape": 2, "n_texture": 0, "n_other": 0,
                     "n_conflict": 2, "per_category": {}}}
    return out, stim, {"summaries": summary}


def test_a_filtered_empty_stimulus_grid_shows_no_stale_detail(win, tmp_path):
    w, d = win
    page = w.show_page("texture")
    out, stim, result = _fake_evaluation(tmp_path)
    page.show_evaluation(out, stim, result)
    d.wait(lambda: page.browser.count() == 2 and not page.browser.loading(), 20,
           "the stimulus browser")
    page.browser.setCurrentRow(0)
    shown = page.detail_path
    assert page.detail.has_image() and "cat" in page.detail_info.text()
    page.dec_box.setCurrentIndex(page.dec_box.findData("texture"))  # no texture decisions
    d.wait(lambda: page.browser.count() == 0 and not page.browser.loading(), 20,
           "the empty browser")
    assert not page.detail.has_image() and page.detail_info.text() == ""
    assert page.detail.placeholder == "no stimulus matches these filters"
    page._on_probabilities(shown, {"m": [("cat", 0.9)]})  # a late answer for the old one
    assert page.detail_info.text() == ""
    assert page.count_label.text() == "0 / 2"
    page.dec_box.setCurrentIndex(0)


# -- builds: one Resume, one count -------------------------------------------------------------

def test_a_paused_build_has_one_resume_and_the_bar_and_line_count_alike(win, tmp_path):
    w, d = win
    page = w.show_page("build")
    params = dataclasses.replace(page.panel.params(), out=tmp_path / "b")
    gate = threading.Event()

    def build(params, token):  # the builder's events: written (bar) vs stylised (line)
        yield Progress(9, 20, "16 stylised, 0 failed")
        while not gate.wait(0.02):
            token.check()
        return {"out": str(params.out), "made": 20}

    rec = page.panel.start("build-stylized", params, fn=build)
    d.wait(lambda: rec.step == 9, 10, "the first progress")
    c = page.panel.controls
    c._refresh()
    assert c.bar.format().startswith("9/20 written")
    assert "9/20 written · 16 stylised" in c.status_text()
    c.pause_button.click()
    d.wait(lambda: rec.state.value == "paused", 5, "the pause")
    resumes = [b for b in page.findChildren(QPushButton)
               if b.isVisible() and "resume" in b.text().lower()]
    assert resumes == [c.pause_button], [b.text() for b in resumes]
    c.pause_button.click()
    page.panel.cancel()
    d.wait_job(rec, state="cancelled")
    # stopped: the page offers to finish it (the pause button is idle again)
    assert page.resume_button.isVisible() and page.resume_button.isEnabled()
    assert c.pause_button.text() == "Pause"
    gate.set()


# -- quick actions do not wait behind long ones ---------------------------------------------

def test_an_import_completes_while_a_training_runs(win, tmp_path):
    from studio.core.checkpoints import save_zeros

    w, d = win
    gate = threading.Event()
    tsit = w.pages["translate"]
    assert tsit.panel.select("train-tsit")
    training = tsit.panel.start("train-tsit", tsit.panel.params(), fn=held(gate))
    d.wait_running(training)
    queued = w.ctx.queue.submit("toyworld", w.pages["toyworld"].panel.params(),
                                fn=quick(image=False))  # a second long job waits its turn
    models = w.show_page("models")
    ckpt = tmp_path / "quick_net.pth"
    save_zeros(ckpt, {"conv.weight": (2, 3, 1, 1)})
    t0 = time.monotonic()
    rec = models.import_files([str(ckpt)])
    assert rec.lane == "quick"
    d.wait_job(rec, 60)
    assert training.state.value == "running" and queued.state.value == "queued"
    assert time.monotonic() - t0 < 30
    assert any(r["file"] == ckpt.name for r in models.rows)
    verify = w.ctx.queue.submit("models-verify", rec.params, fn=quick(image=False))
    assert verify.lane == "quick"
    d.wait_job(verify)
    assert training.state.value == "running"
    gate.set()
    d.wait_job(training)
    d.wait_job(queued)
    tsit.panel.select("translate")


def test_queue_lanes_keep_their_order_and_positions(qapp):
    from studio.gui.selftest import Driver
    from studio.gui.workers import JobQueue

    q = JobQueue()
    gates = [threading.Event() for _ in range(4)]
    long1 = q.submit("a", None, fn=held(gates[0]))
    long2 = q.submit("b", None, fn=held(gates[1]))
    q1 = q.submit("c", None, fn=held(gates[2]), light=True)
    q2 = q.submit("d", None, fn=held(gates[3]), light=True)
    q3 = q.submit("e", None, fn=quick(image=False), light=True)
    assert [r.state.value for r in (long1, long2, q1, q2, q3)] == \
        ["running", "queued", "running", "running", "queued"]
    assert q.queue_position(long2) == 1 and q.queue_position(q3) == 1
    for g in gates:
        g.set()

    class W:  # the Driver only needs a window with a context
        ctx = None
    d = Driver(W(), log=lambda s: None)
    d.wait(lambda: all(r.state.finished for r in (long1, long2, q1, q2, q3)), 30, "the jobs")
    assert long2.started >= long1.ended - 0.05


def test_rerun_and_run_recipe_ask_before_queuing_over_other_settings(win, tmp_path):
    """The Jobs page's Rerun and Run recipe ask "Start afresh?" as the pages do."""
    from studio.recipes import save_recipe
    from studio.toyworld.generate import ToyWorldParams

    w, d = win
    out = tmp_path / "world"
    first = w.ctx.queue.submit("toyworld", ToyWorldParams(out, per_class=1, workers=1,
                                                          splits=["train"]))
    d.wait_job(first, 60)
    jobs = w.show_page("jobs")
    other = ToyWorldParams(out, per_class=2, workers=1, splits=["train"])
    changed = w.ctx.queue.submit("toyworld", other, fn=quick(image=False))
    d.wait_job(changed)  # a stand-in: the folder still holds the per_class=1 build
    recipe = save_recipe(tmp_path / "other.toml", "toyworld", other)
    n = len(w.ctx.queue.records)
    w.ctx.headless_answer = False
    jobs.refresh()
    jobs.select(changed)
    assert jobs.rerun() is None and "not queued" in jobs.banner.text()
    assert jobs.run_recipe(recipe) is None
    assert len(w.ctx.queue.records) == n  # nothing queued, nothing failed
    w.ctx.headless_answer = True
    try:
        jobs.select(changed)
        again = jobs.rerun()
        assert again is not None and again.params.overwrite
        d.wait_job(again, 60)
    finally:
        w.ctx.headless_answer = False


# -- Train TSIT: every iteration, with an ETA ---------------------------------------------------

def _tsit_params(tmp_path: Path, **kw):
    import torch
    from PIL import Image

    from studio.core.checkpoints import save_state_dict
    from studio.toyworld.models import ToyVGG
    from studio.tsit.train import TrainTSITParams

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            data / f"im{i}.png")
    torch.manual_seed(0)
    enc = save_state_dict(ToyVGG(), tmp_path / "toy_teacher.pth")
    base = TrainTSITParams(data=data, style=data, out=tmp_path / "run", task="summer2winter",
                           ngf=4, depth=4, size=32, batch_size=2, iterations=4, ndf=8,
                           perceptual="toy", perceptual_weights=enc, preview_every=100,
                           save_every=100, log_every=10, device="cpu", pairing="random",
                           threads=1)
    return dataclasses.replace(base, **kw)


def test_train_tsit_reports_every_iteration(tmp_path):
    from studio.core.jobs import CancelToken, Metrics
    from studio.tsit.train import train_job

    p = _tsit_params(tmp_path)
    gen = train_job(p, CancelToken())
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration:
        pass
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == [0, 1, 2, 3, 4]  # log_every is 10: progress does not wait for it
    assert [e.step for e in events if isinstance(e, Metrics)] == [4]
    assert all(e.total == 4 for e in events if isinstance(e, Progress))


def test_train_tsit_page_shows_an_eta_while_it_runs(win, tmp_path):
    w, d = win
    page = w.show_page("translate")
    assert page.panel.select("train-tsit")
    p = _tsit_params(tmp_path, iterations=6)
    seen: list[str] = []
    rec = page.panel.start("train-tsit", p)
    c = page.panel.controls
    rec.handle.progress.connect(lambda ev: seen.append(c.status_text()))
    d.wait_job(rec, 300)
    etas = [s for s in seen if "ETA" in s and "ETA –" not in s]
    assert etas, seen
    assert rec.step == 6
    page.panel.select("translate")
