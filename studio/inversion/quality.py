"""Quality report of a synthetic dataset, as the teacher sees it.

- class balance (counts, min/max ratio);
- teacher top-1 on the synthetic images against their intended labels;
- diversity: 1 - mean pairwise cosine similarity of the teacher's penultimate features
  within each class (0 = all images alike), averaged over classes;
- energy score (Liu et al., NeurIPS 2020; seed note 003): ``E(x) = -T·logsumexp(f(x)/T)``
  for synthetic, real and Gaussian-noise images. Low energy = the teacher treats the image
  as in-distribution; the report gives each set's mean/quantiles, a shared histogram and
  the AUROC of telling synthetic from real by energy (0.5 = indistinguishable).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from studio.core.jobs import CancelToken, JobGen, Log, Metrics, Progress, job_context, params_dict
from studio.core.seeding import derive_seed
from studio.inversion.data import LabelledImages, load_labelled
from studio.inversion.losses import energy_score
from studio.inversion.params import QualityParams
from studio.models.teachers import Teacher, load_teacher


def _head(model: nn.Module) -> nn.Linear:
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise ValueError("the teacher has no Linear head")
    return heads[-1]


def logits_and_features(teacher: Teacher, x01: torch.Tensor, device: torch.device,
                        batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher logits and the input of its last Linear layer (penultimate features)."""
    feats: list[torch.Tensor] = []
    handle = _head(teacher.model).register_forward_hook(
        lambda m, inp, out: feats.append(inp[0].detach().float().cpu()))
    logits = []
    try:
        with torch.no_grad():
            for i in range(0, len(x01), batch_size):
                xb = teacher.normalize(x01[i:i + batch_size].to(device))
                logits.append(teacher.model(xb).float().cpu())
    finally:
        handle.remove()
    return torch.cat(logits), torch.cat(feats)


def diversity(features: torch.Tensor, labels: torch.Tensor) -> float:
    """1 - mean off-diagonal cosine similarity within each class, averaged over classes."""
    vals = []
    for c in labels.unique():
        f = F.normalize(features[labels == c], dim=1)
        n = len(f)
        if n < 2:
            continue
        sim = f @ f.T
        vals.append(1.0 - float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1))))
    return float(sum(vals) / len(vals)) if vals else float("nan")


def auroc(neg: torch.Tensor, pos: torch.Tensor) -> float:
    """P(score(pos) > score(neg)) with ties counted half (Mann-Whitney U)."""
    if not len(neg) or not len(pos):
        return float("nan")
    allv = torch.cat([neg, pos]).double()
    ranks = torch.empty_like(allv)
    order = torch.argsort(allv)
    ranks[order] = torch.arange(1, len(allv) + 1, dtype=torch.double)
    for v in allv.unique():  # average ranks of ties
        m = allv == v
        if m.sum() > 1:
            ranks[m] = ranks[m].mean()
    r_pos = ranks[len(neg):].sum()
    n_p, n_n = len(pos), len(neg)
    return float((r_pos - n_p * (n_p + 1) / 2) / (n_p * n_n))


def _stats(e: torch.Tensor) -> dict[str, float]:
    q = torch.quantile(e.double(), torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.double))
    return {"n": len(e), "mean": float(e.mean()), "std": float(e.std()) if len(e) > 1 else 0.0,
            "q05": float(q[0]), "q25": float(q[1]), "median": float(q[2]), "q75": float(q[3]),
            "q95": float(q[4])}


def energy_report(energies: dict[str, torch.Tensor], bins: int = 30) -> dict:
    """Per-set statistics, one histogram on shared bin edges, synthetic-vs-real AUROC."""
    lo = min(float(e.min()) for e in energies.values())
    hi = max(float(e.max()) for e in energies.values())
    if hi <= lo:
        hi = lo + 1.0
    edges = torch.linspace(lo, hi, bins + 1)
    rep: dict = {"bin_edges": [round(float(v), 5) for v in edges], "sets": {}}
    for name, e in energies.items():
        counts = torch.histc(e.float(), bins=bins, min=lo, max=hi)
        rep["sets"][name] = {**_stats(e), "histogram": [int(c) for c in counts]}
    if "synthetic" in energies and "real" in energies:
        # how well higher energy flags synthetic against real (0.5: indistinguishable)
        rep["auroc_synthetic_vs_real"] = auroc(energies["real"], energies["synthetic"])
    if "noise" in energies and "real" in energies:
        rep["auroc_noise_vs_real"] = auroc(energies["real"], energies["noise"])
    return rep


