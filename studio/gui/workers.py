"""Workers: run job generators off the GUI thread and turn their events into Qt signals.

A job (``studio.core.jobs``) is a generator; :class:`JobThread` drives it in a
``QThread`` and emits one signal per event. Previews are throttled and downscaled, and
their ``QImage`` is built here in the worker — widgets only ever see it on the GUI thread,
where pages turn it into a ``QPixmap``. :class:`JobQueue` owns every job the window ran:
queue order, state, duration, outputs and errors (the Jobs page shows it).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import os
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtGui import QImage

from studio.core.jobs import (
    Cancelled,
    CancelToken,
    JobGen,
    Log,
    Metrics,
    Preview,
    Progress,
)
from studio.registry import get_job_type, job_types

#: At most one preview per this many seconds reaches the GUI (the latest one wins).
PREVIEW_INTERVAL = 0.25
#: Previews are downscaled so that their longer side is at most this many pixels.
PREVIEW_MAX_SIDE = 512
#: Progress reaches the GUI at most this often (the last step of a job always does).
PROGRESS_INTERVAL = 0.1
#: Jobs of seconds that a user waits for (an import, a verify, a teacher check): they run
#: in a lane of their own, beside a training of minutes or hours instead of behind it.
LIGHT_JOBS = frozenset({"models-import", "models-verify", "models-fetch",
                        "synthesize-preflight"})


def qimage_from_array(image: np.ndarray, max_side: int | None = PREVIEW_MAX_SIDE) -> QImage:
    """An owned RGB ``QImage`` from an HxWx3 (or HxW) uint8 array, downscaled if large."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.dtype.kind == "f" and arr.max() <= 1.0 else 1.0),
                      0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (1, 3, 4):
        arr = np.transpose(arr, (1, 2, 0))  # CHW -> HWC
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = np.ascontiguousarray(arr[..., :3])
    h, w = arr.shape[:2]
    img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    if max_side and max(w, h) > max_side:
        from PySide6.QtCore import Qt

        img = img.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    return img


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobHandle(QObject):
    """The signals of one job; lives on the GUI thread, emitted from the worker."""

    progress = Signal(object)            # Progress
    preview = Signal(QImage, str, object)  # image, caption, step
    log = Signal(str, str)               # message, level
    metrics = Signal(object)             # Metrics
    state_changed = Signal(str)          # JobState value
    finished = Signal(object)            # the JobRecord, once it is done/failed/cancelled


@dataclass(eq=False)
class JobRecord:
    """One job in the queue or the history."""

    id: int
    job: str
    title: str
    params: Any
    fn: Callable[[Any, CancelToken], JobGen]
    page: str = ""
    state: JobState = JobState.QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    step: int = 0
    total: int | None = None
    message: str = ""
    result: Any = None
    error: str = ""
    traceback: str = ""
    #: failed because the output folder holds a build made with other settings
    resume_refused: bool = False
    log: deque = field(default_factory=lambda: deque(maxlen=2000))
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    last_preview: QImage | None = None
    token: CancelToken = field(default_factory=CancelToken)
    handle: JobHandle = field(default_factory=JobHandle)
    first_step: tuple[int, float] | None = None
    #: loaded from an earlier session's history (not run in this one)
    restored: bool = False
    #: "main" (one long job after another) or "quick" (light jobs, beside the main one)
    lane: str = "main"

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @property
    def cancelling(self) -> bool:
        """Cancel was asked and the worker has not stopped yet (shown as "cancelling…")."""
        return self.token.cancelled and not self.state.finished

    @property
    def skipped(self) -> int:
        """Inputs a finished job skipped or failed on (``failed``/``num_errors`` in its
        result, as ``errors.jsonl`` lists them): a "done" with skips is not a full success."""
        res = self.result
        if not isinstance(res, dict):
            return 0
        best = 0
        for key in ("num_errors", "failed", "skipped"):
            v = res.get(key)
            try:
                n = len(v) if isinstance(v, (list, tuple, dict, set)) else int(v or 0)
            except (TypeError, ValueError):
                continue
            best = max(best, n)
        return best

    def status_text(self) -> str:
        """One short line: 'running', 'cancelling…', 'done — 4 skipped', 'failed'."""
        if self.cancelling:
            return "cancelling…"
        if self.state == JobState.DONE and self.skipped:
            return f"done — {self.skipped} skipped"
        return self.state.value

    @property
    def recipe_able(self) -> bool:
        """True when the job is a registered job type (so it can be saved as a recipe)."""
        jt = job_types().get(self.job)
        return jt is not None and jt.fn is self.fn and dataclasses.is_dataclass(self.params)

    def eta(self) -> float | None:
        """Seconds left, from the rate since the first progress event (None if unknown)."""
        if not self.total or self.first_step is None or self.state != JobState.RUNNING \
                or self.token.cancelled:
            return None
        s0, t0 = self.first_step
        now = time.time()
        if self.step <= s0 or now <= t0:
            return None
        rate = (self.step - s0) / (now - t0)
        return max(0.0, (self.total - self.step) / rate)

    def outputs(self) -> list[Path]:
        """Existing files/folders the job wrote: output params, then paths in its result."""
        found: list[Path] = []

        def add(v: Any) -> None:
            if isinstance(v, (str, os.PathLike)) and str(v):
                p = Path(v)
                if p.is_absolute() and p.exists() and p not in found:
                    found.append(p)

        if dataclasses.is_dataclass(self.params):
            for f in dataclasses.fields(self.params):
                if f.name in ("out", "output", "out_dir", "output_dir", "save_dir", "dest"):
                    v = getattr(self.params, f.name)
                    if v is not None:
                        add(Path(v).expanduser().resolve())
        res = self.result
        if isinstance(res, dict):
            for k, v in res.items():
                if isinstance(v, (str, os.PathLike)) and any(
                        s in k for s in ("out", "path", "dir", "file", "plot", "csv", "json")):
                    add(v)
                elif isinstance(v, (list, tuple)) and k in ("outputs", "files", "paths"):
                    for x in v[:50]:
                        add(x)
        return found


