"""The image viewer: click a thumbnail or preview to see it large, zoom and pan, compare.

One window (non-modal, reused) shows an image at any zoom — the wheel zooms about the
cursor, dragging pans, ``F`` fits, ``1`` shows pixels 1:1 — with a readable caption
under it. With a second image it compares A/B: side by side, a swipe line to drag, or
``Space`` to flip between them. ``Left``/``Right`` step through the grid it was opened
from, so a set of results can be looked through without going back to the thumbnails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)


@dataclass
class ViewItem:
    """One picture in the viewer: the image (or how to load it), a caption (or how to
    make it: a file's provenance is read when it is shown), an optional B image to
    compare with and its caption."""

    image: QPixmap | QImage | Callable[[], QImage] | None
    caption: str | Callable[[], str] = ""
    other: QPixmap | QImage | Callable[[], QImage] | None = None
    other_caption: str | Callable[[], str] = ""


def _text(caption: str | Callable[[], str]) -> str:
    if callable(caption):
        try:
            return str(caption())
        except Exception as exc:  # a caption must never stop the picture being shown
            return f"(no caption: {exc})"
    return caption or ""


#: Provenance fields in the order a person asks about them (others follow, sorted).
PROVENANCE_ORDER = ("content", "style", "styles", "weights", "masks", "mask_file", "source",
                    "sources", "label", "class", "seed", "alpha", "preserve_color",
                    "preserve", "size", "content_size", "style_size", "method", "model",
                    "config", "teacher", "arch", "iteration")
#: Fields that say nothing about where a picture came from.
_NOISE = ("file_name", "row", "column", "job", "precision", "crop", "split")


def _flat(meta: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if isinstance(v, dict):
            out.update(_flat(v, ""))  # {"adain": {...}} (the Stylize page's PNGs)
        else:
            out[f"{prefix}{k}"] = v
    return out


def manifest_record(path: str | Path) -> dict[str, Any] | None:
    """The ``manifest.jsonl`` record of a dataset file (the folder it is in or one of
    its three parents), or None."""
    import json

    path = Path(path).resolve()
    for folder in list(path.parents)[:4]:
        man = folder / "manifest.jsonl"
        if not man.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        try:
            with open(man, encoding="utf-8") as fh:
                for line in fh:
                    if rel in line:
                        rec = json.loads(line)
                        if rec.get("file_name") == rel or rec.get("file") == rel:
                            return rec
        except (OSError, ValueError):
            return None
        return None
    return None


def provenance(path: str | Path) -> dict[str, Any]:
    """Where an image came from: the parameters Studio wrote in its PNG text chunk,
    completed by its dataset manifest record (source files, style, seed, alpha, model)."""
    from studio.core.images import read_params

    meta: dict[str, Any] = {}
    rec = manifest_record(path)
    if rec:
        meta.update(_flat(rec))
    with contextlib.suppress(Exception):  # not a PNG: the manifest (if any) still tells
        meta.update(_flat(read_params(path) or {}))
    return meta


def provenance_text(path: str | Path) -> str:
    """The provenance of ``path`` in one or two readable lines ("" when none is known)."""
    meta = {k: v for k, v in provenance(path).items()
            if k not in _NOISE and v not in (None, "", [])}
    if not meta:
        return ""
    keys = [k for k in PROVENANCE_ORDER if k in meta]
    keys += sorted(k for k in meta if k not in keys)

    def show(k: str, v: Any) -> str:
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, list):
            v = ", ".join(str(x) for x in v[:6]) + (" …" if len(v) > 6 else "")
        v = str(v)
        if k.endswith("sha256") and len(v) > 16:
            v = v[:12] + "…"
        return f"{k.replace('_', ' ')} {v}"

    return " · ".join(show(k, meta[k]) for k in keys[:24])


def file_item(path: str | Path, other: str | Path | None = None, label: str = "",
              other_label: str = "") -> ViewItem:
    """A file (or two, A/B) as a viewer item: loaded at full size when shown, captioned
    with its name, path and provenance."""
    from studio.gui.widgets import load_qimage

    def caption(p: str | Path, tag: str) -> Callable[[], str]:
        def make() -> str:
            prov = provenance_text(p)
            head = f"{tag} {p}" if tag else str(p)
            return f"{head}\n{prov}" if prov else head
        return make

    return ViewItem(lambda p=str(path): load_qimage(p, 4096), caption(path, label),
                    (lambda p=str(other): load_qimage(p, 4096)) if other else None,
                    caption(other, other_label) if other else "")


def _pix(img: Any) -> QPixmap | None:
    if img is None:
        return None
    if callable(img) and not isinstance(img, (QPixmap, QImage)):
        try:
            img = img()
        except Exception:  # an unreadable file: the caption says so
            return None
    if isinstance(img, QImage):
        img = QPixmap.fromImage(img)
    return img if isinstance(img, QPixmap) and not img.isNull() else None


class ZoomView(QWidget):
    """Paints one or two pixmaps under a zoom/pan transform (wheel, drag, F, 1)."""

    MODES = ("single", "side", "swipe", "flip")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.a: QPixmap | None = None
        self.b: QPixmap | None = None
        self.mode = "single"
        self.show_b = False  # flip mode: which one is shown
        self.split = 0.5
        self.scale = 1.0
        self.offset = QPointF(0, 0)
        self._drag: QPointF | None = None
        self._fit_pending = True
        self.setMinimumSize(200, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)

    def set_images(self, a: QPixmap | None, b: QPixmap | None = None) -> None:
        self.a, self.b = a, b
        if b is None:
            self.mode = "single"
        self._fit_pending = True
        self.update()

    def set_mode(self, mode: str) -> None:
        self.mode = mode if self.b is not None else "single"
        self._fit_pending = True
        self.update()

    def scene_size(self) -> tuple[float, float]:
        if self.a is None:
            return 1.0, 1.0
        w, h = self.a.width(), self.a.height()
        if self.mode == "side" and self.b is not None:
            return w + 8 + self.b.width(), max(h, self.b.height())
        return w, h

    def fit(self) -> None:
        sw, sh = self.scene_size()
        self.scale = max(0.01, min(self.width() / sw, self.height() / sh))
        self._center()
        self._fit_pending = False
        self.update()

    def actual_size(self) -> None:
        self.scale = 1.0
        self._center()
        self.update()

    def _center(self) -> None:
        sw, sh = self.scene_size()
        self.offset = QPointF((self.width() - sw * self.scale) / 2,
                              (self.height() - sh * self.scale) / 2)

    def zoom(self, factor: float, about: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the point under ``about`` (widget coords) still."""
        about = about if about is not None else QPointF(self.width() / 2, self.height() / 2)
        new = min(64.0, max(0.02, self.scale * factor))
        f = new / self.scale
        self.offset = about - (about - self.offset) * f
        self.scale = new
        self.update()

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        if self.a is None:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no image")
            return
        if self._fit_pending:
            self.fit()
        # pixels stay sharp when enlarged (a 32 px toy image must not turn to mush)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.scale < 1.0)
        p.translate(self.offset)
        p.scale(self.scale, self.scale)
        a, b = self.a, self.b
        if self.mode == "side" and b is not None:
            p.drawPixmap(0, 0, a)
            p.drawPixmap(a.width() + 8, 0, b)
        elif self.mode == "swipe" and b is not None:
            p.drawPixmap(0, 0, a)
            cut = a.width() * self.split
            p.drawPixmap(QRectF(cut, 0, a.width() - cut, a.height()), b,
                         QRectF(b.width() * self.split, 0, b.width() * (1 - self.split),
                                b.height()))
            p.setPen(QPen(QColor(255, 255, 255), 2 / self.scale))
            p.drawLine(QPointF(cut, 0), QPointF(cut, a.height()))
        elif self.mode == "flip" and b is not None and self.show_b:
            p.drawPixmap(QRectF(0, 0, a.width(), a.height()), b, QRectF(b.rect()))
        else:
            p.drawPixmap(0, 0, a)

    def resizeEvent(self, e: Any) -> None:
        self._fit_pending = True
        super().resizeEvent(e)

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.zoom(1.25 ** steps, e.position())

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if self.mode == "swipe" and e.modifiers() == Qt.KeyboardModifier.NoModifier and \
                e.button() == Qt.MouseButton.LeftButton and self.a is not None:
            self._set_split(e.position())
            return
        self._drag = e.position()

    def _set_split(self, pos: QPointF) -> None:
        x = (pos.x() - self.offset.x()) / self.scale
        self.split = min(max(x / max(1, self.a.width()), 0.0), 1.0)
        self.update()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._drag is not None:
            self.offset += e.position() - self._drag
            self._drag = e.position()
            self.update()
        elif self.mode == "swipe" and e.buttons() and self.a is not None:
            self._set_split(e.position())

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._drag = None

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        if abs(self.scale - 1.0) < 1e-6:
            self.fit()
        else:
            self.zoom(1.0 / self.scale, e.position())


class ImageViewer(QDialog):
    """A reusable, non-modal viewer window over a list of :class:`ViewItem`."""

    _instance: ImageViewer | None = None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Image viewer")
        self.setModal(False)
        self.items: list[ViewItem] = []
        self.index = 0
        lay = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.prev_button = QPushButton("◀", self)
        self.prev_button.setToolTip("Previous image (Left)")
        self.next_button = QPushButton("▶", self)
        self.next_button.setToolTip("Next image (Right)")
        self.fit_button = QPushButton("Fit", self)
        self.fit_button.setToolTip("Fit the window (F)")
        self.one_button = QPushButton("1:1", self)
        self.one_button.setToolTip("One image pixel per screen pixel (1)")
        self.zoom_in = QPushButton("+", self)
        self.zoom_in.setToolTip("Zoom in (+ or the mouse wheel)")
        self.zoom_out = QPushButton("−", self)
        self.zoom_out.setToolTip("Zoom out (-)")
        self.compare = QComboBox(self)
        for text, data in (("A only", "single"), ("A | B side by side", "side"),
                           ("swipe A / B", "swipe"), ("flip A / B (Space)", "flip")):
            self.compare.addItem(text, data)
        self.compare.setToolTip("Compare with the second image: side by side, a line to "
                                "drag, or flip between them with Space")
        self.zoom_label = QLabel("", self)
        for w in (self.prev_button, self.next_button, self.fit_button, self.one_button,
                  self.zoom_in, self.zoom_out, self.compare):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.zoom_label)
        lay.addLayout(bar)
        self.view = ZoomView(self)
        lay.addWidget(self.view, 1)
        self.caption = QLabel("", self)
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setObjectName("viewerCaption")
        lay.addWidget(self.caption)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.fit_button.clicked.connect(self.view.fit)
        self.one_button.clicked.connect(self.view.actual_size)
        self.zoom_in.clicked.connect(lambda: self.view.zoom(1.25))
        self.zoom_out.clicked.connect(lambda: self.view.zoom(0.8))
        self.compare.currentIndexChanged.connect(
            lambda *_: self.view.set_mode(self.compare.currentData()))
        self.resize(900, 700)

    @classmethod
    def shared(cls, parent: QWidget | None = None) -> ImageViewer:
        """The one viewer window of the application (opened again, not stacked)."""
        from shiboken6 import isValid

        top = parent.window() if parent is not None else None
        inst = cls._instance
        if inst is None or not isValid(inst) or (top is not None and inst.parent() is not top):
            # one per main window; a viewer whose window was closed is gone with it
            cls._instance = cls(top)
        return cls._instance

    def open(self, items: Sequence[ViewItem], index: int = 0) -> None:  # type: ignore[override]
        """Show ``items`` starting at ``index``."""
        self.items = list(items)
        self.index = max(0, min(index, len(self.items) - 1))
        self._show_current()
        self.show()
        self.raise_()
        self.activateWindow()

    def current(self) -> ViewItem | None:
        return self.items[self.index] if self.items else None

    def step(self, delta: int) -> None:
        if self.items:
            self.index = (self.index + delta) % len(self.items)
            self._show_current()

    def _show_current(self) -> None:
        it = self.current()
        if it is None:
            self.view.set_images(None)
            self.caption.setText("")
            return
        a, b = _pix(it.image), _pix(it.other)
        mode = self.compare.currentData()
        self.view.set_images(a, b)
        self.compare.setEnabled(b is not None)
        if b is not None:
            if mode == "single":
                self.compare.setCurrentIndex(self.compare.findData("side"))
            self.view.set_mode(self.compare.currentData())
        n = len(self.items)
        self.prev_button.setEnabled(n > 1)
        self.next_button.setEnabled(n > 1)
        size = f"{a.width()}×{a.height()} px" if a is not None else "could not be read"
        cap = _text(it.caption)
        first = cap.splitlines()[0] if cap else ""
        if b is not None:
            cap = f"A: {cap}\nB: {_text(it.other_caption)}"
        self.caption.setText(f"{cap}   ({size}{f' · {self.index + 1}/{n}' if n > 1 else ''})")
        self.caption.setToolTip(cap)
        self.setWindowTitle(f"Image viewer — {first}" if first else "Image viewer")

    def keyPressEvent(self, e: QKeyEvent) -> None:
        k = e.key()
        if k == Qt.Key.Key_Left:
            self.step(-1)
        elif k == Qt.Key.Key_Right:
            self.step(1)
        elif k == Qt.Key.Key_F:
            self.view.fit()
        elif k == Qt.Key.Key_1:
            self.view.actual_size()
        elif k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.view.zoom(1.25)
        elif k == Qt.Key.Key_Minus:
            self.view.zoom(0.8)
        elif k == Qt.Key.Key_Space and self.view.b is not None:
            if self.view.mode != "flip":
                self.compare.setCurrentIndex(self.compare.findData("flip"))
            self.view.show_b = not self.view.show_b
            self.view.update()
        else:
            super().keyPressEvent(e)
