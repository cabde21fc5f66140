"""``studio gui --self-test``: drive every page headless on the toy world.

Each page implements ``self_test(driver)``: it loads inputs, runs a small job, and asserts
what a user would check — the preview arrived, the outputs exist, a cancel stops the
job. The driver keeps the event loop turning while it waits, so the workers and signals
run exactly as they do in the window. ``--screenshot DIR`` saves a PNG of every page
after its test, so the pictures show real results.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from studio.gui.workers import JobRecord, JobState


class SelfTestFailure(AssertionError):
    pass


#: The event-loop bar of the issue: no gap between 10 ms timer ticks above this.
STALL_LIMIT_MS = 50.0


def load_per_core() -> float:
    """1-minute load average per CPU core (0 where the OS does not report it)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (OSError, AttributeError):
        return 0.0


def stall_verdict(stall_ms: float) -> tuple[bool, str]:
    """Judge a stall against the bar, unless the machine is overloaded.

    A worker thread that holds the GIL and is then pre-empted by the OS keeps the GUI
    thread waiting for as long as other processes run; with more than two runnable
    processes per core that is scheduling, not the window. The stall is then reported
    with the load, but not judged.
    """
    load = load_per_core()
    if stall_ms < STALL_LIMIT_MS:
        return True, f"largest stall {stall_ms:.0f} ms"
    if load > 2.0:
        return True, (f"largest stall {stall_ms:.0f} ms, not judged: the machine is "
                      f"overloaded (load {load:.1f} per core)")
    return False, f"the event loop stalled {stall_ms:.0f} ms while a job ran"


class Driver:
    """Waits for conditions while processing events; records stalls of the event loop."""

    def __init__(self, window: Any, log: Callable[[str], None] = print):
        self.window = window
        self.ctx = window.ctx
        self.log = log
        self.max_stall_ms = 0.0

    def process(self, ms: int = 10) -> None:
        QApplication.processEvents()
        if ms:
            time.sleep(ms / 1000)
            QApplication.processEvents()

    def wait(self, cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        end = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > end:
                raise SelfTestFailure(f"timed out after {timeout:.0f} s waiting for "
                                      f"{what or 'a condition'}")
            self.process(10)

    def wait_job(self, rec: JobRecord | None, timeout: float = 60.0,
                 state: str | None = "done") -> JobRecord:
        if rec is None:
            raise SelfTestFailure("the job did not start (check the page's parameters)")
        self.wait(lambda: rec.state.finished, timeout, f"job {rec.title}")
        if state is not None and rec.state.value != state:
            raise SelfTestFailure(f"job {rec.title} ended {rec.state.value}, expected {state}"
                                  + (f": {rec.error}" if rec.error else ""))
        return rec

    def wait_running(self, rec: JobRecord, timeout: float = 30.0) -> None:
        self.wait(lambda: rec.step > 0 or rec.state.finished, timeout,
                  f"job {rec.title} to make progress")

    def cancel_and_check(self, rec: JobRecord, timeout: float = 30.0) -> None:
        """Cancel after the first progress; it must end 'cancelled' within one step."""
        self.wait_running(rec, timeout)
        if rec.state.finished:
            raise SelfTestFailure(f"{rec.title} finished before it could be cancelled; "
                                  "give the self-test a longer job")
        self.ctx.queue.cancel(rec)
        self.wait_job(rec, timeout, "cancelled")

    def measure_stalls(self, rec: JobRecord, timeout: float = 60.0) -> float:
        """Largest gap (ms) between 10 ms timer ticks while ``rec`` runs."""
        ticks: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))
        timer.start()
        app = QApplication.instance()
        end = time.monotonic() + timeout
        while not rec.state.finished and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)
        timer.stop()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        stall = max(gaps) if gaps else 0.0
        self.max_stall_ms = max(self.max_stall_ms, stall)
        return stall

    def check(self, cond: Any, message: str) -> None:
        if not cond:
            raise SelfTestFailure(message)


