"""`studio synthesize`: many batches of NaturalInversion / DeepInversion into a dataset.

Fixes of the reference code that matter for a dataset (see the facts file):

- every batch has its own seed ``derive_seed(seed, "batch", b)``, so batches differ and
  any batch can be regenerated alone;
- labels are balanced over the whole dataset (image ``g`` has label ``g % classes``);
- images are de-normalised with the teacher's mean/std (not min-max per image);
- batches are independent work items: resumable (finished batches are skipped), and under
  ``torchrun`` rank ``r`` takes batches ``b % world == r`` (WebDataset: whole shards), so
  the dataset equals a single-process run.

Adaptive DeepInversion is the exception: its student learns from every batch before the
next one, so it runs in one process and trains the student between batches.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from studio.core.checkpoints import load_into, save_state_dict
from studio.core.distributed import barrier, dist_info
from studio.core.guards import check_finite_loss
from studio.core.images import encode_png, image_grid, quantize
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Metrics,
    Preview,
    Progress,
    job_context,
    params_dict,
)
from studio.core.seeding import derive_seed
from studio.datasets.folders import safe_relpath
from studio.datasets.writers import (
    ImageFolderWriter,
    OutputItem,
    make_fingerprint,
    make_writer,
)
from studio.inversion.deep import DEEP_IMAGENET, DEEP_PRESETS, DeepInversion, DeepInversionConfig
from studio.inversion.losses import kd_loss
from studio.inversion.natural import NATURAL_PRESETS, NaturalInversion, NaturalInversionConfig
from studio.inversion.params import SynthesizeParams
from studio.models.classifiers import build_network, default_student, family
from studio.models.teachers import Teacher, load_teacher


def natural_config(p: SynthesizeParams) -> NaturalInversionConfig:
    cfg = NaturalInversionConfig(**NATURAL_PRESETS[p.preset])
    for name, field_name in (("iterations", "iterations"), ("r_feature", "r_feature"),
                             ("var_scale", "var_scale"), ("l2_scale", "l2_scale"),
                             ("lr", "lr_generator"), ("jitter", "jitter"), ("flip", "flip")):
        v = getattr(p, name)
        if v is not None:
            setattr(cfg, field_name, v)
    return cfg


def deep_config(p: SynthesizeParams, teacher: Teacher | None = None) -> DeepInversionConfig:
    """DeepInversion's settings for the teacher's data: ``--preset toy`` gives
    :data:`~studio.inversion.deep.DEEP_TOY`; else the reference's ImageNet settings
    (:data:`DEEP_IMAGENET`) for an ImageNet teacher, the CIFAR-10 paper's otherwise; the
    options set in ``p`` win. The data is the teacher's preset when ``teacher`` is given,
    else ``p.data`` (``auto``: a torchvision arch is ImageNet)."""
    if teacher is not None:
        data = teacher.preset.name
    elif p.data == "auto":
        data = "imagenet" if p.arch != "auto" and family(p.arch) == "imagenet" else "auto"
    else:
        data = p.data
    base = DEEP_PRESETS.get(p.preset) or (DEEP_IMAGENET if data == "imagenet" else {})
    cfg = DeepInversionConfig(adi_scale=p.adi_scale, **base)
    for name in ("iterations", "r_feature", "var_scale", "l2_scale", "lr", "jitter", "flip"):
        v = getattr(p, name)
        if v is not None:
            setattr(cfg, name, v)
    return cfg


def batch_labels(batch: int, batch_size: int, num_images: int, num_classes: int
                 ) -> torch.Tensor:
    """Labels of batch ``batch``: image ``g`` of the dataset is class ``g % num_classes``."""
    start = batch * batch_size
    return torch.arange(start, min(start + batch_size, num_images)) % num_classes


class PlannedItems(Sequence):
    """All outputs in batch-major order (the order shards and ranks are derived from),
    made on demand: a billion-image plan costs no memory and starts writing at once."""

    def __init__(self, p: SynthesizeParams, teacher: Teacher):
        self.n, self.batch_size = p.num_images, p.batch_size
        self.class_names = list(teacher.class_names)

    def __len__(self) -> int:
        return self.n

    def item(self, g: int) -> OutputItem:
        b, j = divmod(g, self.batch_size)
        label = g % len(self.class_names)
        cname = self.class_names[label]
        return OutputItem(safe_relpath(f"{cname}/b{b:05d}_{j:03d}"), label, cname,
                          {"batch": b, "index_in_batch": j})

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self.item(g) for g in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.item(i % self.n)


def plan_items(p: SynthesizeParams, teacher: Teacher) -> PlannedItems:
    """The outputs of a synthesis run (see :class:`PlannedItems`)."""
    return PlannedItems(p, teacher)


def to_grid(x01: torch.Tensor, max_images: int = 64) -> Any:
    """Up to 64 images as one HxWx3 uint8 grid for previews."""
    return image_grid(list(quantize(x01[:max_images])), pad=1)


def make_engine(p: SynthesizeParams, teacher: Teacher, labels: torch.Tensor, seed: int,
                device: torch.device, student: torch.nn.Module | None = None):
    if p.method == "natural":
        return NaturalInversion(teacher, labels, natural_config(p), seed, device)
    return DeepInversion(teacher, labels, deep_config(p, teacher), seed, device, student=student)


def _pending_batches(p: SynthesizeParams, writer, items: PlannedItems, n_batches: int
                     ) -> tuple[Iterator[int], int]:
    """(batches this rank still has to make, lazily; how many) — nothing is listed, so a
    huge plan starts at once."""
    if isinstance(writer, ImageFolderWriter):
        writer.set_classes(items[:len(items.class_names)], items.class_names)
        done = writer.completed()
        per_batch: collections.Counter = collections.Counter()
        for name in done:
            stem = name.rsplit("/b", 1)[-1]
            with contextlib.suppress(ValueError):
                per_batch[int(stem.split("_")[0])] += 1

        def size(b: int) -> int:
            return min(p.batch_size, p.num_images - b * p.batch_size)

        def todo() -> Iterator[int]:
            for b in range(writer.dist.rank, n_batches, writer.dist.world_size):
                if per_batch[b] < size(b) and any(
                        writer.file_name(it) not in done for it in items[
                            b * p.batch_size:(b + 1) * p.batch_size]):
                    yield b

        owned = len(range(writer.dist.rank, n_batches, writer.dist.world_size))
        full = sum(1 for b, n in per_batch.items() if b < n_batches and writer.dist.owns(b)
                   and n >= size(b))
        return todo(), owned - full
    writer.set_classes(items[:len(items.class_names)], items.class_names)
    writer.pending_index = {i for i, _ in writer.pending(items)}  # shards split batches
    batches = sorted({i // p.batch_size for i in writer.pending_index})
    return iter(batches), len(batches)


def _train_adi_student(student: torch.nn.Module, buffer: list[tuple[torch.Tensor, torch.Tensor]],
                       epochs: int, seed: int, temperature: float = 3.0) -> float:
    """Distil the ADI student on all batches so far (KD at T=3, Adam 1e-3, minibatch 64)."""
    for prm in student.parameters():
        prm.requires_grad_(True)
    student.train()
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    xs = torch.cat([x for x, _ in buffer])
    ts = torch.cat([t for _, t in buffer])
    g = torch.Generator().manual_seed(seed)
    last = 0.0
    for _ in range(epochs):
        perm = torch.randperm(len(xs), generator=g)
        for i in range(0, len(xs), 64):
            idx = perm[i:i + 64].to(xs.device)
            loss = kd_loss(student(xs[idx]), ts[idx], temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            last = loss.item()
    student.eval()
    for prm in student.parameters():
        prm.requires_grad_(False)
    return last


def synthesize_job(p: SynthesizeParams, token: CancelToken | None = None,
                   teacher: Teacher | None = None) -> JobGen:
    """Synthesize ``num_images`` images in independent batches; returns dataset.json's dict."""
    token = job_context(token)
    if p.num_images < 1 or p.batch_size < 1:
        raise ValueError("num_images and batch_size must be >= 1")
    dist = dist_info()
    device = token.device(p.device)
    if teacher is None:
        teacher = load_teacher(p.teacher, p.arch, p.data, mean=p.mean, std=p.std)
    teacher.to(device)
    if p.method == "natural" and teacher.image_size % 4:
        raise ValueError(f"NaturalInversion needs an image size divisible by 4, "
                         f"got {teacher.image_size}")
    adi = p.method == "deep" and p.adi_scale > 0
    if adi and dist.world_size > 1:
        raise ValueError("Adaptive DeepInversion trains its student between batches, so it "
                         "runs in one process; launch it without torchrun")
    out = Path(p.out)
    items = plan_items(p, teacher)
    n_batches = math.ceil(p.num_images / p.batch_size)
    resolved = {} if p.method == "noise" else dataclasses.asdict(
        natural_config(p) if p.method == "natural" else deep_config(p, teacher))
    fingerprint = make_fingerprint(  # the resolved method settings too: a default may change
        "synthesize", {**params_dict(p), "device_type": device.type, "config": resolved},
        ignore=("out", "teacher", "device", "preview_every", "metrics_every"),
        models={"teacher_sha256": teacher.sha256, "teacher_arch": teacher.arch})
    writer = make_writer(p.format, out, shard_size=p.batch_size * p.shard_batches,
                         shards=p.shards, align=p.batch_size,
                         dist=dist)
    with writer.open(fingerprint, overwrite=p.overwrite):
        return (yield from _synthesize_body(p, token, teacher, dist, device, adi, items,
                                            n_batches, writer))


