"""`synthesize-preflight`: look at a teacher before hours of synthesis start.

A real teacher brought from elsewhere can be loaded with the wrong normalisation or the
wrong class order and still "work" — the synthesis then optimises towards nonsense for
hours. So the check loads the teacher exactly as `studio synthesize` will (same loader,
same arch/data/mean/std options), says what it found (layout, data preset, mean/std,
input size, classes, SHA-256), measures its top-1 on real images when given some, and
times a few iterations of the real synthesis engine (:func:`studio.inversion.synthesize.
make_engine`, the code a run uses) at the planned batch size to estimate the run's length.

Timing follows ``studio bench inversion``'s discipline: one untimed iteration first
(allocations, lazy initialisation), CUDA synchronised after every step, the median of the
timed ones. The estimate uses wall time (what the user waits), CPU time is reported too.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from studio.core.jobs import CancelToken, JobGen, Log, Progress, job_context
from studio.core.seeding import derive_seed
from studio.inversion.data import accuracy, load_labelled
from studio.inversion.params import SynthesizeParams
from studio.inversion.preflight.params import PreflightParams
from studio.inversion.synthesize import batch_labels, deep_config, make_engine, natural_config
from studio.models.teachers import Teacher, load_teacher


def resolve_preset(p: PreflightParams, teacher: Teacher) -> str:
    """The synthesis settings to time: ``p.preset``, or by teacher when ``auto`` (the toy
    teacher has its own named deviation; 100 classes take the CIFAR-100 paper's)."""
    if p.preset != "auto":
        return p.preset
    if teacher.preset.name == "toy":
        return "toy"
    return "cifar100" if teacher.num_classes == 100 else "cifar10"


def synthesis_params(p: PreflightParams, teacher: Teacher) -> SynthesizeParams:
    """The `studio synthesize` parameters this check stands for (so the engine, its
    settings and its iteration count are the ones the run will use)."""
    return SynthesizeParams(out=Path("."), teacher=p.teacher, arch=p.arch, data=p.data,
                            mean=p.mean, std=p.std, method=p.method,
                            preset=resolve_preset(p, teacher),  # type: ignore[arg-type]
                            num_images=p.num_images, batch_size=p.batch_size,
                            iterations=p.iterations, seed=p.seed, device=p.device)


def planned_iterations(sp: SynthesizeParams, teacher: Teacher) -> int:
    """Optimisation steps per batch of the planned run (0 for noise)."""
    if sp.method == "noise":
        return 0
    cfg = natural_config(sp) if sp.method == "natural" else deep_config(sp, teacher)
    return int(cfg.iterations)


def format_duration(seconds: float) -> str:
    """A length a person plans with: '40 s', '21 min', '2.2 h', '3.1 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _triple(v: Any) -> str:
    return ",".join(f"{float(x):.4g}" for x in v)


def describe_teacher(t: Teacher) -> str:
    """One line: arch, data preset, normalisation, input size and classes."""
    return (f"teacher {t.arch} ({t.preset.name}: mean {_triple(t.mean)} std "
            f"{_triple(t.std)}, {t.image_size} px, {t.num_classes} classes)")


def class_match(real: Path, split: str, teacher: Teacher) -> bool | None:
    """Whether the real folder's class names are the teacher's (a CIFAR teacher on the
    toy world would score by accident of folder order, so it is said); None when the
    folder has no class folders (shards, a manifest) to compare."""
    folder = real / split if split and (real / split).is_dir() else real
    classes = {d.name for d in Path(folder).iterdir() if d.is_dir() and
               not d.name.startswith(".")}
    return (classes <= set(teacher.class_names)) if classes else None


def time_iterations(engine: Any, n: int, device: torch.device, token: CancelToken
                    ) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``n`` engine steps after one untimed step."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    engine.step()
    sync()
    wall, cpu = [], []
    for _ in range(n):
        token.check()
        t0, c0 = time.perf_counter(), time.process_time()
        engine.step()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def preflight_job(p: PreflightParams, token: CancelToken | None = None,
                  teacher: Teacher | None = None) -> JobGen:
    """Load the teacher as a synthesis would, measure it on real images (optional) and
    estimate the synthesis's length; returns a dict of what was found."""
    token = job_context(token)
    device = token.device(p.device)
    total = 2 + (1 if p.real is not None else 0) + p.warmup_iterations
    step = 0
    yield Progress(step, total, f"loading the teacher {p.teacher}")
    if teacher is None:
        teacher = load_teacher(p.teacher, p.arch, p.data, mean=p.mean, std=p.std)
    teacher.to(device)
    step += 1
    lines = [describe_teacher(teacher)]
    yield Log(lines[0] + (f"; sha256 {teacher.sha256[:12]}…" if teacher.sha256 else "")
              + (f"; file {teacher.path}" if teacher.path else ""))
    result: dict[str, Any] = {
        "teacher": {"name": p.teacher, "arch": teacher.arch, "data": teacher.preset.name,
                    "mean": [float(x) for x in teacher.mean],
                    "std": [float(x) for x in teacher.std],
                    "image_size": teacher.image_size, "num_classes": teacher.num_classes,
                    "classes": list(teacher.class_names), "sha256": teacher.sha256,
                    "path": teacher.path},
        "device": str(device)}
    if p.real is not None:
        token.check()
        yield Progress(step, total, f"top-1 on up to {p.limit} real images")
        data = load_labelled(p.real, teacher.class_names, size=teacher.image_size,
                             split=p.real_split, limit=p.limit)
        acc = accuracy(teacher.model, teacher.normalize, data, device)
        step += 1
        line = f"top-1 {100 * acc:.1f} % on {len(data)} real images of {p.real}"
        lines.append(line)
        yield Log(line)
        for path, why in data.skipped[:5]:
            yield Log(f"skipped {path}: {why}", "warning")
        match = class_match(p.real, p.real_split, teacher)
        if match is False:
            yield Log(f"the class folders of {p.real} are not the teacher's classes "
                      f"({', '.join(teacher.class_names[:4])}, …): the accuracy pairs them "
                      "by folder order", "warning")
        result.update(accuracy=acc, real=str(p.real), real_images=len(data),
                      class_match=match)
        if data.skipped:
            result["skipped"] = [f"{a}: {b}" for a, b in data.skipped]
    sp = synthesis_params(p, teacher)
    iters = planned_iterations(sp, teacher)
    batch = min(p.batch_size, p.num_images)
    n_batches = math.ceil(p.num_images / p.batch_size)
    result.update(method=p.method, preset=sp.preset, batch_size=batch, num_batches=n_batches,
                  num_images=p.num_images, iterations=iters)
    if p.method == "noise":
        line = (f"noise: nothing to optimise; {p.num_images} images are written at once "
                f"on {device}")
        result.update(seconds_per_iteration=0.0, estimate_seconds=0.0)
    else:
        if p.method == "natural" and teacher.image_size % 4:
            raise ValueError(f"NaturalInversion needs an image size divisible by 4, "
                             f"got {teacher.image_size}")
        token.check()
        yield Progress(step, total, f"timing {p.warmup_iterations} {p.method} iteration(s) "
                                    f"at batch {batch}")
        labels = batch_labels(0, p.batch_size, p.num_images, teacher.num_classes)
        engine = make_engine(sp, teacher, labels, derive_seed(p.seed, "batch", 0), device)
        try:
            wall, cpu = time_iterations(engine, p.warmup_iterations, device, token)
        finally:
            engine.close()
        per_iter = statistics.median(wall)
        estimate = per_iter * iters * n_batches
        line = (f"{per_iter:.2f} s per iteration at batch {batch} -> about "
                f"{format_duration(estimate)} for {p.num_images} images x {iters} "
                f"iterations on {device.type}")
        result.update(seconds_per_iteration=per_iter,
                      cpu_seconds_per_iteration=statistics.median(cpu),
                      wall_times=wall, estimate_seconds=estimate,
                      estimate=format_duration(estimate))
    step = total
    lines.append(line)
    yield Log(line)
    yield Progress(step, total, "checked")
    result["summary"] = "; ".join(lines)
    return result


__all__ = ["preflight_job", "PreflightParams", "class_match", "describe_teacher", "format_duration",
           "planned_iterations", "resolve_preset", "synthesis_params", "time_iterations"]
