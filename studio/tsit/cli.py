"""`studio translate`, `studio build translated`, `studio train tsit`, `studio bench tsit`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _opt_path(v: str | None) -> Path | None:
    return Path(v) if v else None


def _cmd_translate(args: argparse.Namespace) -> int:
    from studio.core.commands import CLIError, device_arg, result_status, run_cli_job, seed_arg
    from studio.tsit.model import get_preset
    from studio.tsit.translate import TranslateParams, translate_job

    try:
        kind = get_preset(args.task).config.task
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if not args.style and kind != "SIS" and not args.self_style:
        raise CLIError("give --style IMAGE|DIR (or --self-style to use each content as its "
                       "own style)")
    params = TranslateParams(
        model=args.model, task=args.task, content=[Path(c) for c in args.content],
        style=[Path(s) for s in args.style or []], out=Path(args.out), alpha=args.alpha,
        seeds=args.seeds, all_pairs=args.all_pairs, fit=args.fit, label_nc=args.label_nc,
        fade_stats=args.fade_stats, device=device_arg(args), seed=seed_arg(args),
        fast=not args.eager, precision=args.precision, overwrite=args.overwrite)
    res = run_cli_job(translate_job(params), args)
    print(f"{res['written']} image(s) in {args.out}" +
          (f", {res['failed']} failed (see messages above)" if res["failed"] else ""))
    return result_status(res)


def _cmd_build(args: argparse.Namespace) -> int:
    from studio.core.commands import device_arg, run_cli_job, seed_arg
    from studio.tsit.translate import BuildTranslatedParams, build_translated_job

    params = BuildTranslatedParams(
        model=args.model, task=args.task, content=Path(args.content), style=Path(args.style),
        out=Path(args.out), styles_per_content=args.styles_per_content, alpha=args.alpha,
        fit=args.fit, format=args.format, shard_size=args.shard_size, shards=args.shards,
        fade_stats=args.fade_stats, device=device_arg(args), seed=seed_arg(args),
        fast=not args.eager, precision=args.precision, overwrite=args.overwrite)
    res = run_cli_job(build_translated_job(params), args)
    print(f"{res['num_items']} image(s), {res['num_errors']} error(s) in {args.out}")
    from studio.core.commands import result_status

    return result_status(res)


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.core.commands import device_arg, run_cli_job, seed_arg
    from studio.tsit.train import TrainTSITParams, train_job

    p = TrainTSITParams(
        data=Path(args.data), style=_opt_path(args.style), out=Path(args.out), task=args.task,
        ngf=args.ngf, depth=args.depth, size=args.size, height=args.height,
        batch_size=args.batch_size, epochs=args.epochs, epochs_decay=args.epochs_decay,
        iterations=args.iterations, decay_iterations=args.decay_iterations, lr=args.lr,
        no_ttur=args.no_ttur, lambda_vgg=args.lambda_vgg, lambda_feat=args.lambda_feat,
        lambda_kld=args.lambda_kld, gan_mode=args.gan_mode, ndf=args.ndf, num_D=args.num_D,
        n_layers_D=args.n_layers_D, perceptual=args.perceptual,
        perceptual_weights=_opt_path(args.perceptual_weights), label_nc=args.label_nc,
        alpha=args.alpha, pairing=args.pairing, flip=not args.no_flip,
        preview_every=args.preview_every, save_every=args.save_every,
        max_minutes=args.max_minutes, seed=seed_arg(args), device=device_arg(args),
        amp=args.amp, threads=args.threads, resume=not args.no_resume)
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


def _model_args(p: argparse.ArgumentParser) -> None:
    from studio.core.commands import unit_float

    p.add_argument("--model", required=True,
                   help="generator file (official latest_net_G.pth or one Studio trained; "
                        "'toy' = the shipped toy TSIT)")
    p.add_argument("--task", default="summer2winter",
                   help="preset the file belongs to: summer2winter, photo2art, day2night, "
                        "multimodal, cityscapes, ade20k (or official experiment names)")
    p.add_argument("--alpha", type=unit_float, default=1.0, help="FAdaIN strength in [0, 1]")
    p.add_argument("--fit", choices=["resize", "pad"], default="resize",
                   help="bring inputs to a multiple of 2^depth by resizing or by reflect "
                        "padding; the output is restored to the input size either way")
    p.add_argument("--fade-stats", dest="fade_stats", choices=["preset", "running", "batch"],
                   default="preset", help="FADE batch norm: running statistics (eval), "
                   "batch statistics (what the official test did for photo2art/multimodal), "
                   "or the preset's choice")
    p.add_argument("--eager", action="store_true",
                   help="use the plain eager forward instead of the fast fused path")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"], default="auto",
                   help="fast path on CUDA: auto = fp16; the CPU always computes in fp32")


def register(g) -> None:
    from studio.core.commands import (
        add_overwrite,
        nonneg_int,
        positive_float,
        positive_int,
        seed_int,
        unit_float,
    )

    p = g.add(g.root, "translate", "translate images with a TSIT generator", _cmd_translate)
    _model_args(p)
    p.add_argument("content", nargs="+", help="content images or folders (label maps for SIS)")
    p.add_argument("--style", nargs="*", help="style images or folders")
    p.add_argument("--self-style", dest="self_style", action="store_true",
                   help="use each content image as its own style")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--all-pairs", dest="all_pairs", action="store_true",
                   help="every content x every style (default: style i for content i, "
                        "cycling)")
    p.add_argument("--seeds", type=seed_int, nargs="*", default=[0],
                   help="noise seeds; one output per seed")
    p.add_argument("--label-nc", dest="label_nc", type=positive_int, default=None,
                   help="SIS: classes in the label maps (default: the model's)")
    add_overwrite(p)

    p = g.add(g.build, "translated", "build a dataset of TSIT translations (with manifest)",
              _cmd_build)
    _model_args(p)
    p.add_argument("--content", required=True, help="content ImageFolder (classes kept)")
    p.add_argument("--style", required=True, help="style image folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--styles-per-content", dest="styles_per_content", type=positive_int,
                   default=1)
    p.add_argument("--format", choices=["imagefolder", "webdataset"], default="imagefolder")
    p.add_argument("--shard-size", dest="shard_size", type=nonneg_int, default=0,
                   help="samples per WebDataset shard (0 = about --shards shards per split)")
    p.add_argument("--shards", type=positive_int, default=8,
                   help="WebDataset shards per split when --shard-size is 0")
    add_overwrite(p)

    p = g.add(g.train, "tsit", "train TSIT on folders (official losses, resumable)", _cmd_train)
    p.add_argument("--data", required=True,
                   help="content folder, a root with trainA/ and trainB/, or label maps (SIS)")
    p.add_argument("--style", help="style folder (AST/MMIS) or image folder (SIS)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, preview, options)")
    p.add_argument("--task", default="summer2winter",
                   help="preset for losses, sizes and schedule (see docs/tsit.md)")
    p.add_argument("--ngf", type=positive_int, default=64)
    p.add_argument("--depth", type=positive_int, default=None,
                   help="x0.5 steps, 4..7 (official 7)")
    p.add_argument("--size", type=positive_int, default=None,
                   help="image width (preset crop size)")
    p.add_argument("--height", type=positive_int, default=None)
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=None)
    p.add_argument("--epochs", type=nonneg_int, default=None, help="official --niter")
    p.add_argument("--epochs-decay", dest="epochs_decay", type=nonneg_int, default=None,
                   help="official --niter_decay")
    p.add_argument("--iterations", type=positive_int, default=None, help="train by iterations")
    p.add_argument("--decay-iterations", dest="decay_iterations", type=nonneg_int, default=0)
    p.add_argument("--lr", type=positive_float, default=0.0002)
    p.add_argument("--no-ttur", dest="no_ttur", action="store_true")
    p.add_argument("--lambda-vgg", dest="lambda_vgg", type=float, default=None)
    p.add_argument("--lambda-feat", dest="lambda_feat", type=float, default=None)
    p.add_argument("--lambda-kld", dest="lambda_kld", type=float, default=0.05)
    p.add_argument("--gan-mode", dest="gan_mode", default="hinge",
                   choices=["hinge", "ls", "original", "w"])
    p.add_argument("--ndf", type=positive_int, default=64)
    p.add_argument("--num-D", dest="num_D", type=positive_int, default=2)
    p.add_argument("--n-layers-D", dest="n_layers_D", type=positive_int, default=None)
    p.add_argument("--perceptual", choices=["auto", "vgg19", "toy", "none"], default="auto",
                   help="auto: torchvision VGG-19 weights if present, else the toy teacher")
    p.add_argument("--perceptual-weights", dest="perceptual_weights", default=None,
                   help="file of the perceptual encoder (VGG-19 or ToyVGG state_dict)")
    p.add_argument("--label-nc", dest="label_nc", type=positive_int, default=None)
    p.add_argument("--alpha", type=unit_float, default=1.0)
    p.add_argument("--pairing", choices=["fixed", "random"], default="fixed",
                   help="fixed: official index pairing; random: a seeded style per item")
    p.add_argument("--no-flip", dest="no_flip", action="store_true")
    p.add_argument("--preview-every", dest="preview_every", type=positive_int, default=100)
    p.add_argument("--save-every", dest="save_every", type=positive_int, default=500)
    p.add_argument("--max-minutes", dest="max_minutes", type=positive_float, default=None,
                   help="stop cleanly after this long; the same command resumes")
    p.add_argument("--amp", action="store_true", help="fp16 mixed precision (CUDA)")
    p.add_argument("--threads", type=nonneg_int, default=0,
                   help="CPU threads (0 = torch default)")
    p.add_argument("--no-resume", dest="no_resume", action="store_true",
                   help="start afresh even when --out holds a checkpoint (a run with other "
                        "settings is refused otherwise)")

    p = g.add(g.bench, "tsit", "TSIT generator latency and peak memory: fast path vs eager",
              _cmd_bench)
    p.add_argument("--size", type=positive_int, default=256)
    p.add_argument("--ngf", type=positive_int, default=64)
    p.add_argument("--depth", type=positive_int, default=7)
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--threads", type=nonneg_int, default=0,
                   help="CPU threads (0 = torch default)")
    p.add_argument("--dtype", choices=["auto", "fp32", "fp16", "bf16"], default="auto",
                   help="fast-path dtype (fp16/bf16 only on CUDA; auto = fp16 on CUDA)")
    p.add_argument("--json-out", dest="json_out", default=None,
                   help="also write the numbers to this file (--json prints them on stdout)")
