"""Small reusable widgets: image views, thumbnail grids, curves, pickers, job controls."""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
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
    QLayout,
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


def recent_label(path: str | Path, width: int = 70) -> str:
    """A recent file as a menu names it: the whole path (home as ~), cut in the middle
    when long — two "build.toml" of two projects must not read the same."""
    p = Path(path)
    try:
        text = "~/" + p.relative_to(Path.home()).as_posix()
    except ValueError:
        text = p.as_posix()
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep // 2 - 8] + "…" + text[-(keep - keep // 2 + 8):]


def load_qimage(path: str | os.PathLike, max_side: int | None = None) -> QImage:
    """Read an image with the foundation's robust loader (EXIF, CMYK, 16-bit, ...)."""
    from studio.core.images import load_image, to_uint8_array
    from studio.gui.workers import qimage_from_array

    return qimage_from_array(to_uint8_array(load_image(path)), max_side)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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

    def setToolTip(self, tip: str) -> None:
        super().setToolTip(tip)
        self.edit.setToolTip(tip)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:
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

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
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
        #: why the shown image no longer matches the inputs ("" when it does): drawn over
        #: the image, so an old picture is never read as the answer to a bad entry
        self.stale = ""
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setObjectName("imageView")

    def set_image(self, img: QImage | QPixmap | None, caption: str = "") -> None:
        if isinstance(img, QImage):
            img = QPixmap.fromImage(img)
        self._pix = img
        self.caption = caption
        self.update()

    def set_stale(self, note: str) -> None:
        """Mark the image as out of date with the reason ("" = it is current)."""
        if note != self.stale:
            self.stale = note
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

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect().adjusted(4, 4, -4, -22 if self.caption else -4)
        if not self.has_image():
            p.setPen(self.palette().placeholderText().color())
            # wrapped inside the box: a narrow view must not cut it at both sides
            p.drawText(self.rect().adjusted(8, 8, -8, -8),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
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
            cap = p.fontMetrics().elidedText(self.caption, Qt.TextElideMode.ElideMiddle,
                                             max(20, self.width() - 8))
            p.drawText(QRect(0, self.height() - 20, self.width(), 18),
                       Qt.AlignmentFlag.AlignCenter, cap)
        if self.stale:
            veil = QColor(self.palette().window().color())
            veil.setAlpha(170)
            p.fillRect(area, veil)
            fm = p.fontMetrics()
            box = fm.boundingRect(area.adjusted(16, 0, -16, 0),
                                  Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                                  self.stale).adjusted(-10, -6, 10, 6)
            p.setPen(QPen(QColor("#d14343"), 1.5))
            p.setBrush(self.palette().base())
            p.drawRoundedRect(box, 5, 5)
            p.setPen(self.palette().text().color())
            p.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.stale)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self.mode == "split" and e.buttons():
            self.split = min(max(e.position().x() / max(1, self.width()), 0.0), 1.0)
            self.update()

    mousePressEvent = mouseMoveEvent

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        # a click enlarges (in the before/after split a click moves the line instead:
        # double-click there)
        if self.mode != "split" and e.button() == Qt.MouseButton.LeftButton:
            self.open_viewer()

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        self.open_viewer()

    def view_item(self) -> Any:
        from studio.gui.viewer import ViewItem

        before = self._before if self._before is not None and not self._before.isNull() \
            else None
        return ViewItem(self._pix, self.caption or "result", before,
                        "before" if before is not None else "")

    def open_viewer(self) -> Any:
        """Show the image large, zoomable, compared with the 'before' image if any."""
        if not self.has_image():
            return None
        from studio.gui.viewer import ImageViewer

        v = ImageViewer.shared(self)
        v.open([self.view_item()])
        return v


