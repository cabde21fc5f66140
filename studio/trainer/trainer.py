"""`studio train classifier`: train or fine-tune a classifier on an exported dataset.

The Bag-of-Tricks refinements (He et al. 2019) are options: linear LR scaling
(lr = base_lr x batch / 256), linear warm-up, cosine decay, label smoothing, mixup, no
weight decay on biases and BN parameters, zero-γ in the last BN of each residual block,
and mixed precision on CUDA. Several datasets can be mixed (SIN + IN) and training can
start from a checkpoint (SIN+IN -> IN fine-tuning) in three ways (``--mode``): fine-tune
every weight, fit a linear probe on the frozen features, or LP-FT — the probe, then
fine-tuning from it (Kumar et al. 2022; studio/trainer/probe.py).

Reproducibility is by construction: the epoch's order, each sample's augmentation and its
mixup partner and λ are derived from (seed, epoch, sample index) only. Under `torchrun`
every rank takes a fixed slice of the same global batch, gradients are averaged by DDP
and BatchNorm is synchronised, so N processes compute what one process computes (up to
floating-point summation order). A resumed run continues exactly where the last complete
epoch ended.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from studio.core.checkpoints import (
    CheckpointError,
    check_state_dict,
    load_checkpoint,
    save_state_dict,
    sha256_file,
)
from studio.core.distributed import DistInfo, barrier, dist_info, init_distributed
from studio.core.images import ImageError, atomic_write, image_grid
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Preview,
    Progress,
    job_context,
    params_dict,
)
from studio.core.seeding import derive_seed, seed_everything
from studio.core.tracking import MetricsLog, open_metrics
from studio.datasets.readers import DataSource, Item, read_source
from studio.datasets.writers import (
    check_separate,
    claim_run_folder,
    file_list_digest,
    make_fingerprint,
)
from studio.models.classifiers import (
    build_network,
    norm_for,
    read_weights,
    rgb_triple,
    zero_init_last_bn,
)
from studio.trainer.params import TrainParams
from studio.trainer.probe import (
    classifier_head,
    fit_linear_probe,
    install_head,
    penultimate_features,
)

EVAL_SPLITS = ("val", "validation", "test")


# --------------------------------------------------------------------------------------
# Deterministic augmentation


def _rrc_box(w: int, h: int, rng: random.Random, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
             ) -> tuple[int, int, int, int]:
    """RandomResizedCrop's box (torchvision's algorithm) from a given RNG."""
    area = w * h
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        ar = math.exp(rng.uniform(*log_r))
        cw = int(round(math.sqrt(target * ar)))
        ch = int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            return rng.randint(0, w - cw), rng.randint(0, h - ch), cw, ch
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def _to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def transform(img: Image.Image, size: int, mode: str, train: bool,
              rng: random.Random | None) -> torch.Tensor:
    """uint8 CHW tensor. ``imagenet``: RandomResizedCrop + flip / Resize(size/0.875) +
    CenterCrop; ``cifar``: resize, 4-px padded random crop + flip; ``none``: resize."""
    if mode == "imagenet":
        if train:
            x, y, cw, ch = _rrc_box(img.width, img.height, rng)
            img = img.resize((size, size), Image.BILINEAR, box=(x, y, x + cw, y + ch))
        else:
            short = int(size / 0.875)
            w, h = img.size
            s = short / min(w, h)
            img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            img = img.crop((left, top, left + size, top + size))
    elif img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    t = _to_tensor(img)
    if train and mode == "cifar":
        pad = 4
        t = F.pad(t, (pad, pad, pad, pad), mode="constant", value=0)
        dx, dy = rng.randint(0, 2 * pad), rng.randint(0, 2 * pad)
        t = t[:, dy:dy + size, dx:dx + size]
    if train and mode != "none" and rng.random() < 0.5:
        t = t.flip(-1)
    return t.contiguous()


class TrainSet(torch.utils.data.Dataset):
    """Index = (sample, epoch, partner, λ); everything random comes from derive_seed."""

    def __init__(self, items: list[Item], labels: list[int], size: int, mode: str,
                 train: bool, seed: int):
        self.items, self.labels = items, labels
        self.size, self.mode, self.train, self.seed = size, mode, train, seed

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int, epoch: int) -> torch.Tensor:
        rng = random.Random(derive_seed(self.seed, "augment", epoch, i)) if self.train else None
        return transform(self.items[i].load(), self.size, self.mode, self.train, rng)

    def __getitem__(self, key):
        i, epoch, j, lam = key if isinstance(key, tuple) else (key, 0, -1, 1.0)
        x = self.image(i, epoch)
        if j >= 0 and lam < 1.0:
            xj = self.image(j, epoch)
            x = (lam * x.float() + (1 - lam) * xj.float()).round().to(torch.uint8)
            return x, self.labels[i], self.labels[j], lam
        return x, self.labels[i], self.labels[i], 1.0


def epoch_batches(n: int, batch: int, epoch: int, seed: int, *, shuffle: bool = True,
                  drop_last: bool = True, mixup_alpha: float = 0.0
                  ) -> list[list[tuple[int, int, int, float]]]:
    """The global batches of one epoch: (sample, epoch, mixup partner, λ) tuples."""
    order = np.arange(n)
    if shuffle:
        order = np.random.default_rng(derive_seed(seed, "order", epoch)).permutation(n)
    partners = np.full(n, -1)
    lams = np.ones(n)
    if mixup_alpha > 0:
        rng = np.random.default_rng(derive_seed(seed, "mixup", epoch))
        partners = rng.permutation(n)
        lams = rng.beta(mixup_alpha, mixup_alpha, size=n)
    stop = (n // batch) * batch if drop_last else n
    out = []
    for s in range(0, stop, batch):
        out.append([(int(i), epoch, int(partners[i]), float(lams[i]))
                    for i in order[s:s + batch]])
    return out


def _collate(batch):
    xs, ya, yb, lam = zip(*batch)
    return (torch.stack(xs), torch.tensor(ya), torch.tensor(yb),
            torch.tensor(lam, dtype=torch.float32))


# --------------------------------------------------------------------------------------
# Parameters


# --------------------------------------------------------------------------------------
# Helpers


def lr_at(params: TrainParams, step: int, steps_per_epoch: int, base_lr: float) -> float:
    """Warm-up (linear from 0) then cosine / step / constant, evaluated per iteration."""
    warm = int(round(params.warmup_epochs * steps_per_epoch))
    if step < warm:
        return base_lr * (step + 1) / warm
    total = params.epochs * steps_per_epoch
    if params.schedule == "cosine":
        t = (step - warm) / max(1, total - warm)
        return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, t)))
    if params.schedule == "step":
        epoch = step // steps_per_epoch
        return base_lr * params.step_gamma ** sum(epoch >= e for e in params.step_epochs)
    return base_lr


def param_groups(net: nn.Module, weight_decay: float, no_bias_decay: bool) -> list[dict]:
    """No decay on biases and BN γ/β when ``no_bias_decay`` (1-D parameters)."""
    if not no_bias_decay:
        return [{"params": [p for p in net.parameters() if p.requires_grad],
                 "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def soft_cross_entropy(logits: torch.Tensor, ya: torch.Tensor, yb: torch.Tensor,
                       lam: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Mixup loss λ·CE(y_a) + (1-λ)·CE(y_b) with label smoothing, per-sample λ."""
    la = F.cross_entropy(logits, ya, reduction="none", label_smoothing=smoothing)
    lb = F.cross_entropy(logits, yb, reduction="none", label_smoothing=smoothing)
    return (lam * la + (1 - lam) * lb).mean()


