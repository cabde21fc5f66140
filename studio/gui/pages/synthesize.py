"""Synthesize: NaturalInversion / DeepInversion with the batch grid and loss curves.

The batch being optimised is shown as a grid every N iterations and the loss terms are
plotted as they arrive; when a synthesis ends, one click distils a student on the
images or prunes the teacher with them (fine-tuned on synthetic data only).
"""

from __future__ import annotations

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

from studio.core.jobs import Metrics
from studio.gui.pages.base import JobPage
from studio.gui.widgets import ThumbGrid
from studio.gui.workers import JobRecord

LABELS = {
    "synthesize": "Synthesize (NaturalInversion / DeepInversion / noise)",
    "distill": "Distil a student on synthetic data",
    "prune": "Prune the teacher, fine-tune on synthetic data",
    "synthetic-quality": "Quality report of a synthetic dataset",
}
HELP = {
    "teacher": "toy (the shipped toy teacher), a registry name, or a checkpoint file",
    "iterations": "Optimisation steps per batch (empty = the paper's default: 2000)",
    "preview_every": "Show the batch grid every N iterations",
    "metrics_every": "Plot the loss terms every N iterations",
    "synthetic": "The synthetic dataset (output of a synthesis)",
    "real_test": "Real test images (ImageFolder) to report accuracy on",
}


