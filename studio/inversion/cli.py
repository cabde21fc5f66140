"""Commands: `studio synthesize`, `studio distill`, `studio prune`, `studio eval synthetic`,
`studio bench inversion`.

Options are generated from the jobs' params dataclasses (``--num-images`` for
``num_images``), so the CLI, recipes and the GUI always offer the same settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from studio.cli import OVERWRITE_HELP, device_arg, run_cli_job, seed_arg, set_result

_COMMON = ("seed", "device")

#: Numeric fields checked when parsed (argparse then names the flag and exits 2).
_POSITIVE_INT = ("num_images", "batch_size", "iterations", "epochs", "eval_every",
                 "shard_batches", "num_noise", "max_images", "bins", "distill_epochs",
                 "distill_eval_every", "distill_batch_size")
_NONNEG_INT = ("preview_every", "metrics_every", "jitter", "adi_student_epochs")
_POSITIVE_FLOAT = ("lr", "distill_lr", "temperature")
_NONNEG_FLOAT = ("r_feature", "var_scale", "l2_scale", "adi_scale", "kd_weight",
                 "ce_weight", "weight_decay")
_UNIT_FLOAT = ("sparsities",)


def _checked(name: str, tp: Any) -> Any:
    """The argparse type for field ``name`` of type ``tp`` (range-checked where known)."""
    from studio import cli

    if tp is int:
        if name in _POSITIVE_INT:
            return cli.positive_int
        if name in _NONNEG_INT:
            return cli.nonneg_int
    if tp is float:
        for names, conv in ((_POSITIVE_FLOAT, cli.positive_float),
                            (_NONNEG_FLOAT, cli.nonneg_float), (_UNIT_FLOAT, cli.unit_float)):
            if name in names:
                return conv
    return tp


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def add_params(parser: argparse.ArgumentParser, cls: type, help_: dict[str, str] | None = None
               ) -> None:
    """One ``--option`` per dataclass field (booleans as ``--x/--no-x``)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in _COMMON:
            continue
        tp, _ = _base_type(hints[f.name])
        opt = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        h = (help_ or {}).get(f.name, " ")
        origin = typing.get_origin(tp)
        if tp is bool:
            parser.add_argument(opt, action=argparse.BooleanOptionalAction, default=default,
                                help=h)
        elif origin is typing.Literal:
            parser.add_argument(opt, choices=list(typing.get_args(tp)), default=default,
                                required=required, help=h)
        elif origin is list:
            (inner,) = typing.get_args(tp)
            parser.add_argument(opt, type=_checked(f.name, inner), nargs="+", default=default,
                                required=required, help=h)
        else:
            conv = Path if tp is Path else _checked(f.name, tp)
            parser.add_argument(opt, type=conv, default=default, required=required, help=h)


def params_from_args(cls: type, args: argparse.Namespace) -> Any:
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in _COMMON}
    names = {f.name for f in dataclasses.fields(cls)}
    if "seed" in names:
        kw["seed"] = seed_arg(args)
    if "device" in names:
        kw["device"] = device_arg(args)
    return cls(**kw)


def _print_summary(result: Any, keys: tuple[str, ...]) -> None:
    if isinstance(result, dict):
        print(json.dumps({k: result.get(k) for k in keys if k in result}, indent=2, default=str))


# ---------------------------------------------------------------------------------------


def _cmd_synthesize(args: argparse.Namespace) -> int:
    from studio.core.distributed import init_distributed
    from studio.inversion.synthesize import SynthesizeParams, synthesize_job

    init_distributed()
    p = params_from_args(SynthesizeParams, args)
    res = run_cli_job(synthesize_job(p), args)
    if not getattr(args, "quiet", False):
        _print_summary(res, ("num_items", "num_errors", "method", "classes"))
    from studio.cli import result_status

    return result_status(res)


def _cmd_distill(args: argparse.Namespace) -> int:
    from studio.evaluate.distill import DistillParams, distill_job

    res = run_cli_job(distill_job(params_from_args(DistillParams, args)), args)
    _print_summary(res, ("student", "num_synthetic", "teacher_real_acc", "final_real_acc",
                         "best_real_acc"))
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from studio.evaluate.prune import PruneParams, prune_job

    res = run_cli_job(prune_job(params_from_args(PruneParams, args)), args)
    print(f"{'sparsity':>8s} {'weights0':>8s} {'filters':>8s} {'pruned':>8s} {'finetuned':>9s}")
    for r in res["rows"]:
        fmt = lambda v: f"{v:.4f}" if v is not None else "-"  # noqa: E731
        print(f"{r['target_sparsity']:8.2f} {r['weight_sparsity']:8.3f} "
              f"{r['filter_sparsity']:8.3f} {fmt(r['real_acc_pruned']):>8s} "
              f"{fmt(r['real_acc_finetuned']):>9s}")
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    from studio.inversion.quality import QualityParams, quality_job

    res = run_cli_job(quality_job(params_from_args(QualityParams, args)), args)
    e = res["energy"]
    print(f"images {res['num_images']}  teacher accuracy {res['teacher_accuracy']:.4f}  "
          f"diversity {res['diversity']:.4f}  class balance min/max "
          f"{res['class_balance']['min_over_max']:.3f}")
    for name, s in e["sets"].items():
        print(f"  energy {name:9s} mean {s['mean']:9.3f}  median {s['median']:9.3f}  "
              f"q05..q95 {s['q05']:.3f}..{s['q95']:.3f}  (n={s['n']})")
    if "auroc_synthetic_vs_real" in e:
        print(f"  AUROC synthetic vs real by energy: {e['auroc_synthetic_vs_real']:.3f} "
              "(0.5 = indistinguishable)")
    return 0