def noise_images(n: int, teacher: Teacher, seed: int) -> torch.Tensor:
    """Gaussian noise in the teacher's input space, de-normalised and clamped to [0, 1]."""
    g = torch.Generator().manual_seed(derive_seed(seed, "quality-noise"))
    s = teacher.image_size
    return teacher.denormalize(torch.randn(n, 3, s, s, generator=g))


def quality_report(teacher: Teacher, synthetic: LabelledImages, real: LabelledImages | None,
                   num_noise: int, device: torch.device, temperature: float = 1.0,
                   bins: int = 30, seed: int = 0) -> dict:
    counts = Counter(int(v) for v in synthetic.labels)
    per_class = {teacher.class_names[c]: counts.get(c, 0) for c in range(teacher.num_classes)}
    nonzero = [v for v in per_class.values()]
    logits, feats = logits_and_features(teacher, synthetic.float01(), device)
    acc = float((logits.argmax(1) == synthetic.labels).float().mean())
    conf = F.softmax(logits, 1).gather(1, synthetic.labels.view(-1, 1)).squeeze(1)
    energies = {"synthetic": energy_score(logits, temperature)}
    report: dict = {
        "num_images": len(synthetic),
        "class_balance": {"counts": per_class, "min": min(nonzero), "max": max(nonzero),
                          "min_over_max": (min(nonzero) / max(nonzero)) if max(nonzero) else 0.0},
        "teacher_accuracy": acc,
        "teacher_confidence_mean": float(conf.mean()),
        "diversity": diversity(feats, synthetic.labels),
    }
    if real is not None:
        r_logits, r_feats = logits_and_features(teacher, real.float01(), device)
        energies["real"] = energy_score(r_logits, temperature)
        report["real_teacher_accuracy"] = float((r_logits.argmax(1) == real.labels).float().mean())
        report["real_diversity"] = diversity(r_feats, real.labels)
    if num_noise:
        n_logits, _ = logits_and_features(teacher, noise_images(num_noise, teacher, seed), device)
        energies["noise"] = energy_score(n_logits, temperature)
    report["energy"] = {"temperature": temperature, **energy_report(energies, bins)}
    return report


def quality_job(p: QualityParams, token: CancelToken | None = None,
                teacher: Teacher | None = None) -> JobGen:
    token = job_context(token)
    device = token.device(p.device)
    if teacher is None:
        teacher = load_teacher(p.teacher, p.arch, p.data, mean=p.mean, std=p.std)
    teacher.to(device)
    yield Progress(0, 3, "loading synthetic images")
    syn = load_labelled(p.synthetic, teacher.class_names, teacher.image_size,
                        limit=p.max_images)
    token.check()
    yield Progress(1, 3, "loading real images")
    real = load_labelled(p.real, teacher.class_names, teacher.image_size, split=p.real_split,
                         limit=p.max_images) if p.real else None
    token.check()
    rep = quality_report(teacher, syn, real, p.num_noise, device, p.temperature, p.bins, p.seed)
    rep["params"] = params_dict(p)
    out = Path(p.out) if p.out else Path(p.synthetic) / "quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rep, indent=2))
    sets = rep["energy"]["sets"]
    yield Metrics(0, {f"energy_{k}_mean": v["mean"] for k, v in sets.items()}
                  | {"teacher_accuracy": rep["teacher_accuracy"], "diversity": rep["diversity"]})
    yield Log("teacher accuracy on synthetic {:.4f}, diversity {:.4f}, energy means: {}".format(
        rep["teacher_accuracy"], rep["diversity"],
        ", ".join(f"{k} {v['mean']:.3f}" for k, v in sets.items())))
    yield Progress(3, 3, f"report written to {out}")
    return rep


__all__ = ["QualityParams", "quality_job", "quality_report", "energy_report", "diversity",
           "auroc", "noise_images", "logits_and_features"]
