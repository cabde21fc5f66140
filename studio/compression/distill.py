"""`studio distill`: train a student on synthetic images only, with the teacher's soft labels.

Loss = kd_weight · T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + ce_weight · CE(student, y)
with T = 3 by default (the DeepInversion maintainers' answer); the teacher sees the same
augmented batch as the student (random crop with padding, horizontal flip). Top-1 on a
real test set is measured after every epoch — the number the data-free papers report.
No reference implementation released this step; the recipe is written down in full here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from studio.compression.params import DistillParams
from studio.core.checkpoints import save_state_dict
from studio.core.guards import check_finite_loss, check_writable_folder
from studio.core.jobs import CancelToken, JobGen, Log, Progress, job_context, params_dict
from studio.core.seeding import derive_seed
from studio.core.tracking import MetricsLog, open_metrics
from studio.datasets.writers import check_separate
from studio.inversion.data import LabelledImages, accuracy, load_labelled
from studio.inversion.losses import kd_loss
from studio.models.classifiers import build_network, default_student
from studio.models.teachers import Teacher, load_teacher


def augment_batch(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Per image: random crop of the reflect-padded image and a 50 % horizontal flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def make_optimizer(params, kind: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)


def train_epochs(model: nn.Module, teacher: Teacher, data: LabelledImages, *, epochs: int,
                 batch_size: int, optimizer: str, lr: float, weight_decay: float,
                 temperature: float, kd_weight: float, ce_weight: float, augment: bool,
                 seed: int, device: torch.device, token: CancelToken,
                 real: LabelledImages | None = None, tag: str = "distill",
                 eval_every: int = 1, log: MetricsLog | None = None,
                 prefix: str = "") -> JobGen:
    """The training loop shared by distillation and pruning fine-tuning (cosine lr).

    Yields events; returns a list of per-epoch dicts (loss, real accuracy). Each epoch is
    one record of ``log`` (metrics.jsonl, TensorBoard) at step = epoch, its names prefixed
    with ``prefix`` (pruning: one curve per sparsity).
    """
    log = log or MetricsLog(None)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], optimizer, lr,
                         weight_decay)
    steps_per_epoch = max(1, math.ceil(len(data) / batch_size))
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    g = torch.Generator().manual_seed(seed)
    history = []
    step = 0
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(data), generator=g)
        run_loss, seen = 0.0, 0
        for i in range(0, len(data), batch_size):
            token.check()
            idx = perm[i:i + batch_size]
            x = data.float01(idx)
            if augment:
                x = augment_batch(x, g)
            x = teacher.normalize(x.to(device))
            y = data.labels[idx].to(device)
            with torch.no_grad():
                t_logits = teacher.model(x)
            s_logits = model(x)
            loss = kd_weight * kd_loss(s_logits, t_logits, temperature)
            if ce_weight:
                loss = loss + ce_weight * F.cross_entropy(s_logits, y)
            value = loss.item()  # stop before a NaN reaches the weights
            check_finite_loss(value, f"{tag} epoch {epoch + 1}, step {step + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            run_loss += value * len(idx)
            seen += len(idx)
            yield Progress(step, total, f"{tag} epoch {epoch + 1}/{epochs} loss "
                                        f"{run_loss / seen:.4f}")
        rec = {"epoch": epoch + 1, "loss": run_loss / max(1, seen)}
        last = epoch == epochs - 1
        if real is not None and (last or (epoch + 1) % max(1, eval_every) == 0):
            rec["real_acc"] = accuracy(model, teacher.normalize, real, device)
        history.append(rec)
        yield log(epoch + 1, {prefix + k: v for k, v in rec.items() if k != "epoch"})
        yield Log(f"{tag} epoch {epoch + 1}: loss {rec['loss']:.4f}" +
                  (f", real top-1 {rec['real_acc']:.4f}" if "real_acc" in rec else ""))
    return history


def load_real(path: Path | None, teacher: Teacher, split: str) -> LabelledImages | None:
    if path is None:
        return None
    return load_labelled(path, teacher.class_names, teacher.image_size, split=split)


def distill_job(p: DistillParams, token: CancelToken | None = None,
                teacher: Teacher | None = None) -> JobGen:
    """Distil; writes ``student.pth`` and ``distill.json`` under ``out``; returns the summary."""
    token = job_context(token)
    out = Path(p.out)  # checked first: it is written only after the whole training
    check_separate(out, {"synthetic": p.synthetic, "real test": p.real_test})
    check_writable_folder(out)
    device = token.device(p.device)
    if teacher is None:
        teacher = load_teacher(p.teacher, p.arch, p.data, mean=p.mean, std=p.std)
    teacher.to(device)
    data = load_labelled(p.synthetic, teacher.class_names, teacher.image_size)
    real = load_real(p.real_test, teacher, p.real_split)
    arch = p.student if p.student != "auto" else default_student(teacher.arch)
    torch.manual_seed(derive_seed(p.seed, "student-init"))
    student = build_network(arch, teacher.num_classes).to(device)
    yield Log(f"distilling {teacher.arch} -> {arch} on {len(data)} synthetic images from "
              f"{p.synthetic} (T={p.temperature}, kd {p.kd_weight}, ce {p.ce_weight})")
    teacher_acc = accuracy(teacher.model, teacher.normalize, real, device) if real else None
    if teacher_acc is not None:
        yield Log(f"teacher top-1 on {len(real)} real test images: {teacher_acc:.4f}")
    with (yield from open_metrics(out, p.log_dir, staged=True)) as log:
        history = yield from train_epochs(
            student, teacher, data, epochs=p.epochs, batch_size=p.batch_size,
            optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay,
            temperature=p.temperature, kd_weight=p.kd_weight, ce_weight=p.ce_weight,
            augment=p.augment, seed=derive_seed(p.seed, "distill"), device=device,
            token=token, real=real, eval_every=p.eval_every, log=log)
        save_state_dict(student, out / "student.pth")
        accs = [h["real_acc"] for h in history if "real_acc" in h]
        summary = {"student": arch, "teacher": teacher.arch, "teacher_sha256": teacher.sha256,
                   "synthetic": str(p.synthetic), "num_synthetic": len(data),
                   "teacher_real_acc": teacher_acc,
                   "final_real_acc": accs[-1] if accs else None,
                   "best_real_acc": max(accs) if accs else None, "history": history,
                   "params": params_dict(p)}
        (out / "distill.json").write_text(json.dumps(summary, indent=2))
        log.commit()
    return summary


__all__ = ["DistillParams", "distill_job", "train_epochs", "augment_batch",
           "load_real"]