class JobThread(QThread):
    """Drives one job generator; every event becomes a signal on the job's handle."""

    def __init__(self, record: JobRecord, parent: QObject | None = None):
        super().__init__(parent)
        self.record = record
        #: (state, result, error, traceback), applied to the record on the GUI thread
        #: after every event signal of the job has been delivered.
        self.outcome: tuple[JobState, Any, str, str] = (
            JobState.FAILED, None, "the worker ended without a result", "")
        self.resume_refused = False

    def run(self) -> None:
        rec, h = self.record, self.record.handle
        last_preview = last_progress = 0.0
        pending_preview: Preview | None = None
        pending_progress: Progress | None = None

        def send_preview(ev: Preview) -> None:
            try:
                img = qimage_from_array(ev.image)
            except Exception as exc:  # a malformed preview must not kill the job
                h.log.emit(f"preview could not be shown: {exc}", "warning")
                return
            h.preview.emit(img, ev.caption, ev.step)

        try:
            gen = rec.fn(rec.params, rec.token)
            while True:
                try:
                    ev = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                now = time.monotonic()
                if isinstance(ev, Progress):
                    last = ev.total is not None and ev.step >= ev.total
                    if last or now - last_progress >= PROGRESS_INTERVAL:
                        last_progress = now
                        h.progress.emit(ev)
                        pending_progress = None
                    else:
                        pending_progress = ev
                elif isinstance(ev, Preview):
                    if now - last_preview >= PREVIEW_INTERVAL:
                        last_preview = now
                        send_preview(ev)
                        pending_preview = None
                    else:
                        pending_preview = ev
                elif isinstance(ev, Log):
                    h.log.emit(str(ev.message), ev.level)
                elif isinstance(ev, Metrics):
                    h.metrics.emit(ev)
                if pending_preview is not None and now - last_preview >= PREVIEW_INTERVAL:
                    last_preview = now
                    send_preview(pending_preview)
                    pending_preview = None
                rec.token.check()  # cancel within one step even if the job forgets to
            if pending_progress is not None:
                h.progress.emit(pending_progress)
            if pending_preview is not None:
                send_preview(pending_preview)
            self.outcome = (JobState.DONE, result, "", "")
        except Cancelled:
            if pending_preview is not None:
                send_preview(pending_preview)  # the last preview is kept
            self.outcome = (JobState.CANCELLED, None, "", "")
        except BaseException as exc:  # shown in the page and the history, never a crash
            from studio.datasets.writers import FingerprintMismatch  # loaded by the job

            self.resume_refused = isinstance(exc, FingerprintMismatch)
            msg = str(exc).strip() or type(exc).__name__
            plain = isinstance(exc, (ValueError, OSError, KeyError)) or type(
                exc).__module__.startswith("studio")
            self.outcome = (JobState.FAILED, None,
                            msg if plain else f"{type(exc).__name__}: {msg}",
                            traceback.format_exc())


