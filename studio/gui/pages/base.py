"""What every page shares: the app context, and a generic page over registered job types.

:class:`JobPage` shows a params form for one of the page's job types, runs it through
the queue and renders its events (preview, live grid, curves, log, result). Workflow
pages subclass it and add what their method needs. A job type that is not registered
(its engine is not in this build yet) is named in a banner — the page never fakes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import Metrics
from studio.gui import settings as prefs
from studio.gui.paramsform import ParamsForm
from studio.gui.widgets import (
    Banner,
    CurvePlot,
    FlowLayout,
    ImageView,
    JobControls,
    LogView,
    ResultTable,
    ThumbGrid,
)
from studio.gui.workers import JobQueue, JobRecord
from studio.gui.workspace import ToyInputs
from studio.recipes import RecipeError, save_recipe
from studio.registry import job_types


class AppContext(QObject):
    """Shared by all pages: the job queue, the workspace and its toy-world inputs."""

    toy_ready = Signal()
    models_changed = Signal()

    def __init__(self, queue: JobQueue, toy: ToyInputs, parent: QObject | None = None):
        super().__init__(parent)
        self.queue = queue
        self.toy = toy
        self.window: Any = None
        #: Set by the self-test so dialogs never block a headless run.
        self.headless = False
        #: What a headless run answers to a question (tests set it)
        self.headless_answer = False
        #: (title, text) of every message shown, newest last (what a headless run "saw")
        self.messages: list[tuple[str, str]] = []

    def show_page(self, key: str) -> None:
        if self.window is not None:
            self.window.show_page(key)


class Page(QWidget):
    """A page of the main window."""

    key = "page"
    title = "Page"
    icon = "app"
    tip = ""
    #: Registered job types whose recipes this page loads.
    job_names: tuple[str, ...] = ()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx

    # Hooks the window calls ---------------------------------------------------------
    def current_recipe(self) -> tuple[str, Any] | None:
        """(job type, params) of what is set up on the page, for "Save as recipe"."""
        return None

    def load_recipe(self, job: str, params: Any) -> bool:
        return False

    def run(self) -> None:
        """The page's main action (Ctrl+Enter)."""

    def cancel(self) -> None:
        """Stop the page's running job (Esc)."""

    def on_toy_ready(self) -> None:
        """The toy-world inputs exist now: fill empty pickers with them."""

    def help_topic(self) -> tuple[str, str]:
        """(document, heading) F1 opens on this page: its section of the window guide."""
        return "gui.md", self.title

    def on_show(self) -> None:
        """The page became visible."""

    def ask(self, title: str, text: str, accept: str) -> bool:
        """A yes/no choice; ``accept`` names the action (never "OK")."""
        if self.ctx.headless:
            return bool(self.ctx.headless_answer)
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        yes = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is yes

    def message(self, title: str, text: str, error: bool = False) -> None:
        self.ctx.messages.append((title, text))
        if self.ctx.headless:
            return
        if error:
            QMessageBox.warning(self, title, text)
        else:
            QMessageBox.information(self, title, text)


def missing_jobs(names: tuple[str, ...] | list[str]) -> list[str]:
    known = job_types()
    return [n for n in names if n not in known]


def open_path(path: str | Path) -> bool:
    """Ask the desktop to open ``path``; False when nothing could (no file manager)."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def open_location(page: Page, path: str | Path | None, create: bool = False) -> bool:
    """Open a folder for the user, or say plainly why not and where it is (the path is
    copied to the clipboard) — never a silent no-op. With ``create`` a folder that does
    not exist yet (the model folder of a fresh install) is made, not reported as lost."""
    from PySide6.QtWidgets import QApplication

    if path is None:
        page.message("Nothing to open", "This job has not written any output yet.")
        return False
    path = Path(path)
    if not path.exists() and create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            QApplication.clipboard().setText(str(path))
            page.message("Cannot create the folder",
                         f"{path} does not exist yet and could not be made ({exc}). The "
                         "path is on the clipboard.", error=True)
            return False
    if not path.exists():
        QApplication.clipboard().setText(str(path))
        page.message("Output not found", f"{path} does not exist: it was moved or deleted "
                     "after the job wrote it, or the job ended before writing anything. "
                     "The path is on the clipboard.", error=True)
        return False
    folder = path if path.is_dir() else path.parent
    if open_path(folder):
        return True
    QApplication.clipboard().setText(str(folder))
    page.message("Cannot open the folder",
                 f"No file manager could open {folder}. The path is on the clipboard.",
                 error=True)
    return False


def summarize_result(result: Any, limit: int = 3000) -> str:
    try:
        text = json.dumps(result, indent=2, default=str)
    except (TypeError, ValueError):
        text = repr(result)
    return text if len(text) <= limit else text[:limit] + "\n…"


def output_of(params: Any) -> Path | None:
    """The output folder a job's params name (``out`` or ``output``), if any."""
    v = getattr(params, "out", None) or getattr(params, "output", None)
    return Path(v).expanduser() if isinstance(v, (str, os.PathLike)) and str(v) else None


