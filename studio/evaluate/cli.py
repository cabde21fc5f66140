"""`studio train classifier`, `studio eval shape-bias`, `studio build cue-conflict`."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli import add_overwrite


def _bool(p: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    p.add_argument(f"--{name}", dest=name.replace("-", "_"),
                   action=argparse.BooleanOptionalAction, default=default, help=help)


# --------------------------------------------------------------------------------------
# train classifier


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.cli import device_arg, run_cli_job, seed_arg
    from studio.evaluate.trainer import TrainParams, train_job

    params = TrainParams(
        data=[Path(d) for d in args.data], out=Path(args.out), arch=args.arch,
        val=Path(args.val) if args.val else None, classes=_csv(args.classes),
        epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, linear_scaling=args.linear_scaling,
        momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
        no_bias_decay=args.no_bias_decay, schedule=args.schedule,
        step_epochs=[int(e) for e in args.step_epochs.split(",") if e],
        step_gamma=args.step_gamma, warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing, mixup_alpha=args.mixup_alpha,
        zero_gamma=args.zero_gamma, amp=args.amp, image_size=args.image_size,
        augment=args.augment, init=Path(args.init) if args.init else None,
        reset_head=args.reset_head, workers=args.workers, eval_every=args.eval_every,
        resume=args.resume, keep_checkpoints=args.keep_checkpoints, sync_bn=args.sync_bn,
        device=device_arg(args), seed=seed_arg(args), threads=args.threads,
        max_steps=args.max_steps)
    from studio.core.distributed import dist_info

    result = run_cli_job(train_job(params, None), args)
    if not dist_info().is_main:
        return 0
    final = result.get("final", {})
    if "top1" in final:
        print(f"top-1 {final['top1']:.2f}%  top-5 {final['top5']:.2f}%  -> {result['model']}")
    else:
        print(f"trained -> {result['model']}")
    return 0


def _add_train(g) -> None:
    from studio.cli import nonneg_float, nonneg_int, positive_float, positive_int, unit_float

    p = g.add(g.train, "classifier", "train or fine-tune a classifier (Bag-of-Tricks options)",
              _cmd_train, description=(
                  "Train a torchvision, CIFAR-style or toy classifier on an exported dataset "
                  "(ImageFolder, WebDataset shards, or manifest.jsonl). Several --data "
                  "datasets are mixed. Runs under torchrun for multi-GPU / multi-node DDP."))
    p.add_argument("--data", nargs="+", required=True,
                   help="dataset folder(s) or manifest.jsonl file(s); the train split is used")
    p.add_argument("--out", required=True, help="output folder (checkpoints, model.pth)")
    p.add_argument("--arch", default="resnet50",
                   help="toyvgg, cifar_resnet18/34/50 or a torchvision model name")
    p.add_argument("--val", default=None,
                   help="evaluation dataset (default: val/test split of the first --data)")
    p.add_argument("--classes", default=None,
                   help="comma-separated class order (default: the dataset's dataset.json "
                        "order, else sorted folder names)")
    p.add_argument("--epochs", type=positive_int, default=90)
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=256,
                   help="global batch size over all processes")
    p.add_argument("--lr", type=positive_float, default=0.1, help="base learning rate")
    _bool(p, "linear-scaling", True, "lr = base lr x batch / 256")
    p.add_argument("--momentum", type=unit_float, default=0.9)
    _bool(p, "nesterov", False, "Nesterov momentum")
    p.add_argument("--weight-decay", dest="weight_decay", type=nonneg_float, default=1e-4)
    _bool(p, "no-bias-decay", True, "no weight decay on biases and BN parameters")
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], default="cosine")
    p.add_argument("--step-epochs", dest="step_epochs", default="30,60,80",
                   help="epochs where the step schedule multiplies the lr by --step-gamma")
    p.add_argument("--step-gamma", dest="step_gamma", type=nonneg_float, default=0.1)
    p.add_argument("--warmup-epochs", dest="warmup_epochs", type=nonneg_float, default=5.0)
    p.add_argument("--label-smoothing", dest="label_smoothing", type=unit_float, default=0.1)
    p.add_argument("--mixup-alpha", dest="mixup_alpha", type=nonneg_float, default=0.0,
                   help="mixup Beta(α, α); 0 = off (Bag of Tricks: 0.2)")
    _bool(p, "zero-gamma", True, "γ = 0 in the last BN of each residual block")
    _bool(p, "amp", True, "mixed precision on CUDA")
    p.add_argument("--image-size", dest="image_size", type=positive_int, default=224)
    p.add_argument("--augment", choices=["imagenet", "cifar", "none"], default="imagenet")
    p.add_argument("--init", default=None, help="fine-tune from this weights file")
    _bool(p, "reset-head", False, "drop a classifier head whose class count differs")
    p.add_argument("--workers", type=nonneg_int, default=4, help="data loading processes")
    p.add_argument("--eval-every", dest="eval_every", type=positive_int, default=1)
    _bool(p, "resume", True, "continue from OUT/checkpoint.pth when present")
    _bool(p, "keep-checkpoints", False, "keep a checkpoint file per epoch")
    _bool(p, "sync-bn", True, "SyncBatchNorm under DDP")
    p.add_argument("--threads", type=nonneg_int, default=0, help="CPU threads (0 = default)")
    p.add_argument("--max-steps", dest="max_steps", type=nonneg_int, default=0,
                   help="stop after this many steps (smoke test)")


# --------------------------------------------------------------------------------------
# eval shape-bias


def _cmd_shape_bias(args: argparse.Namespace) -> int:
    from studio.cli import CLIError, device_arg, run_cli_job
    from studio.evaluate.shape_bias import ShapeBiasParams, shape_bias_job

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
    from studio.cli import positive_int

    p = g.add(g.eval, "shape-bias", "shape bias of classifiers on cue-conflict stimuli",
              _cmd_shape_bias, description=(
                  "Geirhos et al. shape bias: decisions.csv, summary.json and the "
                  "model-vs-human matrix plot (PNG/SVG/PDF). ImageNet models decide among "
                  "the 16 categories by the mean of member-class probabilities."))
    p.add_argument("--stimuli", required=True,
                   help="cue-conflict folder: <shape>/<shape><i>-<texture><j>.png")
    p.add_argument("--model", action="append", metavar="ARCH=WEIGHTS",
                   help="a model (repeatable): torchvision arch, toyvgg or cifar_resnet*, "
                        "and a weights file (state_dict or .pth.tar) or registry name")
    p.add_argument("--name", action="append", help="plot label per --model (repeatable)")
    p.add_argument("--classes", default=None,
                   help="comma-separated class names of non-ImageNet models "
                        "(default: the categories, or the toy shapes for toyvgg)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=64)
    _bool(p, "plot", True, "draw the matrix plot")
    _bool(p, "reference", True, "draw the published reference values")
    p.add_argument("--formats", default="png,svg,pdf", help="plot file formats")


def register(g) -> None:
    _add_train(g)
    _add_shape_bias(g)
    _add_cue_conflict(g)


# --------------------------------------------------------------------------------------
# build cue-conflict


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _cmd_cue_conflict(args: argparse.Namespace) -> int:
    from studio.cli import device_arg, result_status, run_cli_job, seed_arg
    from studio.datasets.cue_conflict import CueConflictParams, cue_conflict_job

    params = CueConflictParams(
        shapes=Path(args.shapes), textures=Path(args.textures), out=Path(args.out),
        method=args.method, size=args.size, model=args.model,
        vgg=Path(args.vgg) if args.vgg else None,
        decoder=Path(args.decoder) if args.decoder else None, alpha=args.alpha,
        iterations=args.iterations, content_weight=args.content_weight,
        style_weight=args.style_weight, style_layers=_csv(args.style_layers),
        content_layers=_csv(args.content_layers),
        layer_weights=[float(w) for w in _csv(args.layer_weights)],
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
    from studio.cli import run_cli_job, seed_arg
    from studio.datasets.cue_conflict import ToyCueConflictParams, toy_cue_conflict_job

    params = ToyCueConflictParams(out=Path(args.out), per_pair=args.per_pair, size=args.size,
                                  seed=seed_arg(args, 3), overwrite=args.overwrite)
    summary = run_cli_job(toy_cue_conflict_job(params, None), args)
    print(f"{summary['num_items']} stimuli in {args.out}")
    return 0


def _add_cue_conflict(g) -> None:
    from studio.cli import (
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
    _bool(p, "same-category", True, "include same-category pairs (as the reference set)")
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
