"""`studio train classifier` and `studio eval classifier`: options generated from
:class:`TrainParams` and :class:`EvalClassifierParams`."""

from __future__ import annotations

import argparse
from typing import Any

from studio.core.commands import (
    add_params,
    params_from_args,
    positive_int,
    result_status,
    run_cli_job,
)


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


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The human summary of an evaluation: the totals, then one line per class."""
    m = result["model"]
    top5 = result.get("top5")
    t5 = f"  top-5 {top5 * 100:.2f} %" if top5 is not None else ""
    skipped = f", {result['num_errors']} skipped" if result.get("num_errors") else ""
    lines = [f"top-1 {result['top1'] * 100:.2f} %{t5}  ({result['num_images']} images"
             f"{skipped}, model {m['arch']} {m['data']})"]
    w = max((len(c) for c in result["per_class"]), default=0)
    for name, pc in result["per_class"].items():
        acc = "–" if pc["top1"] is None else f"{pc['top1'] * 100:6.2f} %"
        lines.append(f"  {name:{w}s}  {acc}  ({pc['images']} images)")
    if result.get("files"):
        lines.append("wrote " + ", ".join(result["files"]))
    return lines


def _cmd_eval(args: argparse.Namespace) -> int:
    from studio.trainer.evaluate import eval_classifier_job
    from studio.trainer.params import EvalClassifierParams

    params = params_from_args(EvalClassifierParams, args)
    result = run_cli_job(eval_classifier_job(params, None), args)
    if not getattr(args, "quiet", False):  # under --json this goes to stderr
        print("\n".join(summary_lines(result)))
    return result_status(result)


def register(g) -> None:
    from studio.trainer.params import EvalClassifierParams, TrainParams

    p = g.add(g.train, "classifier", "train or fine-tune a classifier (Bag-of-Tricks options)",
              _cmd_train, description=(
                  "Train a torchvision, CIFAR-style or toy classifier on an exported dataset "
                  "(ImageFolder, WebDataset shards, or manifest.jsonl). Several --data "
                  "datasets are mixed. Runs under torchrun for multi-GPU / multi-node DDP."))
    add_params(p, TrainParams)
    p.add_argument("-b", dest="per_process_batch", type=positive_int, default=None,
                   help="images per process, as torchvision's reference: the global batch "
                        "is -b x processes (overrides --batch-size)")

    p = g.add(g.eval, "classifier", "top-1 / top-5, per-class accuracy and confusion matrix "
              "of a classifier on an image folder", _cmd_eval, description=(
                  "Measure any classifier the zoo loads (a file, a registry name or toy) on "
                  "an ImageFolder (or one split of it, shards, a manifest). Class folders "
                  "are matched to the model's classes by name; a folder class the model "
                  "does not know is an error. --out writes eval.json and confusion.png."))
    add_params(p, EvalClassifierParams, require=("model",))  # no silent toy default
