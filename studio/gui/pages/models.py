"""Models: which weights are present (official and toy), import, verify, fetch, licences.

A classifier's row says how its inputs must look (architecture, normalisation, size,
classes: the registry entry's ``arch`` and data preset), because a real teacher fed with
the wrong mean/std still runs — it just answers wrongly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import checkpoints as ck
from studio.core.modelfiles import (
    ModelTaskParams,
    fetch_job,
    import_job,
    model_states,
    verify_job,
)
from studio.gui import settings as prefs
from studio.gui.pages.base import AppContext, Page, open_location
from studio.gui.widgets import Banner, FlowLayout, LogView
from studio.gui.workers import JobRecord
from studio.gui.workspace import toy_checkpoints

COLUMNS = ["Model", "State", "Arch", "Input", "File", "Family", "Licence", "Source"]
#: How data presets are called in the Input column (a preset's own name otherwise).
DATA_NAMES = {"imagenet": "ImageNet", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
              "toy": "toy-world"}


def input_text(data: str | None) -> str:
    """A data preset in words: "ImageNet mean/std, 32 px, CIFAR-10 classes". The presets
    live with the classifier zoo (torch), so they are read here, when a row is shown —
    the window's shell starts without torch."""
    if not data:
        return ""
    try:
        from studio.models.classifiers import PRESETS
    except Exception:  # the zoo cannot load: say what the registry says
        return data
    pre = PRESETS.get(data)
    if pre is None:
        return data
    base = [n for n in DATA_NAMES if n in PRESETS]
    norm = next((n for n in base if (PRESETS[n].mean, PRESETS[n].std) == (pre.mean, pre.std)),
                None)
    norm_text = f"{DATA_NAMES[norm] if norm else pre.name} mean/std"  # numbers: the detail
    same = next((n for n in base if PRESETS[n].num_classes == pre.num_classes
                 and PRESETS[n].class_names == pre.class_names and pre.class_names), None)
    classes = (f"{DATA_NAMES[same]} classes" if same else f"{pre.num_classes} classes")
    return f"{norm_text}, {pre.image_size} px, {classes}"


def input_detail(data: str | None) -> str:
    """The preset with its numbers (for the row's tooltip and the detail line)."""
    if not data:
        return ""
    try:
        from studio.models.classifiers import PRESETS
    except Exception:
        return f"data preset {data}"
    pre = PRESETS.get(data)
    if pre is None:
        return f"data preset {data} (unknown here)"
    names = ", ".join(pre.class_names[:10]) + (", …" if len(pre.class_names) > 10 else "")
    return (f"data preset {pre.name}: mean {', '.join(f'{v:g}' for v in pre.mean)}, std "
            f"{', '.join(f'{v:g}' for v in pre.std)}, {pre.image_size} px, "
            f"{pre.num_classes} classes" + (f" ({names})" if names else ""))


class ModelTable(QTableWidget):
    """The table of models; accepts checkpoint files dropped onto it."""

    files_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # long file names give way (elided in the middle, whole in the tooltip) instead
        # of pushing the other columns off the edge
        for name in ("File", "Licence", "Source"):
            hh.setSectionResizeMode(COLUMNS.index(name), QHeaderView.ResizeMode.Stretch)
        # the normalisation column is as wide as its common text; a longer one is elided
        # (whole in the tooltip and the detail line under the table)
        col = COLUMNS.index("Input")
        hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        self.setColumnWidth(col, self.fontMetrics().horizontalAdvance(
            "ImageNet mean/std, 32 px, CIFAR-10 classes") + 30)
        hh.setStretchLastSection(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(False)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setAlternatingRowColors(True)

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, e: QDropEvent) -> None:
        files = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if files:
            e.acceptProposedAction()
            self.files_dropped.emit(files)


