"""The toy-world comparison: NaturalInversion vs DeepInversion vs Gaussian noise.

From one teacher, synthesise the same number of images with each method, distil the same
student on each set, and measure the student's top-1 on the *real* test set — the
experiment of the data-free papers at a scale a CPU can run. Every stage's CPU time is
recorded so the report says honestly how small the budget was.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from studio.compression.distill import DistillParams, distill_job
from studio.core.jobs import CancelToken, JobGen, Log, Metrics, drive, job_context, params_dict
from studio.datasets.folders import scan_image_folder
from studio.inversion.params import ComparisonParams
from studio.inversion.quality import QualityParams, quality_job
from studio.inversion.synthesize import SynthesizeParams, synthesize_job
from studio.models.teachers import load_teacher
from studio.toyworld.generate import generate_job
from studio.toyworld.standard import world_params


def _toy_test_set(out: Path, seed: int) -> Path:
    root = out / "toyworld"
    # the standard test split only needs its own seeds: a 1-per-class train split is enough
    p = dataclasses.replace(world_params(root, per_class=1, test_per_class=100, seed=seed),
                            workers=1)
    drive(generate_job(p))
    return root


def _real_subset(real: Path, out: Path, n: int, class_names: tuple[str, ...]) -> int:
    """The first ``n / classes`` training images of each class, copied as an ImageFolder."""

    scan = scan_image_folder(real / "train", splits=False)
    per = max(1, n // len(class_names))
    taken: dict[str, int] = {}
    count = 0
    for s in scan.samples:
        if s.class_name in class_names and taken.get(s.class_name, 0) < per:
            dest = out / s.class_name / s.path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s.path, dest)
            taken[s.class_name] = taken.get(s.class_name, 0) + 1
            count += 1
    return count


def comparison_job(p: ComparisonParams, token: CancelToken | None = None) -> JobGen:
    token = job_context(token)
    out = Path(p.out)
    out.mkdir(parents=True, exist_ok=True)
    real = Path(p.real) if p.real else _toy_test_set(out, p.seed)
    teacher = load_teacher(p.teacher)
    rows = []
    for mi, method in enumerate(p.methods):
        token.check()
        row: dict = {"method": method}
        syn = out / f"synthetic-{method}"
        c0, w0 = time.process_time(), time.time()
        if method == "real":  # the ceiling: as many real training images, same distillation
            ds = {"num_items": _real_subset(real, syn, p.num_images, teacher.class_names)}
        else:
            yield Log(f"[{method}] synthesising {p.num_images} images")
            iters = p.deep_iterations if method == "deep" and p.deep_iterations else \
                p.iterations
            ds = yield from synthesize_job(SynthesizeParams(
                out=syn, teacher=p.teacher, method=method, num_images=p.num_images,
                batch_size=p.batch_size, preset=p.preset, iterations=iters, preview_every=25,
                metrics_every=5, seed=p.seed, device=p.device), token, teacher=teacher)
        row["synth_cpu_s"] = round(time.process_time() - c0, 1)
        row["synth_wall_s"] = round(time.time() - w0, 1)
        row["num_images"] = ds["num_items"]
        q = yield from quality_job(QualityParams(
            synthetic=syn, teacher=p.teacher, real=real, num_noise=256, seed=p.seed,
            device=p.device), token, teacher=teacher)
        row["teacher_acc_on_synthetic"] = q["teacher_accuracy"]
        row["diversity"] = q["diversity"]
        row["energy_mean"] = {k: v["mean"] for k, v in q["energy"]["sets"].items()}
        row["auroc_synthetic_vs_real"] = q["energy"].get("auroc_synthetic_vs_real")
        c0, w0 = time.process_time(), time.time()
        d = yield from distill_job(DistillParams(
            synthetic=syn, out=out / f"student-{method}", teacher=p.teacher, student=p.student,
            real_test=real, epochs=p.distill_epochs, batch_size=p.distill_batch_size,
            lr=p.distill_lr, temperature=p.temperature, eval_every=p.distill_eval_every,
            seed=p.seed, device=p.device),
            token, teacher=teacher)
        row["distill_cpu_s"] = round(time.process_time() - c0, 1)
        row["student_final_real_acc"] = d["final_real_acc"]
        row["student_best_real_acc"] = d["best_real_acc"]
        row["teacher_real_acc"] = d["teacher_real_acc"]
        rows.append(row)
        yield Metrics(mi, {"student_real_acc": float(d["final_real_acc"] or 0.0)})
        yield Log(f"[{method}] student real top-1 {d['final_real_acc']:.4f} "
                  f"(teacher on synthetic {row['teacher_acc_on_synthetic']:.3f}, "
                  f"synthesis {row['synth_cpu_s']} CPU-s)")
    summary = {"rows": rows, "params": params_dict(p), "real": str(real)}
    (out / "comparison.json").write_text(json.dumps(summary, indent=2))
    return summary


__all__ = ["ComparisonParams", "comparison_job"]
