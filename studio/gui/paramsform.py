"""A form built from a job's params dataclass: one widget per field, tooltips from its help.

The same dataclass is a recipe, a CLI command and this form, so a new engine option
appears in the window without GUI code. Help text comes from a page's help dict, else the
field's metadata (``core.params.param(..., help=...)``), the text ``--help`` shows.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from studio.core.params import PATH_META, help_of
from studio.gui.widgets import PathEdit
from studio.recipes import RecipeError, coerce

_NONE = type(None)
#: How a field whose text cannot be read is marked (a theme-independent red border).
INVALID_STYLE = "border: 1px solid #d14343;"


def field_docs(cls: type) -> dict[str, str]:
    """Help text for each field of a params dataclass, from its metadata
    (``core.params.param(..., help=...)``): the same text as ``--help``. Source comments
    are not read: a frozen bundle has no source."""
    return {f.name: h for f in dataclasses.fields(cls) if (h := help_of(f))}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return tp, optional
    return tp, False


def _label(name: str) -> str:
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _is_dir_field(name: str) -> bool:
    n = name.lower()
    return n in ("out", "output", "root") or n.endswith("_dir") or n.endswith("dir") or (
        n.startswith("out") and "file" not in n) or n.endswith("_root") or "folder" in n


class FieldEditor:
    """One field: its widget, and how to read/write a Python value from/to it."""

    def __init__(self, f: dataclasses.Field, tp: Any, help_text: str, parent: QWidget):
        self.field = f
        self.name = f.name
        self.tp = tp
        self.base, self.optional = _unwrap_optional(tp)
        origin = typing.get_origin(self.base)
        self.kind = "text"
        base = self.base
        if base is bool:
            self.kind, w = "bool", QCheckBox(parent)
            if self.optional:  # None = the method's default: the third, partial state
                w.setTristate(True)
                w.checkStateChanged.connect(lambda st, w=w: w.setText(
                    "(default)" if st == Qt.CheckState.PartiallyChecked else ""))
        elif base is int:
            self.kind, w = "int", QSpinBox(parent)
            w.setRange(-(2**31) + 1, 2**31 - 1)
            w.setAccelerated(True)
        elif base is float:
            self.kind, w = "float", QDoubleSpinBox(parent)
            w.setRange(-1e12, 1e12)
            w.setDecimals(5)
            w.setSingleStep(0.1)
        elif origin is typing.Literal:
            self.kind, w = "choice", QComboBox(parent)
            if self.optional:
                w.addItem("(default)", None)
            for a in typing.get_args(base):
                w.addItem(str(a), a)
        elif base is Path:
            self.kind = "path"
            mode = "dir" if _is_dir_field(self.name) else "file"
            w = PathEdit(mode=mode, parent=parent, key=f"field/{self.name}")
        elif origin in (list, tuple):
            # numbers may be separated by commas, spaces or both ("0.485 0.456 0.406" is
            # "0.485, 0.456, 0.406"): people paste them from papers and code
            item = (typing.get_args(base) or (str,))[0]
            self.item_tp = item
            self.kind = "pathlist" if item is Path else "list"
            w = QLineEdit(parent)
            if item is Path:
                w.setPlaceholderText("separate paths with ;")
            elif item in (int, float):
                w.setPlaceholderText(("empty = default; " if self.optional else "")
                                     + "numbers, separated by commas or spaces")
            else:
                w.setPlaceholderText(("empty = default; " if self.optional else "")
                                     + "comma-separated values")
        elif f.metadata.get(PATH_META) == "path-or-name" and base is str:
            # a model file or a registry name ("toy"): typed, dropped or browsed for
            w = PathEdit(mode="file", parent=parent, key=f"field/{self.name}")
            w.edit.setPlaceholderText("a file, or a registry name")
        else:
            w = QLineEdit(parent)
        if self.optional and self.kind in ("int", "float"):
            # None is shown as the spin box's minimum with the text "default"/"none"
            w.setMinimum(w.minimum())
            w.setSpecialValueText("(none)")
        self.widget = w
        tip = help_text or ""
        type_line = f"type: {_type_text(tp)}"
        self.tooltip = (f"<b>{_label(self.name)}</b><br>{tip}<br><i>{type_line}</i>"
                        if tip else f"<b>{_label(self.name)}</b><br><i>{type_line}</i>")
        w.setToolTip(self.tooltip)
        #: Extra check of the value (the page's: "three numbers"): message or None.
        self.validator: Any = None
        #: Why the current text cannot be used ("" when it can); shown on the widget.
        self.error = ""
        #: The line under the field that says why (set by the form; hidden when fine).
        self.error_label: QLabel | None = None
        if self.kind in ("list", "text") and isinstance(w, QLineEdit):
            w.textChanged.connect(lambda *_: self.check())

    def check(self) -> str:
        """Read the field now and mark it when its text cannot be used (a red border and
        the reason in its tooltip): a bad entry is shown where it was typed, not dropped
        and not found only when Run is pressed. Returns the reason ("" when fine)."""
        try:
            self.get()
            error = ""
        except RecipeError as exc:
            error = str(exc)
        if error != self.error:
            self.error = error
            w = self.widget
            w.setProperty("invalid", bool(error))
            w.setStyleSheet(f"QLineEdit {{ {INVALID_STYLE} }}" if error else "")
            w.setToolTip(self.tooltip + (f"<br><b>Not valid:</b> {error}" if error else ""))
            if self.error_label is not None:  # in view, not only in a tooltip
                self.error_label.setText(error)
                _show_row(self.error_label, bool(error))
        return error

    def set(self, value: Any) -> None:
        w = self.widget
        if self.kind == "bool":
            if value is None and self.optional:
                w.setCheckState(Qt.CheckState.PartiallyChecked)
            else:
                w.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
        elif self.kind in ("int", "float"):
            if value is None:
                w.setValue(w.minimum())
            else:
                w.setValue(value)
        elif self.kind == "choice":
            i = w.findData(value)
            if i >= 0:
                w.setCurrentIndex(i)
        elif self.kind == "path":
            w.setText("" if value is None else str(value))
        elif self.kind in ("list", "pathlist"):
            sep = "; " if self.kind == "pathlist" else ", "
            if isinstance(value, (str, Path, int, float)):
                value = [value]
            w.setText("" if value is None else sep.join(str(v) for v in value))
        else:
            w.setText("" if value is None else str(value))

    def get(self) -> Any:
        """The field's value, checked against its annotation (RecipeError if wrong)."""
        w = self.widget
        where = _label(self.name)
        if self.kind == "bool":
            if self.optional and w.checkState() == Qt.CheckState.PartiallyChecked:
                return None
            return w.isChecked()
        if self.kind in ("int", "float"):
            if self.optional and w.value() == w.minimum():
                return None
            return int(w.value()) if self.kind == "int" else float(w.value())
        if self.kind == "choice":
            return w.currentData()
        if self.kind == "path":
            text = w.text().strip()
            if not text:
                if self.optional:
                    return None
                raise RecipeError(f"{where}: a path is required")
            return Path(text).expanduser()
        if self.kind in ("list", "pathlist"):
            text = w.text().strip()
            if not text:
                return None if self.optional else []
            if self.kind == "pathlist":
                return [Path(p.strip()).expanduser() for p in text.split(";") if p.strip()]
            parts = [t.strip() for t in text.split(",")]
            if "" in parts[:-1]:  # "1,,2" or ", 2": an entry was lost, not meant
                raise RecipeError(f"{where}: an empty entry in {text!r}")
            numbers = self.item_tp in (int, float)
            raw = [t for part in parts for t in (part.split() if numbers else [part]) if t]
            try:
                vals = [_parse_scalar(t, self.item_tp, where) for t in raw]
            except RecipeError as exc:
                if not numbers:
                    raise
                # "0;1" or "0/1": say how a list is written, not only what is wrong
                raise RecipeError(f"{exc}; write the numbers separated by commas or spaces, "
                                  "e.g. 0 1 2 or 0, 1, 2") from None
            return self._validated(coerce(vals, self.base, where))
        text = w.text()
        if self.optional and not text.strip():
            return None
        return self._validated(coerce(_parse_scalar(text, self.base, where), self.base, where))

    def _validated(self, value: Any) -> Any:
        if self.validator is not None and value is not None:
            problem = self.validator(value)
            if problem:
                raise RecipeError(f"{_label(self.name)}: {problem}")
        return value


