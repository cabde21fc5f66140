"""`studio translate`, `studio build translated`, `studio train tsit`, `studio bench tsit`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _opt_path(v: str | None) -> Path | None:
    return Path(v) if v else None


def _official_run(args: argparse.Namespace) -> Path | None:
    """The official layout: ``--checkpoints_dir DIR --name NAME`` is the run folder
    DIR/NAME (None when --name is not given)."""
    return Path(args.checkpoints_dir) / args.name if args.name else None


def _cmd_translate(args: argparse.Namespace) -> int:
    from studio.core.commands import CLIError, params_from_args, result_status, run_cli_job
    from studio.tsit.model import get_preset
    from studio.tsit.params import TranslateParams
    from studio.tsit.translate import translate_job

    run = _official_run(args)
    model = args.model or (str(run / f"{args.which_epoch}_net_G.pth") if run else None)
    if model is None:
        raise CLIError("give --model FILE (or the official --checkpoints_dir/--name "
                       "[--which_epoch])")
    content = [Path(c) for c in [*args.content_files, *(args.content or [])]]
    if not content:
        raise CLIError("give content images or folders (CONTENT ... or --croot DIR)")
    try:
        kind = get_preset(args.task).config.task
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if not args.style and kind != "SIS" and not args.self_style:
        raise CLIError("give --style IMAGE|DIR (or --self-style to use each content as its "
                       "own style)")
    params = params_from_args(TranslateParams, args, model=model, content=content)
    res = run_cli_job(translate_job(params), args)
    print(f"{res['written']} image(s) in {params.out}" +
          (f", {res['failed']} failed (see messages above)" if res["failed"] else ""))
    return result_status(res)


def _cmd_build(args: argparse.Namespace) -> int:
    from studio.core.commands import params_from_args, result_status, run_cli_job
    from studio.tsit.params import BuildTranslatedParams
    from studio.tsit.translate import build_translated_job

    run = _official_run(args)
    model = args.model or (str(run / f"{args.which_epoch}_net_G.pth") if run else None)
    if model is None:
        from studio.core.commands import CLIError

        raise CLIError("give --model FILE (or the official --checkpoints_dir/--name "
                       "[--which_epoch])")
    params = params_from_args(BuildTranslatedParams, args, model=model)
    res = run_cli_job(build_translated_job(params), args)
    print(f"{res['num_items']} image(s), {res['num_errors']} error(s) in {params.out}")
    return result_status(res)


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.core.commands import CLIError, params_from_args, run_cli_job
    from studio.tsit.params import TrainTSITParams
    from studio.tsit.train import train_job

    out = args.out or _official_run(args)
    if out is None:
        raise CLIError("give --out FOLDER (or the official --checkpoints_dir/--name)")
    p = params_from_args(TrainTSITParams, args, out=Path(out))
    res = run_cli_job(train_job(p), args)
    state = "finished" if res["finished"] else "stopped (run the same command to resume)"
    print(f"{state} at iteration {res['iteration']}/{res['total_iterations']}: "
          f"{res['generator']}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from studio.core.commands import device_arg, set_result
    from studio.tsit.bench import run_bench

    report: dict = {}
    status = run_bench(size=args.size, ngf=args.ngf, depth=args.depth, repeats=args.repeats,
                       device=device_arg(args), threads=args.threads, dtype=args.dtype,
                       json_out=_opt_path(args.json_out), report=report)
    if report:
        set_result(args, report)
    return status


def _official(p: argparse.ArgumentParser, which_epoch: bool) -> None:
    """The official code's run naming: ``--checkpoints_dir``, ``--name`` (and, to pick a
    generator, ``--which_epoch``)."""
    p.add_argument("--name", default=None,
                   help="official: experiment name; the run folder is CHECKPOINTS_DIR/NAME")
    p.add_argument("--checkpoints_dir", "--checkpoints-dir", dest="checkpoints_dir",
                   default="./checkpoints", help="official: folder of the experiments "
                   "(with --name)")
    if which_epoch:
        p.add_argument("--which_epoch", "--which-epoch", dest="which_epoch",
                       default="latest", help="official: with --name and no --model, load "
                       "CHECKPOINTS_DIR/NAME/WHICH_EPOCH_net_G.pth")


def _eager(p: argparse.ArgumentParser) -> None:
    p.add_argument("--eager", dest="fast", action="store_false", default=argparse.SUPPRESS,
                   help="same as --no-fast: the plain eager forward instead of the fast "
                        "fused path")


def register(g) -> None:
    from studio.core.commands import add_params, nonneg_int, positive_int
    from studio.tsit.params import BuildTranslatedParams, TrainTSITParams, TranslateParams

    p = g.add(g.root, "translate", "translate images with a TSIT generator", _cmd_translate)
    add_params(p, TranslateParams, skip=("model",))
    p.add_argument("--model", default=None, help="generator file (official "
                   "latest_net_G.pth or one Studio trained; 'toy' = the shipped toy TSIT)")
    p.add_argument("content_files", nargs="*", metavar="CONTENT",
                   help="content images or folders (label maps for SIS); also --content")
    p.add_argument("--self-style", dest="self_style", action="store_true",
                   help="use each content image as its own style")
    _official(p, which_epoch=True)
    _eager(p)

    p = g.add(g.build, "translated", "build a dataset of TSIT translations (with manifest)",
              _cmd_build)
    add_params(p, BuildTranslatedParams, skip=("model",),
               require=("content", "style", "out"))
    p.add_argument("--model", default=None, help="generator file (official "
                   "latest_net_G.pth or one Studio trained; 'toy' = the shipped toy TSIT)")
    _official(p, which_epoch=True)
    _eager(p)

    p = g.add(g.train, "tsit", "train TSIT on folders (official losses, resumable)", _cmd_train)
    add_params(p, TrainTSITParams, skip=("out",))
    p.add_argument("--out", "--output", default=None,
                   help="run folder (checkpoints, preview, options)")
    _official(p, which_epoch=False)
    p.add_argument("--no_resume", dest="resume", action="store_false",
                   default=argparse.SUPPRESS, help="same as --no-resume")

    p = g.add(g.bench, "tsit", "TSIT generator latency and peak memory: fast path vs eager",
              _cmd_bench)
    p.add_argument("--size", type=positive_int, default=256, help="image side in px")
    p.add_argument("--ngf", type=positive_int, default=64, help="generator width")
    p.add_argument("--depth", type=positive_int, default=7,
                   help="x0.5 steps of the streams (official 7)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed repeats")
    p.add_argument("--threads", type=nonneg_int, default=0,
                   help="CPU threads (0 = torch default)")
    p.add_argument("--dtype", choices=["auto", "fp32", "fp16", "bf16"], default="auto",
                   help="fast-path dtype (fp16/bf16 only on CUDA; auto = fp16 on CUDA)")
    p.add_argument("--json-out", dest="json_out", default=None,
                   help="also write the numbers to this file (--json prints them on stdout)")
