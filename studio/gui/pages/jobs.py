"""Jobs: the queue and history of every job — state, duration, outputs, errors, recipes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.gui import settings as prefs
from studio.gui.pages.base import AppContext, Page, confirm_fresh_start, open_location
from studio.gui.widgets import Banner, FlowLayout, ImageView, LogView, fmt_seconds
from studio.gui.workers import JobRecord, JobState
from studio.recipes import RecipeError, load_recipe, save_recipe

COLUMNS = ["#", "Job", "State", "Progress", "Started", "Duration", "Outputs"]
STATE_COLOURS = {"running": "#2f7fd8", "paused": "#c98a00", "done": "#2e9d57",
                 "failed": "#d03838", "cancelled": "#8c8c8c", "queued": "#8c8c8c"}


def _when(t: float | None) -> str:
    """A start time: the clock today, the date too for jobs of earlier days."""
    if not t:
        return ""
    lt = time.localtime(t)
    if time.strftime("%Y-%m-%d", lt) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", lt)
    return time.strftime("%Y-%m-%d %H:%M", lt)


def _colour(hex_: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(hex_))


def output_images(rec: JobRecord, limit: int = 2000) -> list[tuple[str, Path]]:
    """(name relative to its output, path) of every image a finished job wrote, in
    name order; the job's own bookkeeping images (previews) left out."""
    from studio.core.images import is_image_file, list_images

    found: dict[Path, str] = {}
    for o in rec.outputs() if rec.state.finished else []:
        if o.is_dir():
            for p in list_images(o, recursive=True)[:limit]:
                found.setdefault(p, p.relative_to(o).as_posix())
        elif is_image_file(o):
            found.setdefault(o, o.name)
    items = [(rel, p) for p, rel in found.items() if not p.name.startswith("preview")]
    return sorted(items)[:limit]


def pair_outputs(a: list[tuple[str, Path]], b: list[tuple[str, Path]]
                 ) -> list[tuple[tuple[str, Path], tuple[str, Path]]]:
    """Pairs of images to compare: the same name in both runs when they share names (a
    rerun with another alpha), else in order."""
    by_name = dict(b)
    same = [(x, (x[0], by_name[x[0]])) for x in a if x[0] in by_name]
    return same if same else list(zip(a, b))