def run(window: Any, screenshot_dir: str | Path | None = None,
        pages: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    """Run every page's self-test; return the number of failures (0 = all passed)."""
    d = Driver(window, log)
    window.ctx.headless = True
    window.confirm = lambda text: True
    shots = Path(screenshot_dir) if screenshot_dir else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    failures = 0
    try:
        d.wait(lambda: window.ctx.toy.ready(), 60, "the toy world to be drawn")
        d.process(50)
    except SelfTestFailure as exc:
        log(f"FAIL toy world: {exc}")
        return 1
    keys = pages or window.page_keys()
    for key in keys:
        page = window.show_page(key)
        d.process(20)
        t = time.monotonic()
        fn = getattr(page, "self_test", None)
        try:
            if getattr(page, "error", None):
                raise SelfTestFailure(page.error)
            note = fn(d) if fn else "no self-test"
            log(f"ok   {key:12s} {time.monotonic() - t:5.1f} s  {note or ''}".rstrip())
        except Exception as exc:
            failures += 1
            log(f"FAIL {key:12s} {time.monotonic() - t:5.1f} s  {exc}")
            if not isinstance(exc, SelfTestFailure):
                log(traceback.format_exc())
        finally:
            for rec in window.ctx.queue.active():
                window.ctx.queue.cancel(rec)
            window.ctx.queue.wait_all(30, QApplication.processEvents)
        if shots:
            d.process(100)
            save_screenshot(window, shots / f"{key}.png")
    if shots:
        extra_screenshots(window, d, shots)
        all_screenshots(window, shots, log=log)
    log(f"self-test: {len(keys) - failures}/{len(keys)} pages passed in "
        f"{time.monotonic() - t0:.1f} s; largest event-loop stall "
        f"{d.max_stall_ms:.0f} ms")
    return failures


def extra_screenshots(window: Any, d: Driver, shots: Path) -> None:
    """The stimulus browser, and one page in the dark theme."""
    tex = window.pages.get("texture")
    if tex is not None and getattr(tex, "rows", None):
        window.show_page("texture")
        tex.tabs.setCurrentIndex(1)
        d.wait(lambda: not tex.browser.loading(), 20, "the stimulus browser")
        d.process(100)
        save_screenshot(window, shots / "texture-stimuli.png")
        tex.tabs.setCurrentIndex(0)
    sty = window.pages.get("stylize")
    if sty is not None and getattr(sty, "image", None) is not None and sty.image.has_image():
        window.show_page("stylize")
        viewer = sty.image.open_viewer()
        viewer.resize(1000, 640)
        d.process(150)
        viewer.view.fit()
        save_screenshot(viewer, shots / "viewer.png")
        viewer.close()
    docs = window.open_docs()
    docs.resize(900, 640)
    d.process(100)
    save_screenshot(docs, shots / "docs.png")
    docs.close()
    before = window.theme_actions
    current = next((k for k, a in before.items() if a.isChecked()), "system")
    window.set_theme("dark")
    window.show_page("toyworld")
    d.process(150)
    save_screenshot(window, shots / "dark.png")
    window.set_theme(current)


def save_screenshot(window: Any, path: Path) -> Path:
    """A PNG of the window, reduced to a 256-colour palette (small enough for a README)."""
    import io

    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    QApplication.processEvents()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    window.grab().save(buf, "PNG")
    img = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                 dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def assert_state(rec: JobRecord, state: JobState) -> None:
    if rec.state != state:
        raise SelfTestFailure(f"{rec.title}: state {rec.state.value}, expected {state.value}"
                              + (f" ({rec.error})" if rec.error else ""))


def clipped_texts(window: Any) -> list[str]:
    """Visible texts that do not fit where they are drawn: a label or button narrower
    than its text, wrapped text taller than its box, or a widget running past the
    window's edge. Widgets inside a scroll area are judged by the scrolled content (they
    are reachable by scrolling), never by the viewport."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QAbstractButton, QCheckBox, QLabel, QScrollArea

    for _ in range(3):  # let layouts catch up with texts set a moment ago
        QApplication.processEvents()
    problems: list[str] = []
    win_rect = window.rect()

    def in_scroll(w: Any) -> bool:
        p = w.parentWidget()
        while p is not None and p is not window:
            if isinstance(p, QScrollArea):
                return True
            p = p.parentWidget()
        return False

    def name(w: Any) -> str:
        text = w.text() if hasattr(w, "text") else ""
        return f"{type(w).__name__} {text[:60]!r}"

    for w in window.findChildren(QWidget):
        if not w.isVisibleTo(window) or w.width() <= 0 or not w.isVisible():
            continue
        if isinstance(w, QLabel):
            text = w.text()
            if not text or w.pixmap() is not None and not w.pixmap().isNull():
                continue
            if w.wordWrap():
                need = w.heightForWidth(w.width())
                if need > w.height() + 2:
                    problems.append(f"{name(w)} needs {need} px height, has {w.height()}")
            elif w.sizeHint().width() > w.width() + 2 and \
                    w.sizePolicy().horizontalPolicy() != w.sizePolicy().Policy.Ignored:
                problems.append(f"{name(w)} needs {w.sizeHint().width()} px, has {w.width()}")
        elif isinstance(w, (QAbstractButton, QCheckBox)) and w.text():
            if w.sizeHint().width() > w.width() + 2:
                problems.append(f"{name(w)} needs {w.sizeHint().width()} px, has {w.width()}")
        else:
            continue
        if not in_scroll(w):
            r = QRect(w.mapTo(window, QPoint(0, 0)), w.size())
            if not win_rect.contains(r):
                problems.append(f"{name(w)} runs past the window's edge ({r.getRect()})")
    return problems


def all_screenshots(window: Any, shots: Path, sizes: tuple[tuple[int, int], ...] = (
        (1024, 640), (1280, 720), (1920, 1080)), themes: tuple[str, ...] = ("light", "dark"),
        log: Callable[[str], None] = print) -> list[Path]:
    """Every page at every size and theme, ``<page>-<w>x<h>-<theme>.png``, with any
    clipped text reported (the pages keep what their self-test left on them)."""
    made: list[Path] = []
    shots.mkdir(parents=True, exist_ok=True)
    for theme_name in themes:
        window.set_theme(theme_name)
        for w, h in sizes:
            window.resize(w, h)
            for key in window.page_keys():
                window.show_page(key)
                for _ in range(5):
                    QApplication.processEvents()
                    time.sleep(0.02)
                if (window.width(), window.height()) != (w, h):
                    log(f"WARN {key} {w}x{h}: the window is "
                        f"{window.width()}x{window.height()}")
                for p in clipped_texts(window):
                    log(f"WARN {key} {w}x{h} {theme_name}: {p}")
                made.append(save_screenshot(window, shots / f"{key}-{w}x{h}-{theme_name}.png"))
    return made