def topk_correct(logits: torch.Tensor, y: torch.Tensor, ks=(1, 5)) -> list[int]:
    k = min(max(ks), logits.shape[1])
    pred = logits.topk(k, dim=1).indices
    hit = pred.eq(y[:, None])
    return [int(hit[:, :min(kk, k)].any(1).sum()) for kk in ks]


def grid_preview(x: torch.Tensor, n: int = 8) -> np.ndarray:
    """A row of the first ``n`` uint8 images of a batch (H, n*W, 3)."""
    x = x[:n].permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
    return image_grid(list(x), ncols=len(x), pad=0)


def _map_labels(src: DataSource, items: list[Item], classes: list[str]) -> list[int]:
    idx = {c: i for i, c in enumerate(classes)}
    missing = sorted({it.class_name for it in items} - set(idx))
    if missing:
        raise ValueError(f"{src.root}: classes {missing[:5]} are not among the training "
                         f"classes {classes[:5]}... (mixed datasets must share class names)")
    return [idx[it.class_name] for it in items]


def build_model(params: TrainParams, num_classes: int) -> tuple[nn.Module, list[str]]:
    """The network, initialised from ``params.init`` when fine-tuning; returns log lines."""
    torch.manual_seed(derive_seed(params.seed, "init"))
    net = build_network(params.arch, num_classes)
    notes = []
    if params.zero_gamma:
        n = zero_init_last_bn(net)
        notes.append(f"zero-γ init in {n} residual blocks" if n else
                     f"zero-γ: {params.arch} has no residual blocks (no-op)")
    if params.init is not None:
        sd = read_weights(params.init)
        own = net.state_dict()
        # a head that is replaced anyway (a probe, --new-head) may have another class count
        reset = params.reset_head or params.new_head or params.mode != "finetune"
        if reset:  # the head's tensors only: any other mismatch stays an error
            head = classifier_head(net)[0] + "."
            dropped = [k for k, v in sd.items() if k.startswith(head) and k in own
                       and v.shape != own[k].shape]
            sd = {k: v for k, v in sd.items() if k not in dropped}
            if dropped:
                notes.append(f"reset head: dropped {dropped}")

        hint = "use reset_head to fine-tune to a different class count"
        if reset:
            check_state_dict(net, {**own, **sd}, params.init, hint)  # only the head may go
        else:
            check_state_dict(net, sd, params.init, hint)
        net.load_state_dict(sd, strict=False)
        notes.append(f"initialised from {params.init}")
    if params.new_head:
        name, head = classifier_head(net)
        torch.manual_seed(derive_seed(params.seed, "new-head"))
        head.reset_parameters()
        notes.append(f"new head: {name} freshly initialised")
    return net, notes


