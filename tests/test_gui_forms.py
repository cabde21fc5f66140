"""Params forms built from job dataclasses: widgets, validation, tooltips from docs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

pytest.importorskip("PySide6")

from studio.core.params import param
from studio.gui.paramsform import ParamsForm, field_docs
from studio.recipes import RecipeError


@dataclass
class DemoParams:
    """A params class like the engines write."""

    out: Path
    alpha: float = param(1.0, "how strongly to stylise")
    steps: int = param(10, "optimisation steps")
    mode: Literal["fast", "exact"] = "fast"
    limit: int | None = None
    names: list[str] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    weights: list[float] = field(default_factory=lambda: [0.5, 0.5])
    flip: bool = True
    note: str = field(default="", metadata={"help": "free text"})
    dataset: str = "toy"  # a comment is not help: a frozen bundle has no source
    jitter: bool | None = None
    keep: Literal["best", "last"] | None = None


def test_field_docs_come_from_the_field_metadata_only():
    docs = field_docs(DemoParams)
    assert docs["alpha"] == "how strongly to stylise"
    assert docs["steps"] == "optimisation steps"
    assert docs["note"] == "free text"
    assert "out" not in docs and "dataset" not in docs


def test_field_docs_need_no_source(monkeypatch):
    """A frozen bundle has no .py files: the help must not come from inspect.getsource."""
    import inspect

    from studio.adain.params import StylizeParams

    def no_source(obj):
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsource", no_source)
    docs = field_docs(StylizeParams)
    assert set(docs) == {f.name for f in dataclasses.fields(StylizeParams)}
    assert "normalised to sum 1" in docs["style_interpolation_weights"]


def test_round_trip_and_types(qtbot, tmp_path):
    form = ParamsForm(DemoParams)
    qtbot.addWidget(form)
    p = DemoParams(out=tmp_path / "o", alpha=0.25, steps=3, mode="exact", limit=7,
                   names=["a", "b"], inputs=[tmp_path / "x.png", tmp_path / "y.png"],
                   weights=[0.2, 0.8], flip=False, note="hi", dataset="cifar")
    form.set_params(p)
    assert form.params() == p
    form.set_value("limit", None)
    form.set_value("names", [])
    assert form.params().limit is None and form.params().names == []
    # optional bool / choice: None (= the engine's default) survives a round trip
    assert form.params().jitter is None and form.params().keep is None
    form.set_value("jitter", False)
    form.set_value("keep", "last")
    assert form.params().jitter is False and form.params().keep == "last"
    assert form.editors["mode"].widget.count() == 2


def test_bad_values_name_the_field(qtbot):
    form = ParamsForm(DemoParams)
    qtbot.addWidget(form)
    with pytest.raises(RecipeError, match="Out: a path is required"):
        form.params()
    form.set_value("out", Path("/tmp/x"))
    form.editors["weights"].widget.setText("0.5, lots")
    with pytest.raises(RecipeError, match="Weights: 'lots' is not a number"):
        form.params()


def test_tooltips_on_every_field_and_defaults_shown(qtbot):
    form = ParamsForm(DemoParams, help={"out": "where results go"})
    qtbot.addWidget(form)
    tips = form.tooltips()
    assert all(tips.values()) and set(tips) == {f.name for f in dataclasses.fields(DemoParams)}
    assert "optimisation steps" in tips["steps"]
    assert "where results go" in tips["out"] and "how strongly" in tips["alpha"]
    assert form.editors["steps"].widget.value() == 10


def test_every_registered_job_gets_a_working_form(qtbot):
    """Each engine's params class becomes a form whose defaults validate."""
    from studio.registry import job_types

    assert "toyworld" in job_types()
    for name, jt in job_types().items():
        form = ParamsForm(jt.params)
        qtbot.addWidget(form)
        for f in dataclasses.fields(jt.params):
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                form.set_value(f.name, Path("/tmp/required") if "Path" in str(f.type)
                               else form.editors[f.name].get() if f.name in form.editors
                               else None)
        try:
            params = form.params()
        except RecipeError as exc:  # only required non-path fields may be missing
            pytest.fail(f"{name}: defaults do not validate: {exc}")
        assert isinstance(params, jt.params)
