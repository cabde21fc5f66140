"""`studio build stylized`, `studio build cue-conflict`, `studio build toy-cue-conflict`,
`studio eval shape-bias` and `studio bench build-stylized`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.core.commands import (
    CLIError,
    CommandGroups,
    add_params,
    comma_list,
    device_arg,
    json_mode,
    params_from_args,
    positive_int,
    result_status,
    run_cli_job,
    set_result,
)
from studio.texture_shape.params import StylizedParams


def stylized_params(args: argparse.Namespace) -> StylizedParams:
    """Explicit options, then the preset, then the builtin defaults."""
    from studio.texture_shape.stylized import PRESETS

    return params_from_args(StylizedParams, args,
                            preset=PRESETS[args.preset] if args.preset else None,
                            splits=[s for x in args.split or [] for s in comma_list(x)])


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
    from studio.texture_shape.params import ShapeBiasParams
    from studio.texture_shape.shape_bias import shape_bias_job

    models = list(args.model or [])
    if not models:
        raise CLIError("give at least one --model ARCH=WEIGHTS (e.g. "
                       "resnet50=resnet50_train_60_epochs-c8e5653e.pth.tar or "
                       "toyvgg=studio/resources/toy/teacher.pth)")
    params = params_from_args(ShapeBiasParams, args, models=models,
                              names=list(args.name or []))
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
    from studio.texture_shape.params import ShapeBiasParams

    p = g.add(g.eval, "shape-bias", "shape bias of classifiers on cue-conflict stimuli",
              _cmd_shape_bias, description=(
                  "Geirhos et al. shape bias: decisions.csv, summary.json and the "
                  "model-vs-human matrix plot (PNG/SVG/PDF). ImageNet models decide among "
                  "the 16 categories by the mean of member-class probabilities."))
    add_params(p, ShapeBiasParams, skip=("models", "names"))
    p.add_argument("--model", action="append", metavar="ARCH=WEIGHTS",
                   help="a model (repeatable): torchvision arch, toyvgg or cifar_*, "
                        "and a weights file (state_dict or .pth.tar) or registry name")
    p.add_argument("--name", action="append", help="plot label per --model (repeatable; "
                   "default: the weights' stems)")


# --------------------------------------------------------------------------------------
# build cue-conflict


def _cmd_cue_conflict(args: argparse.Namespace) -> int:
    from studio.texture_shape.cue_conflict import cue_conflict_job
    from studio.texture_shape.params import CueConflictParams

    params = params_from_args(CueConflictParams, args)
    summary = run_cli_job(cue_conflict_job(params, None), args)
    print(f"{summary['num_items']} stimuli ({summary['num_same_category']} same-category) "
          f"in {params.out}; {summary['num_errors']} error(s)")
    return result_status(summary)


def _cmd_toy_cue_conflict(args: argparse.Namespace) -> int:
    from studio.texture_shape.cue_conflict import toy_cue_conflict_job
    from studio.texture_shape.params import ToyCueConflictParams

    params = params_from_args(ToyCueConflictParams, args)
    summary = run_cli_job(toy_cue_conflict_job(params, None), args)
    print(f"{summary['num_items']} stimuli in {params.out}")
    return 0


def _add_cue_conflict(g) -> None:
    from studio.texture_shape.params import CueConflictParams, ToyCueConflictParams

    p = g.add(g.build, "cue-conflict", "texture-shape cue-conflict stimuli (AdaIN or Gatys)",
              _cmd_cue_conflict, description=(
                  "Every shape image x every texture image, named "
                  "<shape>/<shape><i>-<texture><j>.png (same-category pairs included and "
                  "marked in the manifest). AdaIN (fast) or Gatys optimisation (as the "
                  "reference stimuli were made), official VGG-19 or the toy networks."))
    add_params(p, CueConflictParams)

    p = g.add(g.build, "toy-cue-conflict",
              "draw toy-world cue-conflict stimuli procedurally (no style transfer)",
              _cmd_toy_cue_conflict)
    add_params(p, ToyCueConflictParams)


def register(g: CommandGroups) -> None:
    p = g.add(g.build, "stylized", "stylise an ImageFolder dataset with AdaIN, as "
              "Stylized-ImageNet (resumable, deterministic, torchrun-ready)",
              _cmd_build_stylized)
    add_params(p, StylizedParams, skip=("splits",), unset=True,
               require=("content", "styles", "out"))
    p.add_argument("--preset", choices=["sin", "toy"], default=None,
                   help="sin: Stylized-ImageNet's settings (official AdaIN, seed 49809, "
                        "256/224, styles 224 px); toy: the toy world (toy AdaIN, 64 px); "
                        "explicit options still win")
    p.add_argument("--split", "--splits", action="append",
                   help="only this split folder (repeatable or comma-separated; default: "
                        "all)")

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
    p.add_argument("--batch-size", type=positive_int, default=8,
                   help="contents per network call")
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="interleaved repeats of baseline and builder (best time of each)")
    p.add_argument("--out", "--output", default=None,
                   help="keep the data here (default: a temp dir)")
    p.add_argument("--json-out", dest="json_out", default=None,
                   help="also write the numbers to this file (--json prints them on stdout)")
    _add_shape_bias(g)
    _add_cue_conflict(g)
