"""Training curves in the formats tracking tools read.

Every training job (``train adain``, ``train classifier``, ``train tsit``, ``distill``,
``prune``) writes its records twice-over through one :class:`MetricsLog`:

- ``metrics.jsonl`` in the run folder, always: one ``{"step": N, "time": t, ...}`` line per
  record, appendable — a resumed run keeps the lines up to its checkpoint and appends, so
  the file reads as one run (pandas ``read_json(lines=True)``, ``jq``, W&B/MLflow import);
  ``distill`` and ``prune``, which write their results only when they finish, keep the
  records in ``metrics.jsonl.partial`` until then (``staged``): a failed run leaves an
  earlier run's folder exactly as it was;
- TensorBoard event files in ``--log_dir`` (the reference tools' spelling) when the
  ``tensorboard`` package is installed; a resumed run purges the events after its
  checkpoint, as TensorBoard's ``purge_step`` is meant for.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from studio.core.jobs import Log, Metrics

METRICS_FILE = "metrics.jsonl"

NO_TENSORBOARD = ("--log_dir {dir}: the tensorboard package is not installed, so no event "
                  "files are written there (pip install tensorboard, or studio[track]); "
                  "{jsonl} has the same records")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a run folder or the file); a torn last line
    (a killed run) is skipped."""
    p = Path(path)
    p = p / METRICS_FILE if p.is_dir() else p
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            out.append(rec)
    return out


class MetricsLog:
    """A run's metrics.jsonl (in ``run_folder``) and TensorBoard events (in ``log_dir``).

    ``resume_step``: the step of the checkpoint a resumed run continues from (None: a new
    run, the file starts empty). ``staged``: records go to ``metrics.jsonl.partial``, which
    :meth:`commit` renames to ``metrics.jsonl`` and :meth:`close` without a commit removes.
    ``enabled=False`` (a non-zero rank): nothing is written.
    ``notice`` is the one line to show when ``log_dir`` was asked for but cannot be had.
    Calling the log records and returns the :class:`Metrics` event to yield.
    """

    def __init__(self, run_folder: str | Path | None, log_dir: str | Path | None = "", *,
                 resume_step: int | None = None, enabled: bool = True, staged: bool = False):
        self.fh: Any = None
        self.final: Path | None = None
        self.writer: Any = None
        self.notice: str | None = None
        self.path = Path(run_folder) / METRICS_FILE if run_folder and enabled else None
        if self.path is not None and staged:
            self.final, self.path = self.path, self.path.with_name(METRICS_FILE + ".partial")
            resume_step = None
        if self.path is not None:
            self._open(resume_step)
        if log_dir and enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 (optional)
            except ImportError:
                self.notice = NO_TENSORBOARD.format(dir=log_dir, jsonl=self.path or METRICS_FILE)
            else:
                Path(log_dir).mkdir(parents=True, exist_ok=True)
                purge = None if resume_step is None else resume_step + 1
                self.writer = SummaryWriter(str(log_dir), purge_step=purge)

    def _open(self, resume_step: int | None) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step is not None and self.path.is_file():
            kept = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(tmp, self.path)
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, step: int, values: dict[str, Any]) -> dict[str, float]:
        """Record the finite numbers of ``values`` at ``step``; returns them as floats."""
        clean = {k: float(v) for k, v in values.items()
                 if isinstance(v, (int, float)) and math.isfinite(float(v))}
        if self.fh is not None:
            self.fh.write(json.dumps({"step": int(step), "time": round(time.time(), 3),
                                      **clean}) + "\n")
            self.fh.flush()
        if self.writer is not None:
            for k, v in clean.items():
                self.writer.add_scalar(k, v, int(step))
        return clean

    def __call__(self, step: int, values: dict[str, Any]) -> Metrics:
        return Metrics(int(step), self.write(step, values))

    def commit(self) -> None:
        """A staged run finished: its records become the folder's ``metrics.jsonl``."""
        if self.final is not None and self.path is not None:
            if self.fh is not None:
                self.fh.close()
                self.fh = None
            os.replace(self.path, self.final)
            self.final = None

    def close(self) -> None:
        for h in (self.writer, self.fh):
            if h is not None:
                h.close()
        self.writer = self.fh = None
        if self.final is not None and self.path is not None:  # staged, not committed
            self.path.unlink(missing_ok=True)
            self.final = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_metrics(run_folder: str | Path | None, log_dir: str | Path | None = "", *,
                 resume_step: int | None = None, enabled: bool = True, staged: bool = False
                 ) -> Generator[Log, None, MetricsLog]:
    """A job's :class:`MetricsLog` (``log = yield from open_metrics(...)``), warning once
    when ``--log_dir`` cannot be written."""
    log = MetricsLog(run_folder, log_dir, resume_step=resume_step, enabled=enabled,
                     staged=staged)
    if log.notice:
        yield Log(log.notice, "warning")
    return log


__all__ = ["METRICS_FILE", "MetricsLog", "open_metrics", "read_metrics"]
