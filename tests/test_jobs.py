"""The job protocol: events, cancellation, pause, and the terminal renderer."""

import io
import threading
import time

import numpy as np
import pytest

from studio.core.jobs import (
    Cancelled,
    CancelToken,
    Log,
    Metrics,
    Preview,
    Progress,
    ProgressBar,
    drive,
    run_job,
)


def _job(n, token):
    for i in range(n):
        token.check()
        yield Progress(i + 1, n, "step")
        if i == 0:
            yield Preview(np.zeros((2, 2, 3), np.uint8), "first", i)
            yield Log("started")
            yield Metrics(i, {"loss": 1.0})
    return {"done": n}


def test_drive_passes_every_event_and_returns_the_result():
    events = []
    assert drive(_job(3, CancelToken()), events.append) == {"done": 3}
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Progress", "Preview", "Log", "Metrics", "Progress", "Progress"]


def test_cancel_takes_effect_at_the_next_step():
    token = CancelToken()
    seen = []

    def on(ev):
        seen.append(ev)
        if isinstance(ev, Progress) and ev.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        drive(_job(10, token), on)
    assert max(e.step for e in seen if isinstance(e, Progress)) == 2


def test_pause_blocks_until_resume_and_cancel_wakes_a_paused_job():
    token = CancelToken()
    token.pause()
    out = {}

    def worker():
        try:
            out["r"] = drive(_job(2, token))
        except Cancelled:
            out["r"] = "cancelled"

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.1)
    assert "r" not in out and token.paused
    token.resume()
    t.join(2)
    assert out["r"] == {"done": 2}
    token2 = CancelToken()
    token2.pause()
    gen = _job(2, token2)
    token2.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_run_job_prints_logs_and_is_quiet_without_a_tty():
    buf = io.StringIO()  # not a TTY: no bar
    assert run_job(_job(3, CancelToken()), stream=buf) == {"done": 3}
    assert buf.getvalue() == "started\n"
    buf2 = io.StringIO()
    run_job(_job(3, CancelToken()), stream=buf2, verbose=False)
    assert buf2.getvalue() == ""


def test_progress_bar_line_has_counts_rate_and_eta():
    bar = ProgressBar(io.StringIO(), enabled=True)
    bar.start = 0.0
    bar.line(Progress(0, 100), now=0.0)
    text = bar.line(Progress(50, 100, "building"), now=10.0)
    assert "50/100" in text and " 50.0%" in text
    assert "5.00 it/s" in text and "00:10<00:10" in text and text.endswith("building")


def test_progress_bar_is_rate_limited():
    class TTY(io.StringIO):
        def isatty(self):
            return True

    s = TTY()
    bar = ProgressBar(s, interval=60)
    for i in range(1, 50):
        bar.update(Progress(i, 100))
    assert s.getvalue().count("\r") == 1  # one draw, then throttled
    bar.update(Progress(100, 100))  # completion always draws
    assert "100/100" in s.getvalue()
