"""Synthesize: NaturalInversion / DeepInversion with the batch grid and loss curves.

The batch being optimised is shown as a grid every N iterations and the loss terms are
plotted as they arrive; when a synthesis ends, one click distils a student on the
images or prunes the teacher with them (fine-tuned on synthetic data only).

*Check teacher* runs the `synthesize-preflight` job on the synthesis form's teacher: what
was loaded (layout, data preset, mean/std, size, classes), its top-1 on real images when
a folder is given, and the run's length from a few timed iterations — before hours of
synthesis start with a wrongly normalised or mis-read teacher. It is a button, not an
automatic check, because a check costs seconds to a minute of CPU and the queue runs one
job at a time: checking while the user types a path would queue stale checks ahead of
the work they came for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import Metrics
from studio.gui.pages.base import AppContext, JobPage
from studio.gui.widgets import PathEdit, ThumbGrid
from studio.gui.workers import JobRecord
from studio.recipes import RecipeError
from studio.registry import job_types

PREFLIGHT = "synthesize-preflight"
#: What a check reads from the synthesis form (the rest of PreflightParams is the page's).
CHECK_FIELDS = ("teacher", "arch", "data", "mean", "std", "method", "preset", "num_images",
                "batch_size", "iterations", "seed", "device")
#: What a distillation / pruning takes over from the synthesis that made its data: the
#: same teacher, loaded the same way (a real teacher must not become the toy one).
TEACHER_FIELDS = ("teacher", "arch", "data", "mean", "std")

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
    "mean": "Input normalisation mean, R G B, e.g. 0.485 0.456 0.406 or 0.485, 0.456, "
            "0.406; empty = the model's own (registry entry or data preset)",
    "std": "Input normalisation std, R G B, e.g. 0.229 0.224 0.225; empty = the model's "
           "own (registry entry or data preset)",
}


def check_rgb(value: list[float]) -> str | None:
    """Mean / std are one number per colour channel."""
    if len(value) != 3:
        return f"needs three numbers (R G B), got {len(value)}"
    return None


def check_std(value: list[float]) -> str | None:
    """A std is three positive numbers (it divides)."""
    return check_rgb(value) or (None if all(v > 0 for v in value)
                                else "every std must be > 0")


def _triple(v: Any) -> str:
    return ", ".join(f"{float(x):.4g}" for x in v)


def preflight_text(res: dict[str, Any]) -> str:
    """What a teacher check found, in the words a person decides with."""
    t = res.get("teacher") or {}
    classes = list(t.get("classes") or [])
    names = ", ".join(classes[:4]) + (", …" if len(classes) > 4 else "")
    lines = [f"{t.get('arch')} · {t.get('data')} · mean {_triple(t.get('mean', ()))} · "
             f"std {_triple(t.get('std', ()))} · {t.get('image_size')} px · "
             f"{t.get('num_classes')} classes ({names})"
             + (f" · sha256 {t['sha256'][:12]}…" if t.get("sha256") else "")]
    if res.get("accuracy") is not None:
        lines.append(f"Top-1 {100 * res['accuracy']:.1f} % on {res.get('real_images')} real "
                     f"images of {res.get('real')} (compare with models on these files, "
                     "not with papers)")
        if res.get("class_match") is False:
            lines.append("The folder's class names are not the teacher's: this accuracy "
                         "pairs classes by folder order.")
    else:
        lines.append("Top-1 not measured: choose real test images to measure it.")
    if res.get("method") == "noise":
        lines.append("Noise: nothing to optimise, the images are written at once.")
    else:
        lines.append(f"{res.get('seconds_per_iteration', 0):.2f} s per {res.get('method')} "
                     f"iteration at batch {res.get('batch_size')} → about "
                     f"{res.get('estimate')} for {res.get('num_images')} images × "
                     f"{res.get('iterations')} iterations on {res.get('device')}")
    return "\n".join(lines)


class SynthesizePage(JobPage):
    key = "synthesize"
    title = "Synthesize"
    icon = "synthesize"
    tip = "Data-free synthesis from a teacher; then distil or prune with the result"
    job_names = ("synthesize", "distill", "prune", "synthetic-quality")
    engine = "inversion engine (studio.inversion)"
    labels = LABELS
    help = HELP

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        # the check's recipes open here too (the window finds a page by its job names),
        # but it is the button's job, not one of the form's choices
        self.job_names = (*type(self).job_names, PREFLIGHT)

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        if job == "synthesize":
            # about a minute on a 2-core CPU (0.35 s per iteration of a 16-image batch)
            # preset toy: the named settings for the toy teacher (the papers' cifar10
            # preset is for CIFAR teachers; docs/inversion.md)
            return {"out": toy.out("synthetic"), "teacher": "toy", "preset": "toy",
                    "num_images": 16, "batch_size": 16, "iterations": 100,
                    "preview_every": 10, "metrics_every": 5}
        if job in ("distill", "prune"):
            return {"synthetic": toy.out("synthetic"), "out": toy.out(job), "teacher": "toy",
                    "real_test": toy.world, "epochs": 5 if job == "distill" else 2,
                    "batch_size": 64}
        if job == "synthetic-quality":
            return {"synthetic": toy.out("synthetic"), "teacher": "toy",
                    "real": toy.world, "out": toy.out("synthetic-quality")}
        return {}

    def build_left(self, lay: QVBoxLayout) -> None:
        box = QFrame(self)
        box.setFrameShape(QFrame.Shape.StyledPanel)
        self.check_box = box
        bl = QVBoxLayout(box)
        bl.setContentsMargins(6, 6, 6, 6)
        row = QHBoxLayout()
        self.check_button = QPushButton("Check teacher", box)
        self.check_button.setToolTip(
            "Load the teacher as the synthesis will, measure its top-1 on the real images "
            "(when chosen) and time a few iterations to estimate the run's length")
        self.check_button.clicked.connect(self.check_teacher)
        self.check_button.setEnabled(PREFLIGHT in job_types())
        row.addWidget(self.check_button)
        self.check_real = PathEdit(mode="dir", parent=box, key="field/real")
        self.check_real.edit.setPlaceholderText("real test images (optional ImageFolder)")
        self.check_real.setToolTip("Real images (ImageFolder, or its root with test/) to "
                                   "measure the teacher's top-1 on; also the real test set "
                                   "of a distillation or pruning that follows")
        self.check_real.setMinimumWidth(160)
        row.addWidget(self.check_real, 1)
        bl.addLayout(row)
        self.check_label = QLabel("Check a real teacher before a long synthesis: what "
                                  "loaded, its accuracy, and how long the run takes.", box)
        self.check_label.setObjectName("hint")
        self.check_label.setWordWrap(True)
        self.check_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        self.check_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bl.addWidget(self.check_label)
        lay.addWidget(box)
        self.check_record: JobRecord | None = None
        self.check_result: dict[str, Any] | None = None

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
        self.synthetic_params: Any = None
        self._set_up: set[str] = set()
        self.panel.combo.currentIndexChanged.connect(self._job_changed)
        self._job_changed()

    def _setup_form(self, name: str | None) -> None:
        """Mean / std are three numbers (a typo is marked while typing); a new teacher
        makes the last check stale. Forms are made when first shown, so this runs then."""
        if name is None or name in self._set_up or name not in self.panel.available:
            return
        self._set_up.add(name)
        f = self.panel.form(name)
        f.set_validator("mean", check_rgb)
        f.set_validator("std", check_std)
        if name == "synthesize":
            for k in TEACHER_FIELDS:
                if k in f.editors:
                    f.editors[k].widget.textChanged.connect(self._teacher_edited)
            if "preset" in f.editors:
                f.editors["teacher"].widget.textChanged.connect(self._match_preset)
                self._match_preset()

    def _match_preset(self, *_: Any) -> None:
        """The toy teacher takes the toy preset; another teacher not the toy's (a recipe
        sets its own preset after its teacher, so a loaded recipe keeps it)."""
        f = self.panel.forms.get("synthesize")
        if f is None:
            return
        teacher = f.editors["teacher"].widget.text().strip()
        preset = f.editors["preset"].get()
        if teacher == "toy" and preset != "toy":
            f.set_value("preset", "toy")
        elif teacher not in ("toy", "") and preset == "toy":
            f.set_value("preset", "cifar10")

    def _job_changed(self) -> None:
        name = self.panel.job_name()
        self._setup_form(name)
        self.check_box.setVisible(name in (None, "synthesize"))

    def _teacher_edited(self, *_: Any) -> None:
        if self.check_result is not None:
            self.check_result = None
            self.check_label.setText("The teacher settings changed: press Check teacher to "
                                     "check them again.")

    # -- the teacher check -------------------------------------------------------------
    def preflight_params(self) -> Any:
        """The check of what the synthesis form is set up to run (RecipeError names a bad
        field)."""
        from studio.inversion.preflight.params import PreflightParams

        f = self.panel.form("synthesize")
        if f is None:
            raise RecipeError("the synthesis engine is not in this build")
        kw = {k: f.value(k) for k in CHECK_FIELDS if k in f.editors}
        if kw.get("teacher") in (None, ""):
            raise RecipeError("Teacher: choose a checkpoint file, a registry name or toy")
        text = self.check_real.text().strip()
        real = Path(text).expanduser() if text else None
        if real is not None and not real.is_dir():
            raise RecipeError(f"Real test images: {real} is not a folder")
        return PreflightParams(real=real, **kw)

    def check_teacher(self, params: Any = None) -> JobRecord | None:
        """Run the teacher check in the job queue (a worker thread) and show what it finds
        in the panel above the form."""
        try:
            params = params if params is not None else self.preflight_params()
        except (RecipeError, ValueError, TypeError) as exc:
            self.check_label.setText(f"Not checked: {exc}")
            return None
        self.check_result = None
        self.check_label.setText(f"Checking {params.teacher}… (loading, "
                                 + ("top-1 on real images, " if params.real else "")
                                 + f"{params.warmup_iterations} timed iterations)")
        rec = self.ctx.queue.submit(PREFLIGHT, params, title=f"check {params.teacher}",
                                    page=self.key)
        # a check runs at once, beside a long job (the quick lane): its timing then shares
        # the CPU, which the result must say
        self.check_beside = [r.title for r in self.ctx.queue.active()
                             if r.lane == "main" and r.state.value in ("running", "paused")]
        self.check_record = rec
        self.check_button.setEnabled(False)
        rec.handle.log.connect(self.log.add)
        rec.handle.finished.connect(self._check_finished)
        return rec

    def _check_finished(self, rec: JobRecord) -> None:
        if rec is not self.check_record:
            return
        self.check_button.setEnabled(True)
        st = rec.state.value
        if st == "done" and isinstance(rec.result, dict):
            self.check_result = rec.result
            beside = getattr(self, "check_beside", [])
            self.check_label.setText(preflight_text(rec.result) + (
                f"\nTimed while {beside[0]} ran: alone the run is faster."
                if beside and rec.result.get("method") != "noise" else ""))
        elif st == "failed":
            self.check_label.setText(f"The teacher did not load or run: {rec.error}")
        else:
            self.check_label.setText("Check cancelled.")

    def _on_metrics(self, ev: Metrics) -> None:
        self.clear_curves_once()
        for k, v in ev.values.items():
            if k not in ("batch", "iteration", "lr"):
                self.curves.add_point(k, ev.step, v)

    def result_ready(self, rec: JobRecord) -> None:
        if rec.job == "synthesize":
            out = Path(rec.params.out)
            self.synthetic_out = out
            self.synthetic_params = rec.params
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

    def load_recipe(self, job: str, params: Any) -> bool:
        """A check's recipe (the Jobs page's *Edit in page*) fills the synthesis form with
        its teacher and plan, and the real-image folder."""
        if job != PREFLIGHT:
            return super().load_recipe(job, params)
        if not self.panel.select("synthesize"):
            return False
        f = self.panel.form("synthesize")
        for k in CHECK_FIELDS:
            if k in f.editors and not (k == "preset" and params.preset == "auto"):
                f.set_value(k, getattr(params, k))
        self.check_real.setText("" if params.real is None else str(params.real))
        return True

    def follow_up(self, job: str, review: bool = False, **overrides: Any
                  ) -> JobRecord | None:
        """Distil or prune with the last synthetic dataset. With ``review`` (the buttons)
        the form opens filled in and waits for Run, so epochs and the student can be
        checked first; without it (scripts, the self-test) it starts at once."""
        if self.synthetic_out is None or not self.panel.select(job):
            return None
        f = self.panel.form(job)
        f.set_value("synthetic", self.synthetic_out)
        sp = self.synthetic_params
        if sp is not None:  # the teacher that made the data, loaded the same way
            for k in TEACHER_FIELDS:
                if hasattr(sp, k):
                    f.set_value(k, getattr(sp, k))
            real = self.check_real.text().strip()
            if real:
                f.set_value("real_test", Path(real))
            elif str(sp.teacher) != "toy":  # the toy world is no test set of another teacher
                f.set_value("real_test", None)
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
