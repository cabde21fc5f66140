"""Small reusable widgets: image views, thumbnail grids, curves, pickers, job controls."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui import settings as prefs

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.ppm *.pgm)"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def load_qimage(path: str | os.PathLike, max_side: int | None = None) -> QImage:
    """Read an image with the foundation's robust loader (EXIF, CMYK, 16-bit, ...)."""
    from studio.core.images import load_image, to_uint8_array
    from studio.gui.workers import qimage_from_array

    return qimage_from_array(to_uint8_array(load_image(path)), max_side)


class Banner(QLabel):
    """A one-line notice at the top of a page (info / warning / error)."""

    def __init__(self, text: str = "", kind: str = "info", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set(text, kind)

    def set(self, text: str, kind: str = "info") -> None:
        self.setProperty("kind", kind)
        self.setObjectName("banner")
        self.setText(text)
        self.setVisible(bool(text))
        self.style().unpolish(self)
        self.style().polish(self)


class PathEdit(QWidget):
    """A path field with a browse button; accepts a dropped file or folder."""

    textChanged = Signal(str)

    def __init__(self, mode: str = "file", parent: QWidget | None = None, key: str = "path",
                 filter: str = ""):
        super().__init__(parent)
        self.mode, self.key, self.filter = mode, key, filter
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("folder" if mode == "dir" else "file")
        self.edit.textChanged.connect(self.textChanged)
        self.button = QToolButton(self)
        self.button.setText("…")
        self.button.setToolTip("Choose a folder" if mode == "dir" else "Choose a file")
        self.button.clicked.connect(self.browse)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)
        self.setAcceptDrops(True)

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt naming
        super().setToolTip(tip)
        self.edit.setToolTip(tip)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # noqa: N802
        self.edit.setText(text)

    def browse(self) -> None:
        start = self.text() or prefs.last_dir(self.key)
        if self.mode == "dir":
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        elif self.mode == "save":
            path, _ = QFileDialog.getSaveFileName(self, "Save as", start, self.filter)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, self.filter)
        if path:
            prefs.remember_dir(self.key, path)
            self.setText(path)

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.setText(urls[0])


