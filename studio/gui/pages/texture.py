"""Texture bias: build cue-conflict stimuli, measure shape bias, inspect every decision.

The stimulus browser reads each model's ``decisions.csv`` and shows the images with the
model's answer, filtered by category and by decision (shape / texture / other) — the
quickest way to *see* a texture bias.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.gui.pages.base import JobPage
from studio.gui.widgets import FlowLayout, ImageView, ThumbGrid, load_qimage
from studio.gui.workers import JobRecord

LABELS = {
    "toy-cue-conflict": "Stimuli: toy world (procedural)",
    "cue-conflict": "Stimuli: style transfer (AdaIN / Gatys)",
    "shape-bias": "Evaluate shape bias",
}
HELP = {
    "models": "One ARCH=WEIGHTS per model, comma-separated, e.g. toyvgg=toy-teacher, "
              "resnet50=resnet50-sin (WEIGHTS may be a file or a name from the Models page)",
    "names": "Plot labels, one per model (default: the weight file names)",
    "stimuli": "Cue-conflict folder in the reference naming: <shape>/<shape><i>-<texture><j>.png",
}


def read_decisions(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def decision_kind(row: dict[str, str]) -> str:
    if row["shape"] == row["texture"]:
        return "same"
    if row.get("correct-shape") == "1":
        return "shape"
    if row.get("correct-texture") == "1":
        return "texture"
    return "other"


class TextureBiasPage(JobPage):
    key = "texture"
    title = "Texture bias"
    icon = "texture"
    tip = "Build cue-conflict stimuli, measure shape bias, inspect each model's decisions"
    job_names = ("toy-cue-conflict", "cue-conflict", "shape-bias")
    engine = "texture-bias lab (studio.texture_shape)"
    labels = LABELS
    help = HELP

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        if job == "toy-cue-conflict":
            return {"out": toy.out("cue-conflict-toy")}
        if job == "cue-conflict":
            return {"shapes": toy.shapes, "textures": toy.textures,
                    "out": toy.out("cue-conflict"), "size": 64, "model": "auto"}
        if job == "shape-bias":
            return {"stimuli": toy.out("cue-conflict-toy"), "out": toy.out("shape-bias"),
                    "models": ["toyvgg=toy-teacher"], "names": ["toy teacher"],
                    "formats": ["png", "svg"]}
        return {}

    def build_right(self, tabs: QTabWidget) -> None:
        self.stimuli_root: Path | None = None
        self.plot_result: dict[str, Any] | None = None
        self.model_dirs: dict[str, Path] = {}
        self.rows: list[dict[str, str]] = []
        # the plot
        w = QWidget(self)
        lay = QVBoxLayout(w)
        self.summary = QLabel("Run “Evaluate shape bias” to see the model-vs-human plot.", w)
        self.summary.setWordWrap(True)
        self.summary.setObjectName("hint")
        # long paths wrap or are cut by the label, never widen the window
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.summary)
        self.plot = ImageView(w, "the shape-bias plot appears here (click it to enlarge)")
        lay.addWidget(self.plot, 1)
        tabs.insertTab(0, w, "Shape bias")
        # the browser
        b = QWidget(self)
        bl = QVBoxLayout(b)
        row = QHBoxLayout()
        self.model_box = QComboBox(b)
        self.model_box.setToolTip("Whose decisions to show")
        self.cat_box = QComboBox(b)
        self.cat_box.setToolTip("Only stimuli whose shape is this category")
        self.dec_box = QComboBox(b)
        self.dec_box.setToolTip("Only stimuli the model decided this way: by shape, by "
                                "texture, something else, or same-category images")
        for text, data in (("all decisions", ""), ("shape", "shape"), ("texture", "texture"),
                           ("other", "other"), ("same category", "same")):
            self.dec_box.addItem(text, data)
        row = FlowLayout()
        for label, box in (("Model", self.model_box), ("Category", self.cat_box),
                           ("Decision", self.dec_box)):
            # fixed by a minimum length, not by the longest model name: filling the box
            # must never widen the window
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(9)
            pair = QWidget(b)
            pl = QHBoxLayout(pair)
            pl.setContentsMargins(0, 0, 0, 0)
            pl.addWidget(QLabel(label, pair))
            pl.addWidget(box)
            row.addWidget(pair)
        self.count_label = QLabel("", b)
        row.addWidget(self.count_label)
        bl.addLayout(row)
        sp = QSplitter(b)
        self.browser = ThumbGrid(sp, thumb=84, max_items=2000, cell_width=144)
        # enlarged, a stimulus is captioned with every model's decision
        self.browser.viewer_caption = self.viewer_caption
        self.browser.setToolTip("Cue-conflict stimuli with the model's decision; "
                                "double-click to enlarge")
        dw = QWidget(sp)
        dl = QVBoxLayout(dw)
        dl.setContentsMargins(0, 0, 0, 0)
        self.detail = ImageView(dw, "select a stimulus")
        self.detail_info = QLabel("", dw)
        self.detail_info.setWordWrap(True)
        self.detail_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_info.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        dl.addWidget(self.detail, 1)
        dl.addWidget(self.detail_info)
        sp.addWidget(self.browser)
        sp.addWidget(dw)
        sp.setStretchFactor(0, 3)
        sp.setStretchFactor(1, 2)
        bl.addWidget(sp, 1)
        tabs.insertTab(1, b, "Stimuli")
        tabs.setCurrentIndex(0)
        self.model_box.currentIndexChanged.connect(self._load_model)
        self.cat_box.currentIndexChanged.connect(self.refresh_browser)
        self.dec_box.currentIndexChanged.connect(self.refresh_browser)
        self.browser.currentItemChanged.connect(self._show_detail)

    # -- results -----------------------------------------------------------------------
    def clear_evaluation(self, note: str) -> None:
        """New stimuli: the last evaluation's plot, browser and detail are of other
        images, so none of them may stay on screen."""
        self.plot.set_image(None)
        self.plot_result = None
        self.summary.setText(note)
        self.stimuli_root = None
        self.model_dirs = {}
        self.rows = []
        self.model_box.clear()
        self.browser.clear()
        self.clear_detail()
        self.count_label.setText("")

    def clear_detail(self, note: str = "select a stimulus") -> None:
        """No stimulus selected: no picture, no decisions, and no late probabilities of
        the last one (they are dropped by path)."""
        self.detail.set_image(None)
        self.detail.placeholder = note
        self.detail.update()
        self.detail_info.setText("")
        self.detail_path = None

    def result_ready(self, rec: JobRecord) -> None:
        if rec.job in ("toy-cue-conflict", "cue-conflict"):
            self.clear_evaluation(f"Stimuli ready in {rec.params.out}. Next: “Evaluate "
                                  "shape bias”.")
            f = self.panel.form("shape-bias") if "shape-bias" in self.panel.available else None
            if f is not None:
                f.set_value("stimuli", rec.params.out)
            if f is not None:
                self.panel.select("shape-bias")
            return
        if rec.job == "shape-bias":
            self.eval_params = rec.params
            self.show_evaluation(Path(rec.params.out), Path(rec.params.stimuli),
                                 rec.result or {})

    def show_evaluation(self, out: Path, stimuli: Path, result: dict[str, Any]) -> None:
        png = out / "shape_bias.png"
        self.clear_detail()
        self._dec_cache = {}
        self.plot_result = result
        if png.is_file():
            self.plot.set_image(load_qimage(png), "")
        from studio.gui import theme

        if theme.current() == "dark":
            self.on_theme_changed("dark")
        lines = []
        for name, s in (result.get("summaries") or {}).items():
            sb = s.get("shape_bias")
            lines.append(f"<b>{name}</b>: shape bias {sb:.2f} · shape {s['n_shape']}, "
                         f"texture {s['n_texture']}, other {s['n_other']} of "
                         f"{s['n_conflict']} conflicts" if sb is not None
                         else f"<b>{name}</b>: no shape or texture decisions")
        self.summary.setText("<br>".join(lines) or "evaluation finished")
        self.stimuli_root = stimuli
        self.model_dirs = {}
        for name in (result.get("summaries") or {}):
            for cand in (out / name, out / _safe(name), out):
                if (cand / "decisions.csv").is_file():
                    self.model_dirs[name] = cand
                    break
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems(list(self.model_dirs))
        self.model_box.blockSignals(False)
        self._load_model()

    def _load_model(self) -> None:
        name = self.model_box.currentText()
        d = self.model_dirs.get(name)
        self.rows = read_decisions(d / "decisions.csv") if d else []
        cats = sorted({r["shape"] for r in self.rows})
        cur = self.cat_box.currentData()
        self.cat_box.blockSignals(True)
        self.cat_box.clear()
        self.cat_box.addItem("all categories", "")
        for c in cats:
            self.cat_box.addItem(c, c)
        i = self.cat_box.findData(cur)
        self.cat_box.setCurrentIndex(max(0, i))
        self.cat_box.blockSignals(False)
        self.refresh_browser()

    def filtered(self) -> list[dict[str, str]]:
        cat, dec = self.cat_box.currentData(), self.dec_box.currentData()
        return [r for r in self.rows if (not cat or r["shape"] == cat)
                and (not dec or decision_kind(r) == dec)]

    def on_theme_changed(self, name: str) -> None:
        """Draw the plot again in the theme's colours (a white plot in a dark window
        glares, and its grey reference labels vanish on it)."""
        result = getattr(self, "plot_result", None)
        if not result or not result.get("summaries"):
            return
        if not hasattr(self, "_plotter"):
            from studio.gui.workers import LatestRunner

            self._plotter = LatestRunner(self)
            self._plotter.result.connect(lambda tag, img: img is not None and
                                         self.plot.set_image(img, ""))
        summaries = result["summaries"]
        dark = name == "dark"

        def work() -> Any:
            return themed_plot(summaries, dark)

        self._plotter.submit("plot", work)

    def refresh_browser(self) -> None:
        rows = self.filtered()
        self.clear_detail("select a stimulus" if rows or not self.rows
                          else "no stimulus matches these filters")
        self.count_label.setText(f"{len(rows)} / {len(self.rows)}")
        self.count_label.setToolTip(f"{len(rows)} of {len(self.rows)} stimuli shown")
        if self.stimuli_root is None:
            return
        root = self.stimuli_root
        by_path = {str(root / r["file"]): r for r in rows}

        def caption(p: str) -> str:
            r = by_path[p]
            return f"{r['shape']}/{r['texture']}\n→ {r['decision']}"  # two short lines

        self.browser.load_files_async(list(by_path), caption)

    def _show_detail(self, item: Any, _prev: Any = None) -> None:
        if item is None:
            self.clear_detail("select a stimulus" if self.filtered() or not self.rows
                              else "no stimulus matches these filters")
            return
        path = item.data(Qt.ItemDataRole.UserRole)
        try:
            self.detail.set_image(load_qimage(path, 512), Path(path).name)
        except Exception as exc:
            self.detail.set_image(None)
            self.detail.placeholder = str(exc)
        self.detail_path = path
        self.detail_info.setText(self.decisions_html(path))
        self.request_probabilities(path)

    def request_probabilities(self, path: str) -> None:
        """Each model's top-3 categories with probabilities, computed in a worker (the
        models are loaded once and kept)."""
        params = getattr(self, "eval_params", None)
        if params is None or not params.models:
            return
        if not hasattr(self, "_prob_runner"):
            from studio.gui.workers import LatestRunner

            self._prob_runner = LatestRunner(self)
            self._prob_runner.result.connect(self._on_probabilities)
            self._classifiers: dict[str, Any] = {}
        cache = self._classifiers
        cats = sorted({r["shape"] for r in self.rows})
        specs = list(params.models)
        names = [params.names[k] if k < len(params.names) else spec
                 for k, spec in enumerate(specs)]
        classes = list(params.classes or [])

        def work() -> dict[str, list[tuple[str, float]]]:
            out = {}
            for spec, name in zip(specs, names):
                try:
                    if spec not in cache:
                        from studio.models.classifiers import load_classifier
                        from studio.texture_shape.shape_bias import parse_model_spec

                        arch, weights = parse_model_spec(spec)
                        clf = load_classifier(arch, weights, classes=classes or None,
                                              device="cpu")
                        clf.net.eval()
                        cache[spec] = clf
                    from studio.texture_shape.shape_bias import top_probabilities

                    out[name] = top_probabilities(cache[spec], path, cats)
                except Exception as exc:  # shown in place of the numbers
                    out[name] = [(f"(no probabilities: {exc})", float("nan"))]
            return out

        self._prob_runner.submit(path, work)

    def _on_probabilities(self, path: Any, probs: Any) -> None:
        if path != getattr(self, "detail_path", None):
            return  # the user has moved on to another stimulus
        self.last_probabilities = probs
        self.detail_info.setText(self.decisions_html(path, probs))

    def viewer_caption(self, path: str) -> str:
        """Plain text of the detail for the image viewer: file, shape, texture, decisions."""
        from PySide6.QtGui import QTextDocumentFragment

        probs = getattr(self, "last_probabilities", None) \
            if path == getattr(self, "detail_path", None) else None
        html = self.decisions_html(path, probs).replace("<br>", " · ")
        text = QTextDocumentFragment.fromHtml(html).toPlainText()
        return f"{Path(path).name} — {text}" if text else Path(path).name

    def decisions_html(self, path: str, probs: dict[str, Any] | None = None) -> str:
        """Shape, texture and every evaluated model's decision on one stimulus, with its
        top probabilities once they are computed."""
        if self.stimuli_root is None:
            return ""
        rel = Path(path).relative_to(self.stimuli_root).as_posix() \
            if Path(path).is_relative_to(self.stimuli_root) else Path(path).name
        lines = []
        first = None
        for name, d in self.model_dirs.items():
            rows = self._decisions_of(name, d)
            r = rows.get(rel)
            if r is None:
                continue
            first = first or r
            kind = decision_kind(r)
            mark = {"shape": "by shape", "texture": "by texture", "same": "same category",
                    "other": "neither"}[kind]
            top = ""
            if probs and name in probs:
                top = " · " + ", ".join(
                    f"{c} {p * 100:.0f} %" if p == p else c for c, p in probs[name])
            lines.append(f"<b>{name}</b>: {r['decision']} ({mark}){top}")
        if first is None:
            return ""
        head = f"shape <b>{first['shape']}</b> · texture <b>{first['texture']}</b>"
        return head + "<br>" + "<br>".join(lines)

    def _decisions_of(self, name: str, d: Path) -> dict[str, dict[str, str]]:
        cache = self.__dict__.setdefault("_dec_cache", {})
        key = (name, str(d))
        if key not in cache:
            try:
                cache[key] = {r["file"]: r for r in read_decisions(d / "decisions.csv")}
            except (OSError, KeyError, ValueError):
                cache[key] = {}
        return cache[key]

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        if "toy-cue-conflict" not in self.panel.available or \
                "shape-bias" not in self.panel.available:
            d.check("not" in self.banner.text(), "missing engine not explained")
            return "engine missing: page says so"
        root = self.ctx.toy.root / "selftest"
        self.panel.select("toy-cue-conflict")
        self.panel.form().set_value("out", root / "cue-conflict")
        rec = self.panel.run()
        d.wait_job(rec, 120)
        d.check(self.panel.job_name() == "shape-bias", "did not move on to the evaluation")
        f = self.panel.form()
        d.check(f.value("stimuli") == root / "cue-conflict", "stimuli not carried over")
        f.set_value("out", root / "shape-bias")
        f.set_value("formats", ["png"])
        rec = self.panel.run()
        d.wait_job(rec, 180)
        d.check(self.plot.has_image(), "the shape-bias plot is not shown")
        d.check(self.previews_seen > 0, "no preview arrived")
        d.wait(lambda: self.browser.count() == len(self.rows) > 0 and
               not self.browser.loading(), 30, "the stimulus browser")
        self.dec_box.setCurrentIndex(self.dec_box.findData("texture"))
        n_tex = len(self.filtered())
        d.check(all(decision_kind(r) == "texture" for r in self.filtered()),
                "the texture filter lets other decisions through")
        d.wait(lambda: not self.browser.loading(), 30, "the filtered browser")
        if self.browser.count():
            self.browser.setCurrentRow(0)
        sb = (rec.result or {}).get("shape_bias", {})
        return f"shape bias {json.dumps(sb)}; {n_tex} texture decisions"


def themed_plot(summaries: dict[str, Any], dark: bool) -> Any:
    """The shape-bias matrix plot drawn again for the window's theme (a QImage)."""
    import tempfile

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from studio.texture_shape.plots import matrix_plot
    from studio.texture_shape.shape_bias import REFERENCE_SHAPE_BIAS

    cats = sorted({c for s in summaries.values() for c in (s.get("per_category") or {})})
    style = "dark_background" if dark else "default"
    with tempfile.TemporaryDirectory() as tmp, plt.style.context(style):
        files = matrix_plot(summaries, cats, Path(tmp) / "plot", REFERENCE_SHAPE_BIAS,
                            formats=("png",))
        return load_qimage(files[0]) if files else None


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "model"
