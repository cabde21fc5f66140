"""Commands: `studio distill`, `studio prune`, `studio eval inversion-comparison`.

Options are generated from the jobs' params dataclasses (``--num-images`` for
``num_images``), so the CLI, recipes and the GUI always offer the same settings.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from studio.core.commands import add_params, params_from_args, run_cli_job


def _print_summary(result: Any, keys: tuple[str, ...]) -> None:
    if isinstance(result, dict):
        print(json.dumps({k: result.get(k) for k in keys if k in result}, indent=2, default=str))


def _cmd_distill(args: argparse.Namespace) -> int:
    from studio.compression.distill import DistillParams, distill_job

    res = run_cli_job(distill_job(params_from_args(DistillParams, args)), args)
    _print_summary(res, ("student", "num_synthetic", "teacher_real_acc", "final_real_acc",
                         "best_real_acc"))
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from studio.compression.prune import PruneParams, prune_job

    res = run_cli_job(prune_job(params_from_args(PruneParams, args)), args)
    print(f"{'sparsity':>8s} {'weights0':>8s} {'filters':>8s} {'pruned':>8s} {'finetuned':>9s}")
    for r in res["rows"]:
        fmt = lambda v: f"{v:.4f}" if v is not None else "-"  # noqa: E731
        print(f"{r['target_sparsity']:8.2f} {r['weight_sparsity']:8.3f} "
              f"{r['filter_sparsity']:8.3f} {fmt(r['real_acc_pruned']):>8s} "
              f"{fmt(r['real_acc_finetuned']):>9s}")
    return 0


def _cmd_comparison(args: argparse.Namespace) -> int:
    from studio.compression.comparison import ComparisonParams, comparison_job

    res = run_cli_job(comparison_job(params_from_args(ComparisonParams, args)), args)
    print(f"{'method':8s} {'images':>6s} {'synth CPU-s':>11s} {'T acc syn':>9s} "
          f"{'student real top-1':>18s}")
    for r in res["rows"]:
        print(f"{r['method']:8s} {r['num_images']:6d} {r['synth_cpu_s']:11.1f} "
              f"{r['teacher_acc_on_synthetic']:9.3f} {r['student_final_real_acc']:18.4f}")
    return 0


def register(g: Any) -> None:
    from studio.compression.params import DistillParams, PruneParams  # torch-free
    from studio.inversion.params import ComparisonParams

    p = g.add(g.root, "distill", "train a student on synthetic images only (KD to the "
              "teacher's softened outputs), top-1 on real data every epoch", _cmd_distill)
    add_params(p, DistillParams)

    p = g.add(g.root, "prune", "prune the teacher, fine-tune on synthetic data only, report "
              "accuracy vs sparsity on real data", _cmd_prune)
    add_params(p, PruneParams)

    p = g.add(g.eval, "inversion-comparison", "toy world: NaturalInversion vs DeepInversion vs "
              "noise -> distilled student top-1 on real test images", _cmd_comparison)
    add_params(p, ComparisonParams)
