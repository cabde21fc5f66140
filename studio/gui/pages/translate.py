"""Translate: TSIT inference with content/style pickers, and training with live previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QTabWidget, QVBoxLayout, QWidget

from studio.core.checkpoints import resources_dir
from studio.gui.pages.base import JobPage
from studio.gui.widgets import DropZone, ThumbGrid
from studio.gui.workers import JobRecord

LABELS = {
    "translate": "Translate images",
    "build-translated": "Build a translated dataset",
    "train-tsit": "Train TSIT",
}
HELP = {
    "model": "toy (the shipped toy TSIT), a registry name or a latest_net_G.pth file",
    "content": "Content images (use the picker above, or type paths separated by ;)",
    "style": "Style images (use the picker above, or type paths separated by ;)",
    "seeds": "Noise seeds: one output per seed (multimodal translation)",
    "data": "Content folder, a root with trainA/trainB, or label maps (semantic synthesis)",
}
TOY_TSIT = "tsit_toy_G.pth"


def toy_tsit_missing() -> str:
    p = resources_dir() / "toy" / TOY_TSIT
    return "" if p.is_file() else (
        f"The toy TSIT ({p.relative_to(resources_dir().parent)}) is not shipped in this "
        "build: translating with model 'toy' fails until it is, or pick an official "
        "latest_net_G.pth. Training works without it.")


class TranslatePage(JobPage):
    key = "translate"
    title = "Translate"
    icon = "translate"
    tip = "TSIT image-to-image translation: translate with a model, or train one"
    job_names = ("translate", "build-translated", "train-tsit")
    engine = "TSIT engine (studio.tsit)"
    labels = LABELS
    help = HELP

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        if job == "translate":
            return {"model": "toy", "out": toy.out("translated")}
        if job == "build-translated":
            # the toy TSIT takes its texture from texture patches (docs/tsit.md)
            return {"model": "toy", "content": toy.shapes, "style": toy.textures,
                    "out": toy.out("translated-dataset")}
        if job == "train-tsit":
            # the toy TSIT's own settings (studio/resources/toy/README.md): depth 5 fits 64 px
            # images (the official depth 7 needs 128 px); ~0.5 s per iteration on a CPU
            return {"data": toy.shapes, "style": toy.world / "train",
                    "out": toy.out("tsit-run"), "ngf": 8, "depth": 5, "size": 64,
                    "ndf": 32, "batch_size": 4, "iterations": 100, "preview_every": 10,
                    "save_every": 50, "perceptual": "toy", "task": "summer2winter",
                    "pairing": "random"}
        return {}

    def build_left(self, lay: QVBoxLayout) -> None:
        row = QHBoxLayout()
        self.content_zone = DropZone("Content", self, multiple=True, key="tsit-content")
        self.style_zone = DropZone("Style", self, multiple=True, key="tsit-style")
        for z in (self.content_zone, self.style_zone):
            # one whole row of thumbnails with their names, no taller (the form needs room)
            z.setMaximumHeight(z.minimumSizeHint().height())
            row.addWidget(z)
        self.pickers = QWidget(self)
        self.pickers.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.pickers)
        self.content_zone.files_changed.connect(lambda f: self._sync("content", f))
        self.style_zone.files_changed.connect(lambda f: self._sync("style", f))

    def _sync(self, field: str, files: list[str]) -> None:
        f = self.panel.forms.get("translate")
        if f is not None:
            f.set_value(field, [Path(p) for p in files])
        self.update_banner()

    def toy_note(self) -> str:
        """The toy TSIT knows toy silhouettes and scenes only: say so for other images."""
        from studio.gui.workspace import outside_toy_world

        f = self.panel.forms.get("translate")
        if f is None or str(f.value("model")) != "toy":
            return ""
        outside = outside_toy_world(self.content_zone.files + self.style_zone.files,
                                    self.ctx.toy.root)
        if not outside:
            return ""
        return (f"{outside[0].name} is not from the toy world, and model 'toy' is the toy "
                "TSIT trained on toy silhouettes and scenes only: expect noise. For real "
                "images import an official TSIT latest_net_G.pth on the Models page and "
                "name it in Model.")

    def build_right(self, tabs: QTabWidget) -> None:
        self.outputs = ThumbGrid(self, thumb=128, max_items=200)
        self.outputs.setToolTip("Translated images of the last run")
        tabs.insertTab(1, self.outputs, "Outputs")
        self.panel.combo.currentIndexChanged.connect(
            lambda *_: self.pickers.setVisible(self.panel.job_name() == "translate"))

    def clear_outputs(self, rec: JobRecord) -> None:
        self.outputs.clear()  # the last run's translations are not this job's

    def update_banner(self) -> None:
        super().update_banner()
        if self.panel.available and toy_tsit_missing():
            self.banner.set(toy_tsit_missing(), "warning")
        elif self.panel.available and hasattr(self, "content_zone") and self.toy_note():
            self.banner.set(self.toy_note(), "info")

    def on_toy_ready(self) -> None:
        toy = self.ctx.toy
        if not self.content_zone.files:
            shapes = toy.shape_images()
            cats: dict[str, Path] = {}
            for p in shapes:
                cats.setdefault(p.parent.name, p)
            self.content_zone.set_files(list(cats.values())[:3])
        if not self.style_zone.files:
            scenes = toy.world_images("test")
            self.style_zone.set_files(scenes[:1])

    def result_ready(self, rec: JobRecord) -> None:
        from studio.core.images import list_images

        out = Path(rec.params.out)
        files = list_images(out, recursive=True) if out.is_dir() else []
        files = sorted(files, key=lambda p: p.stat().st_mtime)[-200:]
        # content_style[_seed] as words, so the caption wraps instead of being cut
        self.outputs.load_files_async(files, lambda p: Path(p).stem.replace("_", " "))
        self.tabs.setCurrentIndex(1)

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        if "translate" not in self.panel.available:
            d.check("not registered" in self.banner.text(), "missing engine not explained")
            return "engine missing: page says so"
        root = self.ctx.toy.root / "selftest"
        self.panel.select("translate")
        self.on_toy_ready()
        f = self.panel.form()
        d.check(f.value("content") and f.value("style"), "the pickers did not fill the form")
        f.set_value("out", root / "translated")
        rec = self.panel.run()
        if toy_tsit_missing():
            d.wait_job(rec, 120, state="failed")
            d.check(TOY_TSIT in rec.error or "tsit" in rec.error.lower(),
                    f"the error does not name the missing model: {rec.error}")
            note = "toy TSIT not shipped: translate fails with a clear error"
        else:
            d.wait_job(rec, 120)
            d.check(self.previews_seen > 0, "no preview arrived")
            d.check(rec.result.get("written"), f"nothing written: {rec.result}")
            d.wait(lambda: self.outputs.count() > 0, 20, "the outputs grid")
            note = f"{rec.result.get('written')} translated"
        if "train-tsit" in self.panel.available:
            # Training is not run here (one TSIT iteration takes tens of seconds on a CPU);
            # the form must open on the toy task, ready to start.
            self.panel.select("train-tsit")
            f = self.panel.form()
            d.check(f.value("data") == self.ctx.toy.shapes, "training does not default to "
                    "the toy world")
            self.panel.select("translate")
        return note
