"""Evaluate: a classifier's top-1 / top-5, per-class accuracy and confusion matrix on an
image folder (the `eval-classifier` job, the same as `studio eval classifier`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.gui.pages.base import JobPage
from studio.gui.widgets import ImageView
from studio.gui.workers import JobRecord

HELP = {
    "images": "Images to evaluate on: an ImageFolder (its root or a split folder); class "
              "folders are matched to the model's classes by name",
    "model": "toy (the shipped toy teacher), a registry name (cifar10-resnet20) or a "
             "weights file",
    "out": "Folder for eval.json and confusion.png (empty: write nothing, show the "
           "numbers only)",
}


def pct(v: Any) -> str:
    """0.8103 -> '81.03 %'; None -> '–'."""
    return "–" if v is None else f"{float(v) * 100:.2f} %"


class EvaluatePage(JobPage):
    key = "evaluate"
    title = "Evaluate"
    icon = "evaluate"
    tip = "Accuracy, per-class accuracy and confusion matrix of a classifier on a folder"
    job_names = ("eval-classifier",)
    engine = "classifier trainer (studio.trainer)"
    help = HELP

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        return {"images": toy.world, "model": "toy", "split": "test",
                "out": toy.out("eval-classifier")}

    def build_right(self, tabs: QTabWidget) -> None:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        self.summary = QLabel("Run an evaluation to see its accuracy here.", w)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.summary)
        split = QSplitter(Qt.Orientation.Vertical, w)
        self.per_class = QTableWidget(0, 3, split)
        self.per_class.setHorizontalHeaderLabels(["class", "top-1", "images"])
        self.per_class.verticalHeader().setVisible(False)
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.setAlternatingRowColors(True)
        self.per_class.setSortingEnabled(False)
        self.per_class.setToolTip("Top-1 accuracy of each class folder")
        hh = self.per_class.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.confusion = ImageView(split, "the confusion matrix appears here after a run "
                                          "with an output folder")
        self.confusion.setToolTip("Rows: the folder's classes; columns: the model's "
                                  "predictions (colours: share of the row)")
        split.addWidget(self.per_class)
        split.addWidget(self.confusion)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)
        tabs.removeTab(0)  # the job sends no preview images: no empty Preview tab
        tabs.insertTab(0, w, "Accuracy")
        tabs.setCurrentIndex(0)
        self.last_result: dict[str, Any] | None = None

    def _on_started(self, rec: JobRecord) -> None:
        super()._on_started(rec)
        self.last_result = None
        self.summary.setText(f"evaluating with {rec.title}…")
        self.per_class.setRowCount(0)
        self.confusion.set_image(None)

    def result_ready(self, rec: JobRecord) -> None:
        res = rec.result or {}
        self.last_result = res
        m = res.get("model", {})
        skipped = res.get("num_errors") or 0
        self.summary.setText(
            f"<b>top-1 {pct(res.get('top1'))}</b> &nbsp; top-5 {pct(res.get('top5'))} "
            f"&nbsp; on {res.get('num_images')} images of {res.get('images')}"
            + (f", <b>{skipped} skipped</b> (see Log)" if skipped else "")
            + f"<br>model {m.get('name')} ({m.get('arch')}, data {m.get('data')}, "
            f"{m.get('input_size')} px)")
        rows = list((res.get("per_class") or {}).items())
        self.per_class.setRowCount(len(rows))
        for i, (name, pc) in enumerate(rows):
            for c, text in enumerate((name, pct(pc.get("top1")), str(pc.get("images")))):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.per_class.setItem(i, c, item)
        png = next((Path(f) for f in res.get("files", []) if str(f).endswith(".png")), None)
        if png is not None and png.is_file():
            self.confusion.set_image(QImage(str(png)), png.name)
        self.tabs.setCurrentIndex(0)

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        """Evaluate the toy teacher on the workspace's toy test split."""
        if not self.panel.available:
            d.check("not registered" in self.banner.text(), "missing engine not explained")
            return "engine missing: page says so"
        f = self.panel.form()
        out = self.ctx.toy.root / "selftest" / "eval-classifier"
        f.set_value("images", self.ctx.toy.world)
        f.set_value("model", "toy")
        f.set_value("out", out)
        rec = self.panel.run()
        d.wait_job(rec, 120)
        res = rec.result or {}
        d.check(0.0 <= res.get("top1", -1) <= 1.0, f"no top-1 in the result: {res}")
        d.check("top-1" in self.summary.text(), "the summary does not show the top-1")
        d.check(self.per_class.rowCount() == len(res.get("per_class", {})),
                "the per-class table does not list every class")
        d.check((out / "confusion.png").is_file() and self.confusion.has_image(),
                "the confusion matrix is not shown")
        return f"top-1 {pct(res['top1'])} on {res['num_images']} images"
