"""The window first, the engines behind it: start-up in two steps, with a visible state.

Importing torch and the engines takes seconds; the window's shell (sidebar, status bar,
menus-to-be) needs none of it. :func:`start_deferred` shows a loading page in the shell,
imports torch and every job's module in a worker thread (no Qt objects there: the page
modules themselves are imported on the GUI thread afterwards, which is quick once their
engines are loaded), then asks the window to build its pages. ``STUDIO_STARTUP_PROBE=FILE``
makes the window write its milestones there (``window_exposed``, ``engines_ready``,
``first_preview``) and quit after the first preview: what `studio bench e2e` times.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

PROBE_ENV = "STUDIO_STARTUP_PROBE"


class LoadingPage(QWidget):
    """What the window shows while torch and the engines load."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("loadingPage")
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        self.title = QLabel("Starting Studio…", self)
        self.title.setObjectName("pageTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("Loading PyTorch and the engines", self)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # busy
        self.bar.setMaximumWidth(320)
        self.bar.setTextVisible(False)
        lay.addWidget(self.title)
        lay.addWidget(self.detail)
        lay.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)

    def set_state(self, text: str) -> None:
        self.detail.setText(text)


class Preloader(QThread):
    """Imports the modules of every job type (engine code and torch; no Qt objects)."""

    state = Signal(str)
    done = Signal(str)  # "" or the first error, shown by the window (pages still build)

    def run(self) -> None:
        error = ""
        try:
            from studio.registry import job_types

            types = job_types()
            for i, jt in enumerate(types.values()):  # the first one brings torch
                self.state.emit(f"Loading PyTorch and the engines ({i + 1}/{len(types)}: "
                                f"{jt.engine})")
                try:
                    jt.params  # noqa: B018 - imports the job's module
                    jt.fn  # noqa: B018
                except Exception as exc:  # the page that needs it reports it
                    error = error or f"{jt.name}: {exc}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.done.emit(error)


def start_deferred(win: Any, finish: Callable[[], None]) -> Preloader:
    """Show the loading page in ``win``'s stack; call ``finish()`` once loaded."""
    page = LoadingPage(win.stack)
    win.stack.addWidget(page)
    win.stack.setCurrentWidget(page)
    win.page_title.setText("Studio")
    win.statusBar().showMessage("Loading PyTorch and the engines…")
    loader = Preloader(win)
    loader.state.connect(page.set_state)

    def on_done(error: str) -> None:
        loader.wait()
        win.stack.removeWidget(page)
        page.deleteLater()
        win.statusBar().clearMessage()
        finish()
        if error:
            win.statusBar().showMessage(f"An engine could not be loaded: {error}", 15000)
        probe = getattr(win, "startup_probe", None)
        if probe is not None:
            probe.mark("engines_ready")

    loader.done.connect(on_done)
    loader.start()
    win.preloader = loader
    return loader


class StartupProbe(QObject):
    """Writes the window's start-up milestones (wall-clock times) to a JSON-lines file."""

    def __init__(self, win: Any, path: str, timeout_s: float = 120.0):
        super().__init__(win)
        self.win, self.path = win, path
        self.seen: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._poll)
        self._timer.start()
        QTimer.singleShot(int(timeout_s * 1000), self._quit)
        win.startup_probe = self

    def attach(self) -> None:
        """Watch the shown window's native surface for its first expose (= mapped)."""
        handle = self.win.windowHandle()
        if handle is not None:
            handle.installEventFilter(self)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.Expose and getattr(obj, "isExposed", lambda: True)():
            self.mark("window_exposed")
        return False

    def mark(self, event: str) -> None:
        if event in self.seen:
            return
        self.seen.add(event)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "t": time.time()}) + "\n")

    def _poll(self) -> None:
        page = getattr(self.win, "pages", {}).get("stylize")
        if page is not None and getattr(page, "renders", 0) > 0:
            self.mark("first_preview")
            self._timer.stop()
            QTimer.singleShot(100, self._quit)

    def _quit(self) -> None:
        self.win.confirm = lambda _text: True  # never ask while being timed
        self.win.close()
        from PySide6.QtWidgets import QApplication

        QApplication.quit()


def probe_path() -> str | None:
    """The probe file named by ``$STUDIO_STARTUP_PROBE`` (None: no probe)."""
    return os.environ.get(PROBE_ENV) or None