class ImageView(QWidget):
    """Shows an image scaled to fit; two images side by side or as a before/after split."""

    def __init__(self, parent: QWidget | None = None, placeholder: str = "no image yet"):
        super().__init__(parent)
        self.placeholder = placeholder
        self._pix: QPixmap | None = None
        self._before: QPixmap | None = None
        self.caption = ""
        self.mode = "single"  # single | side | split
        self.split = 0.5
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setObjectName("imageView")

    def set_image(self, img: QImage | QPixmap | None, caption: str = "") -> None:
        if isinstance(img, QImage):
            img = QPixmap.fromImage(img)
        self._pix = img
        self.caption = caption
        self.update()

    def set_before(self, img: QImage | QPixmap | None) -> None:
        if isinstance(img, QImage):
            img = QPixmap.fromImage(img)
        self._before = img
        self.update()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.update()

    def has_image(self) -> bool:
        return self._pix is not None and not self._pix.isNull()

    def pixmap(self) -> QPixmap | None:
        return self._pix

    def _fit(self, pix: QPixmap, area: QRect) -> QRect:
        s = pix.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect(area.x() + (area.width() - s.width()) // 2,
                     area.y() + (area.height() - s.height()) // 2, s.width(), s.height())

    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect().adjusted(4, 4, -4, -22 if self.caption else -4)
        if not self.has_image():
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        assert self._pix is not None
        before = self._before if self._before is not None and not self._before.isNull() else None
        if self.mode == "side" and before is not None:
            half = area.width() // 2 - 2
            left = QRect(area.x(), area.y(), half, area.height())
            right = QRect(area.x() + half + 4, area.y(), half, area.height())
            p.drawPixmap(self._fit(before, left), before)
            p.drawPixmap(self._fit(self._pix, right), self._pix)
        elif self.mode == "split" and before is not None:
            r = self._fit(self._pix, area)
            p.drawPixmap(r, self._pix)
            cut = int(r.width() * self.split)
            src_w = int(before.width() * self.split)
            p.drawPixmap(QRect(r.x(), r.y(), cut, r.height()), before,
                         QRect(0, 0, src_w, before.height()))
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(r.x() + cut, r.y(), r.x() + cut, r.bottom())
        else:
            p.drawPixmap(self._fit(self._pix, area), self._pix)
        if self.caption:
            p.setPen(self.palette().text().color())
            p.drawText(QRect(0, self.height() - 20, self.width(), 18),
                       Qt.AlignmentFlag.AlignCenter, self.caption)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self.mode == "split" and e.buttons():
            self.split = min(max(e.position().x() / max(1, self.width()), 0.0), 1.0)
            self.update()

    mousePressEvent = mouseMoveEvent  # noqa: N815


class ThumbGrid(QListWidget):
    """A grid of thumbnails; keeps the newest ``max_items`` when used as a live feed."""

    activated_data = Signal(object)

    def __init__(self, parent: QWidget | None = None, thumb: int = 96, max_items: int = 64):
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(QSize(thumb, thumb))
        self.setGridSize(QSize(thumb + 16, thumb + 30))
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSpacing(4)
        self.max_items = max_items
        self.thumb = thumb
        self.itemActivated.connect(lambda it: self.activated_data.emit(
            it.data(Qt.ItemDataRole.UserRole)))

    def add_image(self, img: QImage | QPixmap, caption: str = "", data: Any = None,
                  tooltip: str = "", front: bool = False) -> QListWidgetItem:
        pix = img if isinstance(img, QPixmap) else QPixmap.fromImage(img)
        if max(pix.width(), pix.height()) > self.thumb * 2:
            pix = pix.scaled(self.thumb * 2, self.thumb * 2, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        item = QListWidgetItem(QIcon(pix), caption)
        item.setData(Qt.ItemDataRole.UserRole, data)
        item.setToolTip(tooltip or caption)
        if front:
            self.insertItem(0, item)
            while self.count() > self.max_items:
                self.takeItem(self.count() - 1)
        else:
            self.addItem(item)
            while self.count() > self.max_items:
                self.takeItem(0)
        return item

    def add_files(self, paths: Iterable[str | os.PathLike], caption_fn=None) -> int:
        n = 0
        for p in paths:
            try:
                img = load_qimage(p, self.thumb * 2)
            except Exception:
                continue
            cap = caption_fn(p) if caption_fn else Path(p).name
            self.add_image(img, cap, str(p), str(p))
            n += 1
        return n

    def load_files_async(self, paths: Iterable[str | os.PathLike], caption_fn=None) -> None:
        """Replace the grid with thumbnails read in a worker (the GUI thread never decodes)."""
        from studio.gui.workers import LatestRunner

        paths = [str(p) for p in paths]
        if not hasattr(self, "_loader"):
            self._loader = LatestRunner(self)
            self._loader.result.connect(self._on_loaded)
        side = self.thumb * 2

        def work() -> tuple[Any, list[tuple[str, QImage]]]:
            out = []
            for p in paths:
                try:
                    out.append((p, load_qimage(p, side)))
                except Exception:
                    continue
            return caption_fn, out

        self._loader.submit(None, work)

    def _on_loaded(self, tag: Any, value: tuple[Any, list[tuple[str, QImage]]]) -> None:
        self.clear()
        self._caption_fn, items = value
        self._pending = list(items)
        self._add_chunk()

    def _add_chunk(self) -> None:
        """Add thumbnails a few at a time so the event loop never waits on a big folder."""
        fn = self._caption_fn
        chunk, self._pending = self._pending[:24], self._pending[24:]
        for p, img in chunk:
            self.add_image(img, fn(p) if fn else Path(p).name, p, p)
        if self._pending:
            QTimer.singleShot(0, self._add_chunk)

    def loading(self) -> bool:
        return (hasattr(self, "_loader") and self._loader.busy()) or bool(
            getattr(self, "_pending", None))

    def selected_data(self) -> list[Any]:
        return [it.data(Qt.ItemDataRole.UserRole) for it in self.selectedItems()]


PLOT_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860",
                "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]


class CurvePlot(QWidget):
    """Line plot of named series (loss terms) drawn with QPainter — cheap to repaint."""

    def __init__(self, parent: QWidget | None = None, title: str = "", log_y: bool = False):
        super().__init__(parent)
        self.title, self.log_y = title, log_y
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.setMinimumSize(200, 140)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.update)

    def clear(self) -> None:
        self.series.clear()
        self.update()

    def add_point(self, name: str, x: float, y: float) -> None:
        if not math.isfinite(y):
            return
        self.series.setdefault(name, []).append((float(x), float(y)))
        if not self._timer.isActive():
            self._timer.start()

    def set_series(self, series: dict[str, list[tuple[float, float]]]) -> None:
        self.series = {k: list(v) for k, v in series.items()}
        self.update()

    def _ty(self, y: float) -> float:
        return math.log10(max(y, 1e-12)) if self.log_y else y

    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.text().color()
        r = QRectF(self.rect()).adjusted(48, 22, -10, -24)
        p.setPen(fg)
        if self.title:
            p.drawText(QRectF(0, 2, self.width(), 18), Qt.AlignmentFlag.AlignCenter, self.title)
        pts = [(x, self._ty(y)) for s in self.series.values() for x, y in s]
        grid = QColor(fg)
        grid.setAlpha(50)
        p.setPen(QPen(grid, 1))
        p.drawRect(r)
        if not pts:
            p.setPen(pal.placeholderText().color())
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "curves appear while the job runs")
            return
        x0, x1 = min(x for x, _ in pts), max(x for x, _ in pts)
        y0, y1 = min(y for _, y in pts), max(y for _, y in pts)
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        for k in range(5):
            yy = r.bottom() - r.height() * k / 4
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(r.left(), yy), QPointF(r.right(), yy))
            val = y0 + (y1 - y0) * k / 4
            label = f"1e{val:.1f}" if self.log_y else f"{val:.3g}"
            p.setPen(fg)
            p.drawText(QRectF(0, yy - 8, 46, 16), Qt.AlignmentFlag.AlignRight, label)
        p.drawText(QRectF(r.left(), r.bottom() + 4, 80, 16), Qt.AlignmentFlag.AlignLeft,
                   f"{x0:g}")
        p.drawText(QRectF(r.right() - 80, r.bottom() + 4, 80, 16), Qt.AlignmentFlag.AlignRight,
                   f"{x1:g}")
        lx = r.left() + 6
        for i, (name, s) in enumerate(self.series.items()):
            col = QColor(PLOT_COLOURS[i % len(PLOT_COLOURS)])
            path = QPainterPath()
            for j, (x, y) in enumerate(s):
                px = r.left() + (x - x0) / (x1 - x0) * r.width()
                py = r.bottom() - (self._ty(y) - y0) / (y1 - y0) * r.height()
                if j == 0:
                    path.moveTo(px, py)
                else:
                    path.lineTo(px, py)
            p.setPen(QPen(col, 1.6))
            p.drawPath(path)
            p.drawText(QPointF(lx, r.top() + 14), name)
            lx += p.fontMetrics().horizontalAdvance(name) + 14


