"""`studio build stylized`, `studio build cue-conflict`, `studio build toy-cue-conflict`,
`studio eval shape-bias` and `studio bench build-stylized`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.core.commands import (
    CLIError,
    CommandGroups,
    add_overwrite,
    bool_option,
    comma_list,
    device_arg,
    json_mode,
    nonneg_int,
    positive_int,
    result_status,
    run_cli_job,
    set_result,
    unit_float,
)

#: Builtin defaults of the options below (the StylizedParams defaults), shown in --help.
_OPTS = (
    # flag, dest, type, help
    ("--model", "model", str, "auto (official if installed, else toy), official, toy, or an "
                              "encoder .pth (with --decoder)"),
    ("--vgg", "vgg", str, "official encoder: registry name or vgg_normalised.pth path"),
    ("--decoder", "decoder", str, "decoder: registry name or decoder.pth path"),
    ("--alpha", "alpha", unit_float, "content-style trade-off in [0, 1]"),
    ("--content-size", "content_size", nonneg_int, "Resize(shorter side) of contents; "
                                                   "0 = keep"),
    ("--crop", "crop", nonneg_int, "CenterCrop of contents after resizing; 0 = none"),
    ("--style-size", "style_size", positive_int, "styles: centre square crop shrunk to this "
                                                 "size"),
    ("--min-style-size", "min_style_size", nonneg_int, "reject styles with a side below "
                                                       "this (the reference: 224)"),
    ("--min-content-size", "min_content_size", nonneg_int, "reject contents with a side "
                                                           "below this"),
    ("--assignment", "assignment", str, "stream: the reference's RandomState stream (val "
                                        "first); hash: per-file hash, stable when files are "
                                        "added"),
    ("--batch-size", "batch_size", positive_int, "contents per network call"),
    ("--workers", "workers", nonneg_int, "processes decoding and PNG-encoding beside the "
                                         "compute (0 = none; default: the spare cores)"),
    ("--format", "format", str, "imagefolder or webdataset (tar shards)"),
    ("--shard-size", "shard_size", nonneg_int, "samples per WebDataset shard (0 = about --shards shards per split)"),
    ("--shards", "shards", positive_int, "WebDataset shards per split when --shard-size is 0"),
    ("--cache-dir", "cache_dir", str, "style statistics cache folder ('none' = keep in "
                                      "memory; default $STUDIO_CACHE or ~/.cache/studio)"),
    ("--preview-every", "preview_every", nonneg_int, "emit a preview every N batches (GUI; "
                                                     "0 = none)"),
)


def stylized_params(args: argparse.Namespace):
    """Explicit options, then the preset, then the builtin defaults."""
    from studio.texture_shape.stylized import PRESETS, StylizedParams

    values = {}
    if args.preset:
        values.update(PRESETS[args.preset])
    for _flag, dest, _t, _h in _OPTS:
        v = getattr(args, dest, None)
        if v is not None:
            values[dest] = v
    seed = getattr(args, "seed", None)
    if seed is not None:
        values["seed"] = seed
    if values.get("assignment", "stream") not in ("stream", "hash"):
        raise CLIError(f"--assignment must be stream or hash, not {values['assignment']!r}")
    if values.get("format", "imagefolder") not in ("imagefolder", "webdataset"):
        raise CLIError(f"--format must be imagefolder or webdataset, not {values['format']!r}")
    if args.no_channels_last:
        values["channels_last"] = False
    return StylizedParams(content=Path(args.content), styles=Path(args.styles),
                          out=Path(args.out), device=device_arg(args),
                          splits=list(args.split or []), dry_run=args.dry_run,
                          overwrite=args.overwrite, **values)


def _cmd_build_stylized(args: argparse.Namespace) -> int:
    from studio.core.checkpoints import CheckpointError
    from studio.texture_shape.stylized import build_stylized

    params = stylized_params(args)
    for what, p in (("content", params.content), ("style", params.styles)):
        if not p.is_dir():
            raise CLIError(f"{p}: {what} folder does not exist")
    try:
        result = run_cli_job(build_stylized(params), args)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from exc
    if not getattr(args, "quiet", False) and result is not None and not json_mode(args):
        print(json.dumps(result, indent=2, default=str))
    return result_status(result)


def _cmd_bench(args: argparse.Namespace) -> int:
    from studio.texture_shape.stylized_bench import run_bench

    workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    report = run_bench(contents=args.contents, styles=args.styles, size=args.size,
                       model=args.model, workers=workers, batch_size=args.batch_size,
                       device=device_arg(args), out=args.out, seed=getattr(args, "seed", 0) or 0,
                       quiet=bool(getattr(args, "quiet", False)), repeats=args.repeats)
    print(report["text"])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2, default=str))
    set_result(args, report)
    return 0


# --------------------------------------------------------------------------------------
# eval shape-bias


def _cmd_shape_bias(args: argparse.Namespace) -> int:
    from studio.core.commands import CLIError, device_arg, run_cli_job
    from studio.texture_shape.shape_bias import ShapeBiasParams, shape_bias_job

    models = list(args.model or [])
    if not models:
        raise CLIError("give at least one --model ARCH=WEIGHTS (e.g. "
                       "resnet50=resnet50_train_60_epochs-c8e5653e.pth.tar or "
                       "toyvgg=resources/toy/teacher.pth)")
    params = ShapeBiasParams(
        stimuli=Path(args.stimuli), out=Path(args.out), models=models,
        names=list(args.name or []), classes=args.classes.split(",") if args.classes else [],
        batch_size=args.batch_size, device=device_arg(args), plot=args.plot,
        reference=args.reference, formats=args.formats.split(","))
    result = run_cli_job(shape_bias_job(params, None), args)
    for name, s in result["summaries"].items():
        sb = s["shape_bias"]
        print(f"{name}: shape bias {'n/a' if sb is None else f'{sb:.3f}'}  "
              f"(shape {s['n_shape']}, texture {s['n_texture']}, other {s['n_other']} "
              f"of {s['n_conflict']} conflicts)")
    if result["plots"]:
        print("plot: " + ", ".join(result["plots"]))
    return 0


def _add_shape_bias(g) -> None:
    from studio.core.commands import positive_int

    p = g.add(g.eval, "shape-bias", "shape bias of classifiers on cue-conflict stimuli",
              _cmd_shape_bias, description=(
                  "Geirhos et al. shape bias: decisions.csv, summary.json and the "
                  "model-vs-human matrix plot (PNG/SVG/PDF). ImageNet models decide among "
                  "the 16 categories by the mean of member-class probabilities."))
    p.add_argument("--stimuli", required=True,
                   help="cue-conflict folder: <shape>/<shape><i>-<texture><j>.png")
    p.add_argument("--model", action="append", metavar="ARCH=WEIGHTS",
                   help="a model (repeatable): torchvision arch, toyvgg or cifar_*, "
                        "and a weights file (state_dict or .pth.tar) or registry name")
    p.add_argument("--name", action="append", help="plot label per --model (repeatable)")
    p.add_argument("--classes", default=None,
                   help="comma-separated class names of non-ImageNet models "
                        "(default: the categories, or the toy shapes for toyvgg)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=64)
    bool_option(p, "plot", True, "draw the matrix plot")
    bool_option(p, "reference", True, "draw the published reference values")
    p.add_argument("--formats", default="png,svg,pdf", help="plot file formats")


# --------------------------------------------------------------------------------------
# build cue-conflict


def _cmd_cue_conflict(args: argparse.Namespace) -> int:
    from studio.core.commands import device_arg, result_status, run_cli_job, seed_arg
    from studio.texture_shape.cue_conflict import CueConflictParams, cue_conflict_job

    params = CueConflictParams(
        shapes=Path(args.shapes), textures=Path(args.textures), out=Path(args.out),
        method=args.method, size=args.size, model=args.model,
        vgg=Path(args.vgg) if args.vgg else None,
        decoder=Path(args.decoder) if args.decoder else None, alpha=args.alpha,
        iterations=args.iterations, content_weight=args.content_weight,
        style_weight=args.style_weight, style_layers=comma_list(args.style_layers),
        content_layers=comma_list(args.content_layers),
        layer_weights=[float(w) for w in comma_list(args.layer_weights)],
        optimizer=args.optimizer, lr=args.lr, init=args.init,
        preview_every=args.preview_every, include_same_category=args.same_category,
        batch_size=args.batch_size, format=args.format, device=device_arg(args),
        seed=seed_arg(args), overwrite=args.overwrite, shard_size=args.shard_size,
        shards=args.shards)
    summary = run_cli_job(cue_conflict_job(params, None), args)
    print(f"{summary['num_items']} stimuli ({summary['num_same_category']} same-category) "
          f"in {args.out}; {summary['num_errors']} error(s)")
    return result_status(summary)


def _cmd_toy_cue_conflict(args: argparse.Namespace) -> int:
    from studio.core.commands import run_cli_job, seed_arg
    from studio.texture_shape.cue_conflict import ToyCueConflictParams, toy_cue_conflict_job

    params = ToyCueConflictParams(out=Path(args.out), per_pair=args.per_pair, size=args.size,
                                  seed=seed_arg(args, 3), overwrite=args.overwrite)
    summary = run_cli_job(toy_cue_conflict_job(params, None), args)
    print(f"{summary['num_items']} stimuli in {args.out}")
    return 0


def _add_cue_conflict(g) -> None:
    from studio.core.commands import (
        int_range,
        nonneg_float,
        nonneg_int,
        positive_float,
        positive_int,
        unit_float,
    )

    p = g.add(g.build, "cue-conflict", "texture-shape cue-conflict stimuli (AdaIN or Gatys)",
              _cmd_cue_conflict, description=(
                  "Every shape image x every texture image, named "
                  "<shape>/<shape><i>-<texture><j>.png (same-category pairs included and "
                  "marked in the manifest). AdaIN (fast) or Gatys optimisation (as the "
                  "reference stimuli were made), official VGG-19 or the toy networks."))
    p.add_argument("--shapes", required=True, help="folder with one subfolder per category")
    p.add_argument("--textures", required=True, help="folder with one subfolder per category")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", choices=["adain", "gatys"], default="adain")
    p.add_argument("--size", type=int_range(16), default=224, help="output side in px")
    p.add_argument("--model", choices=["auto", "official", "toy"], default="auto",
                   help="auto: official VGG-19 AdaIN if installed, else the toy one")
    p.add_argument("--vgg", default=None, help="encoder file (vgg_normalised layout)")
    p.add_argument("--decoder", default=None, help="decoder file")
    p.add_argument("--alpha", type=unit_float, default=1.0,
                   help="AdaIN content-style trade-off in [0, 1]")
    gg = p.add_argument_group("Gatys options")
    gg.add_argument("--iterations", type=positive_int, default=300)
    gg.add_argument("--content-weight", dest="content_weight", type=nonneg_float, default=1.0)
    gg.add_argument("--style-weight", dest="style_weight", type=nonneg_float, default=1e6)
    gg.add_argument("--style-layers", dest="style_layers", default=None,
                    help="comma-separated (default relu1_1..relu5_1, toy: relu1_1..relu4_1)")
    gg.add_argument("--content-layers", dest="content_layers", default=None,
                    help="comma-separated (default relu4_2, toy: relu3_1)")
    gg.add_argument("--layer-weights", dest="layer_weights", default=None,
                    help="comma-separated weight per style layer (default equal)")
    gg.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    gg.add_argument("--lr", type=positive_float, default=1.0)
    gg.add_argument("--init", choices=["content", "noise"], default="content")
    gg.add_argument("--preview-every", dest="preview_every", type=nonneg_int, default=25)
    bool_option(p, "same-category", True, "include same-category pairs (as the reference set)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=16)
    p.add_argument("--format", choices=["imagefolder", "webdataset"], default="imagefolder")
    p.add_argument("--shard-size", dest="shard_size", type=nonneg_int, default=0,
                   help="samples per WebDataset shard (0 = about --shards shards per split)")
    p.add_argument("--shards", type=positive_int, default=8,
                   help="WebDataset shards when --shard-size is 0")
    add_overwrite(p)

    p = g.add(g.build, "toy-cue-conflict",
              "draw toy-world cue-conflict stimuli procedurally (no style transfer)",
              _cmd_toy_cue_conflict)
    p.add_argument("--out", required=True)
    p.add_argument("--per-pair", dest="per_pair", type=positive_int, default=1,
                   help="images per (shape, texture) combination")
    add_overwrite(p)
    p.add_argument("--size", type=int_range(16), default=64)


def register(g: CommandGroups) -> None:
    p = g.add(g.build, "stylized", "stylise an ImageFolder dataset with AdaIN, as "
              "Stylized-ImageNet (resumable, deterministic, torchrun-ready)",
              _cmd_build_stylized)
    p.add_argument("--content", "--content-dir", required=True,
                   help="input ImageFolder (class folders, optionally under train/ val/)")
    p.add_argument("--styles", "--style-dir", required=True, help="folder of style images")
    p.add_argument("--out", "--output", required=True, help="output folder")
    p.add_argument("--preset", choices=["sin", "toy"], default=None,
                   help="sin: Stylized-ImageNet's settings (official AdaIN, seed 49809, "
                        "256/224, styles 224 px); toy: the toy world (toy AdaIN, 64 px); "
                        "explicit options still win")
    p.add_argument("--split", action="append",
                   help="only this split folder (repeatable; default: all)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (counts, styles, FLOPs, time estimate) and stop")
    add_overwrite(p)
    p.add_argument("--no-channels-last", action="store_true",
                   help="NCHW convolutions (NHWC, the default, is ~1.25x faster on CPU)")
    for flag, dest, typ, help_text in _OPTS:
        p.add_argument(flag, dest=dest, type=typ, default=None, help=help_text)

    p = g.add(g.bench, "build-stylized", "sequential reference-style baseline vs the "
              "builder on the same small dataset: images/s and ratio", _cmd_bench)
    p.add_argument("--contents", type=positive_int, default=64, help="content images")
    p.add_argument("--styles", type=positive_int, default=16, help="style images")
    p.add_argument("--size", type=positive_int, default=224,
                   help="crop size (contents Resize to size*256/224 first)")
    p.add_argument("--model", default="random",
                   help="random (official layout, random weights: same FLOPs), official "
                        "or toy")
    p.add_argument("--workers", default="1,2", help="comma list of worker counts to try")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="interleaved repeats of baseline and builder (best time of each)")
    p.add_argument("--out", default=None, help="keep the data here (default: a temp dir)")
    p.add_argument("--json-out", dest="json_out", default=None,
                   help="also write the numbers to this file (--json prints them on stdout)")
    _add_shape_bias(g)
    _add_cue_conflict(g)
