"""Recipe files: round trip and precise validation errors."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from conftest import installed_engine

from studio.core.jobs import Progress, drive
from studio.recipes import (
    RecipeError,
    load_recipe,
    parse_recipe,
    recipe_text,
    save_recipe,
)


@dataclass
class _P:
    out: Path
    alpha: float = 1.0
    steps: int = 3
    mode: Literal["a", "b"] = "a"
    weights: list[float] | None = None
    flag: bool = False


def _job(params: _P, token=None):
    for i in range(params.steps):
        yield Progress(i + 1, params.steps)
    return {"alpha": params.alpha, "out": str(params.out)}


@pytest.fixture(scope="module", autouse=True)
def _recipe_engine(tmp_path_factory):
    """The test job, declared by a plugin engine as any engine declares its jobs."""
    engine = f"""
        from studio.core.engines import Engine, JobSpec
        ENGINE = Engine("recipe_test", "test", jobs=(
            JobSpec("_test-recipe", "{__name__}:_P", "{__name__}:_job", "test job"),))
    """
    with installed_engine(tmp_path_factory.mktemp("plugins"), "recipe_test_engine",
                          {"engine": engine}):
        yield


def test_roundtrip_runs_the_same_job(tmp_path):
    params = _P(tmp_path / "o", alpha=0.25, steps=2, mode="b", weights=[0.5, 1])
    path = save_recipe(tmp_path / "r.toml", "_test-recipe", params)
    jt, loaded = load_recipe(path)
    assert jt.params is _P and jt.fn is _job and jt.engine == "recipe_test"
    assert loaded == _P(tmp_path / "o", 0.25, 2, "b", [0.5, 1.0], False)
    assert drive(jt.fn(loaded, None)) == {"alpha": 0.25, "out": str(tmp_path / "o")}


def test_none_fields_are_omitted():
    text = recipe_text("_test-recipe", _P(Path("x")))
    assert "weights" not in text and "schema = 1" in text


@pytest.mark.parametrize("params, message", [
    ({"out": "x", "alpah": 1.0}, "unknown key 'alpah' (did you mean 'alpha'?)"),
    ({"out": "x", "alpha": "high"}, "params.alpha: expected float, got str 'high'"),
    ({"out": "x", "steps": 2.5}, "params.steps: expected int, got float 2.5"),
    ({"out": "x", "steps": True}, "params.steps: expected int, got bool True"),
    ({"out": "x", "mode": "c"}, "params.mode: expected one of 'a', 'b', got str 'c'"),
    ({"out": "x", "weights": [1, "z"]}, "params.weights[1]: expected float"),
    ({"out": "x", "flag": 1}, "params.flag: expected bool, got int 1"),
    ({"alpha": 1.0}, "missing required key(s): out"),
])
def test_validation_messages(params, message):
    with pytest.raises(RecipeError) as exc:
        parse_recipe({"schema": 1, "job": "_test-recipe", "params": params}, "r.toml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("r.toml: ")


@pytest.mark.parametrize("doc, message", [
    ({"job": "_test-recipe"}, "missing 'schema'"),
    ({"schema": 99, "job": "_test-recipe"}, "schema 99 is newer"),
    ({"schema": "1", "job": "_test-recipe"}, "schema: expected int"),
    ({"schema": 1, "job": "nope"}, "unknown job type 'nope'"),
    ({"schema": 1, "job": "_test-recipe", "extra": 1}, "unknown top-level key 'extra'"),
    ({"schema": 1, "job": "_test-recipe", "params": 3}, "[params] must be a table"),
])
def test_document_errors(doc, message):
    with pytest.raises(RecipeError, match=None) as exc:
        parse_recipe(doc, "r.toml")
    assert message in str(exc.value)


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = = 1")
    with pytest.raises(RecipeError, match="bad.toml: not valid TOML"):
        load_recipe(bad)


def test_cli_run_executes_a_recipe(tmp_path, capsys):
    from studio.cli import main

    r = tmp_path / "tw.toml"
    r.write_text(f'schema = 1\njob = "toyworld"\n[params]\nout = "{tmp_path / "w"}"\n'
                 'per_class = 2\nsize = 32\nworkers = 1\n')
    assert main(["run", str(r), "-q"]) == 0
    assert len(list((tmp_path / "w").rglob("*.png"))) == 20
    r.write_text('schema = 1\njob = "toyworld"\n[params]\nper_clas = 2\n')
    assert main(["run", str(r)]) == 2
    assert "unknown key 'per_clas' (did you mean 'per_class'?)" in capsys.readouterr().err


def test_string_path_fields_resolve_against_the_recipe_folder(tmp_path, monkeypatch):
    """str fields that hold paths (stylize's content, comma lists of styles) follow the
    recipe's folder like Path fields; registry names ('toy', 'adain-vgg') stay names."""
    from studio.adain.stylize import StylizeParams
    from studio.recipes import load_recipe, save_recipe
    from studio.texture_shape.stylized import StylizedParams

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.png").write_bytes(b"x")
    (sub / "toy").mkdir()  # a folder named like a registry entry does not turn it into one
    text = ('schema = 1\njob = "adain.stylize"\n[params]\ncontent = "c.png"\n'
            'style = "a.png,b.png"\noutput = "out"\nvgg = "adain-vgg"\n')
    (sub / "r.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    _, p = load_recipe(sub / "r.toml")
    assert p.content == str(sub / "c.png") and p.output == str(sub / "out")
    assert p.style == [str(sub / "a.png"), str(sub / "b.png")] and p.vgg == "adain-vgg"
    # the list form, and the legacy empty string of a list of numbers
    (sub / "l.toml").write_text(text.replace('"a.png,b.png"', '["a.png", "/x/b.png"]')
                                + 'style_interpolation_weights = ""\n')
    _, p = load_recipe(sub / "l.toml")
    assert p.style == [str(sub / "a.png"), "/x/b.png"] and p.style_interpolation_weights == []
    # saved from the window (relative to the working folder): replays from anywhere
    save_recipe(sub / "s.toml", "adain.stylize", StylizeParams(content="sub/c.png",
                                                               output="o"))
    monkeypatch.chdir(sub)
    _, q = load_recipe("s.toml")
    assert q.content == str(sub / "c.png") and q.output == str(tmp_path / "o")
    save_recipe(sub / "b.toml", "build-stylized", StylizedParams(model="toy"))
    assert load_recipe(sub / "b.toml")[1].model == "toy"
