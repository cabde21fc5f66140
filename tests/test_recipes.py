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


# ---------------------------------------------------------------------------------------
# Recipes from the command line: --save-recipe, presets


def _fingerprint(out: Path) -> dict:
    import json

    return json.loads((out / "dataset.json").read_text())["fingerprint"]


def _retarget(recipe: Path, out: Path) -> Path:
    """The same recipe writing into ``out`` (the one thing a replay here changes)."""
    import tomllib

    import tomli_w

    doc = tomllib.loads(recipe.read_text())
    doc["params"]["out"] = str(out)
    copy = recipe.with_name(f"{out.name}.toml")
    copy.write_text(tomli_w.dumps(doc))
    return copy


@pytest.fixture(scope="module")
def toy_inputs(tmp_path_factory) -> Path:
    from studio.cli import main

    root = tmp_path_factory.mktemp("recipe-inputs")
    assert main(["toyworld", "generate", "--out", str(root / "world"), "--per-class", "1",
                 "--size", "64", "--num-classes", "3", "-q"]) == 0
    assert main(["toyworld", "generate", "--out", str(root / "textures"), "--per-class", "1",
                 "--kind", "texture", "--size", "64", "--num-classes", "3", "-q"]) == 0
    return root


def test_a_saved_preset_build_replays_to_the_same_fingerprint(toy_inputs, tmp_path):
    """`build stylized --preset toy --save-recipe`: the recipe holds the preset's values
    (not its name) and `studio run` of it makes a folder with the same fingerprint; a
    hand-written recipe naming `preset = "toy"` resolves to the same build."""
    import tomllib

    from studio.cli import main

    recipe = tmp_path / "sin.toml"
    cli = ["build", "stylized", "--preset", "toy", "--content", str(toy_inputs / "world"),
           "--styles", str(toy_inputs / "textures"), "--cache-dir", "none", "--workers", "0",
           "--device", "cpu", "-q"]
    assert main([*cli, "--out", str(tmp_path / "a"), "--save-recipe", str(recipe),
                 "--overwrite"]) == 0
    params = tomllib.loads(recipe.read_text())["params"]
    assert "preset" not in params and params["model"] == "toy"
    assert (params["content_size"], params["crop"], params["style_size"]) == (64, 64, 64)
    assert params["overwrite"] is False  # a replay resumes, never wipes
    assert main(["run", str(_retarget(recipe, tmp_path / "b")), "-q"]) == 0
    assert _fingerprint(tmp_path / "a") == _fingerprint(tmp_path / "b")
    # what the README's Recipes section shows: a recipe may name the preset instead
    by_name = tmp_path / "by-name.toml"
    by_name.write_text(f'schema = 1\njob = "build-stylized"\n[params]\npreset = "toy"\n'
                       f'content = "{toy_inputs / "world"}"\n'
                       f'styles = "{toy_inputs / "textures"}"\nout = "{tmp_path / "c"}"\n'
                       'cache_dir = "none"\nworkers = 0\ndevice = "cpu"\n')
    assert main(["run", str(by_name), "-q"]) == 0
    assert _fingerprint(tmp_path / "c") == _fingerprint(tmp_path / "a")


def test_a_saved_synthesis_replays_to_the_same_fingerprint(tmp_path):
    """synthesize's --preset is a setting of the method (a params field): the recipe
    keeps `preset = "toy"` and the engine resolves it, on the command line and in a run."""
    import tomllib

    from studio.cli import main

    recipe = tmp_path / "syn.toml"
    assert main(["synthesize", "--teacher", "toy", "--preset", "toy", "--method", "noise",
                 "--num-images", "6", "--batch-size", "3", "--out", str(tmp_path / "a"),
                 "--device", "cpu", "--seed", "5", "--save-recipe", str(recipe), "-q"]) == 0
    params = tomllib.loads(recipe.read_text())["params"]
    assert params["preset"] == "toy" and params["seed"] == 5 and params["teacher"] == "toy"
    assert main(["run", str(_retarget(recipe, tmp_path / "b")), "-q"]) == 0
    assert _fingerprint(tmp_path / "a") == _fingerprint(tmp_path / "b")


def test_every_job_command_saves_its_recipe_and_takes_strict():
    """--save-recipe and --strict on each command whose options come from a job's params
    (and only there), each command's params naming a job `studio run` knows."""
    import argparse

    from studio.cli import build_parser, job_of
    from studio.registry import job_types

    def walk(p, path):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield from walk(sub, (*path, name))
        yield path, p

    with_recipe = {" ".join(path) for path, p in walk(build_parser(), ())
                   if "--save-recipe" in p._option_string_actions}
    assert with_recipe >= {
        "build stylized", "build cue-conflict", "build toy-cue-conflict", "build translated",
        "synthesize", "toyworld generate", "stylize", "translate", "train adain",
        "train classifier", "train tsit", "eval classifier", "eval shape-bias",
        "eval synthetic", "distill", "prune"}
    assert not {c for c in with_recipe if c.startswith(("bench", "models"))}
    for path, p in walk(build_parser(), ()):
        if " ".join(path) in with_recipe:
            assert "--strict" in p._option_string_actions, path
    names = job_types()
    from studio.texture_shape.params import StylizedParams
    assert job_of(StylizedParams) == "build-stylized" and job_of(int) is None
    assert all(job_of(jt.params) == name for name, jt in names.items())


@pytest.mark.parametrize("preset, message", [
    ("nope", "params.preset: expected one of 'sin', 'toy', got str 'nope'"),
    (3, "params.preset: expected one of 'sin', 'toy', got int 3"),
])
def test_a_recipe_preset_is_checked(preset, message):
    doc = {"schema": 1, "job": "build-stylized", "params": {"preset": preset}}
    with pytest.raises(RecipeError) as exc:
        parse_recipe(doc, "r.toml")
    assert str(exc.value) == f"r.toml: {message}"
    with pytest.raises(RecipeError, match="job 'toyworld' has no presets"):
        parse_recipe({"schema": 1, "job": "toyworld", "params": {"preset": "toy",
                                                                "out": "x"}}, "r.toml")


def test_recipe_keys_win_over_the_preset():
    doc = {"schema": 1, "job": "build-stylized",
           "params": {"preset": "sin", "seed": 3, "min_style_size": 64}}
    _, p = parse_recipe(doc, "r.toml")
    assert (p.model, p.seed, p.min_style_size, p.content_size) == ("official", 3, 64, 256)
