"""`studio train classifier`."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.core.commands import bool_option, comma_list

# --------------------------------------------------------------------------------------
# train classifier


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.core.commands import device_arg, run_cli_job, seed_arg
    from studio.trainer.trainer import TrainParams, train_job

    params = TrainParams(
        data=[Path(d) for d in args.data], out=Path(args.out), arch=args.arch,
        val=Path(args.val) if args.val else None, classes=comma_list(args.classes),
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
    from studio.core.commands import (
        nonneg_float,
        nonneg_int,
        positive_float,
        positive_int,
        unit_float,
    )

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
    bool_option(p, "linear-scaling", True, "lr = base lr x batch / 256")
    p.add_argument("--momentum", type=unit_float, default=0.9)
    bool_option(p, "nesterov", False, "Nesterov momentum")
    p.add_argument("--weight-decay", dest="weight_decay", type=nonneg_float, default=1e-4)
    bool_option(p, "no-bias-decay", True, "no weight decay on biases and BN parameters")
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], default="cosine")
    p.add_argument("--step-epochs", dest="step_epochs", default="30,60,80",
                   help="epochs where the step schedule multiplies the lr by --step-gamma")
    p.add_argument("--step-gamma", dest="step_gamma", type=nonneg_float, default=0.1)
    p.add_argument("--warmup-epochs", dest="warmup_epochs", type=nonneg_float, default=5.0)
    p.add_argument("--label-smoothing", dest="label_smoothing", type=unit_float, default=0.1)
    p.add_argument("--mixup-alpha", dest="mixup_alpha", type=nonneg_float, default=0.0,
                   help="mixup Beta(α, α); 0 = off (Bag of Tricks: 0.2)")
    bool_option(p, "zero-gamma", True, "γ = 0 in the last BN of each residual block")
    bool_option(p, "amp", True, "mixed precision on CUDA")
    p.add_argument("--image-size", dest="image_size", type=positive_int, default=224)
    p.add_argument("--augment", choices=["imagenet", "cifar", "none"], default="imagenet")
    p.add_argument("--init", default=None, help="fine-tune from this weights file")
    bool_option(p, "reset-head", False, "drop a classifier head whose class count differs")
    p.add_argument("--workers", type=nonneg_int, default=4, help="data loading processes")
    p.add_argument("--eval-every", dest="eval_every", type=positive_int, default=1)
    bool_option(p, "resume", True, "continue from OUT/checkpoint.pth when present")
    bool_option(p, "keep-checkpoints", False, "keep a checkpoint file per epoch")
    bool_option(p, "sync-bn", True, "SyncBatchNorm under DDP")
    p.add_argument("--threads", type=nonneg_int, default=0, help="CPU threads (0 = default)")
    p.add_argument("--max-steps", dest="max_steps", type=nonneg_int, default=0,
                   help="stop after this many steps (smoke test)")


def register(g) -> None:
    _add_train(g)
