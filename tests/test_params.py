"""The params dataclasses are the one schema: help on every field, torch-free modules, the
reference tools' spellings parsed to the same params, recipes that round-trip."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest

from studio.cli import build_parser
from studio.core.commands import params_from_args
from studio.core.params import help_of
from studio.recipes import RecipeError, parse_recipe, recipe_text
from studio.registry import job_types

ROOT = Path(__file__).resolve().parents[1]


def _parse(cls: type, argv: list[str]):
    return params_from_args(cls, build_parser().parse_args(argv))


def test_every_job_field_has_help_and_its_class_lives_in_a_torch_free_module():
    modules = set()
    for name, jt in job_types().items():
        missing = [f.name for f in dataclasses.fields(jt.params) if not help_of(f)]
        assert not missing, f"{name}: {jt.params.__name__} fields without help: {missing}"
        assert jt.params.__module__.endswith(".params"), (name, jt.params.__module__)
        modules.add(jt.params.__module__)
    code = ("import importlib, sys\n"
            f"for m in {sorted(modules)!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'PySide6') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.stdout.strip() == "[]", r.stdout + r.stderr[-2000:]


def test_old_import_paths_name_the_same_classes():
    from studio.adain import params as ap
    from studio.adain.stylize import StylizeParams
    from studio.adain.train import TrainParams
    from studio.texture_shape import params as tp
    from studio.texture_shape.cue_conflict import CueConflictParams, ToyCueConflictParams
    from studio.texture_shape.experiment import ExperimentParams
    from studio.texture_shape.shape_bias import ShapeBiasParams
    from studio.texture_shape.stylized import StylizedParams
    from studio.toyworld.generate import ToyWorldParams
    from studio.toyworld.params import ToyWorldParams as TW
    from studio.tsit import params as sp
    from studio.tsit.train import TrainTSITParams
    from studio.tsit.translate import BuildTranslatedParams, TranslateParams

    assert (StylizeParams, TrainParams) == (ap.StylizeParams, ap.TrainParams)
    assert (TranslateParams, BuildTranslatedParams, TrainTSITParams) == \
        (sp.TranslateParams, sp.BuildTranslatedParams, sp.TrainTSITParams)
    assert (StylizedParams, CueConflictParams, ToyCueConflictParams, ShapeBiasParams,
            ExperimentParams) == (tp.StylizedParams, tp.CueConflictParams,
                                  tp.ToyCueConflictParams, tp.ShapeBiasParams,
                                  tp.ExperimentParams)
    assert ToyWorldParams is TW


# ---------------------------------------------------------------------------------------
# Reference spellings


def test_pytorch_adain_test_py_spellings():
    from studio.adain.params import StylizeParams

    ref = _parse(StylizeParams, [
        "stylize", "--content_dir", "c", "--style", "a.jpg,b.jpg",
        "--style_interpolation_weights", "1,0.5", "--content_size", "256", "--style_size",
        "0", "--crop", "--save_ext", ".png", "--output", "o", "--alpha", "0.5",
        "--preserve_color"])
    ours = _parse(StylizeParams, [
        "stylize", "--content-dir", "c", "--style", "a.jpg", "b.jpg",
        "--style-interpolation-weights", "1", "0.5", "--content-size", "256",
        "--style-size", "0", "--crop", "--save-ext", ".png", "--out", "o", "--alpha", "0.5",
        "--preserve-color"])
    assert ref == ours
    assert ref.style == ["a.jpg", "b.jpg"] and ref.style_interpolation_weights == [1.0, 0.5]
    assert ref.preserve_color and ref.content_size == 256 and ref.output == "o"
    # --color-method implies colour preservation; --no_channels_last still works
    from studio.adain.cli import stylize_params

    p = stylize_params(build_parser().parse_args(["stylize", "--content", "x", "--style", "y",
                                                  "--color_method", "luminance",
                                                  "--no_channels_last"]))
    assert (p.preserve_color, p.color_method, p.channels_last) == (True, "luminance", False)
    assert stylize_params(build_parser().parse_args(["stylize", "--content", "x", "--style",
                                                     "y"])) == StylizeParams(content="x",
                                                                             style=["y"])


def test_pytorch_adain_train_py_spellings():
    from studio.adain.params import TrainParams

    ref = _parse(TrainParams, [
        "train", "adain", "--content_dir", "coco", "--style_dir", "wikiart", "--vgg", "v.pth",
        "--save_dir", "exp", "--log_dir", "logs", "--lr", "2e-4", "--lr_decay", "1e-5",
        "--max_iter", "100", "--batch_size", "4", "--style_weight", "5", "--content_weight",
        "2", "--n_threads", "1", "--save_model_interval", "50", "--no_resume"])
    ours = _parse(TrainParams, [
        "train", "adain", "--content-dir", "coco", "--style-dir", "wikiart", "--vgg", "v.pth",
        "--output", "exp", "--log-dir", "logs", "--lr", "2e-4", "--lr-decay", "1e-5",
        "--max-iter", "100", "--batch-size", "4", "--style-weight", "5", "--content-weight",
        "2", "--n-threads", "1", "--save-model-interval", "50", "--no-resume"])
    assert ref == ours == TrainParams(
        content_dir="coco", style_dir="wikiart", vgg="v.pth", save_dir=Path("exp"),
        log_dir="logs", lr=2e-4, lr_decay=1e-5, max_iter=100, batch_size=4, style_weight=5.0,
        content_weight=2.0, n_threads=1, save_model_interval=50, resume=False)
    assert _parse(TrainParams, ["train", "adain", "--content_dir", "c", "--style_dir", "s",
                                "--decoder_widths", "8,16", "--decoder-convs", "1", "2"]
                  ).decoder_widths == [8, 16]


def test_tsit_official_spellings():
    from studio.tsit.params import BuildTranslatedParams, TrainTSITParams, TranslateParams

    ref = _parse(TrainTSITParams, [
        "train", "tsit", "--croot", "c", "--sroot", "s", "--out", "run", "--batchSize", "2",
        "--niter", "3", "--niter_decay", "1", "--lambda_vgg", "2", "--lambda_feat", "0.5",
        "--gan_mode", "ls", "--num_D", "1", "--n_layers_D", "2", "--no_TTUR", "--no_flip",
        "--crop_size", "128", "--display_freq", "7", "--save_latest_freq", "9",
        "--print_freq", "3", "--label_nc", "5"])
    ours = _parse(TrainTSITParams, [
        "train", "tsit", "--data", "c", "--style", "s", "--out", "run", "--batch-size", "2",
        "--epochs", "3", "--epochs-decay", "1", "--lambda-vgg", "2", "--lambda-feat", "0.5",
        "--gan-mode", "ls", "--num-D", "1", "--n-layers-D", "2", "--no-ttur", "--no-flip",
        "--size", "128", "--preview-every", "7", "--save-every", "9", "--log-every", "3",
        "--label-nc", "5"])
    assert ref == ours
    assert (ref.batch_size, ref.epochs, ref.no_ttur, ref.flip, ref.size) == (2, 3, True,
                                                                             False, 128)
    # the official run folder: --checkpoints_dir DIR --name NAME
    args = build_parser().parse_args(["train", "tsit", "--croot", "c", "--checkpoints_dir",
                                      "ck", "--name", "ast_x"])
    from studio.tsit.cli import _official_run

    assert _official_run(args) == Path("ck") / "ast_x"
    t = _parse(TranslateParams, ["translate", "--model", "m.pth", "--croot", "a.png",
                                 "--sroot", "b.png", "--results_dir", "res", "--label_nc",
                                 "3", "--eager"])
    assert t == TranslateParams(model="m.pth", content=[Path("a.png")], style=[Path("b.png")],
                                out=Path("res"), label_nc=3, fast=False)
    b = _parse(BuildTranslatedParams, ["build", "translated", "--model", "toy", "--croot",
                                       "c", "--sroot", "s", "--results_dir", "o"])
    assert (b.content, b.style, b.out) == (Path("c"), Path("s"), Path("o"))


def test_tsit_which_epoch_names_the_official_generator(tmp_path, capsys):
    """--checkpoints_dir/--name/--which_epoch stand for --model CHECKPOINTS_DIR/NAME/
    WHICH_EPOCH_net_G.pth: a missing file is named."""
    from studio.cli import main

    rc = main(["translate", str(tmp_path / "c.png"), "--style", str(tmp_path / "s.png"),
               "--checkpoints_dir", str(tmp_path), "--name", "ast_x", "--which_epoch", "20",
               "--out", str(tmp_path / "o")])
    assert rc != 0
    assert str(tmp_path / "ast_x" / "20_net_G.pth") in capsys.readouterr().err


def test_toyworld_and_texture_shape_spellings():
    from studio.texture_shape.params import (
        CueConflictParams,
        ShapeBiasParams,
        StylizedParams,
        ToyCueConflictParams,
    )
    from studio.texture_shape.stylized import SIN_SEED
    from studio.toyworld.params import ToyWorldParams

    a = _parse(ToyWorldParams, ["toyworld", "generate", "--out", "w", "--per_class", "3",
                                "--correlation", "0.5", "--splits", "train,test"])
    b = _parse(ToyWorldParams, ["toyworld", "generate", "--output", "w", "--per-class", "3",
                                "--shape-texture-correlation", "0.5", "--splits", "train",
                                "test"])
    assert a == b == ToyWorldParams(out=Path("w"), per_class=3, shape_texture_correlation=0.5,
                                    splits=["train", "test"])
    c = _parse(CueConflictParams, ["build", "cue-conflict", "--shapes", "s", "--textures", "t",
                                   "--out", "o", "--no-same-category", "--style-layers",
                                   "relu1_1,relu2_1", "--layer-weights", "1,2"])
    assert (c.include_same_category, c.style_layers, c.layer_weights) == \
        (False, ["relu1_1", "relu2_1"], [1.0, 2.0])
    assert _parse(CueConflictParams, ["build", "cue-conflict", "--shapes", "s", "--textures",
                                      "t", "--out", "o", "--same-category"]
                  ).include_same_category is True
    assert _parse(ToyCueConflictParams, ["build", "toy-cue-conflict", "--out", "o"]).seed == 3
    sb = _parse(ShapeBiasParams, ["eval", "shape-bias", "--stimuli", "x", "--out", "o",
                                  "--classes", "a,b", "--formats", "png", "--no-plot"])
    assert (sb.classes, sb.formats, sb.plot) == (["a", "b"], ["png"], False)
    # build stylized: explicit options, then the preset, then the defaults
    from studio.texture_shape.cli import stylized_params

    args = build_parser().parse_args(["build", "stylized", "--content-dir", "c", "--style-dir",
                                      "s", "--output", "o", "--preset", "sin", "--alpha",
                                      "0.5", "--split", "val,train", "--no-channels-last"])
    p = stylized_params(args)
    assert (p.model, p.seed, p.alpha, p.splits, p.channels_last, p.workers) == \
        ("official", SIN_SEED, 0.5, ["val", "train"], False, StylizedParams().workers)


def test_bool_switches_never_double_the_no():
    import argparse

    def walk(p):
        yield p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sp in a.choices.values():
                    yield from walk(sp)

    flags = {o for p in walk(build_parser()) for a in p._actions for o in a.option_strings}
    assert "--no-ttur" in flags and "--no_flip" in flags
    assert not [o for o in flags if o.startswith(("--no-no", "--no_no"))]
    args = build_parser().parse_args(["train", "tsit", "--data", "x"])
    assert args.no_ttur is False and args.flip is True


# ---------------------------------------------------------------------------------------
# Recipes


def _example(cls: type):
    """An instance with every required field set and every other one off its default."""
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        base = next((a for a in typing.get_args(tp) if a is not type(None)), tp) \
            if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType) else tp
        origin = typing.get_origin(base)
        if base is Path:
            kw[f.name] = Path(f"/data/{f.name}")
        elif base is bool:
            kw[f.name] = not (f.default if isinstance(f.default, bool) else False)
        elif base is int:
            kw[f.name] = (f.default if isinstance(f.default, int) else 0) + 1
        elif base is float:
            kw[f.name] = (f.default if isinstance(f.default, float) else 0.0) + 0.25
        elif origin is typing.Literal:
            kw[f.name] = typing.get_args(base)[-1]
        elif origin is list:
            item = typing.get_args(base)[0]
            kw[f.name] = {int: [2, 3], float: [0.5, 1.5], Path: [Path("/a"), Path("/b")]
                          }.get(item, ["/x/a.png", "/x/b.png"])
        check = f.metadata.get("check")  # stay in the field's range: recipes check it too
        if f.name in kw and (check == "unit" or isinstance(check, tuple)):
            lo, hi = (0.0, 1.0) if check == "unit" else check
            v = kw.get(f.name)
            vs = [_in_range(x, lo, hi) for x in (v if isinstance(v, list) else [v])]
            kw[f.name] = vs if isinstance(v, list) else vs[0]
    return cls(**kw)


def _in_range(v, lo, hi):
    """``v`` reflected into [lo, hi] when it is a number outside it."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return v
    if hi is not None and v > hi:
        return type(v)(2 * hi - v)
    return type(v)(lo) if lo is not None and v < lo else v