def _cmd_comparison(args: argparse.Namespace) -> int:
    from studio.inversion.experiment import ComparisonParams, comparison_job

    res = run_cli_job(comparison_job(params_from_args(ComparisonParams, args)), args)
    print(f"{'method':8s} {'images':>6s} {'synth CPU-s':>11s} {'T acc syn':>9s} "
          f"{'student real top-1':>18s}")
    for r in res["rows"]:
        print(f"{r['method']:8s} {r['num_images']:6d} {r['synth_cpu_s']:11.1f} "
              f"{r['teacher_acc_on_synthetic']:9.3f} {r['student_final_real_acc']:18.4f}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import platform

    import torch

    from studio.core.devices import resolve_device
    from studio.inversion.bench import run_bench, summarize

    dev = resolve_device(device_arg(args))
    print(f"studio bench inversion: one synthesis iteration, batch {args.batch}, median of "
          f"{args.iters} after {args.warmup} warm-up (CPU: process CPU time, "
          f"{args.threads or 'default'} thread(s)); device {dev} "
          f"({platform.processor() or platform.machine()}, torch {torch.__version__})")
    rows = run_bench(args.cases, args.methods, args.batch, args.iters, args.warmup, str(dev),
                     args.threads or None)
    summary = summarize(rows)
    print("\ncase      method   reference   ours     speed-up  peak memory ref -> ours")
    for s in summary:
        print(f"{s['case']:9s} {s['method']:8s} {s['ref_seconds']:8.3f} s {s['ours_seconds']:7.3f} s"
              f"  {s['speedup']:6.2f}x   {s['ref_peak_mb']:.0f} -> {s['ours_peak_mb']:.0f} MB "
              f"({s['memory_metric']})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    set_result(args, {"rows": rows, "summary": summary})
    return 0


def register(g: Any) -> None:
    from studio.evaluate.params import DistillParams, PruneParams  # torch-free
    from studio.inversion.params import QualityParams, SynthesizeParams

    p = g.add(g.root, "synthesize", "data-free synthesis from a teacher (NaturalInversion, "
              "DeepInversion, Gaussian noise) into a dataset", _cmd_synthesize)
    add_params(p, SynthesizeParams, {
        "teacher": "checkpoint path, registry name, or 'toy'",
        "arch": "resnet18|resnet34|vgg11|vgg16|toyvgg|tv-<name>|auto",
        "data": "cifar10|cifar100|imagenet|toy|auto (mean/std, size, class names)",
        "preset": "paper settings for natural: cifar10 (2000 it, r_feature 10), cifar100 "
                  "(4000 it, r_feature 3); toy: a named deviation for the toy teacher, "
                  "both methods (60 it, r_feature 0.02, first BN x10; docs/inversion.md)",
        "iterations": "default: the method's paper setting",
        "overwrite": OVERWRITE_HELP})

    p = g.add(g.root, "distill", "train a student on synthetic images only (KD to the "
              "teacher's softened outputs), top-1 on real data every epoch", _cmd_distill)
    add_params(p, DistillParams, {"real_test": "real ImageFolder (root with test/ or the split)",
                                  "temperature": "KD temperature T"})

    p = g.add(g.root, "prune", "prune the teacher, fine-tune on synthetic data only, report "
              "accuracy vs sparsity on real data", _cmd_prune)
    add_params(p, PruneParams, {"sparsities": "target sparsities, e.g. 0.3 0.5 0.7"})

    p = g.add(g.eval, "synthetic", "quality of a synthetic dataset: class balance, teacher "
              "accuracy, diversity, energy score vs real and noise", _cmd_quality)
    add_params(p, QualityParams)

    from studio.inversion.params import ComparisonParams

    p = g.add(g.eval, "inversion-comparison", "toy world: NaturalInversion vs DeepInversion vs "
              "noise -> distilled student top-1 on real test images", _cmd_comparison)
    add_params(p, ComparisonParams, {"real": "toy world root with test/ (default: generate it)"})

    p = g.add(g.bench, "inversion", "one synthesis iteration: ours vs a reference-style loop "
              "(time and peak memory)", _cmd_bench)
    p.add_argument("--cases", nargs="+", default=["resnet34", "toy"],
                   choices=["resnet34", "toy"], help="teachers")
    p.add_argument("--methods", nargs="+", default=["natural", "deep"],
                   choices=["natural", "deep"])
    from studio.cli import nonneg_int, positive_int

    p.add_argument("--batch", type=positive_int, default=64)
    p.add_argument("--iters", type=positive_int, default=3, help="timed iterations (median)")
    p.add_argument("--warmup", type=nonneg_int, default=1)
    p.add_argument("--threads", type=nonneg_int, default=1,
                   help="CPU threads per run (0 = torch default)")
    p.add_argument("--json-out", dest="json_out",
                   help="also write the rows to this file (--json prints them on stdout)")
