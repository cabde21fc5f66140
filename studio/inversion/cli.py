"""Commands: `studio synthesize`, `studio eval synthetic`, `studio bench inversion`.

Options are generated from the jobs' params dataclasses (``--num-images`` for
``num_images``), so the CLI, recipes and the GUI always offer the same settings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from studio.core.commands import (
    add_params,
    device_arg,
    nonneg_int,
    params_from_args,
    positive_int,
    run_cli_job,
    set_result,
)


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
    from studio.core.commands import result_status

    return result_status(res)


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


def _cmd_bench(args: argparse.Namespace) -> int:
    import platform

    import torch

    from studio.core.devices import resolve_device
    from studio.inversion.bench import case_label, run_bench, summarize

    dev = resolve_device(device_arg(args))
    if args.teacher:  # the user's own teacher: it alone unless --cases names others too
        from studio.models.teachers import resolve_teacher_path

        for t in args.teacher:
            resolve_teacher_path(t)  # a missing file is one line now, not a child's trace
        args.cases = [c for c in args.cases if args.cases_given] + list(args.teacher)
    print(f"studio bench inversion: one synthesis iteration, batch {args.batch}, median of "
          f"{args.iters} after {args.warmup} warm-up (CPU: process CPU time, "
          f"{args.threads or 'default'} thread(s)); device {dev} "
          f"({platform.processor() or platform.machine()}, torch {torch.__version__})")
    rows = run_bench(args.cases, args.methods, args.batch, args.iters, args.warmup, str(dev),
                     args.threads or None)
    summary = summarize(rows)
    print("\ncase      method   reference   ours     speed-up  peak memory ref -> ours")
    for s in summary:
        print(f"{case_label(s['case']):9s} {s['method']:8s} {s['ref_seconds']:8.3f} s {s['ours_seconds']:7.3f} s"
              f"  {s['speedup']:6.2f}x   {s['ref_peak_mb']:.0f} -> {s['ours_peak_mb']:.0f} MB "
              f"({s['memory_metric']})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    set_result(args, {"rows": rows, "summary": summary})
    return 0


class _Given(argparse.Action):
    """Stores the value and remembers that the option was given on the command line."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.cases_given = True


def register(g: Any) -> None:
    from studio.inversion.params import QualityParams, SynthesizeParams

    p = g.add(g.root, "synthesize", "data-free synthesis from a teacher (NaturalInversion, "
              "DeepInversion, Gaussian noise) into a dataset", _cmd_synthesize)
    add_params(p, SynthesizeParams)

    p = g.add(g.eval, "synthetic", "quality of a synthetic dataset: class balance, teacher "
              "accuracy, diversity, energy score vs real and noise", _cmd_quality)
    add_params(p, QualityParams)

    p = g.add(g.bench, "inversion", "one synthesis iteration: ours vs a reference-style loop "
              "(time and peak memory)", _cmd_bench)
    p.add_argument("--cases", nargs="+", default=["resnet34", "toy"],
                   choices=["resnet34", "toy"], action=_Given,
                   help="teachers: a CIFAR ResNet-34 (random weights) and the toy teacher")
    p.add_argument("--teacher", nargs="+", metavar="FILE_OR_NAME",
                   help="time your own teacher(s) instead (a file or a registry name, with "
                        "its own normalisation); with --cases too, both")
    p.set_defaults(cases_given=False)
    p.add_argument("--methods", nargs="+", default=["natural", "deep"],
                   choices=["natural", "deep"], help="synthesis methods to time")
    p.add_argument("--batch", type=positive_int, default=64, help="images per iteration")
    p.add_argument("--iters", type=positive_int, default=3, help="timed iterations (median)")
    p.add_argument("--warmup", type=nonneg_int, default=1,
                   help="untimed iterations before timing")
    p.add_argument("--threads", type=nonneg_int, default=1,
                   help="CPU threads per run (0 = torch default)")
    p.add_argument("--json-out", dest="json_out",
                   help="also write the rows to this file (--json prints them on stdout)")
