"""`studio prune`: prune the teacher, fine-tune it on synthetic images only, measure on real.

Two criteria:

- ``global-magnitude``: the smallest-|w| weights of all conv and linear layers together
  (one global threshold) are set to zero;
- ``l1-filter``: in every prunable conv layer, the filters with the smallest L1 norm (Li
  et al., ICLR 2017) are removed; the following BatchNorm channel is masked too, so the
  channel outputs exactly zero — the same network as physically cutting the channel out.
  Not prunable: the stem (it sees only 3 channels) and, in residual networks, every conv
  whose output joins a shortcut sum (a block's last conv, projection shortcuts): its
  channels must match the shortcut's, which for option-A blocks is the zero-padded input
  itself. So in a ResNet only the inner convs of each block are cut — Li et al.'s rule
  for ResNet-56/110 ("we only prune the first layer of each residual block").

Masks stay fixed while the pruned network is fine-tuned with distillation from the
unpruned teacher (data-free: synthetic images only), then are made permanent. Accuracy on
real data is reported before and after fine-tuning for each target sparsity.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as tprune

from studio.compression.distill import load_real, train_epochs
from studio.compression.params import PruneParams
from studio.core.checkpoints import save_state_dict
from studio.core.guards import check_writable_folder
from studio.core.jobs import CancelToken, JobGen, Log, job_context, params_dict
from studio.core.seeding import derive_seed
from studio.core.tracking import MetricsLog, open_metrics
from studio.datasets.writers import check_separate
from studio.inversion.data import LabelledImages, accuracy, load_labelled
from studio.models.teachers import Teacher, load_teacher


def _conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """Each conv with the BatchNorm that directly follows it in module order (if any)."""
    mods = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    pairs = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            bn = nxt if isinstance(nxt, nn.BatchNorm2d) and nxt.num_features == m.out_channels \
                else None
            pairs.append((m, bn))
    return pairs


def _joins_residual_sum(model: nn.Module) -> set[int]:
    """ids of the convs whose output is added to a shortcut: a residual block's last conv
    and its projection convs (``shortcut`` / ``downsample``)."""
    ids: set[int] = set()
    for m in model.modules():
        if not (isinstance(getattr(m, "conv2", None), nn.Conv2d) and hasattr(m, "bn2")
                and (hasattr(m, "shortcut") or hasattr(m, "downsample"))):
            continue
        last = m.conv3 if isinstance(getattr(m, "conv3", None), nn.Conv2d) else m.conv2
        ids.add(id(last))
        for name in ("shortcut", "downsample"):
            sc = getattr(m, name, None)
            if isinstance(sc, nn.Module):
                ids.update(id(c) for c in sc.modules() if isinstance(c, nn.Conv2d))
    return ids


def prunable_convs(model: nn.Module, skip_stem: bool = True
                   ) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """The (conv, following BN) pairs whose filters ``l1-filter`` may remove."""
    fixed = _joins_residual_sum(model)
    return [(c, bn) for c, bn in _conv_bn_pairs(model)
            if id(c) not in fixed and not (skip_stem and c.in_channels == 3)]


def prune_global_magnitude(model: nn.Module, sparsity: float) -> None:
    """Zero the ``sparsity`` fraction of smallest-magnitude conv + linear weights (global)."""
    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=sparsity)


def prune_l1_filters(model: nn.Module, sparsity: float, skip_stem: bool = True) -> int:
    """Mask the ``sparsity`` fraction of lowest-L1 filters per conv; returns filters cut."""
    cut = 0
    for conv, bn in prunable_convs(model, skip_stem):
        n = conv.out_channels
        k = min(n - 1, int(round(sparsity * n)))
        if k <= 0:
            continue
        norms = conv.weight.detach().abs().flatten(1).sum(1)
        drop = torch.argsort(norms)[:k]
        keep = torch.ones(n, device=norms.device)
        keep[drop] = 0
        wmask = keep.view(-1, 1, 1, 1).expand_as(conv.weight).clone()
        tprune.custom_from_mask(conv, "weight", wmask)
        if conv.bias is not None:
            tprune.custom_from_mask(conv, "bias", keep.clone())
        if bn is not None and bn.affine:
            tprune.custom_from_mask(bn, "weight", keep.clone())
            tprune.custom_from_mask(bn, "bias", keep.clone())
        cut += k
    return cut


def make_permanent(model: nn.Module) -> None:
    for m in model.modules():
        for name in ("weight", "bias"):
            if tprune.is_pruned(m) and hasattr(m, f"{name}_orig"):
                tprune.remove(m, name)


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over all conv and linear layers."""
    zeros = total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach()
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / max(1, total)