class ThumbGrid(QListWidget):
    """A grid of thumbnails; keeps the newest ``max_items`` when used as a live feed."""

    activated_data = Signal(object)

    def __init__(self, parent: QWidget | None = None, thumb: int = 96, max_items: int = 64,
                 lines: int = 2, cell_width: int | None = None):
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(QSize(thumb, thumb))
        # room for ``lines`` lines of caption; the full caption is the tooltip
        line = self.fontMetrics().height()
        self.setGridSize(QSize(cell_width or max(thumb + 40, 124), thumb + 12 + line * lines))
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSpacing(4)
        self.max_items = max_items
        self.thumb = thumb
        #: (min, max) side: the thumbnails follow the grid's height (one row), or None
        self.auto_thumb: tuple[int, int] | None = None
        #: data -> (image, caption) of a "B" image to compare each item with, or None
        self.compare_fn: Any = None
        #: data -> the caption the viewer shows for an item (default: name and path)
        self.viewer_caption: Any = None
        self.itemActivated.connect(lambda it: self.activated_data.emit(
            it.data(Qt.ItemDataRole.UserRole)))
        self.itemActivated.connect(self.open_viewer)
        self.setToolTip("Double-click an image to enlarge it")

    def resizeEvent(self, e: Any) -> None:
        super().resizeEvent(e)
        if self.auto_thumb is not None:
            self.fit_thumbs()

    def fit_thumbs(self) -> None:
        """Thumbnails as large as one row of the grid allows (within ``auto_thumb``): a
        tall window shows the chosen images large, not small in an empty box."""
        lo, hi = self.auto_thumb
        room = self.viewport().height() - (self.gridSize().height() - self.thumb) \
            - 2 * self.spacing() - 2
        side = int(min(max(lo, room), hi))
        if abs(side - self.thumb) >= 8 or (side in (lo, hi) and side != self.thumb):
            self.set_thumb(side)

    def row_height(self) -> int:
        """Height of a grid showing one whole row of thumbnails with their captions."""
        return self.gridSize().height() + 2 * self.frameWidth() + 2 * self.spacing() + 2

    def set_thumb(self, thumb: int) -> None:
        """Show the thumbnails at another size (the icons are kept at twice the first
        size, so they stay sharp up to it)."""
        lines = max(1, round((self.gridSize().height() - self.thumb - 12)
                             / max(1, self.fontMetrics().height())))
        width = max(thumb + 40, 124) if self.gridSize().width() == max(self.thumb + 40, 124) \
            else self.gridSize().width() + thumb - self.thumb
        self.thumb = thumb
        self.setIconSize(QSize(thumb, thumb))
        self.setGridSize(QSize(width, thumb + 12 + self.fontMetrics().height() * lines))
        for i in range(self.count()):
            self.item(i).setSizeHint(self.gridSize() - QSize(6, 4))

    def view_items(self) -> list[Any]:
        """Every thumbnail as a viewer item: files load at full size when opened."""
        from studio.gui.viewer import ViewItem

        out = []
        for i in range(self.count()):
            it = self.item(i)
            data = it.data(Qt.ItemDataRole.UserRole)
            cap = it.toolTip() or it.text()
            if isinstance(data, str) and Path(data).is_file():
                def img(p=data):
                    return (load_qimage(p, 4096))
                head = f"{it.text()} — {data}" if it.text() and it.text() not in data \
                    else data

                def cap(p=data, head=head) -> str:  # read when shown: a grid may be long
                    from studio.gui.viewer import provenance_text

                    prov = provenance_text(p)
                    return f"{head}\n{prov}" if prov else head
            else:
                img = it.icon().pixmap(self.thumb * 2)
            if self.viewer_caption is not None:
                with contextlib.suppress(Exception):
                    cap = self.viewer_caption(data) or cap
            other, other_cap = None, ""
            if self.compare_fn is not None:
                try:
                    got = self.compare_fn(data)
                except Exception:
                    got = None
                if got:
                    other, other_cap = got
            out.append(ViewItem(img, cap, other, other_cap))
        return out

    def open_viewer(self, item: QListWidgetItem | None = None) -> Any:
        """Enlarge ``item`` (the current one if None); Left/Right walk the grid."""
        item = item or self.currentItem()
        if item is None:
            return None
        from studio.gui.viewer import ImageViewer

        v = ImageViewer.shared(self)
        v.open(self.view_items(), self.row(item))
        return v

    def add_image(self, img: QImage | QPixmap, caption: str = "", data: Any = None,
                  tooltip: str = "", front: bool = False) -> QListWidgetItem:
        pix = img if isinstance(img, QPixmap) else QPixmap.fromImage(img)
        if max(pix.width(), pix.height()) > self.thumb * 2:
            pix = pix.scaled(self.thumb * 2, self.thumb * 2, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        grow = self.auto_thumb[1] if self.auto_thumb else self.thumb
        if 0 < max(pix.width(), pix.height()) < grow:
            # an icon is never drawn larger than its pixmap: a 64 px toy image is enlarged
            # here (pixels kept sharp) so that it can fill a larger thumbnail
            pix = pix.scaled(grow, grow, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.FastTransformation)
        item = QListWidgetItem(QIcon(pix), caption)
        # the caption gets the cell's whole width and height (not the first caption's)
        item.setSizeHint(self.gridSize() - QSize(6, 4))
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

    def _yrange(self, series: dict, log: bool) -> tuple[float, float]:
        ys = [self._ty(y) if log else y for s in series.values() for _, y in s]
        if not ys:
            return 0.0, 1.0
        y0, y1 = min(ys), max(ys)
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        return y0, y1

    def tick_labels(self) -> tuple[list[str], list[str]]:
        """The left and right axis labels as drawn (tests: nothing like "3.6e+04")."""
        left = {k: v for k, v in self.series.items() if not self.is_share(k)}
        y0, y1 = self._yrange(left, self.log_y)
        return ([self.tick_label(y0 + (y1 - y0) * k / 4, self.log_y) for k in range(5)]
                if left else [], [])

    def _ty(self, y: float) -> float:
        return math.log10(max(y, 1e-12)) if self.log_y else y

    @staticmethod
    def is_share(name: str) -> bool:
        """Accuracy-like series (0..1) get their own linear axis on the right: they must
        not share a loss's log axis."""
        n = name.lower()
        return any(w in n for w in ("acc", "top1", "top5", "sparsity", "agreement"))

    @staticmethod
    def tick_label(value: float, log: bool) -> str:
        """A readable tick: 10^0.3 shows as "2", not "1e0.3"."""
        v = 10 ** value if log else value
        if v == 0:
            return "0"
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= scale:  # 36000 -> "36k", never "3.6e+04" cut to "6e+04"
                return f"{v / scale:.3g}{suffix}"
        if abs(v) < 1e-3:
            return f"{v:.0e}"
        return f"{v:.3g}"

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.text().color()
        left_s = {k: v for k, v in self.series.items() if not self.is_share(k)}
        right_s = {k: v for k, v in self.series.items() if self.is_share(k)}
        fm = p.fontMetrics()
        ly0, ly1 = self._yrange(left_s, self.log_y)
        ry0, ry1 = (0.0, 1.0) if right_s and all(0 <= y <= 1 for s in right_s.values()
                                                  for _, y in s) else self._yrange(right_s,
                                                                                    False)
        left_ticks = [self.tick_label(ly0 + (ly1 - ly0) * k / 4, self.log_y)
                      for k in range(5)] if left_s else []
        right_ticks = [f"{(ry0 + (ry1 - ry0) * k / 4) * 100:.0f} %"
                       if (ry0, ry1) == (0.0, 1.0) else f"{ry0 + (ry1 - ry0) * k / 4:.3g}"
                       for k in range(5)] if right_s else []
        # the margins fit the widest tick label: none is cut at the widget's edge
        lw = max([40] + [fm.horizontalAdvance(t) + 12 for t in left_ticks])
        rw = max([40] + [fm.horizontalAdvance(t) + 12 for t in right_ticks]) \
            if right_s else 10
        r = QRectF(self.rect()).adjusted(lw, 22 + fm.height(), -rw, -(fm.height() + 10))
        p.setPen(fg)
        if self.title:
            p.drawText(QRectF(0, 2, self.width(), fm.height() + 2),
                       Qt.AlignmentFlag.AlignCenter, self.title)
        grid = QColor(fg)
        grid.setAlpha(50)
        p.setPen(QPen(grid, 1))
        p.drawRect(r)
        if not self.series:
            p.setPen(pal.placeholderText().color())
            p.drawText(r.adjusted(6, 6, -6, -6),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "curves appear while the job runs")
            return
        xs = [x for s in self.series.values() for x, _ in s]
        x0, x1 = min(xs), max(xs)
        if x1 == x0:
            x1 = x0 + 1

        for k in range(5):
            yy = r.bottom() - r.height() * k / 4
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(r.left(), yy), QPointF(r.right(), yy))
            p.setPen(fg)
            if left_ticks:
                p.drawText(QRectF(0, yy - 8, lw - 4, 16), Qt.AlignmentFlag.AlignRight,
                           left_ticks[k])
            if right_ticks:
                p.drawText(QRectF(r.right() + 4, yy - 8, rw - 4, 16),
                           Qt.AlignmentFlag.AlignLeft, right_ticks[k])
        p.drawText(QRectF(r.left(), r.bottom() + 4, 80, 16), Qt.AlignmentFlag.AlignLeft,
                   f"{x0:g}")
        p.drawText(QRectF(r.right() - 80, r.bottom() + 4, 80, 16), Qt.AlignmentFlag.AlignRight,
                   f"{x1:g}")
        lx, ly = r.left() + 6, r.top() - 4
        for i, (name, s) in enumerate(self.series.items()):
            share = name in right_s
            col = QColor(PLOT_COLOURS[i % len(PLOT_COLOURS)])
            y0, y1 = (ry0, ry1) if share else (ly0, ly1)
            path = QPainterPath()
            for j, (x, y) in enumerate(s):
                ty = y if share else self._ty(y)
                px = r.left() + (x - x0) / (x1 - x0) * r.width()
                py = r.bottom() - (ty - y0) / (y1 - y0) * r.height()
                if j == 0:
                    path.moveTo(px, py)
                else:
                    path.lineTo(px, py)
            pen = QPen(col, 1.6)
            if share:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawPath(path)
            label = f"{name} (right axis)" if share and left_s else name
            w = fm.horizontalAdvance(label)
            if lx + w > r.right():  # next legend line instead of running off the edge
                lx = r.left() + 6
                ly += fm.height()
            p.drawText(QPointF(lx, ly), label)
            lx += w + 14


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
        self.recent_button = QToolButton(self)
        self.recent_button.setText("Recent")
        self.recent_button.setToolTip("Images chosen or dropped recently (any picker)")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        from PySide6.QtWidgets import QMenu

        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.recent_button.setMenu(self.recent_menu)
        head.addWidget(self.label, 1)
        head.addWidget(self.recent_button)
        head.addWidget(self.choose)
        lay.addLayout(head)
        self.grid = ThumbGrid(self, thumb=72, max_items=64, lines=1)  # a stem: one line
        # one whole row, caption included: a shorter box cuts the names under the images
        self.grid.setMinimumHeight(self.grid.row_height())
        lay.addWidget(self.grid, 1)
        # thumbnails grow with the box (up to 160 px) when the window gives it room
        self.grid.auto_thumb = (72, 160)
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
            self.choose_files(paths)

    def choose_files(self, paths: Iterable[str | os.PathLike]) -> None:
        """What the user picked or dropped: shown, and remembered as recent images."""
        paths = [str(p) for p in paths]
        self.set_files(paths)
        for p in reversed(paths[:10]):
            prefs.add_recent("images", p, limit=20)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = prefs.recent("images")
        for path in items:
            a = self.recent_menu.addAction(Path(path).name)  # the path is the tooltip
            a.setToolTip(path)
            a.triggered.connect(lambda *_, p=path: self.use_recent(p))
        if not items:
            self.recent_menu.addAction("(no images yet)").setEnabled(False)

    def use_recent(self, path: str) -> None:
        """A recent image joins the chosen styles (several) or replaces the content."""
        files = [*self.files, path] if self.multiple and path not in self.files else [path]
        self.choose_files(files)

    def set_files(self, paths: Iterable[str | os.PathLike]) -> None:
        paths = [str(p) for p in paths]
        if not self.multiple:
            paths = paths[:1]
        self.files = paths
        self.grid.clear()
        self.grid.add_files(paths, lambda p: Path(p).stem)  # full path in the tooltip
        self.files_changed.emit(list(self.files))

    def dropped_images(self, mime: Any) -> list[str]:
        """The image files a drag carries (folders expanded); empty = refuse the drop."""
        from studio.core.images import is_image_file, list_images

        out: list[str] = []
        if not mime.hasUrls():
            return out
        for u in mime.urls():
            if not u.isLocalFile():
                continue
            p = Path(u.toLocalFile())
            if p.is_dir():
                out.extend(str(x) for x in list_images(p, recursive=True)[:5000])
            elif p.is_file() and is_image_file(p):
                out.append(str(p))
        return out

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        # refused while hovering (the cursor says no): a text file must never replace
        # the images already chosen
        if self.dropped_images(e.mimeData()):
            e.acceptProposedAction()
            self.setProperty("dropping", True)
        else:
            e.ignore()
            self.setToolTip(f"{self.title}: only image files (or folders of images) can "
                            "be dropped here")

    def dragMoveEvent(self, e: Any) -> None:
        if self.dropped_images(e.mimeData()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dropEvent(self, e: QDropEvent) -> None:
        out = self.dropped_images(e.mimeData())
        if out:
            e.acceptProposedAction()
            self.choose_files(out)
        else:
            e.ignore()


class LogView(QPlainTextEdit):
    """Read-only log with coloured warning/error lines, bounded in size."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(3000)
        self.setObjectName("logView")
        self.errors: list[str] = []

    def add(self, message: str, level: str = "info", when: float | None = None) -> None:
        """Append a line stamped with ``when`` (the time it was logged; now if None)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(when)) if when else \
            time.strftime("%H:%M:%S")
        colour = {"warning": "#c98a00", "error": "#d03838"}.get(level)
        esc = (message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        if level == "error":
            self.errors.append(message)
        if colour:
            self.appendHtml(f'<span style="color:{colour}">{stamp} {level}: {esc}</span>')
        else:
            self.appendHtml(f"<span>{stamp} {esc}</span>")


class JobControls(QWidget):
    """Run / pause / cancel buttons with a progress bar, and the job's state on a line of
    its own below them (long ETAs and messages wrap instead of being cut at the edge)."""

    run_clicked = Signal()
    #: the user clicked "see Errors" on a finished job that skipped inputs
    errors_requested = Signal()

    def __init__(self, parent: QWidget | None = None, run_text: str = "Run"):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        lay = QHBoxLayout()
        lay.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(lay)
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
        self.bar.setMinimumWidth(80)
        self.status = QLabel("ready", self)
        self.status.setObjectName("jobStatus")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.linkActivated.connect(lambda *_: self.errors_requested.emit())
        for w in (self.run_button, self.pause_button, self.cancel_button):
            lay.addWidget(w)
        lay.addWidget(self.bar, 1)
        outer.addWidget(self.status)
        self.run_button.clicked.connect(self.run_clicked)
        self.pause_button.toggled.connect(self._on_pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.record = None
        self.queue = None
        #: what the bar counts ("written"), said on the bar and the status line when a
        #: job's message counts something else ("16 stylised" while 9 are written)
        self.unit = ""
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._refresh)
        self._set_idle()

    def status_text(self) -> str:
        """The status line as plain text (what a user reads)."""
        from PySide6.QtGui import QTextDocumentFragment

        return QTextDocumentFragment.fromHtml(self.status.text()).toPlainText()

    def set_status(self, text: str) -> None:
        """Show a plain-text note on the status line (e.g. why a run did not start)."""
        self.status.setText(_html(text))
        self.status.setToolTip(text)

    def _set_idle(self) -> None:
        self.pause_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.pause_button.blockSignals(False)

    def _unbind(self) -> None:
        if self.record is not None:
            for sig, slot in ((self.record.handle.progress, self._on_progress),
                              (self.record.handle.state_changed, self._on_state)):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(slot)
        self.record = None

    def bind(self, record: Any, queue: Any) -> None:
        """Follow ``record`` (a JobRecord) in ``queue``; a finished one is shown as it
        ended (the page's job choice went back to it)."""
        if self.record is not record:
            self._unbind()
        self.record, self.queue = record, queue
        self._set_bar_state("")
        self.bar.setRange(0, 0)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        live = not record.state.finished
        self.pause_button.setEnabled(live)
        self.cancel_button.setEnabled(live)
        record.handle.progress.connect(self._on_progress)
        record.handle.state_changed.connect(self._on_state)
        if live and record.total:
            self._on_progress(record)  # a job followed again mid-run: its step at once
        self._on_state(record.state.value)
        if live:
            self._timer.start()

    def reset(self, text: str = "ready") -> None:
        """Show no job: the page now sets up another job than the one last shown, whose
        bar and "done"/"failed" would read as the new job's."""
        self._unbind()
        self._timer.stop()
        self._set_idle()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self._set_bar_state("")
        self.set_status(text)

    def _on_progress(self, ev: Any) -> None:
        if self.record is not None and self.record.cancelling:
            return
        if ev.total:
            self.bar.setRange(0, int(ev.total))
            self.bar.setValue(min(int(ev.step), int(ev.total)))
            unit = f" {self.unit}" if self.unit else ""
            self.bar.setFormat(f"{ev.step}/{ev.total}{unit}  %p%")
        else:
            self.bar.setRange(0, 0)
        self._refresh()

    def _on_state(self, state: str) -> None:
        rec = self.record
        if rec is None:
            return
        if state == "cancelling":
            # at once, before the worker reaches its next step
            self.pause_button.setEnabled(False)
            self.cancel_button.setEnabled(False)
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
                self.bar.setValue(0)
            self.bar.setFormat("cancelling…")
        elif state in ("done", "failed", "cancelled"):
            self._timer.stop()
            self._set_idle()
            if state == "done":
                self.bar.setRange(0, 1)
                self.bar.setValue(1)
                self.bar.setFormat(rec.status_text())
            else:
                if self.bar.maximum() == 0:
                    self.bar.setRange(0, 1)
                    self.bar.setValue(0)
                self.bar.setFormat(state)
        self._set_bar_state("warning" if state == "done" and rec.skipped else
                            "error" if state == "failed" else "")
        self._refresh()

    def _set_bar_state(self, state: str) -> None:
        """The bar's colour: the accent while all is well, the warning colour for a done
        with skipped inputs, the error colour for a failure (studio.qss)."""
        if (self.bar.property("state") or "") != state:
            self.bar.setProperty("state", state)
            self.bar.style().unpolish(self.bar)
            self.bar.style().polish(self.bar)

    def _refresh(self) -> None:
        rec = self.record
        if rec is None:
            return
        st = rec.state.value
        link = ""
        if rec.cancelling:
            text = f"cancelling… · stops at the next step · {fmt_seconds(rec.duration)} elapsed"
        elif st in ("running", "paused"):
            eta = rec.eta()
            msg = f" · {rec.message}" if rec.message else ""
            if self.unit and rec.total:  # the bar's count named, beside the job's own
                msg = f" · {rec.step}/{rec.total} {self.unit}{msg}"
            text = f"{st} · {fmt_seconds(rec.duration)} elapsed · ETA {fmt_seconds(eta)}{msg}"
        elif st == "queued":
            pos = self.queue.queue_position(rec) if self.queue is not None else 0
            text = f"queued (position {pos})"
        else:
            text = f"{rec.status_text()} in {fmt_seconds(rec.duration)}"
            if st == "failed":
                text = f"failed: {rec.error[:300]}"
            elif st == "done" and rec.skipped:
                link = ' · <a href="errors">see Errors</a>'
        self.status.setText(_html(text) + link)
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


#: result keys whose values in [0, 1] are shares, shown as percentages
_SHARE_WORDS = ("acc", "top1", "top5", "sparsity", "ratio", "fraction", "share", "bias",
                "rate", "agreement", "coverage", "correlation")


def format_value(key: str, value: Any) -> str:
    """A result value as a person reads it: 0.10000000149011612 -> "10.0 %" for an
    accuracy, 3.14159 -> "3.142", NaN -> "–", a long list -> its length and first items."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        name = key.lower().rsplit(".", 1)[-1]
        if any(w in name for w in _SHARE_WORDS) and 0.0 <= value <= 1.0 and \
                "loss" not in name:
            return f"{value * 100:.1f} %"
        if name.endswith(("seconds", "_s", "duration")) or name in ("time", "elapsed"):
            return f"{value:.1f} s"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ") if abs(value) >= 10000 else str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        if all(isinstance(v, (int, float, str)) for v in value):
            shown = ", ".join(format_value(key, v) for v in value[:6])
            return shown + (f", … ({len(value)} in all)" if len(value) > 6 else "")
        return f"{len(value)} items"
    text = str(value)
    return text if len(text) <= 300 else text[:297] + "…"


def flatten_result(result: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """Rows (dotted key, value) of a nested result; lists of dicts become numbered rows."""
    rows: list[tuple[str, Any]] = []
    if isinstance(result, dict):
        for k, v in result.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and depth < 3:
                rows.extend(flatten_result(v, key, depth + 1))
            elif isinstance(v, (list, tuple)) and v and all(isinstance(x, dict) for x in v) \
                    and depth < 3 and len(v) <= 50:
                for i, x in enumerate(v):
                    rows.extend(flatten_result(x, f"{key}[{i}]", depth + 1))
            else:
                rows.append((key, v))
    elif result is not None:
        rows.append((prefix or "result", result))
    return rows


#: Record fields a list of results is indexed by (the x of its chart, its rows' name).
X_KEYS = ("epoch", "step", "iteration", "target_sparsity", "sparsity", "ratio")

_ITEM = re.compile(r"^(.*?)\[(\d+)\]\.(.*)$")


def result_label(key: str) -> tuple[str, str]:
    """(section, label) of a flattened result key as a person reads it:
    "rows[0].target_sparsity" -> ("rows 1", "target sparsity"); "a.b_c" -> ("", "a · b c")."""
    m = _ITEM.match(key)
    section, rest = ("", key) if m is None else (
        f"{m.group(1).replace('.', ' · ')} {int(m.group(2)) + 1}", m.group(3))
    rest = re.sub(r"\[(\d+)\]", lambda g: f" {int(g.group(1)) + 1}", rest)
    return section.replace("_", " "), rest.replace(".", " · ").replace("_", " ")


def result_series(result: Any) -> tuple[str, dict[str, list[tuple[float, float]]]] | None:
    """A chart hidden in a result: the first list of records (per epoch, per sparsity)
    with numbers in them, as (x name, {series: points}); None when there is none."""
    if not isinstance(result, dict):
        return None
    for key, v in result.items():
        if not (isinstance(v, list) and len(v) >= 2 and all(isinstance(x, dict) for x in v)):
            continue
        numeric = [k for k in v[0] if all(isinstance(x.get(k), (int, float)) and
                                          not isinstance(x.get(k), bool) for x in v
                                          if k in x)]
        # what the records are per: an exact name first, then a named variant (a prune's
        # rows are per "target_sparsity"), never the row index when there is one
        xkey = next((k for k in X_KEYS if k in numeric), None) or next(
            (k for k in numeric if any(k.endswith(w) for w in X_KEYS)), None)
        series: dict[str, list[tuple[float, float]]] = {}
        for i, rec in enumerate(v):
            x = float(rec[xkey]) if xkey else float(i)
            for k in numeric:
                if k != xkey and k in rec and math.isfinite(float(rec[k])):
                    series.setdefault(k, []).append((x, float(rec[k])))
        if series:
            return (xkey or key), series
    return None


class ResultTable(QWidget):
    """A finished job's result as a two-column table (and an error line when it failed),
    instead of raw JSON; "Copy" puts the JSON on the clipboard for those who want it."""

    def __init__(self, parent: QWidget | None = None):
        from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget

        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setVisible(False)
        lay.addWidget(self.note)
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["", "value"])
        self.table.horizontalHeader().setVisible(False)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        self.chart = CurvePlot(self, "")
        self.chart.setMinimumHeight(180)
        self.chart.setVisible(False)
        lay.addWidget(self.chart, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.copy_button = QPushButton("Copy as JSON", self)
        self.copy_button.setToolTip("Copy the full result (JSON) to the clipboard")
        self.copy_button.clicked.connect(self.copy_json)
        self.copy_button.setEnabled(False)
        row.addWidget(self.copy_button)
        lay.addLayout(row)
        self.result: Any = None

    def clear(self) -> None:
        self.result = None
        self.table.clearSpans()
        self.table.setRowCount(0)
        self.chart.clear()
        self.chart.setVisible(False)
        self.note.setVisible(False)
        self.copy_button.setEnabled(False)

    def show_error(self, text: str) -> None:
        self.clear()
        self.note.setText(f"failed: {text}")
        self.note.setStyleSheet("color: #d03838;")
        self.note.setVisible(True)

    def set_result(self, result: Any) -> None:
        from PySide6.QtWidgets import QTableWidgetItem

        self.clear()
        self.result = result
        rows = flatten_result(result)
        # records of a list (a prune's rows, a training's epochs) under a heading each:
        # "target sparsity", not "rows[0].target sparsity"
        shown: list[tuple[str, str, str, Any]] = []  # (kind, key, label, value)
        section = ""
        for k, v in rows:
            sec, label = result_label(k)
            if sec and sec != section:
                shown.append(("head", k, self._heading(sec, k, rows), None))
            section = sec
            shown.append(("row", k, label, v))
        self.table.setRowCount(len(shown))
        bold = self.font()
        bold.setBold(True)
        for i, (kind, k, label, v) in enumerate(shown):
            ki = QTableWidgetItem(label)
            ki.setData(Qt.ItemDataRole.UserRole, k if kind == "row" else None)
            ki.setToolTip(k)
            self.table.setItem(i, 0, ki)
            if kind == "head":
                ki.setFont(bold)
                self.table.setSpan(i, 0, 1, 2)
                continue
            vi = QTableWidgetItem(format_value(k, v))
            vi.setToolTip(str(v)[:2000])
            self.table.setItem(i, 1, vi)
        self.table.resizeRowsToContents()
        self.copy_button.setEnabled(result is not None)
        found = result_series(result)
        if found is not None:
            xname, series = found
            self.chart.title = f"per {xname}"
            self.chart.set_series(series)
            self.chart.setVisible(True)

    @staticmethod
    def _heading(section: str, key: str, rows: list[tuple[str, Any]]) -> str:
        """A record's heading: "rows 2 of 3 · target sparsity 50.0 %"."""
        m = _ITEM.match(key)
        if m is None:
            return section
        prefix = f"{m.group(1)}[{m.group(2)}]."
        base = f"{m.group(1)}["
        count = len({k[len(base):].split("]", 1)[0] for k, _ in rows if k.startswith(base)})
        fields = {k[len(prefix):]: v for k, v in rows if k.startswith(prefix)}
        ident = next((f for f in X_KEYS if f in fields), None) or next(
            (f for f in fields if any(f.endswith(w) for w in X_KEYS)), None)
        text = f"{section} of {count}"
        if ident is not None:
            text += f" · {ident.replace('_', ' ')} {format_value(ident, fields[ident])}"
        return text

    def value_text(self, key: str) -> str | None:
        """What the table shows for ``key`` (the dotted key, or the label shown), or
        None (tests and the self-test)."""
        for i in range(self.table.rowCount()):
            item = self.table.item(i, 0)
            if item.data(Qt.ItemDataRole.UserRole) == key or (
                    item.data(Qt.ItemDataRole.UserRole) is not None
                    and item.text() == key.replace("_", " ")):
                cell = self.table.item(i, 1)
                return cell.text() if cell is not None else None
        return None

    def copy_json(self) -> None:
        import json

        from PySide6.QtWidgets import QApplication

        QApplication.clipboard().setText(json.dumps(self.result, indent=2, default=str))


class FlowLayout(QLayout):
    """Lays widgets out left to right and wraps to a new line when the row is full, so a
    row of many buttons never sets the window's minimum width."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[Any] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: Any) -> None:
        self._items.append(item)

    def insertWidget(self, index: int, w: QWidget) -> None:
        self.addWidget(w)  # addWidget appends through addItem
        self._items.insert(index, self._items.pop())

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i: int) -> Any:
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i: int) -> Any:
        return self._items.pop(i) if 0 <= i < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._do_layout(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._do_layout(rect, apply=True)

    def sizeHint(self) -> QSize:
        w = sum(i.sizeHint().width() for i in self._items) + \
            self._spacing * max(0, len(self._items) - 1)
        h = max((i.sizeHint().height() for i in self._items), default=0)
        return QSize(w, h)

    def minimumSize(self) -> QSize:
        s = QSize(0, 0)
        for i in self._items:
            s = s.expandedTo(i.minimumSize())
        return s

    def _do_layout(self, rect: QRect, apply: bool) -> int:
        x, y, line = rect.x(), rect.y(), 0
        for item in self._items:
            if item.widget() is not None and not item.widget().isVisibleTo(
                    item.widget().parentWidget() or item.widget()):
                continue
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and line > 0:
                x, y, line = rect.x(), y + line + self._spacing, 0
            if apply:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line - rect.y()