def settings_changed(params: Any, job: str = "") -> list[tuple[str, Any, Any]]:
    """(setting, the folder's, these) where ``params`` differ from the build already in
    their output folder, read from its fingerprint without writing anything: what the
    writer refuses once the job runs, known before it is queued. Only settings the
    fingerprint holds as they are compared; input lists, model hashes and derived values
    stay with the job's own check (and :meth:`JobPanel.offer_overwrite`)."""
    if (not dataclasses.is_dataclass(params) or getattr(params, "overwrite", True)
            or getattr(params, "dry_run", False)):
        return []
    out = output_of(params)
    if out is None or not out.is_dir():
        return []
    from studio.core.jobs import params_dict
    from studio.datasets.writers import DatasetWriter, fingerprint_diff

    stored = DatasetWriter(out).stored_fingerprint() or {}
    if job and stored.get("job") not in (None, job):
        return [("job", stored["job"], job)]
    old = stored.get("params")
    if not isinstance(old, dict):
        return []
    new = json.loads(json.dumps(params_dict(params), default=str))
    same_kind = [k for k, v in old.items() if k in new and type(v) is type(new[k])]
    return fingerprint_diff({"params": {k: old[k] for k in same_kind}},
                            {"params": {k: new[k] for k in same_kind}})


def confirm_fresh_start(page: Page, params: Any, job: str) -> Any:
    """``params`` as they may be queued: unchanged, with ``overwrite`` on when the user
    chose to start afresh over a build made with other settings, or None when they did
    not. Asked before queuing (every way a job is queued: Run, Rerun, Run recipe), so no
    failed job with the command line's "pass --overwrite" is left in the history."""
    diffs = settings_changed(params, job)
    if not diffs:
        return params
    shown = "; ".join(f"{k}: {str(a)[:40]} -> {str(b)[:40]}" for k, a, b in diffs[:8])
    if not page.ask("The output folder holds other settings",
                    f"{output_of(params)} holds a build made with other settings ({shown})."
                    "\n\nStart afresh? The earlier build's files in that folder are removed;"
                    " choose another output folder to keep them.", "Start afresh"):
        return None
    return dataclasses.replace(params, overwrite=True)