def _save_checkpoint(path: Path, net: nn.Module, opt, scaler, epoch: int, step: int,
                     meta: dict) -> None:
    state = {"model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
             "optimizer": opt.state_dict(), "epoch": epoch, "step": step,
             "meta": json.dumps(meta, default=str)}
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    with atomic_write(path) as fh:
        torch.save(state, fh)


def eval_batches(items: list[Item], labels: list[int], params: TrainParams,
                 device: torch.device, mean, std, token: CancelToken | None = None,
                 shard: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised (x, y) batches of ``items`` with the evaluation transform (no
    augmentation); ``shard``: only this rank's share under torchrun."""
    info = dist_info()
    ds = TrainSet(items, labels, params.image_size, params.augment, False, params.seed)
    idx = [i for i in range(len(items)) if not shard or info.owns(i)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, idx), num_workers=params.workers, collate_fn=_collate,
        batch_size=max(1, params.batch_size // (info.world_size if shard else 1)))
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    for x, y, _, _ in loader:
        if token:
            token.check()
        yield (x.to(device).float() / 255 - m) / s, y.to(device)


def evaluate(net: nn.Module, items: list[Item], labels: list[int], params: TrainParams,
             device: torch.device, mean, std, token: CancelToken | None = None
             ) -> dict[str, float]:
    """Top-1 / top-5 accuracy (%) and mean loss; ranks split the set and add counts."""
    was = net.training
    net.eval()
    tot = torch.zeros(4, dtype=torch.float64, device=device)
    with torch.no_grad():
        for x, y in eval_batches(items, labels, params, device, mean, std, token):
            logits = net(x).float()
            c1, c5 = topk_correct(logits, y)
            tot += torch.tensor([c1, c5, float(F.cross_entropy(logits, y, reduction="sum")),
                                 len(y)], dtype=torch.float64, device=device)
    if dist_info().world_size > 1:
        torch.distributed.all_reduce(tot)
    net.train(was)
    n = max(1.0, float(tot[3]))
    return {"top1": 100 * float(tot[0]) / n, "top5": 100 * float(tot[1]) / n,
            "loss": float(tot[2]) / n, "count": int(tot[3])}


def _probe_first(run: Training, data: TrainData, params: TrainParams, device: torch.device,
                 token: CancelToken) -> JobGen:
    """The linear probe of ``--mode linear-probe`` and LP-FT's first stage: fit the head
    on frozen features of every training image (each rank computes the same probe), then
    record it as epoch 0 of the history."""
    t0 = time.monotonic()
    name, _ = classifier_head(run.net)
    feats, ys = penultimate_features(run.net, eval_batches(
        data.train_items, data.train_labels, params, device, run.mean, run.std, token,
        shard=False))
    w, b, ce = fit_linear_probe(feats, ys, len(data.classes), params.lp_l2)
    install_head(run.net, w, b)
    rec: dict[str, Any] = {"epoch": 0, "step": 0, "probe_ce": ce,
                           "seconds": round(time.monotonic() - t0, 1)}
    msg = (f"linear probe: head {name} fitted on {feats.shape[1]}-d frozen features of "
           f"{len(ys)} images (L-BFGS, L2 {params.lp_l2:g}): training CE {ce:.4f}")
    if data.val_items:
        ev = evaluate(run.net, data.val_items, data.val_labels, params, device, run.mean,
                      run.std, token)
        rec.update({"top1": ev["top1"], "top5": ev["top5"], "val_loss": ev["loss"]})
        msg += f", top-1 {ev['top1']:.2f}%"
    yield Log(msg)
    run.history.append(rec)
    yield run.log(0, rec)


# --------------------------------------------------------------------------------------
# The job


@dataclass
class TrainData:
    """What :func:`load_data` found: the class order and the labelled train/val items."""

    classes: list[str]
    train_items: list[Item]
    train_labels: list[int]
    val_items: list[Item]
    val_labels: list[int]


def load_data(params: TrainParams) -> Generator[Log, None, TrainData]:
    """Read every ``--data`` source (mixed) and the validation split, in one class order."""
    sources = [read_source(p) for p in params.data]
    classes = list(params.classes) or sources[0].classes
    train_items: list[Item] = []
    train_labels: list[int] = []
    for src in sources:
        splits = src.splits
        items = src.split(["train"]) if "train" in splits else src.split(
            None if splits == {None} else [s for s in splits if s not in EVAL_SPLITS])
        train_items += items
        train_labels += _map_labels(src, items, classes)
        for path, reason in src.skipped:
            yield Log(f"skipped {path}: {reason}", "warning")
        yield Log(f"{src.root}: {len(items)} training images, {len(src.classes)} classes")
    if not train_items:
        raise ValueError(f"{params.data[0]}: no training images (expected a train/ split "
                         "or class folders)")
    if params.val is not None:
        vsrc = read_source(params.val)
        vsplits = vsrc.splits
        val_items = vsrc.split([s for s in vsplits if s in EVAL_SPLITS] or None)
        val_labels = _map_labels(vsrc, val_items, classes)
    else:
        val_items = sources[0].split([s for s in sources[0].splits if s in EVAL_SPLITS])
        val_labels = _map_labels(sources[0], val_items, classes)
    if not val_items:
        yield Log("no validation split found: top-1/top-5 are not measured", "warning")
    return TrainData(classes, train_items, train_labels, val_items, val_labels)


@dataclass
class Training:
    """The model, optimiser and counters one run trains with (:func:`setup_training`)."""

    net: nn.Module            # the plain network (saved, evaluated)
    model: nn.Module          # what the steps call: ``net`` or its DDP wrapper
    opt: torch.optim.Optimizer
    scaler: Any
    base_lr: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    use_amp: bool
    start_epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    log: MetricsLog = field(default_factory=lambda: MetricsLog(None))  # metrics.jsonl, TB


def setup_training(params: TrainParams, num_classes: int, device: torch.device,
                   info: DistInfo, ckpt_path: Path) -> Generator[Log, None, Training]:
    """Build the network and SGD (Bag-of-Tricks options), resume from ``ckpt_path``."""
    net, notes = build_model(params, num_classes)
    for n in notes:
        yield Log(n)
    net.to(device)
    if device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    base_lr = params.lr * (params.batch_size / 256 if params.linear_scaling else 1.0)
    opt = torch.optim.SGD(param_groups(net, params.weight_decay, not params.bias_decay),
                          lr=base_lr, momentum=params.momentum, nesterov=params.nesterov)
    use_amp = params.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    mean, std = norm_for(params.arch)
    mean = rgb_triple(params.mean, "mean") or mean
    std = rgb_triple(params.std, "std") or std
    run = Training(net, net, opt, scaler, base_lr, mean, std, use_amp)
    if params.resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        run.start_epoch, run.step = int(state["epoch"]) + 1, int(state["step"])
        run.history = json.loads(state["meta"]).get("history", [])
        yield Log(f"resumed from {ckpt_path} after epoch {run.start_epoch}")
    if info.world_size > 1:
        if params.sync_bn:
            run.net = net = convert_sync_bn(net, device)
        run.model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    return run


def train_one_epoch(run: Training, ds: TrainSet, params: TrainParams, epoch: int,
                    device: torch.device, info: DistInfo, token: CancelToken) -> JobGen:
    """One epoch of SGD steps (mixup, label smoothing, AMP on CUDA); returns the epoch's
    mean loss over all ranks, the last lr and batch, and whether ``max_steps`` stopped it."""
    steps_per_epoch = len(ds) // params.batch_size
    total_steps = params.epochs * steps_per_epoch
    m = torch.tensor(run.mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(run.std, device=device).view(1, 3, 1, 1)
    run.model.train()
    batches = [b[info.rank::info.world_size] for b in epoch_batches(
        len(ds), params.batch_size, epoch, params.seed, mixup_alpha=params.mixup_alpha)]
    loader = torch.utils.data.DataLoader(ds, batch_sampler=batches, num_workers=params.workers,
                                         collate_fn=_collate)
    run_loss, run_n, stopped, lr, x = 0.0, 0, False, run.base_lr, None
    for x, ya, yb, lam in _iter_batches(loader, ds):
        token.check()
        lr = lr_at(params, run.step, steps_per_epoch, run.base_lr)
        for g in run.opt.param_groups:
            g["lr"] = lr
        xin = (x.to(device, non_blocking=True).float() / 255 - m) / s
        if device.type == "cpu":
            xin = xin.contiguous(memory_format=torch.channels_last)
        ya, yb, lam = ya.to(device), yb.to(device), lam.to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=run.use_amp):
            logits = run.model(xin)
        loss = soft_cross_entropy(logits.float(), ya, yb, lam, params.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss.detach())} at step {run.step}; "
                                     "lower the learning rate")
        run.opt.zero_grad(set_to_none=True)
        if run.scaler is not None:
            run.scaler.scale(loss).backward()
            run.scaler.step(run.opt)
            run.scaler.update()
        else:
            loss.backward()
            run.opt.step()
        run.step += 1
        run_loss += loss.item() * len(ya)
        run_n += len(ya)
        yield Progress(run.step, total_steps, f"epoch {epoch + 1}/{params.epochs} "
                       f"loss {run_loss / run_n:.3f}")
        if run.step % 20 == 0:
            yield run.log(run.step, {"loss": loss.item(), "lr": lr})
        if params.max_steps and run.step >= params.max_steps:
            stopped = True
            break
    if info.world_size > 1:  # the epoch's loss over all ranks' samples
        tot = torch.tensor([run_loss, float(run_n)], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(tot)
        run_loss, run_n = float(tot[0]), int(tot[1])
    return {"train_loss": run_loss / max(1, run_n), "lr": lr, "batch": x, "stopped": stopped}


def train_job(params: TrainParams, token: CancelToken | None = None) -> JobGen:
    """Train; checkpoint every epoch; resume; report top-1/top-5 each epoch."""
    token = job_context(token)
    info = init_distributed()
    device = token.device(params.device)
    if params.threads:
        torch.set_num_threads(params.threads)
    if params.batch_size % info.world_size:
        raise ValueError(f"batch_size {params.batch_size} must be divisible by the "
                         f"{info.world_size} processes")
    if not params.data:
        raise ValueError("no training data given")
    out = Path(params.out)
    check_separate(out, {**{f"data {i + 1}": d for i, d in enumerate(params.data)},
                         "val": params.val})
    out.mkdir(parents=True, exist_ok=True)
    data = yield from load_data(params)
    classes = data.classes

    ckpt_path = out / "checkpoint.pth"
    fingerprint = make_fingerprint(
        "train-classifier", {**params_dict(params), "device_type": device.type,
                             "world": info.world_size, "class_order": classes},
        ignore=("data", "val", "out", "init", "workers", "eval_every", "resume",
                "keep_checkpoints", "device", "threads", "max_steps", "log_dir"),
        inputs={"train": file_list_digest(sorted({it.path for it in data.train_items})),
                "val": file_list_digest(sorted({it.path for it in data.val_items}))},
        models={"init_sha256": sha256_file(params.init) if params.init else None})
    lock = claim_run_folder(out, fingerprint, resuming=params.resume and ckpt_path.is_file(),
                            rank=info.rank)
    run: Training | None = None
    try:
        run = yield from setup_training(params, len(classes), device, info, ckpt_path)
        run.log = yield from open_metrics(out, params.log_dir, enabled=info.is_main,
                                          resume_step=run.step if run.start_epoch else None)
        ds = TrainSet(data.train_items, data.train_labels, params.image_size, params.augment,
                      True, params.seed)
        steps_per_epoch = len(data.train_items) // params.batch_size
        if steps_per_epoch == 0:
            raise ValueError(f"batch_size {params.batch_size} is larger than the "
                             f"{len(data.train_items)} training images")
        meta = {"params": params_dict(params), "classes": classes, "arch": params.arch,
                "base_lr": run.base_lr, "world_size": info.world_size}
        epochs = 0 if params.mode == "linear-probe" else params.epochs
        yield Log(f"training {params.arch} ({params.mode}) on {len(data.train_items)} images, "
                  f"{len(classes)} classes, {epochs} epochs x {steps_per_epoch} steps, "
                  f"lr {run.base_lr:g}, {info.world_size} process(es) on {device}")
        seed_everything(derive_seed(params.seed, "global", info.rank))
        t0 = time.monotonic()
        history = run.history
        if params.mode != "finetune" and run.start_epoch == 0:
            yield from _probe_first(run, data, params, device, token)
        for epoch in range(run.start_epoch, epochs):
            ep = yield from train_one_epoch(run, ds, params, epoch, device, info, token)
            yield Preview(grid_preview(ep["batch"]), f"epoch {epoch + 1}: training batch",
                          run.step)
            rec = {"epoch": epoch + 1, "step": run.step, "train_loss": ep["train_loss"],
                   "lr": ep["lr"], "seconds": round(time.monotonic() - t0, 1)}
            if data.val_items and ((epoch + 1) % params.eval_every == 0
                                   or epoch + 1 == params.epochs or ep["stopped"]):
                ev = evaluate(run.net, data.val_items, data.val_labels, params, device,
                              run.mean, run.std, token)
                rec.update({"top1": ev["top1"], "top5": ev["top5"], "val_loss": ev["loss"]})
                yield Log(f"epoch {epoch + 1}: loss {rec['train_loss']:.4f}, top-1 "
                          f"{ev['top1']:.2f}%, top-5 {ev['top5']:.2f}% ({ev['count']} images)")
            else:
                yield Log(f"epoch {epoch + 1}: loss {rec['train_loss']:.4f}")
            history.append(rec)
            meta["history"] = history
            if info.is_main:
                _save_checkpoint(ckpt_path, run.net, run.opt, run.scaler, epoch, run.step, meta)
                if params.keep_checkpoints:
                    _save_checkpoint(out / f"checkpoint-epoch{epoch + 1:03d}.pth", run.net,
                                     run.opt, run.scaler, epoch, run.step, meta)
            yield run.log(run.step, rec)  # after its checkpoint: a record is never ahead
            barrier()
            if ep["stopped"]:
                break
        result = {"out": str(out), "model": str(out / "model.pth"), "classes": classes,
                  "arch": params.arch, "mean": list(run.mean), "std": list(run.std),
                  "image_size": params.image_size, "epochs": len(history), "steps": run.step,
                  "history": history, "final": history[-1] if history else {},
                  "seconds": round(time.monotonic() - t0, 1), "world_size": info.world_size}
        if info.is_main:
            save_state_dict(_plain(run.net), out / "model.pth")
            with atomic_write(out / "train.json") as fh:
                fh.write(json.dumps({**result, **meta}, indent=1, default=str).encode())
        barrier()
        return result
    finally:
        if run is not None:
            run.log.close()
        lock.release()


class CPUSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose batch statistics are taken over all ranks, for CPU (gloo) DDP.

    ``nn.SyncBatchNorm`` only runs on GPUs; this does the same with autograd-aware
    all-reduces of per-channel sums, so N CPU processes normalise exactly as one process
    does with the whole batch. It shares the replaced layer's parameters and buffers, so
    state_dict keys and the optimiser are unchanged.
    """

    @classmethod
    def wrap(cls, bn: nn.BatchNorm2d) -> CPUSyncBatchNorm:
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        if bn.affine:
            new.weight, new.bias = bn.weight, bn.bias
        new.running_mean, new.running_var = bn.running_mean, bn.running_var
        new.num_batches_tracked = bn.num_batches_tracked
        new.train(bn.training)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # noqa: PLC0415 (heavy: loaded when used)

        c = x.shape[1]
        n = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=x.dtype)
        stats = all_reduce(torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), n]))
        count = stats[-1]
        mean = stats[:c] / count
        var = stats[c:2 * c] / count - mean * mean
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(
                    self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / (count - 1), alpha=m)
        y = (x - mean.view(1, c, 1, 1)) / torch.sqrt(var.view(1, c, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def convert_sync_bn(net: nn.Module, device: torch.device) -> nn.Module:
    """SyncBatchNorm on GPU; :class:`CPUSyncBatchNorm` on CPU (same keys, same tensors)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)
    for name, child in list(net.named_children()):
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, CPUSyncBatchNorm):
            setattr(net, name, CPUSyncBatchNorm.wrap(child))
        else:
            convert_sync_bn(child, device)
    return net


def _iter_batches(loader, ds):
    """Iterate a DataLoader, turning a bad image into an error naming its file."""
    try:
        yield from loader
    except ImageError:
        raise
    except (OSError, CheckpointError) as exc:
        raise ImageError(str(exc)) from exc


def _plain(net: nn.Module) -> dict[str, torch.Tensor]:
    """State dict without DDP/SyncBN wrappers (SyncBatchNorm keys equal BatchNorm's)."""
    return {k.removeprefix("module."): v for k, v in net.state_dict().items()}
