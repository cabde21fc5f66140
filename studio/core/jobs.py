"""The seam between the engine and its faces (GUI, CLI, recipes).

A job is a generator function ``fn(params, token)`` that yields events — :class:`Progress`,
:class:`Preview`, :class:`Log`, :class:`Metrics` — and *returns* its result. It calls
``token.check()`` between steps, so cancelling takes effect within one step and a
paused job waits there. The CLI renders events with :func:`run_job`; the GUI runs the same
generator in a worker thread; a recipe file stores the params of a registered job type.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from studio.core.distributed import dist_info, local_device
from studio.core.engines import resolve


@dataclass
class Progress:
    """Step ``step`` of ``total`` done (``total`` None when unknown)."""

    step: int
    total: int | None
    message: str = ""


@dataclass
class Preview:
    """A small RGB image (H, W, 3 uint8) showing the current state of the work."""

    image: np.ndarray
    caption: str = ""
    step: int | None = None


@dataclass
class Log:
    """A line for the user; ``level`` is 'info', 'warning' or 'error'."""

    message: str
    level: str = "info"


@dataclass
class Metrics:
    """Named scalars at a step (loss terms, accuracy) for curves and reports."""

    step: int
    values: dict[str, float]


Event = Progress | Preview | Log | Metrics

JobGen = Generator[Event, None, Any]


class Cancelled(Exception):
    """Raised inside a job by :meth:`CancelToken.check` after a cancel request."""


class CancelToken:
    """Cooperative cancel and pause, shared between a job and whoever runs it."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused job must wake up to notice

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self) -> None:
        """Block while paused; raise :class:`Cancelled` if a cancel was requested."""
        self._running.wait()
        if self._cancel.is_set():
            raise Cancelled()


class JobContext(CancelToken):
    """What a running job has besides its params: it *is* the cancel token (shared with
    whoever started the job, so their cancel reaches it), plus the models injected by the
    caller, the resolved device and the distributed setting. Sub-jobs run through
    :meth:`run` get the same context, so cancelling the outer job stops them too."""

    def __init__(self, parent: CancelToken | None = None,
                 models: dict[str, Any] | None = None) -> None:
        super().__init__()
        if parent is not None:  # share the parent's events: one cancel, one pause
            self._cancel, self._running = parent._cancel, parent._running
        self.models: dict[str, Any] = dict(getattr(parent, "models", None) or {})
        self.models.update(models or {})

    def device(self, spec: Any = "auto") -> Any:
        """``spec`` (auto, cpu, cuda, cuda:N) as a torch device; under torchrun each local
        rank takes its own GPU."""
        from studio.core.devices import resolve_device  # noqa: PLC0415 (keeps this module torch-free)

        return local_device(resolve_device(spec))

    @property
    def dist(self) -> Any:
        """This process's rank and world size (``core.distributed.dist_info``)."""
        return dist_info()

    def run(self, fn: Callable[..., JobGen], params: Any, **kwargs: Any) -> JobGen:
        """Run a sub-job with this context; its events pass through, its result returns."""
        return (yield from fn(params, self, **kwargs))


def job_context(token: CancelToken | None = None, **models: Any) -> JobContext:
    """The context of a job called with ``token`` (None, a plain token or a context)."""
    if isinstance(token, JobContext) and not models:
        return token
    return JobContext(token, models)


# ---------------------------------------------------------------------------------------
# Job types (the application's registry, ``studio.registry``, makes them from the engines'
# declarations; recipes and the GUI's job history refer to them by name)