@pytest.mark.parametrize("job", sorted(job_types()))
def test_every_job_round_trips_through_a_recipe(job):
    jt = job_types()[job]
    params = _example(jt.params)
    again = parse_recipe(tomllib.loads(recipe_text(job, params)))[1]
    assert again == params


def test_list_fields_read_their_old_string_form_strictly():
    base = 'schema = 1\njob = "adain.stylize"\n[params]\ncontent = "c.png"\n'
    p = parse_recipe(tomllib.loads(base + 'style = "a.png, b.png"\n'
                                   'style_interpolation_weights = "1,3"\nmasks = ""\n'))[1]
    assert (p.style, p.style_interpolation_weights, p.masks) == (["a.png", "b.png"],
                                                                 [1.0, 3.0], [])
    with pytest.raises(RecipeError, match=r"style_interpolation_weights\[1\]: expected float"):
        parse_recipe(tomllib.loads(base + 'style_interpolation_weights = "1,lots"\n'))
    # a list field that never was a string stays strict
    with pytest.raises(RecipeError, match="expected list of str"):
        parse_recipe(tomllib.loads('schema = 1\njob = "shape-bias"\n[params]\n'
                                   'stimuli = "s"\nout = "o"\nformats = "png"\n'))


def test_out_and_output_both_work_everywhere():
    import argparse

    def walk(p, prefix):
        yield prefix, p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    yield from walk(sp, prefix + [name])

    odd = []
    for path, p in walk(build_parser(), []):
        by_flag = {o: a.dest for a in p._actions for o in a.option_strings}
        if ("--out" in by_flag or "--output" in by_flag) and \
                by_flag.get("--out") != by_flag.get("--output"):
            odd.append(" ".join(path))
    assert not odd, f"--out without --output (or the other way round): {odd}"