class JobPanel(QWidget):
    """Params form + controls for a set of job types; the view of the latest run's events."""

    job_started = Signal(object)   # JobRecord
    job_finished = Signal(object)  # JobRecord
    preview_arrived = Signal()

    def __init__(self, page: Page, job_names: list[str], *,
                 help: dict[str, str] | None = None,
                 defaults: Callable[[str], dict[str, Any]] | None = None,
                 hidden: tuple[str, ...] = (), run_text: str = "Run",
                 labels: dict[str, str] | None = None, parent: QWidget | None = None):
        super().__init__(parent or page)
        self.page = page
        self.ctx = page.ctx
        self.help = help or {}
        self.defaults = defaults or (lambda name: {})
        self.hidden = hidden
        self.labels = labels or {}
        known = job_types()
        self.available = [n for n in job_names if n in known]
        self.missing = [n for n in job_names if n not in known]
        self.forms: dict[str, ParamsForm] = {}
        self.record: JobRecord | None = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(self)
        self.combo.setToolTip("Which job to set up and run")
        # a long job name must not set the page's minimum width (the list shows it whole)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(18)
        for n in self.available:
            jt = job_types()[n]
            self.combo.addItem(self.labels.get(n, n), n)
            self.combo.setItemData(self.combo.count() - 1, jt.description,
                                   Qt.ItemDataRole.ToolTipRole)
        self.combo.setVisible(len(self.available) > 1)
        lay.addWidget(self.combo)
        self.desc = QLabel(self)
        self.desc.setWordWrap(True)
        self.desc.setObjectName("hint")
        self.desc.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.desc)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.form_host = QWidget(self.scroll)
        self.form_lay = QVBoxLayout(self.form_host)
        self.form_lay.setContentsMargins(0, 0, 4, 0)
        self.form_lay.addStretch(1)
        self.scroll.setWidget(self.form_host)
        lay.addWidget(self.scroll, 1)
        self.controls = JobControls(self, run_text)
        self.controls.run_clicked.connect(self.run)
        lay.addWidget(self.controls)
        row = FlowLayout()
        self.save_button = QPushButton("Save recipe…", self)
        self.save_button.setToolTip("Save these parameters as a TOML recipe "
                                    "(`studio run recipe.toml` replays it headless)")
        self.save_button.clicked.connect(self.save_recipe_dialog)
        self.open_button = QPushButton("Open output", self)
        self.open_button.setToolTip("Open the output folder of the last run")
        self.open_button.clicked.connect(self.open_output)
        self.open_button.setEnabled(False)
        row.addWidget(self.save_button)
        row.addWidget(self.open_button)
        self.button_row = row
        lay.addLayout(row)
        self.combo.currentIndexChanged.connect(self._show_form)
        enabled = bool(self.available)
        for w in (self.controls.run_button, self.save_button):
            w.setEnabled(enabled)
        if self.available:
            self._show_form()

    # -- forms -------------------------------------------------------------------------
    def job_name(self) -> str | None:
        return self.combo.currentData() if self.available else None

    def form(self, name: str | None = None) -> ParamsForm | None:
        name = name or self.job_name()
        if name is None:
            return None
        if name not in self.forms:
            jt = job_types()[name]
            f = ParamsForm(jt.params, self.form_host, help=self.help, hidden=self.hidden)
            self.apply_defaults(name, f)
            self.forms[name] = f
            self.form_lay.insertWidget(0, f)
            # the form scrolls up and down, never sideways: its column keeps the width
            # the widest form needs (editors with cut-off buttons read as broken)
            need = max(x.minimumSizeHint().width() for x in self.forms.values())
            self.scroll.setMinimumWidth(need + self.scroll.verticalScrollBar().sizeHint()
                                        .width() + 8)
        return self.forms[name]

    def apply_defaults(self, name: str, form: ParamsForm | None = None) -> None:
        form = form or self.forms.get(name)
        if form is None:
            return
        for k, v in self.defaults(name).items():
            if k in form.editors:
                form.set_value(k, v)

    def _show_form(self) -> None:
        name = self.job_name()
        for n, f in self.forms.items():
            f.setVisible(n == name)
        f = self.form(name)
        if f is not None:
            f.setVisible(True)
        if name:
            self.desc.setText(job_types()[name].description)
        self.follow_choice()

    def follow_choice(self) -> None:
        """The bar and state line belong to the chosen job: a finished run of another job
        (Synthesize's "done" under Distil) is not shown as this one's; a running one stays
        in view (it is what the window is busy with)."""
        rec = self.record
        if rec is None or not rec.state.finished:
            return
        if rec.job == self.job_name():
            self.controls.bind(rec, self.ctx.queue)
            self.open_button.setEnabled(bool(rec.outputs()))
        else:
            self.controls.reset()
            self.open_button.setEnabled(False)

    def select(self, name: str) -> bool:
        i = self.combo.findData(name)
        if i < 0:
            return False
        self.combo.setCurrentIndex(i)
        return True

    def params(self) -> Any:
        f = self.form()
        if f is None:
            raise RecipeError("nothing to run: " + ", ".join(self.missing))
        return f.params()

    # -- running -----------------------------------------------------------------------
    def run(self, params: Any = None) -> JobRecord | None:
        name = self.job_name()
        if name is None:
            return None
        try:
            params = params if params is not None else self.params()
        except (RecipeError, ValueError) as exc:
            self.page.message("Check the parameters", str(exc), error=True)
            self.controls.set_status(f"not started: {exc}")
            return None
        params = confirm_fresh_start(self.page, params, name)
        if params is None:
            self.controls.set_status("not started: the output folder holds a build "
                                     "made with other settings")
            return None
        return self.start(name, params)

    def start(self, name: str, params: Any, fn: Callable | None = None,
              title: str = "") -> JobRecord:
        def attach(rec: JobRecord) -> None:
            self.record = rec
            self.controls.bind(rec, self.ctx.queue)
            rec.handle.finished.connect(self._on_finished)
            self.open_button.setEnabled(False)
            self.job_started.emit(rec)

        return self.ctx.queue.submit(name, params, fn=fn, title=title or name,
                                     page=self.page.key, before_start=attach)

    def _on_finished(self, rec: JobRecord) -> None:
        self.open_button.setEnabled(bool(rec.outputs()))
        self.job_finished.emit(rec)
        if rec.resume_refused:
            self.offer_overwrite(rec)

    def offer_overwrite(self, rec: JobRecord) -> JobRecord | None:
        """The output folder holds a build made with other settings: the CLI refuses and
        names the differences; here the same refusal comes with the choice of --overwrite."""
        if not dataclasses.is_dataclass(rec.params) or not hasattr(rec.params, "overwrite"):
            return None
        if not self.page.ask("The output folder holds other settings",
                             f"{rec.error}\n\nStart afresh? The earlier build's files in "
                             "that folder are removed; choose another output folder to keep "
                             "them.", "Start afresh"):
            return None
        return self.start(rec.job, dataclasses.replace(rec.params, overwrite=True),
                          fn=rec.fn, title=f"{rec.title} (afresh)")

    def cancel(self) -> None:
        if self.record is not None:
            self.ctx.queue.cancel(self.record)

    def open_output(self) -> bool:
        outs = self.record.outputs() if self.record is not None else []
        return open_location(self.page, outs[0] if outs else None)

    # -- recipes -----------------------------------------------------------------------
    def current_recipe(self) -> tuple[str, Any] | None:
        name = self.job_name()
        if name is None:
            return None
        return name, self.params()

    def load_recipe(self, job: str, params: Any) -> bool:
        if not self.select(job):
            return False
        f = self.form(job)
        assert f is not None
        f.set_params(params)
        return True

    def save_recipe_dialog(self) -> None:
        try:
            rec = self.current_recipe()
        except (RecipeError, ValueError) as exc:
            self.page.message("Check the parameters", str(exc), error=True)
            return
        if rec is None:
            return
        job, params = rec
        start = str(Path(prefs.last_dir("recipes")) / f"{job}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save recipe", start, "Recipes (*.toml)")
        if path:
            prefs.remember_dir("recipes", path)
            save_recipe(path, job, params)
            prefs.add_recent("recipes", path)


