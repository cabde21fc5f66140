"""`studio build stylized` and `studio bench build-stylized`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.cli import (
    CLIError,
    CommandGroups,
    add_overwrite,
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
    from studio.datasets.stylized import PRESETS, StylizedParams

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
    from studio.datasets.stylized import build_stylized

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
    from studio.datasets.stylized_bench import run_bench

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