class ModelsPage(Page):
    key = "models"
    title = "Models"
    icon = "models"
    tip = "Weights present on this machine: official and toy; import, verify, fetch"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        lay = QVBoxLayout(self)
        self.banner = Banner("", parent=self)
        lay.addWidget(self.banner)
        self.dir_label = QLabel(self)
        self.dir_label.setObjectName("hint")
        self.dir_label.setWordWrap(True)
        self.dir_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.dir_label)
        row = FlowLayout()
        self.import_button = QPushButton("Import…", self)
        self.import_button.setToolTip("Copy model files you have into the model folder, after "
                                      "checking they load safely (or drop them on the table)")
        self.verify_button = QPushButton("Verify", self)
        self.verify_button.setToolTip("SHA-256 and a safe load (weights_only) of the selected "
                                      "models (all present ones when none is selected)")
        self.fetch_button = QPushButton("Fetch", self)
        self.fetch_button.setToolTip("Download the selected model from its source when online "
                                     "(resumable, verified)")
        self.open_button = QPushButton("Open folder", self)
        self.open_button.setToolTip("Open the model folder in the file manager")
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setToolTip("Look at the model folder again (F5)")
        for b in (self.import_button, self.verify_button, self.fetch_button, self.open_button,
                  self.refresh_button):
            row.addWidget(b)
        lay.addLayout(row)
        split = QSplitter(Qt.Orientation.Vertical, self)
        self.table = ModelTable(split)
        self.table.setToolTip("Drop checkpoint files here to import them")
        split.addWidget(self.table)
        self.log = LogView(split)
        split.addWidget(self.log)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        self.detail = QLabel("Select a model to see what its inputs must look like.", self)
        self.detail.setObjectName("hint")
        self.detail.setWordWrap(True)
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.detail)
        self.import_button.clicked.connect(self.import_dialog)
        self.verify_button.clicked.connect(self.verify_selected)
        self.fetch_button.clicked.connect(self.fetch_selected)
        self.open_button.clicked.connect(self.open_folder)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.files_dropped.connect(self.import_files)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemSelectionChanged.connect(self._show_detail)
        self.rows: list[dict[str, Any]] = []
        self.last: JobRecord | None = None
        self._errors: dict[Any, list[str]] = {}
        self.refresh()

    def _mdir(self) -> Path:
        return ck.models_dir()

    def open_folder(self) -> bool:
        """The model folder in the file manager: on a fresh install it does not exist yet,
        so it is made (that is where imports go), not reported as moved or deleted."""
        made = not self._mdir().exists()
        ok = open_location(self, self._mdir(), create=True)
        if made and self._mdir().is_dir():
            self.log.add(f"made the model folder {self._mdir()} (empty until you import "
                         "weights)")
        return ok

    def model_rows(self) -> list[dict[str, Any]]:
        """Registry models (present / bundled / missing) then the shipped toy models."""
        mdir = self._mdir()
        rows = []
        for r in model_states(mdir):
            spec = r["spec"]
            arch, data = getattr(spec, "arch", None), getattr(spec, "data", None)
            rows.append({**r, "file": r["filename"], "source": r["url"] or "",
                         "arch": arch or "", "input": input_text(data),
                         "input_detail": input_detail(data)})
        known = {r["path"] for r in rows if r["path"]}
        for p in toy_checkpoints():
            if p in known:
                continue
            rows.append({"name": f"toy/{p.stem}", "state": "bundled (toy)", "path": p,
                         "file": p.name, "family": "toy world", "licence": "MIT (Studio)",
                         "source": "trained by the project: see resources/toy/README.md",
                         "description": "toy-world model shipped with Studio", "spec": None,
                         "arch": "", "input": "", "input_detail": ""})
        if mdir.is_dir():
            for p in sorted(mdir.iterdir()):
                if p.is_file() and p not in known and not p.name.endswith(".part"):
                    rows.append({"name": p.stem, "state": "present (imported)", "path": p,
                                 "file": p.name, "family": "", "licence": "unknown",
                                 "source": "imported by you", "description": "", "spec": None,
                                 "arch": "", "input": "", "input_detail": ""})
        return rows

    def refresh(self) -> None:
        self.rows = self.model_rows()
        self.dir_label.setText(f"Model folder: {self._mdir()}   ·   toy models: "
                               f"{ck.resources_dir() / 'toy'}")
        t = self.table
        t.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            vals = [r["name"], r["state"], r["arch"], r["input"], str(r["path"] or r["file"]),
                    r["family"], r["licence"], r["source"]]
            for j, v in enumerate(vals):
                it = QTableWidgetItem(v)
                tip = r["input_detail"] if COLUMNS[j] in ("Arch", "Input") and \
                    r["input_detail"] else v
                it.setToolTip(f"{r['description']}\n{tip}" if r["description"] else tip)
                t.setItem(i, j, it)
        n_toy = sum(1 for r in self.rows if r["family"] in ("toy", "toy world")
                    and r["path"] is not None)
        n_present = sum(1 for r in self.rows if r["state"].startswith("present"))
        if n_present == 0:
            self.banner.set(
                f"No official weights configured: the pages run on the embedded toy world "
                f"({n_toy} toy model{'s' if n_toy != 1 else ''} shipped). Drop official "
                "checkpoints on the table to import them.", "info")
        else:
            self.banner.set("")
        self._update_buttons()
        self.ctx.models_changed.emit()

    def _selected(self) -> list[dict[str, Any]]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.rows[i] for i in rows if i < len(self.rows)]

    def _show_detail(self) -> None:
        sel = self._selected()
        if len(sel) != 1:
            self.detail.setText("Select a model to see what its inputs must look like."
                                if not sel else f"{len(sel)} models selected")
            return
        r = sel[0]
        parts = [f"{r['name']} ({r['state']})"]
        if r["description"]:
            parts.append(r["description"])
        if r["arch"]:
            parts.append(f"arch {r['arch']}")
        if r["input_detail"]:
            parts.append(r["input_detail"])
        self.detail.setText(" · ".join(parts))

    def _update_buttons(self) -> None:
        sel = self._selected()
        self.fetch_button.setEnabled(any(r["state"] == "missing" and r["source"].startswith(
            "http") for r in sel))

    # -- actions -----------------------------------------------------------------------
    def import_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import model files", prefs.last_dir("models"),
            "Checkpoints (*.pth *.pt *.tar *.pth.tar *.ckpt *.safetensors);;All files (*)")
        if files:
            prefs.remember_dir("models", files[0])
            self.import_files(files)

    def _run(self, title: str, fn: Any, params: ModelTaskParams) -> JobRecord:
        rec = self.ctx.queue.submit(f"models-{title}", params, fn=fn,
                                    title=f"{title}: {', '.join(Path(f).name for f in params.files) or params.url}",
                                    page=self.key)
        errors: list[str] = []
        self._errors[rec.id] = errors
        rec.handle.log.connect(self.log.add)
        rec.handle.log.connect(lambda m, level: errors.append(m) if level == "error" else None)
        rec.handle.finished.connect(self._on_finished)
        self.last = rec
        return rec

    def _on_finished(self, rec: JobRecord) -> None:
        errors = self._errors.pop(rec.id, [])
        if rec.state.value == "failed" and rec.error not in (*errors, "; ".join(errors)):
            errors.append(rec.error)  # not yet shown (the job's own lines already were)
            self.log.add(rec.error, "error")
        elif rec.state.value == "cancelled":
            self.log.add("cancelled", "warning")
        self.refresh()
        if errors:  # after refresh(), which resets the banner
            self.banner.set(errors[0] if len(errors) == 1 else
                            f"{len(errors)} problems (see the log): {errors[0]}", "error")

    def import_files(self, files: list[str]) -> JobRecord:
        self.log.add(f"importing {len(files)} file(s) into {self._mdir()}")
        return self._run("import", import_job,
                         ModelTaskParams([Path(f) for f in files], dest=self._mdir()))

    def verify_selected(self) -> JobRecord | None:
        sel = self._selected() or self.rows
        files = [r["path"] for r in sel if r["path"]]
        if not files:
            self.log.add("nothing to verify: no selected model is present", "warning")
            return None
        return self._run("verify", verify_job, ModelTaskParams(files))

    def fetch_selected(self) -> JobRecord | None:
        for r in self._selected():
            spec = r["spec"]
            if r["state"] == "missing" and spec is not None and spec.url:
                return self._run("fetch", fetch_job, ModelTaskParams(
                    [], name=spec.name, url=spec.url, sha256=spec.sha256,
                    dest=self._mdir() / spec.filename))
        return None

    def cancel(self) -> None:
        if self.last is not None:
            self.ctx.queue.cancel(self.last)

    def on_show(self) -> None:
        self.refresh()

    # -- self-test ---------------------------------------------------------------------
    def self_test(self, d) -> str:
        """Import a good and a bad checkpoint, verify, and check the table and messages."""
        from studio.core.checkpoints import save_zeros

        d.check(any(r["name"] == "adain-vgg" for r in self.rows), "registry models missing")
        tmp = self.ctx.toy.root / "selftest" / "models"
        tmp.mkdir(parents=True, exist_ok=True)
        good = tmp / "tiny_net.pth"
        save_zeros(good, {"conv.weight": (2, 3, 1, 1)})
        bad = tmp / "broken.pth"
        bad.write_bytes(b"this is not a checkpoint")
        rec = self.import_files([str(good)])
        d.wait_job(rec)
        d.check(any(r["file"] == good.name and r["state"].startswith("present")
                    for r in self.rows), "the imported model is not listed as present")
        rec = self.import_files([str(bad)])
        d.wait_job(rec, state="failed")
        d.check("broken.pth" in rec.error, f"the error does not name the file: {rec.error}")
        wrong = tmp / "decoder.pth"  # tensors, but not the AdaIN decoder it claims to be
        save_zeros(wrong, {"conv.weight": (2, 3, 1, 1)})
        rec = self.import_files([str(wrong)])
        d.wait_job(rec, state="failed")
        d.check("not an adain-decoder checkpoint" in rec.error
                and self.log.errors.count(rec.error) == 1
                and self.banner.text() == rec.error,
                f"a wrong-layout decoder.pth is not refused once, by name: {rec.error}")
        row = next(i for i, r in enumerate(self.rows) if r["file"] == good.name)
        self.table.selectRow(row)
        rec = self.verify_selected()
        d.wait_job(rec)
        d.check(rec.result["failed"] == 0 and rec.result["verified"][0]["tensors"] == 1,
                f"verify gave {rec.result}")
        n_toy = sum(1 for r in self.rows if r["family"] in ("toy", "toy world")
                    and r["path"] is not None)
        return f"{len(self.rows)} models listed ({n_toy} toy models present)"