def _parse_scalar(text: str, tp: Any, where: str) -> Any:
    _, _ = where, tp
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise RecipeError(f"{where}: {text!r} is not a whole number") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise RecipeError(f"{where}: {text!r} is not a number") from None
    if tp is bool:
        return text.lower() in ("1", "true", "yes", "on")
    return text


def _type_text(tp: Any) -> str:
    from studio.recipes import _type_name

    try:
        return _type_name(tp)
    except Exception:  # pragma: no cover - display only
        return str(tp)


class ParamsForm(QWidget):
    """Editable form for a params dataclass; :meth:`params` returns a validated instance."""

    changed = Signal()

    def __init__(self, cls: type, parent: QWidget | None = None, *,
                 help: dict[str, str] | None = None, hidden: tuple[str, ...] = (),
                 defaults: dict[str, Any] | None = None):
        super().__init__(parent)
        self.cls = cls
        self.hidden = set(hidden)
        self._hidden_values: dict[str, Any] = {}
        docs = dict(field_docs(cls))
        docs.update(help or {})
        hints = typing.get_type_hints(cls)
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(layout.labelAlignment())
        self.editors: dict[str, FieldEditor] = {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            ed = FieldEditor(f, hints.get(f.name, str), docs.get(f.name, ""), self)
            self.editors[f.name] = ed
            if f.default is not dataclasses.MISSING:
                ed.set(f.default)
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                ed.set(f.default_factory())  # type: ignore[misc]
            if f.name in self.hidden:
                ed.widget.hide()
                continue
            label = QLabel(_label(f.name), self)
            label.setToolTip(ed.widget.toolTip())
            label.setBuddy(ed.widget)
            layout.addRow(label, ed.widget)
            if ed.kind in ("list", "text"):
                note = QLabel("", self)
                note.setObjectName("fieldError")
                note.setWordWrap(True)
                note.setStyleSheet("color: #d14343;")
                note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
                layout.addRow(note)
                ed.error_label = note
                note.setText(ed.error)
                _show_row(note, bool(ed.error))
            _connect_changed(ed.widget, self.changed.emit)
        for k, v in (defaults or {}).items():
            self.set_value(k, v)

    def set_validator(self, name: str, check: Any) -> None:
        """Add a check of one field's value (``check(value) -> reason or None``), applied
        while typing and by :meth:`params` (e.g. "mean needs three numbers")."""
        if name in self.editors:
            self.editors[name].validator = check
            self.editors[name].check()

    def set_value(self, name: str, value: Any) -> None:
        if name in self.editors:
            self.editors[name].set(value)
        if name in self.hidden:
            self._hidden_values[name] = value

    def set_params(self, params: Any) -> None:
        """Fill the form from a params instance (e.g. a loaded recipe)."""
        for f in dataclasses.fields(params):
            if f.name in self.editors:
                self.set_value(f.name, getattr(params, f.name))

    def value(self, name: str) -> Any:
        if name in self.hidden and name in self._hidden_values:
            return self._hidden_values[name]
        return self.editors[name].get()

    def params(self) -> Any:
        """A validated params instance; raises RecipeError naming the field otherwise."""
        kwargs = {}
        for name, ed in self.editors.items():
            kwargs[name] = self._hidden_values[name] if name in self._hidden_values else ed.get()
        try:
            return self.cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise RecipeError(str(exc)) from exc

    def tooltips(self) -> dict[str, str]:
        return {n: ed.widget.toolTip() for n, ed in self.editors.items()}


def _show_row(w: QWidget, visible: bool) -> None:
    """Show or hide a form row (a hidden row takes no space, unlike a hidden widget)."""
    lay = w.parentWidget().layout() if w.parentWidget() is not None else None
    if isinstance(lay, QFormLayout):
        lay.setRowVisible(w, visible)
    else:
        w.setVisible(visible)


def _connect_changed(w: QWidget, slot: Any) -> None:
    for sig in ("toggled", "valueChanged", "currentIndexChanged", "textChanged"):
        s = getattr(w, sig, None)
        if s is not None:
            try:
                s.connect(lambda *a: slot())
                return
            except (AttributeError, TypeError, RuntimeError):
                continue