@dataclass(frozen=True)
class JobType:
    """A named job: its parameter dataclass and the generator function that runs it.

    ``params`` and ``fn`` may be given as ``"module:attr"`` references and are imported on
    first use, so listing jobs imports no engine (and no torch)."""

    name: str
    params_ref: Any
    fn_ref: Any
    description: str = ""
    engine: str = ""
    #: The ``--preset`` table a recipe's ``preset`` key names (None: the job has none
    #: outside its params); a ``"module:attr"`` reference or the dict itself.
    presets_ref: Any = None

    @property
    def params(self) -> type:
        return _resolved(self.params_ref)

    @property
    def presets(self) -> dict[str, dict[str, Any]]:
        """``{name: {field: value}}``; empty when the job has no such presets."""
        return dict(_resolved(self.presets_ref) or {})

    @property
    def fn(self) -> Callable[[Any, CancelToken], JobGen]:
        return _resolved(self.fn_ref)


def _resolved(ref: Any) -> Any:
    if isinstance(ref, str):
        return resolve(ref)
    return ref


# ---------------------------------------------------------------------------------------
# Running a job to completion (CLI and tests)


def drive(gen: JobGen, on_event: Callable[[Event], None] | None = None) -> Any:
    """Run a job generator to the end, passing each event to ``on_event``; return its result."""
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(ev)


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


#: Seconds between the plain progress lines printed when stderr is not a terminal.
PROGRESS_INTERVAL_ENV = "STUDIO_PROGRESS_INTERVAL"
DEFAULT_LOG_INTERVAL = 60.0


