"""`studio train tsit`: the official TSIT objective and schedule on any folders.

One iteration is the official ``train.py`` step: a generator update (hinge GAN + feature
matching + perceptual loss to the content image, or to the real image for SIS, + KL with
the VAE encoder), then a discriminator update on a freshly generated fake. Adam with TTUR
(betas 0, 0.9; G lr/2, D lr*2), linear decay in the last ``epochs_decay`` epochs (or
``decay_iterations``). Checkpoints are the official files (``latest_net_G.pth`` ...)
plus ``train_state.pth`` (optimisers, iteration, RNG), so a killed run resumes where it
stopped. Preview events every ``preview_every`` iterations; mixed precision on CUDA;
several GPUs with ``torchrun`` (DDP + SyncBatchNorm).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.core.checkpoints import (
    load_checkpoint,
    load_state_dict,
    save_state_dict,
    sha256_file,
)
from studio.core.distributed import dist_info, init_distributed
from studio.core.images import ImageError, atomic_write, image_grid, save_image
from studio.core.jobs import CancelToken, JobGen, Log, Preview, Progress, job_context
from studio.core.jobs import params_dict as _params_dict
from studio.core.tracking import MetricsLog, open_metrics
from studio.datasets.writers import claim_run_folder, file_list_digest, make_fingerprint
from studio.tsit.data import PairedFolders, UnpairedFolders, one_hot, resolve_unpaired, to_uint8
from studio.tsit.losses import (
    PerceptualLoss,
    build_perceptual,
    feature_matching_loss,
    gan_loss,
    kld_loss,
    style_statistics_loss,
)
from studio.tsit.model import (
    ConvEncoder,
    MultiscaleDiscriminator,
    TSITConfig,
    build_generator,
    convert_sync_batchnorm,
    get_preset,
    init_weights,
)
from studio.tsit.params import TrainTSITParams


@dataclass
class _Setup:
    config: TSITConfig
    lambda_vgg: float
    lambda_feat: float
    n_layers_D: int
    batch_size: int
    hw: tuple[int, int]


def resolve_setup(p: TrainTSITParams) -> _Setup:
    """The effective model config and loss weights: preset values unless overridden."""
    preset = get_preset(p.task)
    cfg = preset.config
    width = p.size or cfg.crop_size
    height = p.height or round(width / cfg.aspect_ratio)
    cfg = replace(cfg, ngf=p.ngf, depth=p.depth or cfg.depth, alpha=p.alpha,
                  crop_size=width, aspect_ratio=width / height)
    if cfg.task == "SIS":
        label_nc = p.label_nc if p.label_nc is not None else cfg.label_nc
        dontcare = cfg.contain_dontcare_label if p.contain_dontcare is None else p.contain_dontcare
        cfg = replace(cfg, label_nc=label_nc, contain_dontcare_label=dontcare,
                      use_instance=False, semantic_nc=label_nc + int(dontcare))
    if height % cfg.multiple or width % cfg.multiple:
        raise ValueError(f"training size {width}x{height} must be a multiple of "
                         f"{cfg.multiple} (2^depth, depth {cfg.depth})")
    return _Setup(cfg, preset.lambda_vgg if p.lambda_vgg is None else p.lambda_vgg,
                  preset.lambda_feat if p.lambda_feat is None else p.lambda_feat,
                  p.n_layers_D or preset.n_layers_D, p.batch_size or preset.batch_size,
                  (height, width))


def lr_at(p: TrainTSITParams, epoch: int, it: int, total_iters: int, niter: int,
          niter_decay: int) -> float:
    """Base lr (before TTUR) for 0-based ``epoch`` / iteration ``it``."""
    if p.iterations is not None:
        start = total_iters - p.decay_iterations
        if p.decay_iterations and it >= start:
            return p.lr * max(0.0, (total_iters - it) / p.decay_iterations)
        return p.lr
    # official: after epoch e (1-based) > niter, lr -= lr0 / niter_decay
    done_decay = max(0, epoch - niter)
    return p.lr * max(0.0, 1 - done_decay / niter_decay) if niter_decay else p.lr


def _save(obj: dict, path: Path) -> None:
    with atomic_write(path) as fh:
        torch.save(obj, fh)


def _grid(*images: torch.Tensor) -> np.ndarray:
    return image_grid([to_uint8(t) for t in images], ncols=len(images), pad=0)


def load_data(p: TrainTSITParams, setup: _Setup) -> Generator[Log, None, Any]:
    """The training folders: paired labels/images (SIS) or unpaired content/style."""
    if setup.config.task == "SIS":
        if p.target is not None:
            raise ValueError("--target is for style tasks; SIS already pairs each label "
                             "map with its image")
        if p.style is None:
            raise ValueError("SIS training needs --style (the image folder) besides the labels")
        ds = PairedFolders(Path(p.data), Path(p.style), setup.hw, p.flip, p.seed)
        if ds.unmatched:
            yield Log(f"{len(ds.unmatched)} label/image files without a partner skipped "
                      f"(e.g. {ds.unmatched[0]})", "warning")
        return ds
    cdir, sdir = resolve_unpaired(p.data, p.style)
    ds = UnpairedFolders(cdir, sdir, setup.hw, p.pairing, p.flip, p.seed, p.target)
    if ds.unmatched:
        yield Log(f"{len(ds.unmatched)} content files without a target in {p.target} "
                  f"skipped (e.g. {ds.unmatched[0]})", "warning")
    return ds


@dataclass
class TSITRun:
    """Networks, optimisers and scalers of one TSIT run (:func:`setup_training`)."""

    G: nn.Module
    D: nn.Module
    E: nn.Module | None
    G_train: nn.Module  # G, or its DDP wrapper
    D_train: nn.Module
    perceptual: nn.Module | None
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    g_mult: float
    d_mult: float
    scaler_G: Any
    scaler_D: Any
    use_amp: bool
    notice: str
    start: int = 0


def setup_training(p: TrainTSITParams, setup: _Setup, device: torch.device, dist: Any,
                   out: Path, resuming: bool, total: int) -> Generator[Log, None, TSITRun]:
    """Build G, the multiscale D, the VAE encoder and the perceptual loss; resume weights,
    optimisers and the RNG; wrap for DDP (TTUR learning rates unless ``no_ttur``)."""
    cfg = setup.config
    sis = cfg.task == "SIS"
    G = build_generator(cfg).to(device)
    d_in = 3 + (cfg.semantic_nc if sis else 0)
    D = init_weights(MultiscaleDiscriminator(d_in, p.ndf, setup.n_layers_D, p.num_D)).to(device)
    # layer6 always: the encoder resizes every input to 256 px, so without it (the official
    # choice below a 256 crop) the 4x4 grid its linear layers expect is never reached
    E = init_weights(ConvEncoder(cfg.ngf, cfg.z_dim, layer6=True)).to(device) \
        if cfg.use_vae else None
    encoder, notice = build_perceptual(p.perceptual, p.perceptual_weights)
    yield Log(notice, "warning" if notice.startswith("NOTICE") else "info")
    perceptual = PerceptualLoss(encoder).to(device) if encoder is not None and \
        (setup.lambda_vgg > 0 or p.lambda_style > 0) else None
    if p.lambda_style > 0 and (perceptual is None or cfg.task == "SIS"):
        raise ValueError("--lambda_style needs a style task and a perceptual encoder "
                         "(--perceptual vgg19 or toy)")
    if resuming:
        G.load_state_dict(load_state_dict(out / "latest_net_G.pth"))
        D.load_state_dict(load_state_dict(out / "latest_net_D.pth"))
        if E is not None:
            E.load_state_dict(load_state_dict(out / "latest_net_E.pth"))
    if dist.world_size > 1:
        if device.type == "cuda":
            G, D = convert_sync_batchnorm(G), convert_sync_batchnorm(D)
        ids = [device.index] if device.type == "cuda" else None
        G_train = nn.parallel.DistributedDataParallel(G, device_ids=ids)
        D_train = nn.parallel.DistributedDataParallel(D, device_ids=ids)
    else:
        G_train, D_train = G, D
    if p.no_ttur:
        betas, g_mult, d_mult = (0.5, 0.999), 1.0, 1.0
    else:
        betas, g_mult, d_mult = (0.0, 0.9), 0.5, 2.0
    g_params = list(G.parameters()) + (list(E.parameters()) if E is not None else [])
    opt_G = torch.optim.Adam(g_params, lr=p.lr * g_mult, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=p.lr * d_mult, betas=betas)
    start = 0
    if resuming:
        st = load_checkpoint(out / "train_state.pth")
        opt_G.load_state_dict(st["optimizer_G"])
        opt_D.load_state_dict(st["optimizer_D"])
        start = int(st["iteration"])
        torch.set_rng_state(st["rng"])
        yield Log(f"resuming {out} at iteration {start}/{total}")
    use_amp = p.amp and device.type == "cuda"
    return TSITRun(G, D, E, G_train, D_train, perceptual, opt_G, opt_D, g_mult, d_mult,
                   torch.amp.GradScaler("cuda", enabled=use_amp),
                   torch.amp.GradScaler("cuda", enabled=use_amp), use_amp, notice, start)


def train_step(run: TSITRun, content: torch.Tensor, real: torch.Tensor, p: TrainTSITParams,
               setup: _Setup, target: torch.Tensor | None = None
               ) -> tuple[dict[str, float], torch.Tensor]:
    """One generator step and one discriminator step (on a new fake, as the official
    code); returns the loss terms and the generator step's output.

    ``real`` is the style image (style tasks) or the real image (SIS). With ``target``
    (``--target``) the discriminator's real images and the perceptual loss's target are
    the targets; the style image still feeds the style stream and the style loss.
    """
    sis = setup.config.task == "SIS"
    style_img = real
    if target is not None:
        real = target

    def generate(content: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, Any]:
        z, kld = None, None
        if run.E is not None:
            mu, logvar = run.E(real)
            z = torch.randn_like(mu) * torch.exp(0.5 * logvar) + mu
            kld = kld_loss(mu, logvar) * p.lambda_kld
        style = None if sis else style_img
        return run.G_train(content, style, noise=z), kld

    def discriminate(fake: torch.Tensor, real: torch.Tensor, cond: torch.Tensor) -> Any:
        if sis:
            fake, real = torch.cat([cond, fake], 1), torch.cat([cond, real], 1)
        preds = run.D_train(torch.cat([fake, real], 0))
        n = fake.shape[0]
        return [[t[:n] for t in o] for o in preds], [[t[n:] for t in o] for o in preds]

    run.opt_G.zero_grad(set_to_none=True)
    with torch.autocast("cuda", enabled=run.use_amp):
        fake, kld = generate(content, real)
        pred_fake, pred_real = discriminate(fake, real, content)
        g = {"GAN": gan_loss(pred_fake, True, False, p.gan_mode)}
        if setup.lambda_feat > 0:
            g["GAN_Feat"] = feature_matching_loss(pred_fake, pred_real, setup.lambda_feat)
        if run.perceptual is not None and setup.lambda_vgg > 0:
            goal = real if sis or target is not None else content
            g["VGG"] = run.perceptual(fake.float(), goal) * setup.lambda_vgg
        if p.lambda_style > 0:
            g["Style"] = style_statistics_loss(run.perceptual.encoder, fake.float(),
                                               style_img) * p.lambda_style
        if kld is not None:
            g["KLD"] = kld
        g_loss = sum(g.values())
    run.scaler_G.scale(g_loss).backward()
    run.scaler_G.step(run.opt_G)
    run.scaler_G.update()
    run.opt_D.zero_grad(set_to_none=True)
    with torch.autocast("cuda", enabled=run.use_amp):
        with torch.no_grad():
            fake_d, _ = generate(content, real)
        pred_fake, pred_real = discriminate(fake_d.detach(), real, content)
        d = {"D_Fake": gan_loss(pred_fake, False, True, p.gan_mode),
             "D_real": gan_loss(pred_real, True, True, p.gan_mode)}
        d_loss = sum(d.values())
    run.scaler_D.scale(d_loss).backward()
    run.scaler_D.step(run.opt_D)
    run.scaler_D.update()
    return {k: float(v.detach()) for k, v in {**g, **d}.items()}, fake


def batch_at(ds: Any, it: int, p: TrainTSITParams, bs: int, dist: Any, bad: list[str]
             ) -> dict | None:
    """Iteration ``it``'s batch: a seeded shuffle per epoch, this rank's share; unreadable
    files are skipped and named in ``bad``."""
    iters_per_epoch = max(1, len(ds) // bs)
    per_rank = bs // dist.world_size if dist.world_size > 1 else bs
    epoch, pos = divmod(it, iters_per_epoch)
    ds.epoch = epoch
    g = torch.Generator().manual_seed(p.seed * 1000003 + epoch)
    order = torch.randperm(len(ds), generator=g).tolist()
    idx = order[pos * bs:(pos + 1) * bs][dist.rank::dist.world_size][:per_rank]
    items = []
    for i in idx:
        try:
            items.append(ds[i])
        except (ImageError, ValueError) as exc:
            bad.append(str(exc))
    if not items:
        return None
    return {k: (torch.stack([x[k] for x in items]) if torch.is_tensor(items[0][k])
                else [x[k] for x in items]) for k in items[0]}


def train_job(p: TrainTSITParams, token: CancelToken | None = None) -> JobGen:
    """Train TSIT with the official losses; checkpoint, preview and resume."""
    token = job_context(token)
    if p.threads:
        torch.set_num_threads(p.threads)
    dist = init_distributed() if dist_info().world_size > 1 else dist_info()
    device = token.device(p.device)
    setup = resolve_setup(p)
    cfg = setup.config
    sis = cfg.task == "SIS"
    out = Path(p.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(p.seed + dist.rank)
    ds = yield from load_data(p, setup)
    bs = setup.batch_size
    iters_per_epoch = max(1, len(ds) // bs)
    preset = get_preset(p.task)
    niter = p.epochs if p.epochs is not None else preset.niter
    niter_decay = p.epochs_decay if p.epochs_decay is not None else preset.niter_decay
    total = p.iterations if p.iterations is not None else (niter + niter_decay) * iters_per_epoch

    files = [q for pair in ds.pairs for q in pair] if sis else \
        ds.content + ds.style + list(ds.target.values())
    fingerprint = make_fingerprint(
        "train-tsit", {**_params_dict(p), "device_type": device.type, "world": dist.world_size,
                       # more constant-lr iterations continue a run exactly; a decay window
                       # fixes the length
                       "iterations": p.iterations if p.decay_iterations else
                       ("constant lr" if p.iterations is not None else None)},
        ignore=("data", "style", "target", "out", "perceptual_weights", "preview_every", "save_every",
                "log_every", "max_minutes", "device", "threads", "resume", "log_dir", "tf_log"),
        inputs={"data": file_list_digest(files)},
        models={"perceptual_sha256": sha256_file(p.perceptual_weights)
                if p.perceptual_weights else p.perceptual})
    resuming = p.resume and (out / "train_state.pth").is_file() and \
        (out / "latest_net_G.pth").is_file()
    lock = claim_run_folder(out, fingerprint, resuming=resuming, rank=dist.rank)
    log: MetricsLog | None = None
    try:
        run = yield from setup_training(p, setup, device, dist, out, resuming, total)
        log = yield from open_metrics(out, p.log_dir or (out / "logs" if p.tf_log else ""),
                                      resume_step=run.start if resuming else None,
                                      enabled=dist.is_main)
        run_info = {"params": _params_dict(p), "config": cfg.__dict__, "lambda_vgg":
                    setup.lambda_vgg, "lambda_feat": setup.lambda_feat, "n_layers_D":
                    setup.n_layers_D, "batch_size": bs, "total_iterations": total,
                    "perceptual": run.notice}
        if dist.is_main:
            (out / "options.json").write_text(json.dumps(run_info, indent=2, default=str))
        yield Log(f"TSIT {cfg.task} ngf {cfg.ngf} depth {cfg.depth} at {setup.hw[1]}x{setup.hw[0]}"
                  f", {len(ds)} items, batch {bs}, {total} iterations on {device}")
        bad: list[str] = []
        t0 = time.monotonic()
        losses: dict[str, float] = {}
        it = start = run.start
        run.G.train()
        run.D.train()
        # a progress event before the first step and after every step (not only every
        # log_every): at seconds per iteration a run that updates every 10 looks hung, and
        # the ETA needs two points to exist
        yield Progress(it, total, "first iteration…")
        while it < total:
            token.check()
            epoch = it // iters_per_epoch
            lr = lr_at(p, epoch, it, total, niter, niter_decay)
            for grp in run.opt_G.param_groups:
                grp["lr"] = lr * run.g_mult
            for grp in run.opt_D.param_groups:
                grp["lr"] = lr * run.d_mult
            batch = batch_at(ds, it, p, bs, dist, bad)
            if batch is None:
                it += 1
                continue
            if sis:
                label = batch["label"].to(device)
                content = one_hot(label, cfg.label_nc, cfg.contain_dontcare_label)
                real = batch["image"].to(device)
            else:
                content, real = batch["content"].to(device), batch["style"].to(device)
            target = batch["target"].to(device) if "target" in batch else None
            losses, fake = train_step(run, content, real, p, setup, target)
            it += 1
            if not all(math.isfinite(v) for v in losses.values()):
                raise FloatingPointError(f"iteration {it}: non-finite loss {losses}")
            if it % p.log_every == 0 or it == total:
                yield log(it, {**losses, "lr": lr})
            yield Progress(it, total, " ".join(f"{k} {v:.3f}" for k, v in losses.items()))
            if dist.is_main and (it % p.preview_every == 0 or it == total or it == start + 1):
                content_view = (batch["label"][0].float().repeat(3, 1, 1) /
                                max(1, cfg.semantic_nc - 1) * 2 - 1) if sis else content[0]
                shown = (content_view, real[0]) + ((target[0],) if target is not None else ())
                grid = _grid(*shown, fake[0])
                save_image(grid, out / "preview.png", params={"iteration": it})
                yield Preview(grid, f"content | {'real' if sis else 'style'} | "
                                    f"{'target | ' if target is not None else ''}output", it)
            timed_out = p.max_minutes is not None and (time.monotonic() - t0) / 60 > p.max_minutes
            if dist.is_main and (it % p.save_every == 0 or it == total or timed_out):
                save_checkpoint(out, run.G, run.D, run.E, run.opt_G, run.opt_D, it)
            if timed_out:
                yield Log(f"stopping after {p.max_minutes} min at iteration {it}; run again to "
                          "resume")
                break
        if bad:
            (out / "errors.txt").write_text("\n".join(sorted(set(bad))) + "\n")
            yield Log(f"{len(set(bad))} unreadable input file(s) skipped; see "
                      f"{out / 'errors.txt'}", "warning")
        return {"out": str(out), "iteration": it, "total_iterations": total,
                "finished": it >= total, "losses": losses,
                "generator": str(out / "latest_net_G.pth"), "perceptual": run.notice,
                "errors": sorted(set(bad))}
    finally:
        if log is not None:
            log.close()
        lock.release()


def save_checkpoint(out: Path, G: nn.Module, D: nn.Module, E: nn.Module | None,
                    opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
                    it: int) -> None:
    """Official-layout weights first, then the state that marks them as complete."""
    save_state_dict(G, out / "latest_net_G.pth")
    save_state_dict(D, out / "latest_net_D.pth")
    if E is not None:
        save_state_dict(E, out / "latest_net_E.pth")
    _save({"optimizer_G": opt_G.state_dict(), "optimizer_D": opt_D.state_dict(),
           "iteration": it, "rng": torch.get_rng_state()}, out / "train_state.pth")
