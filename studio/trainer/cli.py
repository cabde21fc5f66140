"""`studio train classifier`: options generated from :class:`TrainParams`."""

from __future__ import annotations

import argparse

from studio.core.commands import add_params, params_from_args, positive_int, run_cli_job


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.core.distributed import dist_info
    from studio.trainer.params import TrainParams
    from studio.trainer.trainer import train_job

    if args.per_process_batch:  # torchvision's -b: images per process
        args.batch_size = args.per_process_batch * dist_info().world_size
    params = params_from_args(TrainParams, args)
    result = run_cli_job(train_job(params, None), args)
    if not dist_info().is_main:
        return 0
    final = result.get("final", {})
    if "top1" in final:
        print(f"top-1 {final['top1']:.2f}%  top-5 {final['top5']:.2f}%  -> {result['model']}")
    else:
        print(f"trained -> {result['model']}")
    return 0


def register(g) -> None:
    from studio.trainer.params import TrainParams

    p = g.add(g.train, "classifier", "train or fine-tune a classifier (Bag-of-Tricks options)",
              _cmd_train, description=(
                  "Train a torchvision, CIFAR-style or toy classifier on an exported dataset "
                  "(ImageFolder, WebDataset shards, or manifest.jsonl). Several --data "
                  "datasets are mixed. Runs under torchrun for multi-GPU / multi-node DDP."))
    add_params(p, TrainParams)
    p.add_argument("-b", dest="per_process_batch", type=positive_int, default=None,
                   help="images per process, as torchvision's reference: the global batch "
                        "is -b x processes (overrides --batch-size)")