def _synthesize_body(p: SynthesizeParams, token: CancelToken, teacher: Teacher, dist: Any,
                     device: torch.device, adi: bool, items: PlannedItems, n_batches: int,
                     writer: Any) -> JobGen:
    out = Path(p.out)
    for note in writer.notes:
        yield Log(note, "warning")
    todo, n_todo = _pending_batches(p, writer, items, n_batches)
    cfg = natural_config(p) if p.method == "natural" else deep_config(p, teacher)
    iters = 0 if p.method == "noise" else cfg.iterations
    yield Log(f"{p.method}: {p.num_images} images in {n_batches} batches of {p.batch_size} "
              f"({n_todo} to do on rank {dist.rank}), {iters} iterations each, "
              f"teacher {teacher.arch} ({teacher.num_classes} classes, "
              f"{teacher.image_size}px) on {device}")
    student = None
    student_file = out / ".studio" / "adi_student.pth"
    buffer: list[tuple[torch.Tensor, torch.Tensor]] = []
    if adi:
        sarch = p.adi_student if p.adi_student != "auto" else default_student(teacher.arch)
        torch.manual_seed(derive_seed(p.seed, "adi-student"))
        student = build_network(sarch, teacher.num_classes).to(device).eval()
        if student_file.is_file():
            load_into(student, student_file)
            yield Log(f"ADI: resumed the student from {student_file}")
        for prm in student.parameters():
            prm.requires_grad_(False)
    total = max(1, n_todo * max(1, iters))
    done_steps = 0
    made_batches: list[int] = []
    for b in todo:
        made_batches.append(b)
        token.check()
        seed = derive_seed(p.seed, "batch", b)
        labels = batch_labels(b, p.batch_size, p.num_images, teacher.num_classes)
        terms: dict[str, float] = {}
        if p.method == "noise":
            g = torch.Generator().manual_seed(seed)
            s = teacher.image_size
            best = torch.randn(len(labels), 3, s, s, generator=g).to(device)
        else:
            engine = make_engine(p, teacher, labels, seed, device, student)
            try:
                for it in range(iters):
                    token.check()
                    terms = engine.step()
                    check_finite_loss(terms["loss"], f"batch {b}, iteration {it}",
                                      "lower the learning rate or check the teacher")
                    done_steps += 1
                    if p.metrics_every and (it % p.metrics_every == 0 or it == iters - 1):
                        yield Metrics(it, {**terms, "batch": float(b)})
                    if p.preview_every and (it % p.preview_every == 0 or it == iters - 1):
                        yield Preview(to_grid(teacher.denormalize(engine.current())),
                                      f"{p.method} batch {b} iteration {it}: loss "
                                      f"{terms['loss']:.3f}", it)
                    yield Progress(done_steps, total, f"batch {b} it {it} loss "
                                                      f"{terms['loss']:.3f}")
                best = engine.best() if p.keep == "best" else engine.current()
                terms = engine.best_terms if p.keep == "best" else terms
            finally:
                engine.close()
        images_np = quantize(teacher.denormalize(best.detach().float()))
        images = torch.from_numpy(images_np).permute(0, 3, 1, 2).to(device)
        with torch.no_grad():
            logits = teacher.model(teacher.normalize(images.float() / 255.0))
            # what the optimiser saw, before [0, 1] clipping and 8 bits (the saved images
            # are what users train on; the gap says how much saving costs)
            raw_acc = (None if p.method == "noise" else float(
                (teacher.model(best.detach().float()).argmax(1).cpu() == labels).float().mean()))
            rgb = teacher.denormalize_unclamped(best.detach().float())
            clipped = float(((rgb < 0) | (rgb > 1)).float().mean())
        prob = F.softmax(logits.float(), dim=1)
        conf = prob.gather(1, labels.to(device).view(-1, 1)).squeeze(1).cpu()
        pred = prob.argmax(1).cpu()
        if adi:
            buffer.append((teacher.normalize(images.float() / 255.0), logits.detach()))
        start = b * p.batch_size
        for j in range(len(labels)):
            item = items[start + j]
            rec = {"method": p.method, "seed": seed, "teacher_sha256": teacher.sha256,
                   "teacher_confidence": round(float(conf[j]), 6), "teacher_pred": int(pred[j]),
                   **{f"loss_{k}": round(v, 6) for k, v in terms.items()}}
            png = encode_png(images_np[j], {"method": p.method, "batch": b, "seed": seed,
                                            "label": item.label,
                                            "teacher_sha256": teacher.sha256})
            if isinstance(writer, ImageFolderWriter):
                writer.write(item, None, record=rec, png=png)
            elif start + j in writer.pending_index:  # its shard is not finished yet
                writer.write(item, None, record=rec, png=png, index=start + j)
        acc = float((pred == labels).float().mean())
        yield Log(f"batch {b}: teacher accuracy {acc:.3f}, mean confidence "
                  f"{float(conf.mean()):.3f}" + (f", loss {terms['loss']:.4f}" if terms else "")
                  + (f"; before saving: accuracy {raw_acc:.3f}, {clipped:.1%} of values "
                     "outside [0, 1] clipped" if raw_acc is not None else ""))
        yield Preview(to_grid(images.float() / 255.0), f"{p.method} batch {b} (kept)", iters)
        if adi:
            kd = _train_adi_student(student, buffer, p.adi_student_epochs,
                                    derive_seed(p.seed, "adi-train", b))

            save_state_dict(student, student_file)
            yield Log(f"ADI: student trained on {sum(len(x) for x, _ in buffer)} images "
                      f"(KD loss {kd:.4f})")
    if p.method == "noise":
        yield Progress(total, total, "noise written")
    barrier()
    if not dist.is_main:
        return {"rank": dist.rank, "batches": made_batches}
    info = {"generator": "studio.inversion", "method": p.method, "params": params_dict(p),
            "config": dataclasses.asdict(cfg) if p.method != "noise" else {},
            "teacher": {"arch": teacher.arch, "sha256": teacher.sha256, "path": teacher.path,
                        "image_size": teacher.image_size, "mean": list(teacher.mean),
                        "std": list(teacher.std), "data": teacher.preset.name}}
    summary = writer.finalize(info, list(teacher.class_names))
    yield Log(f"wrote {summary['num_items']} images to {out}")
    return summary


__all__ = ["SynthesizeParams", "synthesize_job", "natural_config", "deep_config",
           "batch_labels", "plan_items", "to_grid"]