class SynthesizePage(JobPage):
    key = "synthesize"
    title = "Synthesize"
    icon = "synthesize"
    tip = "Data-free synthesis from a teacher; then distil or prune with the result"
    job_names = ("synthesize", "distill", "prune", "synthetic-quality")
    engine = "inversion engine (studio.inversion)"
    labels = LABELS
    help = HELP

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        if job == "synthesize":
            # about a minute on a 2-core CPU (0.35 s per iteration of a 16-image batch)
            return {"out": toy.out("synthetic"), "teacher": "toy", "num_images": 16,
                    "batch_size": 16, "iterations": 100, "preview_every": 10,
                    "metrics_every": 5}
        if job in ("distill", "prune"):
            return {"synthetic": toy.out("synthetic"), "out": toy.out(job), "teacher": "toy",
                    "real_test": toy.world, "epochs": 5 if job == "distill" else 2,
                    "batch_size": 64}
        if job == "synthetic-quality":
            return {"synthetic": toy.out("synthetic"), "teacher": "toy",
                    "real": toy.world, "out": toy.out("synthetic-quality")}
        return {}

    def build_right(self, tabs: QTabWidget) -> None:
        self.curves.log_y = True
        self.curves.title = "loss terms (log scale)"
        tabs.setTabText(tabs.indexOf(tabs.widget(0)), "Batch")
        w = QWidget(self)
        lay = QVBoxLayout(w)
        self.next_label = QLabel("When a synthesis has finished, use its images:", w)
        self.next_label.setObjectName("hint")
        self.next_label.setWordWrap(True)
        self.next_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.next_label)
        self.distill_button = QPushButton("Distil a student with these images…", w)
        self.distill_button.setToolTip("Train a student only on the synthetic images (KL to "
                                       "the teacher's softened outputs), tested on real data")
        self.prune_button = QPushButton("Prune the teacher with these images…", w)
        self.prune_button.setToolTip("Prune the teacher and fine-tune it on the synthetic "
                                     "images only; accuracy vs sparsity on real data")
        for b in (self.distill_button, self.prune_button):
            b.setEnabled(False)
            lay.addWidget(b)
        self.distill_button.clicked.connect(lambda: self.follow_up("distill", review=True))
        self.prune_button.clicked.connect(lambda: self.follow_up("prune", review=True))
        self.kept = ThumbGrid(w, thumb=72, max_items=400)
        self.kept.setToolTip("The synthetic images that were written")
        lay.addWidget(self.kept, 1)
        tabs.insertTab(1, w, "Images / next")
        self.synthetic_out: Path | None = None

    def _on_metrics(self, ev: Metrics) -> None:
        self.clear_curves_once()
        for k, v in ev.values.items():
            if k not in ("batch", "iteration", "lr"):
                self.curves.add_point(k, ev.step, v)

    def result_ready(self, rec: JobRecord) -> None:
        if rec.job == "synthesize":
            out = Path(rec.params.out)
            self.synthetic_out = out
            from studio.core.images import list_images

            files = list_images(out, recursive=True) if out.is_dir() else []
            self.kept.load_files_async(files[:400], lambda p: Path(p).parent.name)
            missing = [j for j in ("distill", "prune") if j not in self.panel.available]
            self.distill_button.setEnabled("distill" in self.panel.available)
            self.prune_button.setEnabled("prune" in self.panel.available)
            self.next_label.setText(f"{len(files)} synthetic images in {out}." + (
                f" Not in this build: {', '.join(missing)}." if missing else ""))
            self.tabs.setCurrentIndex(1)
        elif rec.job in ("distill", "prune"):
            res = rec.result or {}
            from studio.gui.widgets import flatten_result, format_value

            rows = [(k, v) for k, v in flatten_result(res)
                    if any(w in k for w in ("acc", "sparsity", "top1")) and "[" not in k
                    and isinstance(v, (int, float))]  # the per-epoch rows are in Result
            self.next_label.setText(f"{rec.job}: " + ", ".join(
                f"{k.replace('_', ' ')} {format_value(k, v)}" for k, v in rows[:8])
                if rows else f"{rec.job} finished (see Result)")

    def follow_up(self, job: str, review: bool = False, **overrides: Any
                  ) -> JobRecord | None:
        """Distil or prune with the last synthetic dataset. With ``review`` (the buttons)
        the form opens filled in and waits for Run, so epochs and the student can be
        checked first; without it (scripts, the self-test) it starts at once."""
        if self.synthetic_out is None or not self.panel.select(job):
            return None
        f = self.panel.form(job)
        f.set_value("synthetic", self.synthetic_out)
        for k, v in overrides.items():
            f.set_value(k, v)
        if review:
            self.panel.controls.set_status(
                f"review the {job} settings on the left, then press Run "
                f"(synthetic data: {self.synthetic_out})")
            return None
        return self.panel.run()

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        if "synthesize" not in self.panel.available:
            d.check("not registered" in self.banner.text(), "missing engine not explained")
            return "engine missing: page says so"
        import shutil

        root = self.ctx.toy.root / "selftest"
        for sub in ("synthetic", "synthetic-cancel", "distill"):
            shutil.rmtree(root / sub, ignore_errors=True)
        self.panel.select("synthesize")
        f = self.panel.form()
        f.set_value("method", "deep")
        f.set_value("out", root / "synthetic-cancel")
        f.set_value("iterations", 400)
        f.set_value("num_images", 8)
        f.set_value("batch_size", 8)
        rec = self.panel.run()
        d.cancel_and_check(rec, 120)
        for k, v in (("out", root / "synthetic"), ("num_images", 8), ("batch_size", 8),
                     ("iterations", 6), ("preview_every", 2), ("metrics_every", 1),
                     ("method", "deep")):
            f.set_value(k, v)
        rec = self.panel.run()
        d.wait_job(rec, 180)
        d.check(self.previews_seen > 0, "no batch preview arrived")
        d.check(sum(len(s) for s in self.curves.series.values()) > 0, "no loss curve")
        d.check((root / "synthetic" / "manifest.jsonl").is_file(), "no manifest written")
        d.check(self.distill_button.isEnabled(), "distil is not offered after synthesis")
        note = f"{rec.result.get('num_items')} images"
        if "distill" in self.panel.available:
            rec = self.follow_up("distill", out=root / "distill", epochs=1)
            d.wait_job(rec, 180)
            d.check((root / "distill").is_dir(), "distillation wrote nothing")
            note += "; distilled a student"
        self.panel.select("synthesize")
        self.tabs.setCurrentIndex(1)  # the synthetic images and what to do next
        return note
