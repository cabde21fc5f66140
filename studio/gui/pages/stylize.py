"""Stylize: AdaIN on one content image with a live alpha preview.

Content features and style statistics are cached per (image, size, colour mode), so the
alpha slider re-runs only AdaIN's blend and the decoder — the expensive encoder runs when
an image or the size changes. Several styles mix by interpolation weights, or split the
image by a mask (spatial control). Saved PNGs carry their parameters.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.adain.session import StylizeSession, make_masks
from studio.gui import settings as prefs
from studio.gui.pages.base import AppContext, Page
from studio.gui.paramsform import INVALID_STYLE
from studio.gui.widgets import Banner, DropZone, ImageView
from studio.gui.workers import LatestRunner, qimage_from_array
from studio.registry import job_types


class StylizePage(Page):
    key = "stylize"
    title = "Stylize"
    icon = "stylize"
    tip = "AdaIN style transfer on single images, with a live alpha preview"
    job_names = ("adain.stylize", "stylize-sweep")

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.session = StylizeSession()
        self.runner = LatestRunner(self)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.renders = 0
        self.model_error = ""
        self.last_image: np.ndarray | None = None
        self.last_spec: dict[str, Any] | None = None

        outer = QVBoxLayout(self)
        self.banner = Banner("", parent=self)
        outer.addWidget(self.banner)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(split, 1)
        scroll = QScrollArea(split)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left = QWidget(scroll)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        self.content = DropZone("Content image", left, multiple=False, key="stylize-content")
        self.styles = DropZone("Style images", left, multiple=True, key="stylize-styles")
        # the image boxes take the column's spare height (their thumbnails grow with it)
        ll.addWidget(self.content, 2)
        ll.addWidget(self.styles, 3)
        self.toy_button = QPushButton("Use toy-world examples", left)
        self.toy_button.setToolTip("A toy scene as content and two toy textures as styles")
        self.toy_button.clicked.connect(self.use_toy_examples)
        ll.addWidget(self.toy_button)

        box = QGroupBox("Options", left)
        form = QFormLayout(box)
        arow = QHBoxLayout()
        self.alpha = QSlider(Qt.Orientation.Horizontal, box)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(100)
        self.alpha.setToolTip("Content-style trade-off: 0 = the content, 1 = full style. Only "
                              "the decoder re-runs while you drag (features are cached)")
        self.alpha_label = QLabel("1.00", box)
        self.alpha_label.setMinimumWidth(34)
        arow.addWidget(self.alpha, 1)
        arow.addWidget(self.alpha_label)
        form.addRow("Alpha", arow)
        self.weights = QLineEdit(box)
        self.weights.setPlaceholderText("equal")
        self.weights.setToolTip("Interpolation weights, one per style, comma-separated "
                                "(normalised to sum 1), e.g. 0.3, 0.7")
        form.addRow("Style weights", self.weights)
        self.preserve = QComboBox(box)
        for text, data in (("off", ""), ("CORAL (pytorch-AdaIN)", "coral"),
                           ("luminance only (paper)", "luminance")):
            self.preserve.addItem(text, data)
        self.preserve.setToolTip("Keep the content's colours: CORAL recolours the style "
                                 "image first; luminance stylises brightness only")
        form.addRow("Preserve colour", self.preserve)
        mrow = QHBoxLayout()
        self.mask = QComboBox(box)
        for text, data in (("none (interpolate)", ""), ("split into bands", "split"),
                           ("mask image…", "file")):
            self.mask.addItem(text, data)
        self.mask.setToolTip("Spatial control: each region takes its own style. 'Bands' "
                             "splits left to right; a mask image gives white to style 1 and "
                             "black to style 2")
        self.mask_file = ""
        self.mask_button = QPushButton("Choose…", box)
        self.mask_button.setToolTip("Choose another mask image (white = style 1, black = "
                                    "style 2)")
        self.mask_button.clicked.connect(lambda: self.choose_mask_file())
        mrow.addWidget(self.mask, 1)
        form.addRow("Regions", mrow)
        # the mask in use: its name in the list, its full path on the line below; a recipe
        # or PNG whose mask is gone says so in the page's banner (always in view)
        self.mask_warning = ""
        self.mask_path = QLineEdit(box)  # a long path scrolls; it can be selected and copied
        self.mask_path.setReadOnly(True)
        self.mask_path.setPlaceholderText("no mask image chosen")
        self.mask_path.setMinimumWidth(60)
        frow = QHBoxLayout()
        frow.addWidget(self.mask_path, 1)
        frow.addWidget(self.mask_button)
        form.addRow("", frow)
        self._show_mask()
        self.size = QSpinBox(box)
        self.size.setRange(0, 2048)
        self.size.setSingleStep(32)
        self.size.setSpecialValueText("original")
        self.size.setValue(256)
        self.size.setToolTip("Shorter side the images are resized to before stylising "
                             "(0 = keep their size), as --content_size/--style_size")
        form.addRow("Size", self.size)
        self.view = QComboBox(box)
        for text, data in (("result", "single"), ("side by side", "side"),
                           ("before / after (drag)", "split")):
            self.view.addItem(text, data)
        self.view.setToolTip("Show the result alone, next to the content, or as a "
                             "before/after split you can drag")
        form.addRow("View", self.view)
        ll.addWidget(box)
        self._build_sweep(left, ll)
        brow = QHBoxLayout()
        self.render_button = QPushButton("Stylize", left)
        self.render_button.setObjectName("primary")
        self.render_button.setToolTip("Stylise now (Ctrl+Enter)")
        self.save_button = QPushButton("Save…", left)
        self.save_button.setToolTip("Save the result as PNG with its parameters embedded")
        self.save_button.setEnabled(False)
        self.load_button = QPushButton("Load from PNG…", left)
        self.load_button.setToolTip("Restore the settings embedded in an image Studio saved, "
                                    "to reproduce or vary it")
        self.load_button.clicked.connect(self.load_params_dialog)
        brow.addWidget(self.render_button)
        brow.addWidget(self.save_button)
        brow.addWidget(self.load_button)
        brow.addStretch(1)
        self.status = QLabel("", left)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        scroll.setWidget(left)
        # the column scrolls up and down, never sideways: it keeps the width its widest
        # row needs (a cut "Choose…" reads as broken)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(left.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width() + 4)
        # the actions stay in view below the scrolling inputs, at any window height
        column = QWidget(split)
        cl = QVBoxLayout(column)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(scroll, 1)
        cl.addLayout(brow)
        cl.addWidget(self.status)
        split.addWidget(column)
        self.image = ImageView(split, "drop a content and a style image")
        split.addWidget(self.image)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([420, 760])

        self.alpha.valueChanged.connect(self._on_alpha)
        for sig in (self.content.files_changed, self.styles.files_changed):
            sig.connect(lambda *_: self.update_preview())
        self.preserve.currentIndexChanged.connect(lambda *_: self.update_preview())
        self.mask.currentIndexChanged.connect(self._on_mask_mode)
        self.mask.activated.connect(self._on_mask_activated)
        self.size.editingFinished.connect(self.update_preview)
        self.weights.editingFinished.connect(self.update_preview)
        self.view.currentIndexChanged.connect(
            lambda *_: self.image.set_mode(self.view.currentData()))
        self.render_button.clicked.connect(self.update_preview)
        self.save_button.clicked.connect(self.save_dialog)
        ctx.models_changed.connect(self.check_model)  # weights imported on the Models page
        self.check_model()

    # -- sweeps (a contact sheet) ------------------------------------------------------
    def _build_sweep(self, parent: QWidget, lay: QVBoxLayout) -> None:
        """The Sweep box: what the sheet varies, its alpha steps, more contents."""
        # folded until asked for: open, it would take the height the image boxes grow into
        self.sweep_toggle = QToolButton(parent)
        self.sweep_toggle.setText("Sweep (contact sheet)…")
        self.sweep_toggle.setCheckable(True)
        self.sweep_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sweep_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.sweep_toggle.setToolTip("Alpha steps or contents × styles on one sheet, saved "
                                     "with every image and the recipe that replays it")
        lay.addWidget(self.sweep_toggle)
        box = QGroupBox("Sweep (contact sheet)", parent)
        box.setVisible(False)
        self.sweep_box = box
        self.sweep_toggle.toggled.connect(self.show_sweep)
        form = QFormLayout(box)
        self.sweep_mode = QComboBox(box)
        self.sweep_mode.addItem("alpha steps", "alpha")
        self.sweep_mode.addItem("contents × styles", "styles")
        self.sweep_mode.setToolTip("Alpha steps: a row per content × style, a column per "
                                   "alpha. Contents × styles: a row per content, a column "
                                   "per style, at the Alpha above")
        form.addRow("Sheet", self.sweep_mode)
        self.sweep_alphas = QLineEdit("0 0.25 0.5 0.75 1", box)
        self.sweep_alphas.setToolTip("The alpha of each column, in [0, 1], separated by "
                                     "commas or spaces")
        form.addRow("Alphas", self.sweep_alphas)
        self.sweep_contents = DropZone("More contents", box, multiple=True,
                                       key="stylize-content")
        self.sweep_contents.setToolTip("Further content images: more rows on the sheet "
                                       "(the content image above is the first)")
        form.addRow(self.sweep_contents)
        self.sweep_button = QPushButton("Sweep", box)
        self.sweep_button.setToolTip("Render the sheet cell by cell (it fills in on the "
                                     "right); saves the sheet, every image and the recipe "
                                     "that replays it")
        self.sweep_button.clicked.connect(lambda: self.run_sweep())
        form.addRow(self.sweep_button)
        self.sweep_mode.currentIndexChanged.connect(
            lambda *_: self.sweep_alphas.setEnabled(self.sweep_mode.currentData() == "alpha"))
        self.sweep_record: Any = None
        self.sweep_previews = 0
        lay.addWidget(box)

    def show_sweep(self, shown: bool = True) -> None:
        """Unfold (or fold) the Sweep box."""
        self.sweep_box.setVisible(shown)
        self.sweep_toggle.setArrowType(Qt.ArrowType.DownArrow if shown
                                       else Qt.ArrowType.RightArrow)
        if self.sweep_toggle.isChecked() != shown:
            self.sweep_toggle.setChecked(shown)

    def sweep_params(self, output: str | Path | None = None) -> Any:
        """The ``stylize-sweep`` job of what the page shows (ValueError names a problem)."""
        import re
        import time

        from studio.adain.sweep.params import SweepParams

        sp = self.spec()
        mode = self.sweep_mode.currentData()
        alphas: list[float] = []
        if mode == "alpha":
            text = self.sweep_alphas.text().strip()
            try:
                alphas = [float(x) for x in re.split(r"[,\s]+", text) if x]
            except ValueError:
                raise ValueError(f"alphas must be numbers separated by commas or spaces "
                                 f"(e.g. 0 0.5 1), got {text!r}") from None
            if not alphas or any(not 0.0 <= a <= 1.0 for a in alphas):
                raise ValueError(f"alphas must be numbers in [0, 1], got {text!r}")
        contents = [sp["content"], *[c for c in self.sweep_contents.files
                                     if c != sp["content"]]]
        if output is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            output = self.ctx.toy.out("sweeps") / f"{Path(sp['content']).stem}-{stamp}"
        return SweepParams(content=contents, style=list(sp["styles"]), sweep=mode,
                           alphas=alphas or [sp["alpha"]], alpha=sp["alpha"],
                           content_size=sp["size"], style_size=sp["size"],
                           preserve_color=bool(sp["preserve"]),
                           color_method=sp["preserve"] or "coral", output=str(output))

    def run_sweep(self, params: Any = None) -> Any:
        """Queue the sweep; its sheet fills in on the right as the cells are rendered."""
        if "stylize-sweep" not in job_types():
            self.status.setText("sweeps are not in this build")
            return None
        try:
            params = params if params is not None else self.sweep_params()
        except ValueError as exc:
            self.status.setText(f"no sweep: {exc}")
            return None
        self.sweep_previews = 0
        rec = self.ctx.queue.submit("stylize-sweep", params, page=self.key,
                                    title=f"sweep {Path(params.content[0]).stem} "
                                          f"({len(params.content)} × {len(params.style)})")
        self.sweep_record = rec
        self.sweep_button.setEnabled(False)
        self.image.set_mode("single")
        self.image.set_before(None)
        self.image.set_image(None)
        self.image.placeholder = "waiting for the first cell of the sweep…"
        self.status.setText(f"sweep queued → {params.output}")
        rec.handle.preview.connect(self._on_sweep_preview)
        rec.handle.progress.connect(
            lambda ev: self.status.setText(f"sweep: {ev.message} → {params.output}"))
        rec.handle.finished.connect(self._on_sweep_finished)
        return rec

    def _on_sweep_preview(self, img: QImage, caption: str, step: Any) -> None:
        self.sweep_previews += 1
        self.image.set_stale("")
        self.image.set_image(img, caption)

    def _on_sweep_finished(self, rec: Any) -> None:
        if rec is not self.sweep_record:
            return
        self.sweep_button.setEnabled(not self.model_error)
        st = rec.state.value
        if st == "done":
            res = rec.result or {}
            sheet = Path(res.get("sheet", ""))
            if sheet.is_file():
                from studio.gui.widgets import load_qimage

                self.image.set_image(load_qimage(sheet), f"{sheet} (click to enlarge)")
            self.status.setText(f"sheet saved: {sheet}; {res.get('cells')} images in "
                                f"{sheet.parent / 'cells'}; replay: studio run "
                                f"{res.get('recipe')}")
        elif st == "failed":
            self.status.setText(f"sweep failed: {rec.error}")
            self.banner.set(f"Sweep failed: {rec.error}", "error")
        else:
            self.status.setText("sweep cancelled (the finished images are kept)")

    def load_sweep(self, params: Any) -> bool:
        """A sweep recipe opens here: its first content and styles, sizes and steps."""
        if not params.content or not params.style:
            return False
        self.show_sweep(True)
        self.content.set_files([params.content[0]])
        self.sweep_contents.set_files(list(params.content[1:]))
        self.styles.set_files(list(params.style))
        self.sweep_mode.setCurrentIndex(max(0, self.sweep_mode.findData(params.sweep)))
        self.sweep_alphas.setText(" ".join(f"{a:g}" for a in params.alphas))
        method = params.color_method if params.preserve_color else ""
        self.preserve.setCurrentIndex(max(0, self.preserve.findData(method)))
        self.size.setValue(int(params.content_size))
        self.weights.setText("")
        self.restore_mask("")
        self.alpha.setValue(int(round(params.alpha * 100)))
        self.update_preview()
        return True

    # -- model -------------------------------------------------------------------------
    def check_model(self) -> bool:
        """Is there an AdaIN to run? Say exactly what is missing if not."""
        from studio.gui.workspace import adain_missing

        try:
            import studio.adain  # noqa: F401
        except ImportError as exc:
            self.model_error = f"The AdaIN engine cannot be imported: {exc}"
        else:
            missing = adain_missing()
            self.model_error = f"{missing} Stylizing is disabled until one pair is present." \
                if missing else ""
        self.banner.set(self.model_error, "warning")
        ok = not self.model_error
        self.render_button.setEnabled(ok)
        if hasattr(self, "sweep_button"):
            running = self.sweep_record is not None and not self.sweep_record.state.finished
            self.sweep_button.setEnabled(ok and not running)
        return ok

    # -- inputs ------------------------------------------------------------------------
    def use_toy_examples(self) -> None:
        # a silhouette, as the toy cue-conflict stimuli start from (a textured scene keeps
        # some of its own pattern: resources/toy/README.md); a scene if there is none
        toy = self.ctx.toy
        contents = toy.shape_images() or toy.world_images("test")
        textures = toy.texture_images()
        if contents:
            self.content.set_files([contents[0]])
        if textures:
            # two textures of different categories
            cats: dict[str, Path] = {}
            for p in textures:
                cats.setdefault(p.parent.name, p)
            picks = list(cats.values())
            self.styles.set_files(picks[3:5] if len(picks) >= 5 else picks[:2])

    def on_toy_ready(self) -> None:
        if not self.content.files and not self.styles.files:
            self.use_toy_examples()

    def on_show(self) -> None:
        if self.check_model() and self.last_image is None:
            self.update_preview()

    def _on_alpha(self, v: int) -> None:
        self.alpha_label.setText(f"{v / 100:.2f}")
        self.update_preview()

    # -- regions (spatial control) ------------------------------------------------------
    def _show_mask(self) -> None:
        """Name the mask in the Regions list; the path line and the Choose… button belong
        to the mask-image mode only."""
        i = self.mask.findData("file")
        name = Path(self.mask_file).name
        short = self.mask.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, 150)
        self.mask.setItemText(i, f"mask: {short}" if name else "mask image…")
        self.mask.setItemData(i, self.mask_file, Qt.ItemDataRole.ToolTipRole)
        file_mode = self.mask.currentData() == "file"
        self.mask_button.setVisible(file_mode)
        self.mask_path.setText(self.mask_file)
        self.mask_path.setCursorPosition(len(self.mask_file))  # the file name end in view
        self.mask_path.setToolTip(self.mask_file)
        self.mask_path.setVisible(file_mode)

    def say_mask(self, text: str) -> None:
        """The one line about a mask that could not be restored, in the page's banner (in
        view at any window size) until the regions are set again; "" takes it away."""
        if not text and self.banner.text() == self.mask_warning:
            self.banner.set(self.model_error, "warning")
        self.mask_warning = text
        if text:
            self.banner.set(text, "warning")

    def _on_mask_mode(self) -> None:
        self.say_mask("")
        self._show_mask()
        if self.mask.currentData() != "file" or self.mask_file:
            self.update_preview()

    def _on_mask_activated(self, index: int) -> None:
        # picked in the list (even when it was already chosen): ask for the image
        if self.mask.itemData(index) == "file":
            self.choose_mask_file()

    def choose_mask_file(self, path: str | Path | None = None) -> bool:
        """Regions ▸ mask image…: use ``path``, or ask for one (not in a headless run);
        without an image the regions fall back to none. True when a mask is in use."""
        if path is None and not self.ctx.headless:
            path, _ = QFileDialog.getOpenFileName(self, "Mask image", prefs.last_dir("masks"),
                                                  "Images (*.png *.jpg *.jpeg *.bmp)")
            if path:
                prefs.remember_dir("masks", path)
        if path:
            self.set_mask_file(path)
            return True
        if not self.mask_file:
            self.mask.setCurrentIndex(max(0, self.mask.findData("")))
        return bool(self.mask_file)

    def set_mask_file(self, path: str | Path) -> None:
        """Split the picture between the two styles by this grey image and render."""
        self.mask_file = str(path)
        self.say_mask("")
        i = self.mask.findData("file")
        if self.mask.currentIndex() != i:
            self.mask.setCurrentIndex(i)  # renders (_on_mask_mode)
        else:
            self._show_mask()
            self.update_preview()

    def restore_mask(self, kind: str, path: str = "") -> None:
        """Set Regions as a recipe or a saved PNG had it. A mask image that is gone is
        said in one line (and Regions fall back to none), never dropped silently."""
        self.say_mask("")
        if kind != "file":
            self.mask.setCurrentIndex(max(0, self.mask.findData(kind or "")))
            return
        if path and Path(path).is_file():
            self.set_mask_file(path)
            return
        self.mask.setCurrentIndex(max(0, self.mask.findData("")))
        self.say_mask(f"Mask {Path(path).name or '(none named)'} no longer exists ({path}); "
                      "Regions set to none: choose it again for the masked picture.")

    def spec(self) -> dict[str, Any]:
        """What to render, from the widgets (raises ValueError on bad input)."""
        if not self.content.files:
            raise ValueError("choose a content image")
        if not self.styles.files:
            raise ValueError("choose at least one style image")
        styles = self.styles.files
        if self.mask.currentData() == "file" and not self.mask_file:
            raise ValueError("choose a mask image (Regions ▸ mask image…)")
        weights = None
        text = self.weights.text().strip()
        if text:
            import re

            try:  # commas, spaces or both, as every number list in the window
                weights = [float(x) for x in re.split(r"[,\s]+", text) if x]
            except ValueError:
                raise ValueError(f"style weights must be numbers separated by commas or "
                                 f"spaces (e.g. 0.3, 0.7), got {text!r}") from None
            if len(weights) != len(styles):
                raise ValueError(f"{len(weights)} weights for {len(styles)} styles")
        return {"content": self.content.files[0], "styles": list(styles),
                "alpha": self.alpha.value() / 100.0, "weights": weights,
                "preserve": self.preserve.currentData(), "size": self.size.value(),
                "mask": self.mask.currentData(), "mask_file": self.mask_file}

    def update_preview(self) -> None:
        if self.model_error:
            return
        try:
            spec = self.spec()
        except ValueError as exc:
            self.status.setText(str(exc))
            # the picture on screen is of the last good settings: say so over it
            self.image.set_stale(f"not updated: {exc}")
            bad = "weight" in str(exc)
            self.weights.setStyleSheet(f"QLineEdit {{ {INVALID_STYLE} }}" if bad else "")
            return
        self.weights.setStyleSheet("")
        session = self.session

        def work() -> tuple[QImage, QImage, np.ndarray, dict]:
            sp = dict(spec)
            if sp["mask"] and len(sp["styles"]) > 1 or sp["mask"] == "file":
                c = session.content_array(sp["content"], sp["size"])
                sp["masks"] = make_masks(sp["mask"], len(sp["styles"]), c.shape[:2],
                                         sp["mask_file"])
            out = session.render(sp)
            before = qimage_from_array(session.content_array(sp["content"], sp["size"]), None)
            return qimage_from_array(out, None), before, out, spec

        self.status.setText("stylising…")
        self.runner.submit("render", work)

    def _on_result(self, tag: Any, value: Any) -> None:
        if tag == "render":
            img, before, arr, spec = value
            self.renders += 1
            self.last_image, self.last_spec = arr, spec
            self.image.set_stale("")
            self.image.set_before(before)
            mask = f" · mask {Path(spec['mask_file']).name}" if spec["mask"] == "file" else ""
            self.image.set_image(img, f"alpha {spec['alpha']:.2f}{mask}")
            self.image.set_mode(self.view.currentData())
            self.save_button.setEnabled(True)
            if self.mask_warning:
                self.banner.set(self.mask_warning, "warning")
            else:
                self.banner.set(self.model_error or self.toy_note(spec), "info")
            s = self.session
            self.status.setText(f"{s.model_name} · {arr.shape[1]}×{arr.shape[0]} px · "
                                f"{s.last_ms:.0f} ms · encoder runs {s.encoder_runs}, "
                                f"decoder runs {s.decoder_runs}")
        elif tag == "save":
            self.status.setText(f"saved {value}")

    def toy_note(self, spec: dict[str, Any]) -> str:
        """The toy AdaIN knows only the toy world: on a photo it paints flat colour, so
        say so (and how to get the real model) instead of leaving a grey square."""
        if not self.session.model_name.startswith("toy"):
            return ""
        from studio.gui.workspace import outside_toy_world

        outside = outside_toy_world([spec["content"], *spec["styles"]], self.ctx.toy.root)
        if not outside:
            return ""
        return (f"{Path(outside[0]).name} is not from the toy world, and the model in use is "
                "the toy AdaIN trained on toy images only: expect flat colour. For real "
                "images import the official vgg_normalised.pth and decoder.pth on the Models "
                "page (they replace the toy model automatically).")

    def _on_error(self, tag: Any, message: str) -> None:
        self.status.setText(f"error: {message}")
        if tag == "render":
            self.image.set_stale(f"not updated: {message}")
        self.banner.set(message, "error")

    # -- saving and recipes ------------------------------------------------------------
    def params_record(self) -> dict[str, Any]:
        sp = dict(self.last_spec or {})
        sp.pop("masks", None)
        sp["model"] = self.session.model_name
        return {"adain": sp}

    def save(self, path: str | Path) -> Path:
        from studio.core.images import save_image

        if self.last_image is None:
            raise ValueError("nothing to save yet")
        return save_image(self.last_image, Path(path), params=self.params_record())

    def save_dialog(self) -> None:
        if self.last_image is None:
            return
        stem = Path(self.last_spec["content"]).stem + "_stylized" if self.last_spec else "out"
        start = str(Path(prefs.last_dir("stylize-out")) / f"{stem}.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save stylised image", start, "PNG (*.png)")
        if path:
            prefs.remember_dir("stylize-out", path)
            try:
                self.save(path)
                self.status.setText(f"saved {path} (parameters embedded)")
            except (OSError, ValueError) as exc:
                self.message("Cannot save", str(exc), error=True)

    def load_params(self, path: str | Path) -> dict[str, Any]:
        """Set the page from the parameters embedded in a saved PNG (``read_params``)."""
        from studio.core.images import read_params

        meta = read_params(path) or {}
        sp = meta.get("adain")
        if sp is None and meta.get("method") == "adain":
            sp = _job_png_spec(meta)  # written by `studio stylize` / `studio run`
        if not isinstance(sp, dict) or "content" not in sp:
            raise ValueError(f"{path}: no Stylize parameters embedded in this image")
        self.content.set_files([sp["content"]])
        self.styles.set_files(sp.get("styles", []))
        w = sp.get("weights")
        self.weights.setText(", ".join(str(x) for x in w) if w else "")
        i = self.preserve.findData(sp.get("preserve") or "")
        self.preserve.setCurrentIndex(max(0, i))
        self.size.setValue(int(sp.get("size", 0)))
        self.restore_mask(sp.get("mask") or "", str(sp.get("mask_file") or ""))
        self.alpha.setValue(int(round(float(sp.get("alpha", 1.0)) * 100)))
        self.update_preview()
        return sp

    def load_params_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load parameters from image",
                                              prefs.last_dir("stylize-out"), "PNG (*.png)")
        if path:
            try:
                self.load_params(path)
            except (OSError, ValueError) as exc:
                self.message("No parameters", str(exc), error=True)

    def run(self) -> None:
        self.update_preview()

    def cancel(self) -> None:
        """Esc: stop a running sweep at its next cell."""
        rec = self.sweep_record
        if rec is not None and not rec.state.finished:
            self.ctx.queue.cancel(rec)

    def current_recipe(self) -> tuple[str, Any] | None:
        """The ``adain.stylize`` job (same as `studio stylize`) with this page's settings."""
        jt = job_types().get("adain.stylize")
        if jt is None:
            return None
        sp = self.spec()
        values = {"content": sp["content"], "style": list(sp["styles"]),
                  "alpha": sp["alpha"], "preserve_color": bool(sp["preserve"]),
                  "color_method": sp["preserve"] or "coral",
                  "content_size": sp["size"], "style_size": sp["size"],
                  # the window's "equal" is 1,1,... for the job: `studio run` refuses
                  # several styles without weights (as test.py does)
                  "style_interpolation_weights": list(
                      sp["weights"] or [1.0] * len(sp["styles"]))
                  if len(sp["styles"]) > 1 and sp["mask"] != "file" else [],
                  "masks": [sp["mask_file"]] if sp["mask"] == "file" else [],
                  "output": str(self.ctx.toy.out("stylize")), "save_ext": ".png"}
        names = {f.name for f in dataclasses.fields(jt.params)}
        return jt.name, jt.params(**{k: v for k, v in values.items() if k in names})

    def load_recipe(self, job: str, params: Any) -> bool:
        if job == "stylize-sweep":
            return self.load_sweep(params)
        if job != "adain.stylize" or not getattr(params, "content", ""):
            return False
        self.content.set_files([params.content])
        self.styles.set_files([str(s) for s in params.style])
        w = list(getattr(params, "style_interpolation_weights", []) or [])
        # equal weights are the window's "equal" (an empty field)
        self.weights.setText("" if len(set(w)) <= 1 else ", ".join(f"{x:g}" for x in w))
        method = getattr(params, "color_method", "coral") if params.preserve_color else ""
        self.preserve.setCurrentIndex(max(0, self.preserve.findData(method)))
        self.size.setValue(int(params.content_size))
        masks = [str(m) for m in getattr(params, "masks", []) or []]
        if len(masks) > 1:  # the page draws one grey mask for two styles
            self.restore_mask("")
            self.say_mask(f"This recipe has {len(masks)} mask images (one per style); the "
                          "page splits by one grey mask only: Regions set to none.")
        else:
            self.restore_mask("file" if masks else "", masks[0] if masks else "")
        self.alpha.setValue(int(round(params.alpha * 100)))
        self.update_preview()
        return True

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        if self.model_error:
            d.check("adain_encoder.pth" in self.model_error, "the banner does not say which "
                    "weights are missing")
            d.check(not self.render_button.isEnabled(), "stylize is enabled without weights")
            return "no AdaIN weights in this build: page says so (no fake result)"
        self.use_toy_examples()
        self.size.setValue(64)
        self.alpha.setValue(100)
        self.update_preview()
        d.wait(lambda: self.renders > 0 and not self.runner.busy(), 60, "the first render")
        d.check(self.last_image is not None and self.image.has_image(), "no preview")
        enc = self.session.encoder_runs
        n = self.renders
        self.alpha.setValue(40)
        d.wait(lambda: self.renders > n and not self.runner.busy(), 30, "the alpha render")
        d.check(self.session.encoder_runs == enc,
                "moving alpha re-ran the encoder (features should be cached)")
        d.check(abs(self.last_spec["alpha"] - 0.4) < 1e-9, "the preview is not at alpha 0.4")
        self.mask.setCurrentIndex(self.mask.findData("split"))
        n = self.renders
        d.wait(lambda: self.renders > n and not self.runner.busy(), 30, "the masked render")
        self.view.setCurrentIndex(self.view.findData("split"))
        out = self.ctx.toy.root / "selftest" / "stylized.png"
        self.save(out)
        from studio.core.images import read_params

        meta = read_params(out)
        d.check(meta and meta["adain"]["alpha"] == 0.4, f"saved parameters: {meta}")
        self.alpha.setValue(100)
        sp = self.load_params(out)
        d.check(self.alpha.value() == 40 and sp["styles"] == self.styles.files,
                "loading parameters from the PNG did not restore them")
        d.wait(lambda: not self.runner.busy(), 30, "the restored render")
        rec = self.current_recipe()
        if rec is not None:
            self.alpha.setValue(100)
            d.check(self.load_recipe(*rec) and self.alpha.value() == 40,
                    "the page's recipe does not load back")
            d.wait(lambda: not self.runner.busy(), 30, "the recipe render")
        # leave the page in its everyday state: one mix, full style, side by side
        n = self.renders
        self.mask.setCurrentIndex(0)
        self.alpha.setValue(100)
        d.wait(lambda: self.renders > n and not self.runner.busy()
               and (self.last_spec or {}).get("alpha") == 1.0, 30, "the final render")
        self.view.setCurrentIndex(self.view.findData("side"))
        return (f"{self.session.model_name}; alpha re-render {self.session.last_ms:.0f} ms "
                "decoder only")


def _job_png_spec(meta: dict[str, Any]) -> dict[str, Any]:
    """The page's settings from the parameters the ``adain.stylize`` job writes into its
    PNGs, so *Load from PNG…* takes `studio run`'s images as well as the window's."""
    if "content" not in meta:
        return {}
    masks = [str(m) for m in meta.get("masks") or []]
    styles = meta.get("styles") or ([meta["style"]] if meta.get("style") else [])
    return {"content": meta["content"], "styles": list(styles),
            "alpha": meta.get("alpha", 1.0), "weights": meta.get("weights"),
            "preserve": meta.get("preserve_color") or "",
            "size": meta.get("content_size", 0),
            "mask": "file" if masks else "", "mask_file": masks[0] if masks else ""}