class JobQueue(QObject):
    """Queue and history of every job: runs ``max_parallel`` at a time, in order."""

    job_added = Signal(object)     # JobRecord
    job_changed = Signal(object)   # JobRecord (state, progress)
    job_finished = Signal(object)  # JobRecord

    def __init__(self, parent: QObject | None = None, max_parallel: int = 1,
                 history_limit: int = 500, max_quick: int = 2):
        super().__init__(parent)
        self.max_parallel = max_parallel
        #: light jobs (:data:`LIGHT_JOBS`) run in their own lane, this many at a time
        self.max_quick = max_quick
        self.history_limit = history_limit
        self.records: list[JobRecord] = []
        self._threads: dict[int, JobThread] = {}
        self._ids = itertools.count(1)

    # -- submitting --------------------------------------------------------------------
    def submit(self, job: str, params: Any, *, fn: Callable | None = None, title: str = "",
               page: str = "", before_start: Callable[[JobRecord], None] | None = None,
               light: bool | None = None) -> JobRecord:
        """Queue a registered job type (or a GUI-internal ``fn``) with its params.

        ``before_start(record)`` runs before the worker can emit anything, so a view that
        connects to the record's signals there sees every event, even of a job that ends
        within a millisecond. ``light`` (default: the job is in :data:`LIGHT_JOBS`) puts
        it in the quick lane, where it starts at once even while a long job runs."""
        if fn is None:
            fn = get_job_type(job).fn
        quick = job in LIGHT_JOBS if light is None else light
        rec = JobRecord(next(self._ids), job, title or job, params, fn, page=page,
                        lane="quick" if quick else "main")
        h = rec.handle
        h.progress.connect(lambda ev, r=rec: self._on_progress(r, ev))
        h.log.connect(lambda msg, lvl, r=rec: r.log.append((time.time(), lvl, msg)))
        h.metrics.connect(lambda ev, r=rec: self._on_metrics(r, ev))
        h.preview.connect(lambda img, cap, step, r=rec: setattr(r, "last_preview", img))
        self.records.append(rec)
        self._prune()
        if before_start is not None:
            before_start(rec)
        self.job_added.emit(rec)
        self._schedule()
        return rec

    def _prune(self) -> None:
        """Keep the history bounded: drop the oldest finished jobs (never live ones)."""
        excess = len(self.records) - self.history_limit
        if excess <= 0:
            return
        keep = []
        for r in self.records:
            if excess > 0 and r.state.finished:
                excess -= 1
                continue
            keep.append(r)
        self.records = keep

    def lane_limit(self, lane: str) -> int:
        return self.max_quick if lane == "quick" else self.max_parallel

    def _schedule(self) -> None:
        running = {"main": 0, "quick": 0}
        for r in self.records:
            if r.state in (JobState.RUNNING, JobState.PAUSED):
                running[r.lane] = running.get(r.lane, 0) + 1
        for rec in self.records:
            if rec.state != JobState.QUEUED or \
                    running.get(rec.lane, 0) >= self.lane_limit(rec.lane):
                continue
            rec.state = JobState.RUNNING
            rec.started = time.time()
            th = JobThread(rec, self)
            th.finished.connect(lambda r=rec: self._on_thread_finished(r))
            self._threads[rec.id] = th
            th.start()
            running[rec.lane] = running.get(rec.lane, 0) + 1
            rec.handle.state_changed.emit(rec.state.value)
            self.job_changed.emit(rec)

    # -- events from workers (GUI thread) ----------------------------------------------
    def _on_progress(self, rec: JobRecord, ev: Progress) -> None:
        if rec.first_step is None:
            rec.first_step = (ev.step, time.time())
        rec.step, rec.total, rec.message = ev.step, ev.total, ev.message
        self.job_changed.emit(rec)

    def _on_metrics(self, rec: JobRecord, ev: Metrics) -> None:
        for k, v in ev.values.items():
            try:
                rec.metrics.setdefault(k, []).append((int(ev.step), float(v)))
            except (TypeError, ValueError):
                continue

    def _on_thread_finished(self, rec: JobRecord) -> None:
        th = self._threads.pop(rec.id, None)
        if th is not None:
            rec.state, rec.result, rec.error, rec.traceback = th.outcome
            rec.resume_refused = th.resume_refused
            th.deleteLater()
        rec.ended = time.time()
        if rec.state == JobState.FAILED:
            rec.log.append((time.time(), "error", rec.error))
        rec.handle.state_changed.emit(rec.state.value)
        rec.handle.finished.emit(rec)
        self.job_changed.emit(rec)
        self.job_finished.emit(rec)
        self._schedule()

    # -- control -----------------------------------------------------------------------
    def cancel(self, rec: JobRecord) -> None:
        """Cancel a queued job at once, a running one at its next step."""
        rec.token.cancel()
        if not rec.state.finished and rec.state != JobState.QUEUED:
            # say so at once: the worker stops at its next step, which can take seconds
            rec.handle.state_changed.emit("cancelling")
        if rec.state == JobState.QUEUED:
            rec.state = JobState.CANCELLED
            rec.ended = time.time()
            rec.handle.state_changed.emit(rec.state.value)
            rec.handle.finished.emit(rec)
            self.job_changed.emit(rec)
            self.job_finished.emit(rec)
        elif rec.state == JobState.PAUSED:
            rec.state = JobState.RUNNING
            self.job_changed.emit(rec)
        else:
            self.job_changed.emit(rec)

    def pause(self, rec: JobRecord) -> None:
        if rec.state == JobState.RUNNING:
            rec.token.pause()
            rec.state = JobState.PAUSED
            rec.handle.state_changed.emit(rec.state.value)
            self.job_changed.emit(rec)

    def resume(self, rec: JobRecord) -> None:
        if rec.state == JobState.PAUSED:
            rec.token.resume()
            rec.state = JobState.RUNNING
            rec.handle.state_changed.emit(rec.state.value)
            self.job_changed.emit(rec)

    def rerun(self, rec: JobRecord, params: Any = None) -> JobRecord:
        """Queue ``rec`` again (with ``params`` instead of its own, e.g. overwrite on)."""
        return self.submit(rec.job, rec.params if params is None else params, fn=rec.fn,
                           title=rec.title, page=rec.page, light=rec.lane == "quick")

    def queue_position(self, rec: JobRecord) -> int:
        """1 for the next job of its lane to start, 0 when it is not waiting."""
        waiting = [r for r in self.records if r.state == JobState.QUEUED and r.lane == rec.lane]
        return waiting.index(rec) + 1 if rec in waiting else 0

    def clear_finished(self) -> None:
        self.records = [r for r in self.records if not r.state.finished]
        self.job_changed.emit(None)

    def active(self) -> list[JobRecord]:
        return [r for r in self.records if not r.state.finished]

    def cancel_all(self) -> None:
        for rec in list(self.records):
            if not rec.state.finished:
                self.cancel(rec)

    def wait_all(self, timeout_s: float = 30.0, process: Callable[[], None] | None = None
                 ) -> bool:
        """Block (processing events with ``process``) until no worker runs; True if so."""
        end = time.monotonic() + timeout_s
        while self._threads and time.monotonic() < end:
            for th in list(self._threads.values()):
                th.wait(20)
            if process:
                process()
        return not self._threads

    def get(self, job_id: int) -> JobRecord | None:
        return next((r for r in self.records if r.id == job_id), None)

    # -- persistence -------------------------------------------------------------------
    def save_history(self, folder: str | os.PathLike, limit: int = 200) -> Path:
        """Write the finished jobs that can be replayed (registered job types) to
        ``folder/history.json`` plus each one's last preview, so the Jobs page survives a
        restart. Written atomically; unreadable previews are skipped, never fatal."""
        import json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        keep = [r for r in self.records if r.state.finished and r.recipe_able][-limit:]
        docs = []
        for r in keep:
            try:
                d = record_to_dict(r)
            except Exception:  # params that do not serialise: that job is not kept
                continue
            if r.last_preview is not None and not r.last_preview.isNull():
                name = f"preview-{r.id}-{int(r.created * 1000)}.png"
                # a finished job's preview never changes: written once
                if (folder / name).is_file() or r.last_preview.save(str(folder / name), "PNG"):
                    d["preview"] = name
            docs.append(d)
        tmp = folder / "history.json.tmp"
        tmp.write_text(json.dumps({"schema": 1, "jobs": docs}, indent=1, default=str),
                       encoding="utf-8")
        os.replace(tmp, folder / "history.json")
        wanted = {d.get("preview") for d in docs}
        for png in folder.glob("preview-*.png"):
            if png.name not in wanted:
                png.unlink(missing_ok=True)
        return folder / "history.json"

    def load_history(self, folder: str | os.PathLike) -> int:
        """Put the jobs of an earlier session back in front of the history; returns how
        many. A damaged file or a job type this build lacks is skipped, never fatal."""
        import json

        path = Path(folder) / "history.json"
        try:
            docs = json.loads(path.read_text(encoding="utf-8")).get("jobs", [])
        except (OSError, ValueError, AttributeError):
            return 0
        loaded = []
        for d in docs:
            try:
                rec = record_from_dict(d, Path(folder))
            except Exception:  # an old or hand-edited entry: leave it out
                continue
            loaded.append(rec)
        known = {r.id for r in self.records}
        loaded = [r for r in loaded if r.id not in known]
        self.records = loaded + self.records
        top = max((r.id for r in self.records), default=0)
        self._ids = itertools.count(top + 1)
        if loaded:
            self.job_changed.emit(None)
        return len(loaded)


