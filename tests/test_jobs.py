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


class _Clock:
    """A fake monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_progress_lines_at_intervals_when_not_a_tty():
    s, clock = io.StringIO(), _Clock()  # StringIO: not a TTY, like a cluster log
    bar = ProgressBar(s, log_interval=60, clock=clock)
    bar.update(Progress(0, 100, "building"))
    for step in range(1, 101):
        clock.t += 2.0  # 0.5 it/s: 200 s in all
        bar.update(Progress(step, 100, "building"))
    bar.close()
    lines = s.getvalue().splitlines()
    assert "\r" not in s.getvalue()
    # at 60, 120 and 180 s, plus the last line at the end
    assert len(lines) == 4, lines
    assert lines[0] == ("progress 30/100 (30.0%), 0.50 it/s, elapsed 01:00, ETA 02:20: "
                        "building")
    assert lines[-1].startswith("progress 100/100 (100.0%), 0.50 it/s, elapsed 03:20, ETA 00:00")


def test_short_jobs_and_quiet_print_no_progress_lines(monkeypatch):
    s, clock = io.StringIO(), _Clock()
    bar = ProgressBar(s, log_interval=60, clock=clock)
    for step in range(1, 11):
        clock.t += 1.0
        bar.update(Progress(step, 10))
    bar.close()
    assert s.getvalue() == ""  # under a minute: nothing, not even a last line
    q = io.StringIO()
    bar = ProgressBar(q, enabled=False, log_interval=0.001, clock=clock)  # -q
    for step in range(1, 11):
        clock.t += 100.0
        bar.update(Progress(step, 10))
    bar.close()
    assert q.getvalue() == ""


def test_progress_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_PROGRESS_INTERVAL", "0.01")
    s = io.StringIO()

    def slow(n):
        for i in range(n):
            time.sleep(0.02)
            yield Progress(i + 1, n)
        return n

    assert run_job(slow(5), stream=s, verbose=False) == 5
    lines = s.getvalue().splitlines()
    assert len(lines) >= 3 and all(ln.startswith("progress ") for ln in lines)
    assert lines[-1].startswith("progress 5/5 (100.0%)") and "it/s" in lines[-1]
    monkeypatch.setenv("STUDIO_PROGRESS_INTERVAL", "0")  # off
    s = io.StringIO()
    run_job(slow(3), stream=s, verbose=False)
    assert s.getvalue() == ""
    s = io.StringIO()  # -q (progress=False): silent whatever the interval
    monkeypatch.setenv("STUDIO_PROGRESS_INTERVAL", "0.01")
    run_job(slow(3), stream=s, progress=False, verbose=False)
    assert s.getvalue() == ""


def test_terminal_bar_is_unchanged_by_the_interval(monkeypatch):
    monkeypatch.setenv("STUDIO_PROGRESS_INTERVAL", "0.000001")

    class TTY(io.StringIO):
        def isatty(self):
            return True

    s = TTY()
    bar = ProgressBar(s, interval=60)
    for i in range(1, 50):
        bar.update(Progress(i, 100))
    assert s.getvalue().count("\r") == 1 and "\n" not in s.getvalue()


def test_the_last_progress_line_is_not_repeated():
    s, clock = io.StringIO(), _Clock()
    bar = ProgressBar(s, log_interval=10, clock=clock)
    bar.update(Progress(0, 2))
    clock.t += 11
    bar.update(Progress(2, 2))  # logged by the interval...
    bar.close()                 # ...so the end adds nothing
    assert s.getvalue().count("\n") == 1 and "2/2 (100.0%)" in s.getvalue()


def test_job_context_shares_the_callers_cancel_and_runs_sub_jobs():
    from studio.core.jobs import Cancelled, CancelToken, JobContext, Progress, job_context

    def sub(n, ctx=None):
        for i in range(n):
            ctx.check()
            yield Progress(i + 1, n)
        return n * 10

    def outer(p, token=None):
        ctx = job_context(token)
        a = yield from ctx.run(sub, 2)
        b = yield from ctx.run(sub, p)
        return a + b

    events = []
    assert drive(outer(3), events.append) == 50 and len(events) == 5
    caller = CancelToken()
    gen = outer(1000, caller)
    next(gen)
    caller.cancel()  # the caller's plain token reaches the sub-job
    with pytest.raises(Cancelled):
        drive(gen)
    ctx = job_context(caller, adain="a model")
    assert isinstance(ctx, JobContext) and ctx.cancelled and ctx.models == {"adain": "a model"}
    assert job_context(ctx) is ctx and job_context(ctx).device("cpu").type == "cpu"
    assert ctx.dist.world_size >= 1


def test_memo_computes_once_and_drops_the_least_recently_used():
    from studio.core.memo import Memo

    calls = []
    m = Memo(max_items=2)
    def compute(k):
        return lambda: calls.append(k) or (None if k == "bad" else k * 2)
    assert m.get("a", compute("a")) == "aa" and m.get("a", compute("a")) == "aa"
    assert m.get("bad", compute("bad")) is None and m.get("bad", compute("bad")) is None
    m.get("a", compute("a"))          # a is now the most recent
    m.get("c", compute("c"))          # drops bad, not a
    assert "a" in m and "bad" not in m and len(m) == 2
    assert calls == ["a", "bad", "c"] and m.misses == 3
