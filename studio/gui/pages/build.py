"""Build dataset: a stylised twin of an ImageFolder dataset (Stylized-ImageNet style).

Plan first (dry run: counts, styles, FLOPs, time estimate), then build with a live grid
of the newest outputs, an error list, pause / cancel, and resume — a rerun of the same
parameters finishes only what is missing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.gui.pages.base import JobPage
from studio.gui.widgets import LogView, ThumbGrid
from studio.gui.workers import JobRecord
from studio.gui.workspace import adain_missing

HELP = {
    "content": "ImageFolder dataset to stylise (class folders, optional train/val splits); "
               "class names are kept",
    "styles": "Folder of style images (searched recursively)",
    "out": "Output folder; rerunning into the same folder resumes the build",
    "preview_every": "Show a preview every N batches (0 = none)",
}


class BuildPage(JobPage):
    key = "build"
    title = "Build dataset"
    icon = "build"
    tip = "Stylise a whole dataset: dry-run plan, live grid, pause / cancel / resume"
    job_names = ("build-stylized",)
    engine = "stylized dataset builder (studio.texture_shape.stylized)"
    run_text = "Build"
    help = HELP

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        return {"content": toy.world, "styles": toy.textures, "out": toy.out("stylized"),
                "content_size": 64, "crop": 64, "style_size": 64, "min_style_size": 32,
                "workers": 0, "batch_size": 8, "preview_every": 1,
                "cache_dir": str(toy.root / "cache")}

    def build_left(self, lay: QVBoxLayout) -> None:
        self.plan_label = QLabel("", self)
        self.plan_label.setObjectName("hint")
        self.plan_label.setWordWrap(True)
        self.plan_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def build_right(self, tabs: QTabWidget) -> None:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.addWidget(self.plan_label)
        self.outputs = ThumbGrid(w, thumb=80, max_items=120)
        self.outputs.setToolTip("Images in the output folder (refreshed when a build ends)")
        lay.addWidget(self.outputs, 1)
        tabs.insertTab(1, w, "Outputs")
        self.errors = LogView(self)
        self.errors.setToolTip("Inputs that were skipped or failed, with the reason")
        tabs.insertTab(2, self.errors, "Errors")
        row = self.panel.button_row
        self.dry_button = QPushButton("Dry run", self)
        self.dry_button.setToolTip("Plan only: counts, styles, FLOPs and the time estimate")
        self.dry_button.clicked.connect(self.dry_run)
        # not "Resume": that is the pause button's word while a build is paused; this one
        # starts a stopped build again, so it is shown only when none runs
        self.resume_button = QPushButton("Finish last build", self)
        self.resume_button.setToolTip("Run the last build again: only missing images are made")
        self.resume_button.clicked.connect(self.resume)
        self.resume_button.setEnabled(False)
        self.resume_button.setVisible(False)
        # the bar counts images written to disk; the job's line counts those stylised
        self.panel.controls.unit = "written"
        row.insertWidget(0, self.dry_button)
        row.insertWidget(1, self.resume_button)
        self.dry_button.setEnabled(bool(self.panel.available))
        self.last_params: Any = None

    def on_show(self) -> None:
        self.update_banner()

    def missing_text(self) -> str:
        return "Choose a dataset and styles here once it is installed."

    def update_banner(self) -> None:
        super().update_banner()
        if self.panel.available and adain_missing():
            self.banner.set(adain_missing() + " Builds fail until an AdaIN is present.",
                            "warning")

    def dry_run(self) -> JobRecord | None:
        try:
            p = self.panel.params()
        except ValueError as exc:
            self.message("Check the parameters", str(exc), error=True)
            return None
        return self.panel.start("build-stylized", dataclasses.replace(p, dry_run=True),
                                title="build-stylized (dry run)")

    def resume(self) -> JobRecord | None:
        if self.last_params is None:
            return None
        return self.panel.start("build-stylized", self.last_params,
                                title="build-stylized (resume)")

    def _on_started(self, rec: JobRecord) -> None:
        super()._on_started(rec)
        rec.handle.log.connect(self._on_log)
        self.resume_button.setVisible(False)
        if getattr(rec.params, "dry_run", False):
            self.plan_label.setText("planning…")
        else:
            self.last_params = rec.params
            self.errors.clear()
            self.tabs.setTabText(self.tabs.indexOf(self.errors), "Errors")
            self.outputs.clear()
            # the plan of a dry run is not this build's: the live grid is on Preview
            self.plan_label.setText(f"building into {rec.params.out}… (newest images on "
                                    "the Preview tab)")

    def _on_log(self, msg: str, level: str) -> None:
        if level in ("warning", "error"):
            self.errors.add(msg, level)

    def _on_finished(self, rec: JobRecord) -> None:
        super()._on_finished(rec)
        again = self.last_params is not None and (
            rec.state.value in ("cancelled", "failed") or bool(rec.skipped))
        self.resume_button.setEnabled(again)
        self.resume_button.setVisible(again)
        text = self.plan_label.text()
        if text == "planning…" or text.startswith("building into"):  # no result came
            self.plan_label.setText(f"{rec.title} {rec.status_text()}")
        if rec.state.value == "failed":
            self.errors.add(rec.error, "error")

    def result_ready(self, rec: JobRecord) -> None:
        res = rec.result or {}
        if getattr(rec.params, "dry_run", False):
            est = res.get("estimated_seconds")
            self.plan_label.setText(
                f"<b>Plan</b>: {res.get('contents')} contents in {res.get('classes')} classes "
                f"({res.get('to_make')} still to make), {res.get('styles_usable')} usable styles "
                f"({res.get('styles_rejected')} rejected), "
                f"{(res.get('flops_total') or 0) / 1e12:.2f} TFLOP, estimated "
                f"{est:.0f} s on {res.get('device')} ({res.get('model')})" if est is not None
                else f"<b>Plan</b>: {json.dumps(res, default=str)[:400]}")
            self.tabs.setCurrentIndex(1)
            return
        out = Path(rec.params.out)
        self.load_outputs(out)
        errs = out / "errors.jsonl"
        if errs.is_file():
            for line in errs.read_text(encoding="utf-8").splitlines()[:500]:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                self.errors.add(f"{e.get('source', '?')}: {e.get('reason', '')}", "warning")
        skipped = rec.skipped
        self.plan_label.setText(
            f"<b>Built</b>: {res.get('num_items', res.get('made'))} images"
            + (f", <b>{skipped} skipped</b> (see the Errors tab)" if skipped else "")
            + f", {res.get('images_per_s', 0):.1f} images/s → {out}")
        if skipped:
            self.tabs.setTabText(self.tabs.indexOf(self.errors), f"Errors ({skipped})")

    def load_outputs(self, out: Path) -> None:
        from studio.core.images import list_images

        files = list_images(out, recursive=True) if out.is_dir() else []
        self.outputs.load_files_async(files[-120:], lambda p: Path(p).parent.name)

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        if not self.panel.available:
            d.check("not registered" in self.banner.text(), "missing engine not explained")
            return "engine missing: page says so"
        import shutil

        f = self.panel.form()
        out = self.ctx.toy.root / "selftest" / "stylized"
        shutil.rmtree(out, ignore_errors=True)
        f.set_value("out", out)
        f.set_value("splits", ["test"])  # 30 images: enough to see the whole path work
        if adain_missing():
            rec = self.panel.run()
            d.wait_job(rec, state="failed")
            d.check(rec.error and "adain" in rec.error.lower(),
                    f"the failure does not name the missing AdaIN files: {rec.error}")
            d.check(rec.error in "\n".join(self.log.errors), "the error is not in the page log")
            return "no AdaIN weights: the build fails with a clear error (no fake output)"
        rec = self.dry_run()
        d.wait_job(rec, 120)
        d.check("Plan" in self.plan_label.text(), "the dry-run plan is not shown")
        d.check(not (out / "manifest.jsonl").exists(), "the dry run wrote a manifest")
        rec = self.panel.run()
        d.wait_job(rec, 180)
        d.check(self.previews_seen > 0, "no preview arrived")
        d.check((out / "manifest.jsonl").is_file(), "manifest.jsonl was not written")
        d.wait(lambda: self.outputs.count() > 0, 20, "the output grid")
        return f"{rec.result.get('num_items')} images in {rec.duration:.1f} s"