def _jsonable(value: Any) -> Any:
    import json
    import math

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    try:
        return clean(json.loads(json.dumps(value, default=str)))
    except (TypeError, ValueError):
        return repr(value)


def record_to_dict(r: JobRecord) -> dict[str, Any]:
    """A finished job as JSON: its recipe (params), state, times, result, log tail."""
    import tomllib

    from studio.recipes import recipe_text

    params = tomllib.loads(recipe_text(r.job, r.params, absolute_paths=True))["params"]
    return {"id": r.id, "job": r.job, "title": r.title, "page": r.page, "params": params,
            "state": r.state.value, "created": r.created, "started": r.started,
            "ended": r.ended, "step": r.step, "total": r.total, "message": r.message,
            "result": _jsonable(r.result), "error": r.error,
            "log": [list(x) for x in list(r.log)[-300:]],
            "metrics": {k: v[-500:] for k, v in r.metrics.items()}}


def record_from_dict(d: dict[str, Any], folder: Path | None = None) -> JobRecord:
    """The inverse of :func:`record_to_dict` (params validated like a recipe)."""
    from studio.recipes import parse_recipe

    jt, params = parse_recipe({"schema": 1, "job": d["job"], "params": d.get("params", {})},
                              f"history job {d.get('id')}")
    rec = JobRecord(int(d["id"]), jt.name, str(d.get("title") or jt.name), params, jt.fn,
                    page=str(d.get("page", "")), state=JobState(d.get("state", "done")))
    if not rec.state.finished:
        rec.state = JobState.CANCELLED
    for k in ("created", "started", "ended"):
        if isinstance(d.get(k), (int, float)):
            setattr(rec, k, float(d[k]))
    rec.step = int(d.get("step") or 0)
    rec.total = d.get("total")
    rec.message = str(d.get("message", ""))
    rec.result = d.get("result")
    rec.error = str(d.get("error", ""))
    for item in d.get("log", [])[-300:]:
        if isinstance(item, list) and len(item) == 3:
            rec.log.append((float(item[0]), str(item[1]), str(item[2])))
    for k, pts in (d.get("metrics") or {}).items():
        rec.metrics[k] = [(int(a), float(b)) for a, b in pts]
    if folder is not None and d.get("preview"):
        img = QImage(str(folder / d["preview"]))
        if not img.isNull():
            rec.last_preview = img
    rec.restored = True
    return rec


