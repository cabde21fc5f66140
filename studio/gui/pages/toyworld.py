"""Toy world: draw the embedded procedural dataset and browse what is in the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from studio.gui.pages.base import AppContext, JobPage
from studio.gui.widgets import ThumbGrid
from studio.gui.workers import JobRecord

HELP = {
    "out": "Folder the dataset is written to (ImageFolder + manifest.jsonl); "
           "an existing partial build is resumed",
    "per_class": "Images per shape class in the first split",
    "size": "Image side in pixels (32-128)",
    "seed": "Global seed: the same seed gives byte-identical images",
    "shape_texture_correlation": "Probability that a shape wears its own texture; near 1 "
                                 "a classifier takes the texture shortcut (as on ImageNet)",
    "kind": "scene: textured shapes on a background; shape: silhouettes (cue-conflict "
            "content); texture: full-frame patches (cue-conflict style)",
    "splits": "Split folders, e.g. train, test (empty: no split folders)",
    "test_per_class": "Images per class in the splits after the first",
    "num_classes": "Number of shape (and texture) classes, 2-10",
    "workers": "Drawing processes (0 = one per CPU core)",
}


class ToyWorldPage(JobPage):
    key = "toyworld"
    title = "Toy world"
    icon = "toyworld"
    tip = "The embedded procedural world: shapes x textures, a small model of texture bias"
    job_names = ("toyworld",)
    help = HELP
    run_text = "Generate"
    engine = "toy world"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        self.last_out: Path | None = None
        super().__init__(ctx, parent)

    def defaults(self, job: str) -> dict[str, Any]:
        return {"out": self.ctx.toy.out("toyworld"), "per_class": 20, "workers": 1,
                "splits": ["train", "test"], "test_per_class": 5}

    def build_right(self, tabs: QTabWidget) -> None:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show", w))
        self.which = QComboBox(w)
        self.which.setToolTip("Which toy-world set of the workspace to browse")
        self.which.addItems(["scenes (test)", "scenes (train)", "shapes", "textures",
                             "last generated"])
        self.which.currentIndexChanged.connect(self.refresh_browser)
        row.addWidget(self.which)
        row.addStretch(1)
        lay.addLayout(row)
        self.browser = ThumbGrid(w, thumb=72, max_items=400)
        self.browser.setToolTip("Images in the workspace's toy world")
        lay.addWidget(self.browser)
        tabs.insertTab(0, w, "Browse")
        tabs.setCurrentIndex(0)

    def refresh_browser(self) -> None:
        from studio.core.images import list_images

        toy = self.ctx.toy
        choice = self.which.currentText()
        paths: list[Path]
        if choice.startswith("scenes"):
            paths = toy.world_images("train" if "train" in choice else "test")
        elif choice == "shapes":
            paths = toy.shape_images()
        elif choice == "textures":
            paths = toy.texture_images()
        else:
            out = self.last_out or self.ctx.toy.out("toyworld")
            paths = list_images(out, recursive=True) if out.is_dir() else []
        self.browser.load_files_async(paths[:400], lambda p: Path(p).parent.name)

    def on_toy_ready(self) -> None:
        self.refresh_browser()

    def result_ready(self, rec: JobRecord) -> None:
        self.last_out = rec.params.out
        self.which.setCurrentText("last generated")
        self.refresh_browser()

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        """Generate a small world (preview + files), measure stalls, cancel a big one."""
        f = self.panel.form("toyworld")
        assert f is not None
        out = self.ctx.toy.root / "selftest" / "toy-small"
        f.set_value("out", out)
        f.set_value("per_class", 3)
        f.set_value("workers", 1)
        rec = self.panel.run()
        d.wait_job(rec)
        d.check(self.previews_seen > 0, "no preview arrived")
        d.check((out / "manifest.jsonl").is_file(), f"{out}/manifest.jsonl was not written")
        d.wait(lambda: self.browser.count() > 0 and not self.browser.loading(), 20,
               "the browser to show the new images")
        f.set_value("out", self.ctx.toy.root / "selftest" / "toy-stall")
        f.set_value("per_class", 20)
        f.set_value("splits", [])
        rec = self.panel.run()
        stall = d.measure_stalls(rec)
        d.wait_job(rec)
        from studio.gui.selftest import stall_verdict

        ok, stall_note = stall_verdict(stall)
        d.check(ok, stall_note)
        f.set_value("out", self.ctx.toy.root / "selftest" / "toy-cancel")
        f.set_value("per_class", 400)
        rec = self.panel.run()
        d.cancel_and_check(rec)
        d.check("cancelled" in self.controls_text(), "the page does not show 'cancelled'")
        return stall_note

    def controls_text(self) -> str:
        return self.panel.controls.status_text()
