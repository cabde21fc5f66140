"""`studio stylize`, `studio train adain`, `studio bench adain`.

`studio stylize` takes pytorch-AdaIN test.py's flags with the same defaults and output
names (underscored and dashed spellings), so a user of the port can switch directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.adain.params import StylizeParams, TrainParams


def _flag(p: argparse.ArgumentParser, name: str, **kw) -> None:
    """``--content_size`` and ``--content-size`` alike."""
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    p.add_argument(*names, dest=name, **kw)


def stylize_params(args: argparse.Namespace) -> StylizeParams:
    """The options of `studio stylize` as :class:`StylizeParams` (``--color-method``
    given implies ``--preserve_color``)."""
    from studio.core.commands import params_from_args

    given = args.color_method is not None
    return params_from_args(StylizeParams, args, preserve_color=args.preserve_color or given,
                            color_method=args.color_method or "coral")


def _cmd_stylize(args: argparse.Namespace) -> int:
    from studio.adain.stylize import stylize_job
    from studio.core.commands import CLIError, result_status, run_cli_job

    if not (args.content or args.content_dir):
        raise CLIError("give --content FILE or --content_dir FOLDER")
    if not (args.style or args.style_dir):
        raise CLIError("give --style FILE[,FILE...] or --style_dir FOLDER")
    params = stylize_params(args)
    result = run_cli_job(stylize_job(params), args)
    if result["failed"]:
        n = len(result["failed"])
        print(f"studio: {n} input(s) failed; {result['written']} image(s) written")
    return result_status(result)


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.adain.train import train_job
    from studio.core.commands import CLIError, params_from_args

    for flag in ("content_dir", "style_dir"):
        if not getattr(args, flag):
            raise CLIError(f"give --{flag} FOLDER[,FOLDER...]")
    params = params_from_args(TrainParams, args)
    preview_dir = Path(params.save_dir) / "previews"

    def on_event(ev) -> None:
        from studio.core.images import save_image
        from studio.core.jobs import Metrics, Preview

        if isinstance(ev, Preview):
            save_image(ev.image, preview_dir / f"iter_{ev.step:07d}.png")
        elif isinstance(ev, Metrics) and not getattr(args, "quiet", False):
            vals = " ".join(f"{k} {v:.4g}" for k, v in ev.values.items())
            print(f"iter {ev.step}: {vals}", flush=True)

    from studio.core.jobs import run_job

    result = run_job(train_job(params), progress=None if not getattr(args, "quiet", False)
                     else False, verbose=not getattr(args, "quiet", False), on_event=on_event)
    from studio.core.commands import set_result

    set_result(args, result)
    print(f"decoder: {result['decoder']} ({result['trained_now']} iterations in "
          f"{result['seconds']} s)")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from studio.adain.bench import run_bench
    from studio.core.commands import device_arg, set_result

    report: dict = {}
    status = run_bench(args, device_arg(args), report=report)
    set_result(args, report)
    return status


def register(g) -> None:
    from studio.core.commands import add_params, positive_int

    p = g.add(g.root, "stylize", "AdaIN style transfer (pytorch-AdaIN test.py flags)",
              _cmd_stylize)
    add_params(p, StylizeParams, skip=("color_method",))
    _flag(p, "color_method", choices=["coral", "luminance"], default=None,
          help="colour preservation method (implies --preserve_color): coral as the port, "
               "luminance = stylise luminance only, as the paper describes (default: coral)")
    p.add_argument("--no_channels_last", dest="channels_last", action="store_false",
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the spelling before --no-channels-last

    p = g.add(g.train, "adain", "train an AdaIN decoder (pytorch-AdaIN train.py)",
              _cmd_train)
    add_params(p, TrainParams)
    p.add_argument("--no_resume", dest="resume", action="store_false",
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the spelling before --no-resume

    p = g.add(g.bench, "adain", "AdaIN images/s: batched + cached path vs per-image "
                                "reference path, and GFLOP/s vs measured matmul peak",
              _cmd_bench)
    _flag(p, "sizes", default="224,512", help="image sides to measure")
    _flag(p, "contents", type=positive_int, default=16, help="content images per size")
    _flag(p, "batch_size", type=positive_int, default=8, help="contents per batch")
    _flag(p, "model", choices=["vgg19", "toy"], default="vgg19",
          help="network shapes (random weights: speed does not depend on them)")
    _flag(p, "repeats", type=positive_int, default=2, help="timed repeats (best is reported)")
    _flag(p, "precision", default="fp32,fp16,bf16",
          help="precisions of our path to time on CUDA (the CPU runs fp32 only)")
    _flag(p, "json_out", default="", help="also write the numbers to this file "
                                            "(--json prints them on stdout)")