class LatestRunner(QObject):
    """Runs a function in a worker, keeping only the newest request (interactive previews).

    Moving a slider submits many requests; only the last one that arrives while a
    computation runs is computed next, so the preview follows the slider without a backlog.
    """

    result = Signal(object, object)  # tag, value
    error = Signal(object, str)      # tag, message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: _CallThread | None = None
        self._next: tuple[Any, Callable[[], Any]] | None = None

    def submit(self, tag: Any, fn: Callable[[], Any]) -> None:
        self._next = (tag, fn)
        if self._thread is None:
            self._start_next()

    def busy(self) -> bool:
        return self._thread is not None or self._next is not None

    def _start_next(self) -> None:
        if self._next is None:
            return
        tag, fn = self._next
        self._next = None
        th = _CallThread(tag, fn, self)
        th.done.connect(self._on_done)
        self._thread = th
        th.start()

    def _on_done(self, tag: Any, ok: bool, value: Any) -> None:
        th, self._thread = self._thread, None
        if th is not None:
            th.wait()
            th.deleteLater()
        if ok:
            self.result.emit(tag, value)
        else:
            self.error.emit(tag, str(value))
        self._start_next()

    def wait(self, timeout_ms: int = 30000) -> None:
        if self._thread is not None:
            self._thread.wait(timeout_ms)


class _CallThread(QThread):
    done = Signal(object, bool, object)

    def __init__(self, tag: Any, fn: Callable[[], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.tag, self.fn = tag, fn

    def run(self) -> None:
        try:
            value = self.fn()
        except Exception as exc:
            self.done.emit(self.tag, False, str(exc) or type(exc).__name__)
            return
        self.done.emit(self.tag, True, value)