class DropZone(QFrame):
    """Drop image files here or click to choose; shows the chosen images as thumbnails."""

    files_changed = Signal(list)

    def __init__(self, title: str, parent: QWidget | None = None, multiple: bool = False,
                 key: str = "images", dirs: bool = False):
        super().__init__(parent)
        self.title, self.multiple, self.key, self.dirs = title, multiple, key, dirs
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self.files: list[str] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        head = QHBoxLayout()
        self.label = QLabel(f"<b>{title}</b>", self)
        self.choose = QPushButton("Choose…", self)
        self.choose.setToolTip(f"Pick {'images' if multiple else 'an image'} from disk "
                               "(or drop files onto this box)")
        self.choose.clicked.connect(self.browse)
        head.addWidget(self.label, 1)
        head.addWidget(self.choose)
        lay.addLayout(head)
        self.grid = ThumbGrid(self, thumb=72, max_items=64)
        self.grid.setMinimumHeight(100)
        lay.addWidget(self.grid)
        self.setToolTip(f"{title}: drop image files here")

    def browse(self) -> None:
        start = prefs.last_dir(self.key)
        if self.multiple:
            paths, _ = QFileDialog.getOpenFileNames(self, self.title, start, IMAGE_FILTER)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.title, start, IMAGE_FILTER)
            paths = [path] if path else []
        if paths:
            prefs.remember_dir(self.key, paths[0])
            self.set_files(paths)

    def set_files(self, paths: Iterable[str | os.PathLike]) -> None:
        paths = [str(p) for p in paths]
        if not self.multiple:
            paths = paths[:1]
        self.files = paths
        self.grid.clear()
        self.grid.add_files(paths)
        self.files_changed.emit(list(self.files))

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:  # noqa: N802
        from studio.core.images import list_images

        out: list[str] = []
        for u in e.mimeData().urls():
            if not u.isLocalFile():
                continue
            p = Path(u.toLocalFile())
            out.extend(str(x) for x in list_images(p, recursive=True)) if p.is_dir() else out.append(str(p))
        if out:
            self.set_files(out)