def filter_sparsity(model: nn.Module, skip_stem: bool = True) -> float:
    """Fraction of all-zero filters over the prunable conv layers."""
    zero = total = 0
    for conv, _ in prunable_convs(model, skip_stem):
        w = conv.weight.detach().flatten(1)
        zero += int((w.abs().sum(1) == 0).sum())
        total += w.shape[0]
    return zero / max(1, total)


def prune_job(p: PruneParams, token: CancelToken | None = None,
              teacher: Teacher | None = None) -> JobGen:
    """For each sparsity: prune a copy, fine-tune (KD from the teacher), evaluate on real."""
    token = job_context(token)
    out = Path(p.out)  # checked first: each model is written after its fine-tuning
    check_separate(out, {"synthetic": p.synthetic, "real test": p.real_test})
    check_writable_folder(out)
    device = token.device(p.device)
    if teacher is None:
        teacher = load_teacher(p.teacher, p.arch, p.data, mean=p.mean, std=p.std)
    teacher.to(device)
    for s in p.sparsities:
        if not 0.0 <= s < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {s}")
    data = load_labelled(p.synthetic, teacher.class_names, teacher.image_size)
    real = load_real(p.real_test, teacher, p.real_split)
    base_acc = accuracy(teacher.model, teacher.normalize, real, device) if real else None
    yield Log(f"pruning {teacher.arch} ({p.method}); fine-tuning on {len(data)} synthetic "
              f"images" + (f"; unpruned real top-1 {base_acc:.4f}" if base_acc is not None
                           else ""))
    with (yield from open_metrics(out, p.log_dir, staged=True)) as log:
        rows = yield from _prune_each(p, teacher, data, real, device, token, log)
        summary = {"teacher": teacher.arch, "teacher_sha256": teacher.sha256,
                   "method": p.method, "teacher_real_acc": base_acc,
                   "num_synthetic": len(data), "rows": rows, "params": params_dict(p)}
        (out / "prune.json").write_text(json.dumps(summary, indent=2))
        log.commit()
    return summary


def _prune_each(p: PruneParams, teacher: Teacher, data: LabelledImages,
                real: LabelledImages | None, device: torch.device, token: CancelToken,
                log: MetricsLog) -> JobGen:
    """Prune a copy of the teacher per sparsity, fine-tune, evaluate; the rows of
    prune.json. A sparsity's summary is a record at step = sparsity in %."""
    out = Path(p.out)
    rows = []
    for s in p.sparsities:
        token.check()
        model = copy.deepcopy(teacher.model).to(memory_format=torch.contiguous_format)
        for prm in model.parameters():
            prm.requires_grad_(True)
        if p.method == "global-magnitude":
            prune_global_magnitude(model, s)
        else:
            prune_l1_filters(model, s)
        before = accuracy(model, teacher.normalize, real, device) if real else None
        history = yield from train_epochs(
            model, teacher, data, epochs=p.epochs, batch_size=p.batch_size,
            optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay,
            temperature=p.temperature, kd_weight=p.kd_weight, ce_weight=p.ce_weight,
            augment=p.augment, seed=derive_seed(p.seed, "prune", s), device=device,
            token=token, real=real, tag=f"sparsity {s:g}", eval_every=p.eval_every, log=log,
            prefix=f"sparsity_{s:g}/")
        make_permanent(model)
        after = accuracy(model, teacher.normalize, real, device) if real else None
        row = {"target_sparsity": s, "weight_sparsity": round(weight_sparsity(model), 4),
               "filter_sparsity": round(filter_sparsity(model), 4),
               "real_acc_pruned": before, "real_acc_finetuned": after,
               "history": history}
        rows.append(row)
        save_state_dict(model, out / f"pruned_{p.method}_{s:g}.pth")
        yield log(round(s * 100), {"sparsity": s, "acc_pruned": before,
                                   "acc_finetuned": after})
        yield Log(f"sparsity {s:g}: weights {row['weight_sparsity']:.3f} zero, filters "
                  f"{row['filter_sparsity']:.3f} cut" + (
                      f"; real top-1 {before:.4f} pruned -> {after:.4f} fine-tuned"
                      if real else ""))
    return rows


__all__ = ["PruneParams", "prune_job", "prune_global_magnitude", "prune_l1_filters",
           "make_permanent", "weight_sparsity", "filter_sparsity"]