class JobsPage(Page):
    key = "jobs"
    title = "Jobs"
    icon = "jobs"
    tip = "Queue and history of every job: state, duration, outputs; rerun; recipes"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        lay = QVBoxLayout(self)
        self.banner = Banner("", parent=self)
        lay.addWidget(self.banner)
        row = FlowLayout()
        self.buttons = {}
        for key, text, tip in (
                ("cancel", "Cancel", "Stop the selected job at its next step (Esc)"),
                ("pause", "Pause / resume", "Pause the selected job at its next step, or "
                                            "resume it"),
                ("rerun", "Rerun", "Queue the selected job again with the same parameters"),
                ("open", "Open output", "Open the selected job's output folder"),
                ("save", "Save recipe…", "Save the selected job's parameters as a TOML recipe"),
                ("edit", "Edit in page", "Load the selected job's parameters into its page"),
                ("load", "Load recipe…", "Open a recipe file in its page (Ctrl+O)"),
                ("runrecipe", "Run recipe…", "Queue a recipe file as it is"),
                ("compare", "Compare…", "Select two jobs (Ctrl+click) and compare their last "
                                        "previews A/B in the image viewer"),
                ("clear", "Clear finished", "Remove finished jobs from the history")):
            b = QPushButton(text, self)
            b.setToolTip(tip)
            self.buttons[key] = b
            row.addWidget(b)
        lay.addLayout(row)
        split = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, len(COLUMNS), split)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        split.addWidget(self.table)
        detail = QSplitter(Qt.Orientation.Horizontal, split)
        self.details = LogView(detail)
        self.details.setToolTip("Log, error and result of the selected job")
        self.thumb = ImageView(detail, "last preview of the selected job")
        detail.addWidget(self.details)
        detail.addWidget(self.thumb)
        detail.setStretchFactor(0, 3)
        detail.setStretchFactor(1, 1)
        split.addWidget(detail)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        b = self.buttons
        b["cancel"].clicked.connect(self.cancel)
        b["pause"].clicked.connect(self.toggle_pause)
        b["rerun"].clicked.connect(self.rerun)
        b["open"].clicked.connect(self.open_output)
        b["save"].clicked.connect(self.save_recipe_dialog)
        b["edit"].clicked.connect(self.edit_in_page)
        b["load"].clicked.connect(lambda: self.ctx.window and self.ctx.window.load_recipe_dialog())
        b["runrecipe"].clicked.connect(self.run_recipe_dialog)
        b["clear"].clicked.connect(self.ctx.queue.clear_finished)
        b["compare"].clicked.connect(self.compare)
        self.table.itemSelectionChanged.connect(self._show_details)
        q = ctx.queue
        q.job_added.connect(lambda r: self.refresh())
        q.job_changed.connect(self._on_changed)
        q.job_finished.connect(lambda r: self.refresh())
        self._dirty = False
        self._shown: tuple | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.refresh()

    def _on_changed(self, rec: JobRecord | None) -> None:
        self._dirty = True

    def _tick(self) -> None:
        if self._dirty or self.ctx.queue.active():
            self._dirty = False
            if self.isVisible():
                self.refresh()

    def records(self) -> list[JobRecord]:
        return list(reversed(self.ctx.queue.records))  # newest first

    def refresh(self) -> None:
        recs = self.records()
        sel = self.selected()
        others = [r for r in self.selected_all() if r is not sel]
        t = self.table
        t.setRowCount(len(recs))
        for i, r in enumerate(recs):
            prog = f"{r.step}/{r.total}" if r.total else (str(r.step) if r.step else "")
            if r.message and r.state in (JobState.RUNNING, JobState.PAUSED):
                prog += f" {r.message}"
            started = _when(r.started)
            outs = r.outputs() if r.state.finished else []
            vals = [str(r.id), r.title, r.status_text(), prog, started, fmt_seconds(r.duration),
                    "; ".join(str(o) for o in outs[:3])]
            for j, v in enumerate(vals):
                it = QTableWidgetItem(v)
                if j == 2:
                    colour = "#c98a00" if r.skipped and r.state == JobState.DONE else \
                        STATE_COLOURS.get(r.state.value, "#888")
                    it.setForeground(_colour(colour))
                    if r.error:
                        it.setToolTip(r.error)
                    elif r.restored:
                        it.setToolTip("from an earlier session")
                it.setData(Qt.ItemDataRole.UserRole, r.id)
                t.setItem(i, j, it)
        if sel is not None and sel in recs:
            t.selectRow(recs.index(sel))
            from PySide6.QtCore import QItemSelectionModel

            flags = QItemSelectionModel.SelectionFlag.Select | \
                QItemSelectionModel.SelectionFlag.Rows
            for r in others:  # a multi-selection (to compare) survives the refresh
                if r in recs:
                    t.selectionModel().select(t.model().index(recs.index(r), 0), flags)
            if self._shown != (sel.id, sel.state, len(sel.log)):
                self._show_details()
        active = self.ctx.queue.active()
        self.banner.set(f"{len(active)} job(s) queued or running" if active else "", "info")
        self._update_buttons()

    def selected_all(self) -> list[JobRecord]:
        """Every selected job, top row first."""
        out = []
        for row in sorted({i.row() for i in self.table.selectedIndexes()}):
            item = self.table.item(row, 0)
            rec = self.ctx.queue.get(int(item.text())) if item else None
            if rec is not None:
                out.append(rec)
        return out

    def comparable(self) -> list[JobRecord]:
        """The selected jobs that have something to look at: output images or a
        preview (top row first)."""
        return [r for r in self.selected_all()
                if r.last_preview is not None or (r.state.finished and r.outputs())]

    def compare(self) -> object | None:
        """Two runs side by side in the viewer: their output images paired by name (or
        in order), each captioned with its provenance; ``Left``/``Right`` walk the pairs.
        Jobs without images are compared by their last previews."""
        from studio.gui.viewer import ImageViewer, ViewItem, file_item

        recs = sorted(self.comparable()[:2], key=lambda r: r.id)  # A: the earlier run
        if len(recs) < 2:
            self.message("Compare", "Select two jobs with output images or a preview "
                                    "(Ctrl+click the second).")
            return None
        a, b = recs
        fa, fb = output_images(a), output_images(b)
        items: list[Any] = []
        if fa and fb:
            for (ra, pa), (rb, pb) in pair_outputs(fa, fb):
                items.append(file_item(pa, pb, f"#{a.id} {ra}", f"#{b.id} {rb}"))
        elif a.last_preview is not None and b.last_preview is not None:
            items.append(ViewItem(a.last_preview, f"#{a.id} {a.title} (last preview)",
                                  b.last_preview, f"#{b.id} {b.title} (last preview)"))
        if not items:
            self.message("Compare", f"#{a.id} and #{b.id} have no images of the same kind "
                                    "to compare (output files or previews).")
            return None
        v = ImageViewer.shared(self)
        v.open(items)
        return v

    def selected(self) -> JobRecord | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if not rows:
            return None
        item = self.table.item(min(rows), 0)
        return self.ctx.queue.get(int(item.text())) if item else None

    def select(self, rec: JobRecord) -> None:
        recs = self.records()
        if rec in recs:
            self.table.selectRow(recs.index(rec))

    def _update_buttons(self) -> None:
        r = self.selected()
        b = self.buttons
        live = r is not None and not r.state.finished
        b["cancel"].setEnabled(live)
        b["pause"].setEnabled(r is not None and r.state in (JobState.RUNNING, JobState.PAUSED))
        b["rerun"].setEnabled(r is not None and r.state.finished)
        b["open"].setEnabled(r is not None and bool(r.outputs()))
        b["save"].setEnabled(r is not None and r.recipe_able)
        b["edit"].setEnabled(r is not None and r.recipe_able)
        b["compare"].setEnabled(len(self.comparable()) >= 2)

    def _show_details(self) -> None:
        r = self.selected()
        self._update_buttons()
        self.details.clear()
        self._shown = (r.id, r.state, len(r.log)) if r is not None else None
        if r is None:
            self.thumb.set_image(None)
            return
        self.details.add(f"{r.title} ({r.job}) — {r.status_text()}, "
                         f"{fmt_seconds(r.duration)}", when=r.started or r.created)
        for when, lvl, msg in list(r.log)[-300:]:
            self.details.add(msg, lvl, when)
        if r.error:
            self.details.add(r.error, "error", r.ended)
            if r.traceback:
                self.details.add(r.traceback.strip().splitlines()[-1], "error", r.ended)
        if r.state == JobState.DONE and r.result is not None:
            from studio.gui.widgets import flatten_result, format_value

            for k, v in flatten_result(r.result)[:80]:
                self.details.add(f"{k.replace('_', ' ')}: {format_value(k, v)}", "info",
                                 r.ended)
        self.thumb.set_image(r.last_preview)

    # -- actions -----------------------------------------------------------------------
    def cancel(self) -> None:
        r = self.selected()
        if r is not None:
            self.ctx.queue.cancel(r)

    def toggle_pause(self) -> None:
        r = self.selected()
        if r is None:
            return
        if r.state == JobState.PAUSED:
            self.ctx.queue.resume(r)
        else:
            self.ctx.queue.pause(r)

    def rerun(self) -> JobRecord | None:
        """Queue the selected job again — asking first, as a page's Run does, when its
        output folder now holds a build made with other settings."""
        r = self.selected()
        if r is None:
            return None
        params = confirm_fresh_start(self, r.params, r.job)
        if params is None:
            self.banner.set(f"{r.title} not queued: its output folder holds a build made "
                            "with other settings", "warning")
            return None
        return self.ctx.queue.rerun(r, params)

    def open_output(self) -> bool:
        r = self.selected()
        outs = r.outputs() if r is not None else []
        return open_location(self, outs[0] if outs else None)

    def save_recipe_dialog(self) -> None:
        r = self.selected()
        if r is None or not r.recipe_able:
            return
        start = str(Path(prefs.last_dir("recipes")) / f"{r.job}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save recipe", start, "Recipes (*.toml)")
        if path:
            prefs.remember_dir("recipes", path)
            save_recipe(path, r.job, r.params)

    def edit_in_page(self) -> None:
        r = self.selected()
        if r is not None and r.recipe_able and self.ctx.window is not None:
            self.ctx.window.open_recipe(r.job, r.params)

    def run_recipe_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Run recipe", prefs.last_dir("recipes"),
                                              "Recipes (*.toml)")
        if path:
            prefs.remember_dir("recipes", path)
            self.run_recipe(path)

    def run_recipe(self, path: str | Path) -> JobRecord | None:
        try:
            jt, params = load_recipe(path)
        except RecipeError as exc:
            self.message("Cannot run this recipe", str(exc), error=True)
            self.banner.set(str(exc), "error")
            return None
        params = confirm_fresh_start(self, params, jt.name)
        if params is None:
            self.banner.set(f"{Path(path).name} not queued: its output folder holds a build "
                            "made with other settings", "warning")
            return None
        return self.ctx.queue.submit(jt.name, params, title=f"{jt.name} ({Path(path).name})")

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        """History rows, save/load a recipe, rerun, and cancel from this page."""
        from studio.toyworld.generate import ToyWorldParams

        root = self.ctx.toy.root / "selftest" / "jobs"
        params = ToyWorldParams(root / "a", per_class=2, workers=1)
        rec = self.ctx.queue.submit("toyworld", params, title="toyworld (jobs self-test)")
        d.wait_job(rec)
        self.refresh()
        self.select(rec)
        d.check(self.selected() is rec, "the finished job is not in the history table")
        d.check(self.table.item(self.records().index(rec), 2).text() == "done",
                "the history does not show 'done'")
        d.check(rec.outputs() and rec.outputs()[0] == (root / "a").resolve(),
                f"outputs: {rec.outputs()}")
        recipe = root / "a.toml"
        save_recipe(recipe, rec.job, rec.params)
        page = self.ctx.window.load_recipe_file(recipe)
        d.check(page.key == "toyworld", f"recipe opened in {page.key}")
        loaded = page.current_recipe()
        d.check(loaded == ("toyworld", params), f"recipe round trip gave {loaded}")
        self.ctx.window.show_page(self.key)
        self.select(rec)
        again = self.rerun()
        d.wait_job(again)
        big = self.ctx.queue.submit("toyworld", ToyWorldParams(root / "b", per_class=400,
                                                               workers=1))
        d.wait_running(big)
        self.refresh()
        self.select(big)
        self.cancel()
        d.wait_job(big, state="cancelled")
        bad = root / "bad.toml"
        bad.write_text('schema = 1\njob = "toyworld"\n[params]\nper_class = "many"\n')
        d.check(self.run_recipe(bad) is None and "per_class" in self.banner.text(),
                "a bad recipe was not reported with its key")
        self.refresh()
        return f"{len(self.ctx.queue.records)} jobs in history"