def log_interval_from_env() -> float:
    """``$STUDIO_PROGRESS_INTERVAL`` in seconds (default 60; 0 turns the lines off)."""
    text = os.environ.get(PROGRESS_INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_LOG_INTERVAL
    try:
        v = float(text)
    except ValueError:
        return DEFAULT_LOG_INTERVAL
    return v if math.isfinite(v) and v > 0 else 0.0


class ProgressBar:
    """A one-line progress bar with rate and ETA, redrawn at most ``interval`` s apart.

    On a terminal it redraws in place. When the stream is not a TTY (cluster logs, CI,
    a pipe) it prints one plain line (no ``\r``) every ``log_interval`` seconds — step/total,
    percent, rate, ETA — and a last line at the end if it printed any, so a log of a long
    job shows it moving while a short job adds nothing. ``log_interval`` defaults to
    ``$STUDIO_PROGRESS_INTERVAL`` (60 s; 0 turns the lines off). ``enabled=False`` (``-q``)
    prints nothing; ``enabled=True`` draws the bar even on a non-TTY stream.
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 0.2,
                 enabled: bool | None = None, log_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = self.tty if enabled is None else enabled
        self.clock = clock
        #: Plain periodic lines instead of the bar: not a TTY, and not forced either way.
        self.log_interval = (log_interval_from_env() if log_interval is None
                             else max(0.0, log_interval))
        self.log_mode = enabled is None and not self.tty and self.log_interval > 0
        self.start = clock()
        self.last_draw = 0.0
        self.last_log = self.start
        self.logged = 0
        self.last_logged: tuple[int, int | None, str] | None = None
        self.first_step: tuple[int, float] | None = None
        self.last: Progress | None = None
        self.width = 0

    def line(self, p: Progress, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.start
        if self.first_step is None:
            self.first_step = (p.step, now)
        s0, t0 = self.first_step
        rate = (p.step - s0) / (now - t0) if now > t0 and p.step > s0 else float("nan")
        if p.total:
            frac = min(max(p.step / p.total, 0.0), 1.0)
            filled = int(frac * 24)
            bar = "#" * filled + "-" * (24 - filled)
            eta = (p.total - p.step) / rate if rate and rate > 0 else float("nan")
            head = f"[{bar}] {p.step}/{p.total} {frac * 100:5.1f}%"
            tail = f"{_fmt_time(elapsed)}<{_fmt_time(eta)}"
        else:
            head, tail = f"{p.step}", _fmt_time(elapsed)
        rate_s = f" {rate:.2f} it/s" if math.isfinite(rate) else ""
        msg = f" {p.message}" if p.message else ""
        return f"{head} {tail}{rate_s}{msg}"

    def log_line(self, p: Progress, now: float | None = None) -> str:
        """The plain line of the non-TTY mode: ``progress 50/100 (50.0%), 5.00 it/s,
        elapsed 00:10, ETA 00:10: message``."""
        now = self.clock() if now is None else now
        if self.first_step is None:
            self.first_step = (p.step, now)
        s0, t0 = self.first_step
        rate = (p.step - s0) / (now - t0) if now > t0 and p.step > s0 else float("nan")
        parts = []
        if p.total:
            frac = min(max(p.step / p.total, 0.0), 1.0)
            parts.append(f"progress {p.step}/{p.total} ({frac * 100:.1f}%)")
        else:
            parts.append(f"progress {p.step}")
        parts.append(f"{rate:.2f} it/s" if math.isfinite(rate) else "? it/s")
        parts.append(f"elapsed {_fmt_time(now - self.start)}")
        if p.total:
            eta = (p.total - p.step) / rate if math.isfinite(rate) and rate > 0 else float("nan")
            parts.append(f"ETA {_fmt_time(max(eta, 0.0))}")
        msg = f": {p.message}" if p.message else ""
        return ", ".join(parts) + msg

    def _log(self, p: Progress, now: float) -> None:
        self.last_log = now
        self.logged += 1
        self.last_logged = (p.step, p.total, p.message)
        self.stream.write(self.log_line(p, now) + "\n")
        self.stream.flush()

    def update(self, p: Progress) -> None:
        prev, self.last = self.last, p
        if self.log_mode:
            now = self.clock()
            if self.first_step is None or (prev is not None and (
                    p.total != prev.total or p.step < prev.step)):
                self.first_step = (p.step, now)  # a new series: its own rate
            if now - self.last_log >= self.log_interval:
                self._log(p, now)
            return
        if not self.enabled:
            return
        now = self.clock()
        done = p.total is not None and p.step >= p.total
        if not done and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        text = self.line(p, now)
        pad = max(0, self.width - len(text))
        self.width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def close(self) -> None:
        if self.last is None:
            return
        if self.log_mode:
            last = (self.last.step, self.last.total, self.last.message)
            if self.logged and self.last_logged != last:  # a long job: say where it ended
                self._log(self.last, self.clock())
            return
        if self.enabled:
            self.update(Progress(self.last.step, self.last.total, self.last.message))
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


def run_job(
    gen: JobGen,
    *,
    stream: TextIO | None = None,
    progress: bool | None = None,
    verbose: bool = True,
    on_event: Callable[[Event], None] | None = None,
) -> Any:
    """Run a job for the terminal: progress bar with ETA, log lines, return the result."""
    stream = stream if stream is not None else sys.stderr
    bar = ProgressBar(stream, enabled=progress)

    def handle(ev: Event) -> None:
        if isinstance(ev, Progress):
            bar.update(ev)
        elif isinstance(ev, Log) and (verbose or ev.level != "info"):
            bar.clear()
            prefix = "" if ev.level == "info" else f"{ev.level}: "
            stream.write(f"{prefix}{ev.message}\n")
            stream.flush()
        if on_event is not None:
            on_event(ev)

    try:
        return drive(gen, handle)
    finally:
        bar.close()


def params_dict(params: Any) -> dict[str, Any]:
    """Plain-JSON view of a params dataclass (Paths as strings) for manifests and PNGs."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        if isinstance(v, tuple):
            v = list(v)
        if hasattr(v, "__fspath__"):
            v = str(v)
        if isinstance(v, list):
            v = [str(x) if hasattr(x, "__fspath__") else x for x in v]
        out[f.name] = v
    return out


__all__ = [
    "Progress", "Preview", "Log", "Metrics", "Event", "JobGen", "Cancelled", "CancelToken",
    "JobContext", "JobType", "drive", "job_context", "run_job",
    "ProgressBar", "params_dict",
]
