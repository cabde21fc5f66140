"""Workers and the job queue: events become signals, cancel/pause/errors, no stalls."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication

from studio.core.jobs import CancelToken, Log, Metrics, Preview, Progress
from studio.gui.workers import (
    JobQueue,
    JobState,
    LatestRunner,
    qimage_from_array,
)


@dataclass
class StepParams:
    steps: int = 10
    delay: float = 0.0
    previews: bool = False
    fail_at: int = -1
    out: Path | None = None


def step_job(p: StepParams, token: CancelToken | None = None):
    token = token or CancelToken()
    done = []
    for i in range(p.steps):
        token.check()
        if i == p.fail_at:
            raise ValueError(f"bad input at step {i}")
        if p.delay:
            time.sleep(p.delay)
        done.append(i)
        yield Progress(i + 1, p.steps, f"step {i}")
        if p.previews:
            yield Preview(np.full((600, 300, 3), i, np.uint8), f"p{i}", i)
        yield Metrics(i, {"loss": 1.0 / (i + 1)})
    yield Log("finished")
    return {"done": done, "out": str(p.out) if p.out else ""}


def wait_finished(qtbot, rec, timeout=20000):
    qtbot.waitUntil(lambda: rec.state.finished, timeout=timeout)


def test_qimage_from_array_downscales_and_accepts_layouts():
    img = qimage_from_array(np.zeros((1000, 500, 3), np.uint8), 256)
    assert (img.width(), img.height()) == (128, 256)
    gray = qimage_from_array(np.full((10, 20), 200, np.uint8))
    assert gray.pixelColor(3, 3).red() == 200 and (gray.width(), gray.height()) == (20, 10)
    chw = qimage_from_array(np.ones((3, 8, 6), np.float32))
    assert (chw.width(), chw.height()) == (6, 8) and chw.pixelColor(0, 0).green() == 255


def test_events_arrive_as_signals_and_result_is_kept(qtbot, tmp_path):
    q = JobQueue()
    previews, logs = [], []

    def listen(rec):  # connected before the worker starts (job_added comes first)
        rec.handle.preview.connect(lambda img, cap, step: previews.append((img.width(),
                                                                           img.height(), cap)))
        rec.handle.log.connect(lambda m, lvl: logs.append(m))

    q.job_added.connect(listen)
    rec = q.submit("steps", StepParams(steps=30, previews=True, out=tmp_path), fn=step_job)
    wait_finished(qtbot, rec)
    assert rec.state == JobState.DONE
    assert rec.result["done"] == list(range(30))
    assert (rec.step, rec.total) == (30, 30)
    assert logs == ["finished"]
    # throttled: far fewer than 30 previews, but the last one always arrives, downscaled
    assert 1 <= len(previews) < 30
    assert previews[-1] == (256, 512, "p29")
    assert rec.metrics["loss"][-1] == (29, 1.0 / 30)
    assert rec.outputs() == [tmp_path]


def test_cancel_takes_effect_within_one_step(qtbot):
    q = JobQueue()
    rec = q.submit("steps", StepParams(steps=200, delay=0.01), fn=step_job)
    qtbot.waitUntil(lambda: rec.step >= 3, timeout=10000)
    q.cancel(rec)
    at_cancel = rec.step
    wait_finished(qtbot, rec)
    assert rec.state == JobState.CANCELLED
    assert rec.step <= at_cancel + 2  # the step in flight, plus a progress not yet shown
    assert rec.step < 200


def test_pause_blocks_and_resume_finishes(qtbot):
    q = JobQueue()
    rec = q.submit("steps", StepParams(steps=40, delay=0.01), fn=step_job)
    qtbot.waitUntil(lambda: rec.step >= 2, timeout=10000)
    q.pause(rec)
    assert rec.state == JobState.PAUSED
    qtbot.wait(200)
    held = rec.step
    qtbot.wait(300)
    assert rec.step <= held + 1 and not rec.state.finished
    q.resume(rec)
    wait_finished(qtbot, rec)
    assert rec.state == JobState.DONE and rec.result["done"][-1] == 39


def test_error_is_recorded_and_the_queue_goes_on(qtbot):
    q = JobQueue()
    bad = q.submit("steps", StepParams(steps=5, fail_at=2), fn=step_job)
    good = q.submit("steps", StepParams(steps=3), fn=step_job)
    assert good.state == JobState.QUEUED  # one at a time
    wait_finished(qtbot, good)
    assert bad.state == JobState.FAILED
    assert bad.error == "bad input at step 2" and "ValueError" in bad.traceback
    assert bad.log[-1][1:] == ("error", "bad input at step 2")
    assert good.state == JobState.DONE


def test_cancelling_a_queued_job_never_runs_it(qtbot):
    q = JobQueue()
    first = q.submit("steps", StepParams(steps=50, delay=0.01), fn=step_job)
    second = q.submit("steps", StepParams(steps=3), fn=step_job)
    q.cancel(second)
    assert second.state == JobState.CANCELLED and second.started is None
    q.cancel(first)
    wait_finished(qtbot, first)
    assert second.result is None


def test_rerun_and_history_bound(qtbot):
    q = JobQueue(history_limit=3)
    recs = []
    for _ in range(4):
        r = q.submit("steps", StepParams(steps=1), fn=step_job)
        wait_finished(qtbot, r)
        recs.append(r)
    assert len(q.records) == 3 and recs[0] not in q.records
    again = q.rerun(recs[-1])
    wait_finished(qtbot, again)
    assert again.result == recs[-1].result and again.id != recs[-1].id


def test_latest_runner_skips_stale_requests(qtbot):
    runner = LatestRunner()
    got = []
    runner.result.connect(lambda tag, v: got.append(v))

    def slow(v):
        def fn():
            time.sleep(0.05)
            return v
        return fn

    for v in range(6):
        runner.submit("x", slow(v))
    qtbot.waitUntil(lambda: not runner.busy(), timeout=5000)
    assert got[0] == 0 and got[-1] == 5 and len(got) <= 3


def test_event_loop_never_stalls_while_a_job_runs(qtbot, tmp_path):
    """The issue's bar: < 50 ms between 10 ms timer ticks while the toy world is drawn."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    from studio.toyworld.generate import ToyWorldParams

    q = JobQueue()
    clock = QElapsedTimer()
    clock.start()
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(clock.elapsed()))
    timer.start()
    rec = q.submit("toyworld", ToyWorldParams(tmp_path / "w", per_class=25, workers=1))
    while not rec.state.finished:
        QApplication.processEvents()
        time.sleep(0.002)
    timer.stop()
    assert rec.state == JobState.DONE, rec.error
    gaps = np.diff(ticks)
    assert len(gaps) > 5
    from studio.gui.selftest import load_per_core, stall_verdict

    ok, note = stall_verdict(float(gaps.max()))
    assert ok, note
    if gaps.max() >= 50:
        pytest.skip(f"{note} (load {load_per_core():.1f} per core)")