class JobPage(Page):
    """A page made of a :class:`JobPanel` on the left and the live results on the right."""

    run_text = "Run"
    help: dict[str, str] = {}
    labels: dict[str, str] = {}
    hidden: tuple[str, ...] = ()
    engine = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        missing_jobs(self.job_names)
        outer = QVBoxLayout(self)
        self.banner = Banner("", parent=self)
        outer.addWidget(self.banner)
        self.split = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(self.split, 1)
        self.panel = JobPanel(self, list(self.job_names), help=self.help,
                              defaults=self.defaults, hidden=self.hidden,
                              run_text=self.run_text, labels=self.labels)
        self.left = QWidget(self.split)
        self.left_lay = QVBoxLayout(self.left)
        self.left_lay.setContentsMargins(0, 0, 0, 0)
        self.build_left(self.left_lay)
        self.left_lay.addWidget(self.panel, 1)
        self.split.addWidget(self.left)
        self.tabs = QTabWidget(self.split)
        # every tab stays in view at 1024 px: names are shortened ("Res…") before a tab
        # is pushed behind scroll arrows, where Result could not be found
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        self.split.addWidget(self.tabs)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 3)
        self.preview = ImageView(self, "the preview appears here while the job runs")
        self.feed = ThumbGrid(self, thumb=88, max_items=48)
        self.feed.setToolTip("The latest previews, newest first")
        pv = QWidget(self)
        pvl = QVBoxLayout(pv)
        pvl.setContentsMargins(0, 0, 0, 0)
        sp = QSplitter(Qt.Orientation.Vertical, pv)
        sp.addWidget(self.preview)
        sp.addWidget(self.feed)
        sp.setStretchFactor(0, 3)
        sp.setStretchFactor(1, 1)
        pvl.addWidget(sp)
        self.tabs.addTab(pv, "Preview")
        self.preview_tab = pv
        self.curves = CurvePlot(self, "metrics")
        self.tabs.addTab(self.curves, "Curves")
        self.log = LogView(self)
        self.tabs.addTab(self.log, "Log")
        self.result_view = ResultTable(self)
        self.tabs.addTab(self.result_view, "Result")
        self.build_right(self.tabs)
        self.panel.job_started.connect(self._on_started)
        self.panel.job_finished.connect(self._on_finished)
        self.panel.controls.errors_requested.connect(self.show_errors)
        self.previews_seen = 0
        self._fresh_preview = self._fresh_curves = True
        self.update_banner()

    # Subclass hooks -------------------------------------------------------------------
    def defaults(self, job: str) -> dict[str, Any]:
        return {}

    def build_left(self, lay: QVBoxLayout) -> None:
        """Add page-specific widgets above the params form."""

    def build_right(self, tabs: QTabWidget) -> None:
        """Add page-specific result tabs."""

    def result_ready(self, rec: JobRecord) -> None:
        """A job of this page finished successfully."""

    def clear_outputs(self, rec: JobRecord) -> None:
        """A new job started: take the page's own result views of the last one away (a
        Train TSIT run must not show the last translation's outputs as its own)."""

    def live_tab(self) -> QWidget:
        """The tab that shows a running job: its preview and live grid."""
        return self.preview_tab if self.tabs.indexOf(self.preview_tab) >= 0 \
            else self.tabs.widget(0)

    def missing_text(self) -> str:
        return ""

    # ----------------------------------------------------------------------------------
    def update_banner(self) -> None:
        miss = self.panel.missing
        if miss and not self.panel.available:
            text = (f"The {self.engine or 'engine'} for this page is not in this build yet "
                    f"(job type{'s' if len(miss) > 1 else ''} {', '.join(miss)} not "
                    "registered). " + self.missing_text())
            self.banner.set(text.strip(), "warning")
        elif miss:
            self.banner.set(f"Not available yet: {', '.join(miss)}. " + self.missing_text(),
                            "info")
        else:
            self.banner.set("")

    def _on_started(self, rec: JobRecord) -> None:
        # nothing of the last run stays on screen: a cancelled run's grid or loss shown
        # under a new run reads as the new run's
        self.log.clear()
        self.result_view.clear()
        self.previews_seen = 0
        self._fresh_preview = self._fresh_curves = False
        self.feed.clear()
        self.preview.set_image(None)
        self.preview.set_before(None)
        self.preview.placeholder = f"waiting for the first preview of {rec.title}…"
        self.curves.clear()
        # the new job is shown where it runs: not a stale plan, error list or result of
        # the last one (Curves stays when chosen: it is live too)
        if self.tabs.currentWidget() not in (self.live_tab(), self.curves):
            self.tabs.setCurrentWidget(self.live_tab())
        try:
            self.clear_outputs(rec)
        except Exception as exc:  # clearing a view must never stop the job being shown
            self.log.add(f"could not clear the last results: {exc}", "warning")
        old = getattr(self, "_bound", None)
        if old is not None and old is not rec:  # a late event of the last run stays out
            for sig, slot in ((old.handle.preview, self._on_preview),
                              (old.handle.log, self.log.add),
                              (old.handle.metrics, self._on_metrics)):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(slot)
        self._bound = rec
        h = rec.handle
        h.preview.connect(self._on_preview)
        h.log.connect(self.log.add)
        h.metrics.connect(self._on_metrics)
        self.log.add(f"{rec.job} queued")

    def _on_preview(self, img: QImage, caption: str, step: Any) -> None:
        if self._fresh_preview:
            self.feed.clear()
            self._fresh_preview = False
        self.previews_seen += 1
        label = caption if step is None else f"{caption} · {step}"
        self.preview.set_image(img, label)
        self.feed.add_image(img, label, front=True)

    def _on_metrics(self, ev: Metrics) -> None:
        self.clear_curves_once()
        for k, v in ev.values.items():
            self.curves.add_point(k, ev.step, v)

    def clear_curves_once(self) -> None:
        if self._fresh_curves:
            self.curves.clear()
            self._fresh_curves = False

    def _on_finished(self, rec: JobRecord) -> None:
        st = rec.state.value
        if st == "done":
            skipped = f", {rec.skipped} input(s) skipped (see Errors)" if rec.skipped else ""
            self.log.add(f"done in {rec.duration:.1f} s{skipped}",
                         "warning" if rec.skipped else "info")
            self.result_view.set_result(rec.result)
            try:
                self.result_ready(rec)
            except Exception as exc:  # showing a result must never crash the window
                self.log.add(f"could not show the result: {exc}", "error")
        elif st == "failed":
            self.log.add(rec.error, "error")
            self.result_view.show_error(rec.error)
            self.tabs.setCurrentWidget(self.log)
        else:
            self.log.add("cancelled; complete files are kept", "warning")
        if not self.previews_seen:
            self.preview.placeholder = f"{rec.title} {rec.status_text()}; it sent no preview"
            self.preview.update()

    def show_errors(self) -> None:
        """The "see Errors" link of a build that skipped inputs: the Errors tab (or Log)."""
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i).startswith("Errors"):
                self.tabs.setCurrentIndex(i)
                return
        self.tabs.setCurrentWidget(self.log)

    # Page API -------------------------------------------------------------------------
    def run(self) -> None:
        self.panel.run()

    def cancel(self) -> None:
        self.panel.cancel()

    def current_recipe(self) -> tuple[str, Any] | None:
        return self.panel.current_recipe()

    def load_recipe(self, job: str, params: Any) -> bool:
        return self.panel.load_recipe(job, params)
