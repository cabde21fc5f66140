"""The main window: a sidebar of workflow pages, menus with shortcuts, the job queue."""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio import __version__
from studio.gui import settings as prefs
from studio.gui import theme
from studio.gui.pages.base import AppContext, Page, open_location
from studio.gui.widgets import Banner, fmt_seconds, recent_label
from studio.gui.workers import JobQueue, JobRecord, LatestRunner
from studio.gui.workspace import ToyInputs, prepare_toy_inputs, workspace_dir
from studio.recipes import RecipeError, load_recipe, save_recipe

#: The window's own pages, after the engines' pages (``studio.registry.pages``).
APP_PAGES: list[str] = ["studio.gui.pages.models:ModelsPage", "studio.gui.pages.jobs:JobsPage"]


def page_refs() -> list[str]:
    """``"module:Class"`` of every page, in sidebar order."""
    from studio.registry import pages

    return [p.ref for p in pages()] + APP_PAGES


class BrokenPage(Page):
    """Stands in for a page that failed to build, with the reason (never a crash)."""

    def __init__(self, ctx: AppContext, key: str, title: str, error: str,
                 parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.key, self.title, self.icon = key, title, "app"
        lay = QVBoxLayout(self)
        lay.addWidget(Banner(f"This page could not be opened: {error}", "error", self))
        lay.addStretch(1)
        self.error = error


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext | None = None, *, confirm: Callable[[str], bool] | None
                 = None, defer_pages: bool = False):
        super().__init__()
        self.setWindowTitle("Studio")
        self.setWindowIcon(theme.app_icon())
        if ctx is None:
            queue = JobQueue(self)
            ctx = AppContext(queue, ToyInputs(workspace_dir()), self)
        self.ctx = ctx
        ctx.window = self
        #: Asks the user a yes/no question (replaced by the self-test and tests).
        self.confirm = confirm or self._ask
        self.pages: dict[str, Page] = {}
        self.toy_job: JobRecord | None = None

        central = QWidget(self)
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.nav = QListWidget(central)
        self.nav.setObjectName("navList")
        self.nav.setFixedWidth(188)
        self.nav.setIconSize(QSize(20, 20))
        row.addWidget(self.nav)
        right = QWidget(central)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(14, 10, 14, 8)
        head = QHBoxLayout()
        self.page_title = QLabel(right)
        self.page_title.setObjectName("pageTitle")
        self.page_tip = QLabel(right)
        self.page_tip.setObjectName("pageTip")
        self.page_tip.setWordWrap(True)
        # a long tip wraps; it must never set the window's minimum width
        self.page_tip.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.page_title)
        head.addSpacing(12)
        head.addWidget(self.page_tip, 1)
        rl.addLayout(head)
        self.stack = QStackedWidget(right)
        rl.addWidget(self.stack, 1)
        row.addWidget(right, 1)
        self.setCentralWidget(central)
        self.status_label = QLabel("", self)
        self.status_label.setMaximumWidth(520)  # the queue line must not widen the window
        self.statusBar().addPermanentWidget(self.status_label)
        self.history_loaded = self.ctx.queue.load_history(prefs.history_dir())
        self.setAcceptDrops(True)
        ctx.queue.job_changed.connect(lambda r: self._update_status())
        ctx.queue.job_finished.connect(self._on_job_finished)
        ctx.queue.job_added.connect(self._clear_failure)
        self.failure_shown: JobRecord | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(1000)
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()
        ctx.toy_ready.connect(self._on_toy_ready)
        if defer_pages:  # the shell now, pages once torch and the engines are loaded
            from studio.gui.startup import start_deferred

            self._restore_geometry()
            start_deferred(self, self.finish_pages)
            QTimer.singleShot(0, self.prepare_toy_world)  # drawn beside the loading
        else:
            self.finish_pages()

    def finish_pages(self) -> None:
        """Build the pages and menus, open the last page, draw the toy world."""
        self._build_pages()
        self.nav.currentRowChanged.connect(self._on_nav)
        self._build_menus()
        self._restore()
        QTimer.singleShot(0, self.prepare_toy_world)

    # -- pages -------------------------------------------------------------------------
    def _build_pages(self) -> None:
        for ref in page_refs():
            mod, _, cls = ref.partition(":")
            try:
                page_cls = getattr(importlib.import_module(mod), cls)
                page = page_cls(self.ctx)
            except Exception as exc:  # one broken page must not take the window down
                key = mod.rsplit(".", 1)[-1]
                traceback.print_exc()
                page = BrokenPage(self.ctx, key, key.capitalize(),
                                  f"{type(exc).__name__}: {exc}")
            self.add_page(page)

    def add_page(self, page: Page) -> None:
        self.pages[page.key] = page
        self.stack.addWidget(page)
        item = QListWidgetItem(theme.icon(page.icon), page.title)
        item.setToolTip(page.tip or page.title)
        item.setData(Qt.ItemDataRole.UserRole, page.key)
        self.nav.addItem(item)

    def page_keys(self) -> list[str]:
        return list(self.pages)

    def current_page(self) -> Page:
        return self.stack.currentWidget()  # type: ignore[return-value]

    def show_page(self, key: str) -> Page:
        keys = self.page_keys()
        self.nav.setCurrentRow(keys.index(key))
        return self.pages[key]

    def _on_nav(self, row: int) -> None:
        if row < 0:
            return
        page = self.stack.widget(row)
        self.stack.setCurrentIndex(row)
        self.page_title.setText(page.title)
        self.page_tip.setText(page.tip)
        try:
            page.on_show()
        except Exception as exc:
            self.notify(f"{page.title}: {exc}", 8000)

    def _refresh_icons(self) -> None:
        for i in range(self.nav.count()):
            key = self.nav.item(i).data(Qt.ItemDataRole.UserRole)
            self.nav.item(i).setIcon(theme.icon(self.pages[key].icon))

    # -- toy world ---------------------------------------------------------------------
    def prepare_toy_world(self) -> None:
        """Draw the toy-world inputs the pages open on (once per workspace)."""
        toy = self.ctx.toy
        if toy.ready():
            self.ctx.toy_ready.emit()
            return
        if self.toy_job is not None and not self.toy_job.state.finished:
            return  # being drawn: its end emits toy_ready
        self.toy_job = self.ctx.queue.submit("prepare-toy-world", toy, fn=prepare_toy_inputs,
                                             title="Prepare the toy world")
        self.notify(f"Drawing the toy world into {toy.root} …")

    def _on_job_finished(self, rec: JobRecord) -> None:
        if rec is self.toy_job:
            if rec.state.value == "done":
                self.notify("Toy world ready", 4000)
                self.ctx.toy_ready.emit()
            else:
                self.notify(f"Toy world could not be drawn: {rec.error}")
        elif rec.state.value == "failed":
            self.notify(f"{rec.title} failed: {rec.error}", 10000)
            self.failure_shown = rec
        elif rec.state.value == "done":
            self._clear_failure(rec)
        if rec is not self.toy_job:
            self.save_history()
        self._update_status()

    def _clear_failure(self, rec: JobRecord) -> None:
        """A retry of the job whose failure the status bar shows (same job on the same
        page) started or succeeded: the old failure no longer describes anything."""
        old = getattr(self, "failure_shown", None)
        if old is not None and old is not rec and (old.job, old.page) == (rec.job, rec.page):
            self.statusBar().clearMessage()
            self.statusBar().setToolTip("")
            self.failure_shown = None

    def save_history(self) -> None:
        """Keep the Jobs history across restarts (a disk error is reported, not fatal)."""
        try:
            self.ctx.queue.save_history(prefs.history_dir())
        except OSError as exc:
            self.notify(f"Job history not saved: {exc}", 8000)

    def _on_toy_ready(self) -> None:
        for page in self.pages.values():
            try:
                page.on_toy_ready()
            except Exception as exc:
                traceback.print_exc()
                self.notify(f"{page.title}: {exc}", 8000)

    # -- menus and shortcuts -----------------------------------------------------------
    def _action(self, menu: Any, text: str, slot: Callable, shortcut: Any = None,
                tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setStatusTip(tip or text)
        a.setToolTip(tip or text)
        a.triggered.connect(lambda *_: slot())
        menu.addAction(a)
        self.addAction(a)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.actions_by_name: dict[str, QAction] = {}
        A = self.actions_by_name
        A["load"] = self._action(f, "&Load recipe…", self.load_recipe_dialog,
                                 QKeySequence.StandardKey.Open,
                                 "Open a recipe (TOML) in its page")
        A["save"] = self._action(f, "&Save recipe…", self.save_recipe_dialog,
                                 QKeySequence.StandardKey.Save,
                                 "Save the current page's parameters as a recipe")
        self.recent_menu = f.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        f.addSeparator()
        A["workspace"] = self._action(f, "Open &workspace folder", self.open_workspace, None,
                                      "Open the folder where inputs and outputs live")
        f.addSeparator()
        A["quit"] = self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        j = mb.addMenu("&Job")
        A["run"] = self._action(j, "&Run", lambda: self.current_page().run(), "Ctrl+Return",
                                "Run the current page's job")
        A["cancel"] = self._action(j, "&Cancel", lambda: self.current_page().cancel(),
                                   "Escape", "Stop the current page's job at its next step")
        A["jobs"] = self._action(j, "Show &jobs", lambda: self.show_page("jobs"), "Ctrl+J")
        v = mb.addMenu("&View")
        for i, key in enumerate(self.page_keys()[:9]):
            A[f"page-{key}"] = self._action(v, self.pages[key].title,
                                            lambda k=key: self.show_page(k), f"Ctrl+{i + 1}")
        v.addSeparator()
        tm = v.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name in ("system", "light", "dark"):
            a = QAction(name.capitalize(), self, checkable=True)
            a.triggered.connect(lambda *_, n=name: self.set_theme(n))
            group.addAction(a)
            tm.addAction(a)
            self.theme_actions[name] = a
        A["toggle-theme"] = self._action(v, "Toggle light/dark", self.toggle_theme,
                                         "Ctrl+Shift+T")
        A["refresh"] = self._action(v, "Refresh page", lambda: self.current_page().on_show(),
                                    QKeySequence.StandardKey.Refresh)
        h = mb.addMenu("&Help")
        A["docs"] = self._action(h, "&Documentation", self.open_docs,
                                 QKeySequence.StandardKey.HelpContents)
        A["about"] = self._action(h, "&About Studio", self.about)

    def shortcuts(self) -> dict[str, str]:
        return {name: a.shortcut().toString() for name, a in self.actions_by_name.items()
                if not a.shortcut().isEmpty()}

    # -- recipes -----------------------------------------------------------------------
    def page_for_job(self, job: str) -> Page | None:
        for page in self.pages.values():
            if job in getattr(page, "job_names", ()):
                return page
        return None

    def open_recipe(self, job: str, params: Any) -> Page | None:
        page = self.page_for_job(job)
        if page is None or not page.load_recipe(job, params):
            return None
        self.show_page(page.key)
        return page

    def load_recipe_file(self, path: str | Path) -> Page | None:
        """Open a recipe in the page that runs its job; raises RecipeError if unusable."""
        jt, params = load_recipe(path)
        page = self.open_recipe(jt.name, params)
        if page is None:
            raise RecipeError(f"{path}: no page runs job {jt.name!r}; use Jobs ▸ Run recipe")
        return page

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = prefs.recent("recipes")
        for path in items:
            a = self.recent_menu.addAction(recent_label(path))
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda *_, p=path: self.open_recipe_path(p))
        if not items:
            a = self.recent_menu.addAction("(no recipes yet)")
            a.setEnabled(False)

    def open_recipe_path(self, path: str | Path) -> Page | None:
        """Open a recipe in its page, telling the user when it cannot be used."""
        try:
            page = self.load_recipe_file(path)
        except RecipeError as exc:
            self.ctx.messages.append(("Cannot load this recipe", str(exc)))
            self.notify(str(exc), 10000)
            if not self.ctx.headless:
                QMessageBox.warning(self, "Cannot load this recipe", str(exc))
            return None
        prefs.add_recent("recipes", path)
        self.notify(f"Loaded {Path(path).name} into {page.title}", 5000)
        return page

    def load_recipe_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load recipe", prefs.last_dir("recipes"),
                                              "Recipes (*.toml)")
        if not path:
            return
        prefs.remember_dir("recipes", path)
        self.open_recipe_path(path)

    # -- drops on the window: a recipe opens in its page -------------------------------
    @staticmethod
    def _recipes_in(mime: Any) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls()
                if u.isLocalFile() and u.toLocalFile().lower().endswith(".toml")]

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if self._recipes_in(e.mimeData()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dropEvent(self, e: QDropEvent) -> None:
        paths = self._recipes_in(e.mimeData())
        if paths:
            e.acceptProposedAction()
            self.open_recipe_path(paths[0])

    def save_recipe_dialog(self) -> None:
        page = self.current_page()
        try:
            rec = page.current_recipe()
        except (RecipeError, ValueError) as exc:
            QMessageBox.warning(self, "Check the parameters", str(exc))
            return
        if rec is None:
            self.notify("This page has nothing to save as a recipe", 4000)
            return
        job, params = rec
        start = str(Path(prefs.last_dir("recipes")) / f"{job}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save recipe", start, "Recipes (*.toml)")
        if path:
            prefs.remember_dir("recipes", path)
            save_recipe(path, job, params)
            prefs.add_recent("recipes", path)
            self.notify(f"Saved {path}", 4000)

    # -- theme, help -------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        used = theme.apply(app, name)
        prefs.put("theme", name)
        if name in self.theme_actions:
            self.theme_actions[name].setChecked(True)
        self._refresh_icons()
        for page in self.pages.values():
            hook = getattr(page, "on_theme_changed", None)
            if hook is not None:
                try:
                    hook(used)
                except Exception as exc:
                    self.notify(f"{page.title}: {exc}", 8000)
        self.notify(f"Theme: {used}", 2000)

    def toggle_theme(self) -> None:
        self.set_theme("dark" if theme.current() == "light" else "light")

    def open_workspace(self) -> bool:
        self.ctx.toy.root.mkdir(parents=True, exist_ok=True)
        return open_location(self.current_page(), self.ctx.toy.root)

    def open_docs(self) -> Any:
        """F1: the guide in a window of its own — it works without a desktop browser —
        opened at the current page's section."""
        from studio.gui.docs import DocsWindow

        if getattr(self, "docs_window", None) is None:
            self.docs_window = DocsWindow(self)
        doc, section = "gui.md", ""
        if self.pages:
            try:
                doc, section = self.current_page().help_topic()
            except Exception:  # a page without a topic: the guide from the top
                doc, section = "gui.md", ""
        self.docs_window.show()  # laid out at its width first: the scroll lands right
        if not self.docs_window.show_doc(doc, section) and doc != "gui.md":
            self.docs_window.show_doc("gui.md")
        self.docs_window.raise_()
        return self.docs_window

    def about(self) -> None:
        QMessageBox.about(self, "About Studio",
                          f"<b>Studio {__version__}</b><br>Make image datasets that train and "
                          "probe classifiers: AdaIN, NaturalInversion, TSIT.<br>"
                          f"Workspace: {self.ctx.toy.root}")

    # -- status, persistence, closing --------------------------------------------------
    def notify(self, text: str, ms: int = 0) -> None:
        """A status-bar message, one line, elided to the bar (the whole text is its
        tooltip): a long error must not run past the window's edge."""
        bar = self.statusBar()
        line = str(text).strip().splitlines()[0] if str(text).strip() else ""
        label = getattr(self, "status_label", None)
        room = bar.width() - (label.width() if label is not None else 0) - 40
        shown = bar.fontMetrics().elidedText(line, Qt.TextElideMode.ElideMiddle,
                                             max(room, 120))
        bar.setToolTip(str(text))
        bar.showMessage(shown, ms)
    def _update_status(self) -> None:
        active = self.ctx.queue.active()
        if not active:
            self.status_label.setText("idle")
            return
        r = active[0]
        prog = f" {r.step}/{r.total}" if r.total else ""
        eta = r.eta()
        more = f"  (+{len(active) - 1} queued)" if len(active) > 1 else ""
        self.status_label.setText(f"{r.title}: {r.status_text()}{prog}"
                                  f"{'  ETA ' + fmt_seconds(eta) if eta else ''}{more}")

    def _restore_geometry(self) -> None:
        s = prefs.settings()
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 820)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def _restore(self) -> None:
        s = prefs.settings()
        if not self.isVisible():
            self._restore_geometry()
        name = str(s.value("theme", "system"))
        if name in self.theme_actions:
            self.theme_actions[name].setChecked(True)
        page = str(s.value("window/page", self.page_keys()[0]))
        self.show_page(page if page in self.pages else self.page_keys()[0])

    def save_settings(self) -> None:
        s = prefs.settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        if self.pages:  # not while the engines are still loading
            s.setValue("window/page", self.current_page().key)
        s.sync()

    def _ask(self, text: str) -> bool:
        r = QMessageBox.question(self, "Jobs are running", text,
                                 QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                 QMessageBox.StandardButton.No)
        return r == QMessageBox.StandardButton.Yes

    def closeEvent(self, e: QCloseEvent) -> None:
        active = self.ctx.queue.active()
        if active:
            names = ", ".join(r.title for r in active[:4])
            if not self.confirm(f"{len(active)} job(s) are queued or running ({names}).\n"
                                "Stop them and quit? Finished files are kept; builds can be "
                                "resumed later."):
                e.ignore()
                return
            self.ctx.queue.cancel_all()
            self.ctx.queue.wait_all(30.0, QApplication.processEvents)
        for runner in self.findChildren(LatestRunner):
            runner.wait()
        loader = getattr(self, "preloader", None)
        if loader is not None:
            loader.wait()  # torch is mid-import: let it finish rather than crash at exit
        self.save_history()
        self.save_settings()
        e.accept()
