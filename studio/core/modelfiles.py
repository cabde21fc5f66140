"""Model files as jobs: list, import, verify, fetch.

`studio models ...` and the window's Models page both run these, so a file is accepted,
refused or reported the same way in both (one error line naming the file and problem).
"""

from __future__ import annotations

import errno
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core import checkpoints as ck
from studio.core.errors import os_error_message
from studio.core.guards import check_writable_folder
from studio.core.jobs import CancelToken, JobGen, Log, Progress


def model_states(mdir: Path | None = None) -> list[dict[str, Any]]:
    """Every declared model file and whether it is here: ``present`` in the model folder,
    ``bundled`` with Studio, or ``missing`` (by family, then name)."""
    mdir = mdir or ck.models_dir()
    rows = []
    for spec in sorted(ck.REGISTRY.values(), key=lambda s: (s.family, s.name)):
        here = mdir / spec.filename
        if here.is_file():
            state, path = "present", here
        elif spec.bundled and (ck.resources_dir() / spec.filename).is_file():
            state, path = "bundled", ck.resources_dir() / spec.filename
        else:
            state, path = "missing", None
        rows.append({"name": spec.name, "state": state, "path": path,
                     "filename": spec.filename, "family": spec.family,
                     "description": spec.description, "licence": spec.licence,
                     "url": spec.url, "spec": spec})
    return rows


@dataclass
class ModelTaskParams:
    """What a model-file job works on: files to import or verify, or one to fetch."""

    files: list[Path]
    name: str | None = None
    url: str | None = None
    sha256: str | None = None
    dest: Path | None = None


def writable_model_folder(folder: Path) -> Path:
    """The model folder, created and writable; a folder that is a file, read-only or
    another user's would fail every import alike, so it is said once, up front, in our
    words (it was ``[Errno 17] File exists`` / ``[Errno 13] Permission denied: ...``)."""
    try:
        return check_writable_folder(folder)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            why = "is a file, not a folder" if folder.is_file() else \
                "cannot be made: a part of its path is a file"
            raise ck.CheckpointError(None, f"model folder {folder} {why}; set STUDIO_MODELS "
                                     "(or --dir) to a folder") from None
        reason = os_error_message(exc)
        reason = reason.removeprefix(f"{exc.filename}: ") if exc.filename else reason
        raise ck.CheckpointError(None, f"model folder {folder}: {reason}; set STUDIO_MODELS "
                                 "(or --dir) to a folder you can write") from None


def import_job(params: ModelTaskParams, token: CancelToken | None = None) -> JobGen:
    """Check each file (safe load, tensors, the registry entry's keys and shapes, hash) and
    copy it into the model folder; a refused file is one error line naming the problem."""
    token = token or CancelToken()
    writable_model_folder(Path(params.dest) if params.dest else ck.models_dir())
    done, failed = [], []
    for i, f in enumerate(params.files):
        token.check()
        notes: list[str] = []
        try:
            dest = ck.import_model(f, params.dest, params.name, report=notes.append)
        except (ck.CheckpointError, OSError) as exc:
            failed.append(str(exc))
            yield Log(str(exc), "error")
        else:
            done.append(str(dest))
            spec = ck.REGISTRY.get(params.name or "") or ck.spec_for_file(dest)
            use = spec.name if spec else (params.name or dest.name)
            yield Log(f"imported {f} -> {dest}" + "".join(f"; {n}" for n in notes)
                      + f"; use it by the name {use!r}")
        yield Progress(i + 1, len(params.files), Path(f).name)
    if failed and not done:
        raise ck.CheckpointError(None, "; ".join(failed))
    return {"imported": done, "failed": failed}


def verify_job(params: ModelTaskParams, token: CancelToken | None = None) -> JobGen:
    """SHA-256 (against the registry when known), a safe load and the registry entry's
    layout (keys, shapes) of each file: one OK / FAIL line per file, as `studio models
    verify` prints it."""
    token = token or CancelToken()
    rows = []
    for i, f in enumerate(params.files):
        token.check()
        row: dict[str, Any] = {"file": str(f)}
        try:
            r = ck.verify(f, params.sha256)
            row.update(sha256=r.sha256, expected=r.expected, ok=r.ok, hash_ok=r.hash_ok,
                       tensors=r.tensors, layout=r.layout, error=r.error)
            yield Log(r.line(), "info" if r.ok else "error")
        except (ck.CheckpointError, OSError) as exc:
            row.update(ok=False, error=str(exc))
            yield Log(f"FAIL {f}: {exc}", "error")
        rows.append(row)
        yield Progress(i + 1, len(params.files), Path(f).name)
    return {"verified": rows, "failed": sum(1 for r in rows if r.get("ok") is False)}


def fetch_job(params: ModelTaskParams, token: CancelToken | None = None) -> JobGen:
    """Download a known model (resumable, SHA-256 checked) with byte progress events."""
    token = token or CancelToken()
    assert params.url and params.dest
    events: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}

    def progress(done: int, total: int | None) -> None:
        if token.cancelled:
            raise ck.FetchError(params.dest, "cancelled; run again to resume")
        events.put(Progress(done, total, "bytes"))

    def work() -> None:
        try:
            ck.fetch(params.url, params.dest, params.sha256, progress=progress)
        except BaseException as exc:
            box["error"] = exc

    yield Log(f"downloading {params.url}")
    th = threading.Thread(target=work, daemon=True)
    th.start()
    while th.is_alive() or not events.empty():
        token.check()
        try:
            yield events.get(timeout=0.1)
        except queue.Empty:
            continue
    if "error" in box:
        raise box["error"]
    return {"file": str(params.dest)}