class LogView(QPlainTextEdit):
    """Read-only log with coloured warning/error lines, bounded in size."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(3000)
        self.setObjectName("logView")
        self.errors: list[str] = []

    def add(self, message: str, level: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S")
        colour = {"warning": "#c98a00", "error": "#d03838"}.get(level)
        esc = (message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        if level == "error":
            self.errors.append(message)
        if colour:
            self.appendHtml(f'<span style="color:{colour}">{stamp} {level}: {esc}</span>')
        else:
            self.appendHtml(f"<span>{stamp} {esc}</span>")


class JobControls(QWidget):
    """Run / pause / cancel buttons with a progress bar, ETA and the job's state."""

    run_clicked = Signal()

    def __init__(self, parent: QWidget | None = None, run_text: str = "Run"):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.run_button = QPushButton(run_text, self)
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip(f"{run_text} (Ctrl+Enter)")
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setToolTip("Pause at the next step; press again to resume")
        self.pause_button.setCheckable(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop at the next step; finished files are kept (Esc)")
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(160)
        self.status = QLabel("ready", self)
        self.status.setObjectName("jobStatus")
        self.status.setMinimumWidth(180)
        for w in (self.run_button, self.pause_button, self.cancel_button):
            lay.addWidget(w)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.status)
        self.run_button.clicked.connect(self.run_clicked)
        self.pause_button.toggled.connect(self._on_pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.record = None
        self.queue = None
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._refresh)
        self._set_idle()

    def _set_idle(self) -> None:
        self.pause_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.pause_button.blockSignals(False)

    def bind(self, record: Any, queue: Any) -> None:
        """Follow ``record`` (a JobRecord) in ``queue``."""
        self.record, self.queue = record, queue
        self.bar.setRange(0, 0)
        self.bar.setValue(0)
        self.pause_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        record.handle.progress.connect(self._on_progress)
        record.handle.state_changed.connect(self._on_state)
        self._on_state(record.state.value)
        self._timer.start()

    def _on_progress(self, ev: Any) -> None:
        if ev.total:
            self.bar.setRange(0, int(ev.total))
            self.bar.setValue(min(int(ev.step), int(ev.total)))
            self.bar.setFormat(f"{ev.step}/{ev.total}  %p%")
        else:
            self.bar.setRange(0, 0)
        self._refresh()

    def _on_state(self, state: str) -> None:
        rec = self.record
        if rec is None:
            return
        if state in ("done", "failed", "cancelled"):
            self._timer.stop()
            self._set_idle()
            if state == "done":
                self.bar.setRange(0, 1)
                self.bar.setValue(1)
                self.bar.setFormat("done")
            elif self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
                self.bar.setValue(0)
                self.bar.setFormat(state)
        self._refresh()

    def _refresh(self) -> None:
        rec = self.record
        if rec is None:
            return
        st = rec.state.value
        if st in ("running", "paused"):
            eta = rec.eta()
            msg = f" · {rec.message}" if rec.message else ""
            text = f"{st} · {fmt_seconds(rec.duration)} elapsed · ETA {fmt_seconds(eta)}{msg}"
        elif st == "queued":
            pos = [r for r in self.queue.records if r.state.value == "queued"].index(rec) + 1 \
                if self.queue is not None and rec in self.queue.records else 0
            text = f"queued (position {pos})"
        else:
            text = f"{st} in {fmt_seconds(rec.duration)}"
            if st == "failed":
                text = f"failed: {rec.error[:120]}"
        self.status.setText(text)
        self.status.setToolTip(rec.error if rec.error else text)

    def _on_pause(self, checked: bool) -> None:
        if self.record is None or self.queue is None:
            return
        if checked:
            self.queue.pause(self.record)
            self.pause_button.setText("Resume")
        else:
            self.queue.resume(self.record)
            self.pause_button.setText("Pause")

    def cancel(self) -> None:
        if self.record is not None and self.queue is not None:
            self.queue.cancel(self.record)

    def running(self) -> bool:
        return self.record is not None and not self.record.state.finished
