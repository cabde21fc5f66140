"""Training the AdaIN decoder, as pytorch-AdaIN's ``train.py`` (the encoder stays frozen).

Loss (Huang & Belongie 2017, Eq. 11-13): ``L = lambda_c L_c + lambda_s L_s`` with
``L_c = MSE(f(g(t)), t)`` at relu4_1 and ``L_s`` the sum over relu1_1..relu4_1 of
MSE(mean) + MSE(std) between ``f(g(t))`` and ``f(s)`` (up to the config's AdaIN layer when
it is shallower, as for the toy AdaIN). Adam, ``lr / (1 + decay * iter)``.

Deterministic and resumable: batch ``i`` (which images, which crops) is drawn from a
generator seeded by (seed, i), and ``state.pth`` holds the decoder, the optimiser and the
iteration, so a killed run continues where it stopped with the same data sequence.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import functional as TF

from studio.adain import ops
from studio.adain.model import OFFICIAL, TAP_NAMES, TOY, AdaINModel, infer_config
from studio.adain.params import TrainParams
from studio.core.checkpoints import (
    check_state_dict,
    find_model,
    load_state_dict,
    save_state_dict,
    sha256_file,
    state_sha256,
)
from studio.core.guards import check_finite_loss
from studio.core.images import (
    ImageError,
    atomic_write,
    image_grid,
    list_images,
    load_image,
    quantize,
    relative_key,
)
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Preview,
    Progress,
    job_context,
)
from studio.core.seeding import derive_seed
from studio.core.tracking import open_metrics
from studio.datasets.writers import claim_run_folder, file_list_digest, make_fingerprint


def _dirs(spec: str) -> list[Path]:
    return [Path(p.strip()) for p in spec.split(",") if p.strip()]


def _scan(spec: str, what: str) -> list[Path]:
    files: list[Path] = []
    for d in _dirs(spec):
        if not d.is_dir():
            raise FileNotFoundError(f"{what} folder {d} does not exist")
        files += list_images(d, recursive=True)
    if not files:
        raise ValueError(f"no images found in {what} folder(s) {spec!r}")
    return files


def _triplets(contents: list[Path], styles: list[Path], p: TrainParams
              ) -> tuple[list[tuple[Path, ...]], list[str]]:
    """(content, style, target) with the same path relative to their folders, and the
    contents that lack a partner."""
    cdirs, sdirs, tdirs = _dirs(p.content_dir), _dirs(p.style_dir), _dirs(p.target_dir)
    style_at = {relative_key(f, sdirs): f for f in reversed(styles)}  # the first folder wins
    target_at = {relative_key(f, tdirs): f for f in reversed(_scan(p.target_dir, "target"))}
    triples, unmatched = [], []
    for c in contents:  # several content folders may share one target (a figure, a scene)
        r = relative_key(c, cdirs)
        if r in style_at and r in target_at:
            triples.append((c, style_at[r], target_at[r]))
        else:
            unmatched.append(str(c))
    if not triples:
        raise ValueError(f"no content image has a style and a target at the same relative "
                         f"path ({p.content_dir!r}, {p.style_dir!r}, {p.target_dir!r})")
    return triples, unmatched


class _Sampler:
    """Batch i = images and crop offsets from a generator seeded by (seed, what, i).

    Each entry is a group of files (one, or a content/style/target triplet) that is
    loaded together and cropped at the same offsets.
    """

    def __init__(self, files: list[tuple[Path, ...]], what: str, p: TrainParams):
        self.files, self.what, self.p = files, what, p
        self.bad: set[int] = set()
        self.cache: dict[int, tuple[Image.Image, ...]] = {}
        self.small = len(files) * len(files[0]) * max(p.image_size, 64) ** 2 < 3e8 / 3

    def _image(self, idx: int) -> tuple[Image.Image, ...] | str:
        if idx in self.cache:
            return self.cache[idx]
        imgs = []
        for path in self.files[idx]:
            try:
                img = load_image(path)
            except ImageError:
                self.bad.add(idx)
                return str(path)
            if self.p.image_size:
                img = TF.resize(img, [self.p.image_size, self.p.image_size])
            imgs.append(img)
        if self.small:
            self.cache[idx] = tuple(imgs)
        return tuple(imgs)

    def batch(self, i: int) -> tuple[list[torch.Tensor], list[str]]:
        """One (B, 3, crop, crop) tensor per member of the groups, and unreadable files."""
        g = np.random.default_rng(derive_seed(self.p.seed, self.what, i))
        out: list[list[torch.Tensor]] = []
        errors = []
        while len(out) < self.p.batch_size:
            idx = int(g.integers(len(self.files)))
            imgs = self._image(idx)
            if isinstance(imgs, str):
                errors.append(imgs)
                if len(self.bad) == len(self.files):
                    raise ValueError(f"no readable {self.what} image")
                continue
            c = self.p.crop_size
            x = y = None
            crops = []
            for img in imgs:
                w, h = img.size
                if w < c or h < c:
                    img = TF.resize(img, c)
                    w, h = img.size
                if x is None:
                    x, y = int(g.integers(w - c + 1)), int(g.integers(h - c + 1))
                xi, yi = min(x, w - c), min(y, h - c)
                crops.append(TF.to_tensor(img.crop((xi, yi, xi + c, yi + c))))
            out.append(crops)
        return [torch.stack(member) for member in zip(*out)], errors


def calc_style_loss(g_feat: torch.Tensor, s_feat: torch.Tensor) -> torch.Tensor:
    g_mean, g_std = ops.calc_mean_std(g_feat)
    s_mean, s_std = ops.calc_mean_std(s_feat)
    return F.mse_loss(g_mean, s_mean) + F.mse_loss(g_std, s_std)


def adain_losses(model: AdaINModel, content: torch.Tensor, style: torch.Tensor,
                 style_layer: str = "", alpha: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss_c, loss_s, g(t)) of one batch, as net.Net.forward in the reference.

    ``style_layer`` deeper than the AdaIN layer (a named deviation) adds the style loss of
    the encoder's deeper taps: a shallow AdaIN layer keeps a small image's outline, the
    deeper statistics ask the decoder for the style's larger-scale pattern. ``alpha`` < 1
    (``--exemplar_alpha``, a named deviation) blends t with f(c) as test.py does.
    """
    depth = model.config.depth
    with torch.no_grad():
        style_feats = model.encode_with_intermediate(style, style_layer)
        f_c = model.encode_content(content)
        t = ops.adain_target(f_c, ops.StyleStats(*ops.calc_mean_std(style_feats[depth - 1])),
                             alpha=alpha)
    g_t = model.decode(t)
    g_feats = model.encode_with_intermediate(g_t, style_layer)
    loss_c = F.mse_loss(g_feats[depth - 1], t)
    loss_s = calc_style_loss(g_feats[0], style_feats[0])
    for i in range(1, len(g_feats)):
        loss_s = loss_s + calc_style_loss(g_feats[i], style_feats[i])
    return loss_c, loss_s, g_t


def identity_loss(model: AdaINModel, content: torch.Tensor) -> torch.Tensor:
    """Pixel MSE between g(f(c)) and c: the identity loss of SANet (Park & Lee 2019).

    Not part of AdaIN's training; an option (``identity_weight`` > 0) that gives a small
    decoder direct supervision of structure, which the AdaIN-layer content loss alone teaches
    slowly. ``adain(f(c), f(c)) = f(c)`` up to eps, so this is AdaIN with the content as
    its own style.
    """
    with torch.no_grad():
        f_c = model.encode_content(content)
    return F.mse_loss(model.decode(f_c), content)


def structure_loss(g_t: torch.Tensor, content: torch.Tensor, sigma: float) -> torch.Tensor:
    """MSE between the blurred, per-image standardised luminance of g(t) and of c.

    Not part of AdaIN's training; an option (``structure_weight`` > 0) for encoders whose
    AdaIN-layer features hold little of the outline (a small texture-biased one): a
    Gaussian wider than the style's pattern leaves the pattern free and asks only that the
    figure stay lighter or darker than its ground, as in the content.
    """
    def layout(x: torch.Tensor) -> torch.Tensor:
        y = ops.low_pass(ops.luminance(x), sigma)
        y = y - y.mean(dim=(2, 3), keepdim=True)
        return y / (y.std(dim=(2, 3), keepdim=True) + 1e-3)

    return F.mse_loss(layout(g_t), layout(content))


def exemplar_features(model: AdaINModel, g_t: torch.Tensor, target: torch.Tensor,
                      upto: str = "") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Encoder taps (relu1_1 to the AdaIN layer, or to ``upto``) of g(t) and of the
    target, which the exemplar losses share: each image is encoded once per batch."""
    with torch.no_grad():
        f_target = model.encode_with_intermediate(target, upto)
    return model.encode_with_intermediate(g_t, upto), f_target


def exemplar_loss(model: AdaINModel, g_t: torch.Tensor, target: torch.Tensor,
                  feats: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
                  ) -> torch.Tensor:
    """Pixel MSE plus the encoder-feature MSE (relu1_1 up to the AdaIN layer) between g(t)
    and the image the content should become with this style.

    Not part of AdaIN's training; an option (``exemplar_weight`` > 0) for worlds that have
    that image (the toy world: the content's silhouette wearing the style's texture on its
    own ground), where AdaIN's own objective cannot keep a flat figure and take the style
    at once (docs/adain.md). ``feats``: :func:`exemplar_features`, when already computed.
    """
    f_g, f_target = feats or exemplar_features(model, g_t, target)
    depth = model.config.depth
    return F.mse_loss(g_t, target) + sum(F.mse_loss(a, b)
                                         for a, b in zip(f_g[:depth], f_target[:depth]))


def figure_mask(content: torch.Tensor, target: torch.Tensor, threshold: float = 0.02
                ) -> torch.Tensor:
    """(B, 1, H, W): 1 where the target differs from the content (any channel by more than
    ``threshold``): the figure that changes texture, the shared ground excluded."""
    return ((target - content).abs().amax(dim=1, keepdim=True) > threshold).float()


def exemplar_texture_loss(model: AdaINModel, g_t: torch.Tensor, target: torch.Tensor,
                          mask: torch.Tensor, style_layer: str = "",
                          feats: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
                          ) -> torch.Tensor:
    """AdaIN's style loss restricted to the figure: MSE of the masked feature means and
    stds of g(t) and the target, each encoder tap to ``style_layer``.

    Not part of AdaIN's training; an option (``exemplar_texture_weight`` > 0). The
    exemplar loss is phase-sensitive: a decoder that cannot know where the style's stripes
    fall minimises it with the pattern's mean colour. Statistics do not care where the
    pattern lies, so this term asks for the pattern itself. Images whose mask is empty
    (content equal to the target) do not count. ``feats``: :func:`exemplar_features` to
    ``style_layer``, when already computed.
    """
    f_g, f_target = feats or exemplar_features(model, g_t, target, style_layer)
    keep = (mask.sum(dim=(1, 2, 3)) > 0).float().view(-1, 1, 1, 1)
    if not keep.any():
        return g_t.new_zeros(())
    loss = g_t.new_zeros(())
    for a, b in zip(f_g, f_target):
        w = F.interpolate(mask, size=a.shape[-2:], mode="area")
        (am, asd) = ops.masked_mean_std(a, w, correction=0)
        (bm, bsd) = ops.masked_mean_std(b, w, correction=0)
        per = ((am - bm) ** 2 + (asd - bsd) ** 2) * keep
        loss = loss + per.sum() / (keep.sum() * a.shape[1])  # as calc_style_loss
    return loss


def batch_alpha(p: TrainParams, iteration: int) -> float:
    """The alpha iteration ``iteration`` trains at: 1, or with probability
    ``exemplar_alpha`` a uniform draw from [0, 1) (seeded by the iteration: a resumed run
    draws the same)."""
    if not p.exemplar_alpha:
        return 1.0
    g = np.random.default_rng(derive_seed(p.seed, "alpha", iteration))
    return float(g.random()) if g.random() < p.exemplar_alpha else 1.0


def training_losses(model: AdaINModel, p: TrainParams, content: torch.Tensor,
                    style: torch.Tensor, target: torch.Tensor | None = None,
                    alpha: float = 1.0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The weighted loss terms of one batch (AdaIN's content and style losses, then the
    optional extras with a non-zero weight) and g(t)."""
    loss_c, loss_s, g_t = adain_losses(model, content, style, p.style_layer, alpha)
    terms = {"loss_content": p.content_weight * loss_c,
             "loss_style": p.style_weight * alpha * loss_s}
    if p.identity_weight:
        terms["loss_identity"] = p.identity_weight * identity_loss(model, content)
    if p.structure_weight:
        terms["loss_structure"] = p.structure_weight * structure_loss(g_t, content,
                                                                      p.structure_sigma)
    if p.exemplar_weight:
        if alpha < 1.0:
            target = alpha * target + (1.0 - alpha) * content
        # one encoding of g(t) and the target for both exemplar terms; to the AdaIN layer
        # only without the texture term, so that term's absence changes no bit
        feats = exemplar_features(model, g_t, target,
                                  p.style_layer if p.exemplar_texture_weight else "")
        terms["loss_exemplar"] = p.exemplar_weight * exemplar_loss(model, g_t, target, feats)
        if p.exemplar_texture_weight:
            mask = figure_mask(content, target)
            terms["loss_exemplar_texture"] = p.exemplar_texture_weight * exemplar_texture_loss(
                model, g_t, target, mask, p.style_layer, feats)
    return terms, g_t


def build_model(p: TrainParams) -> tuple[AdaINModel, dict]:
    """The encoder (official file, any vgg_normalised-layout file, or derived from a toy
    classifier) and a fresh or initial decoder; returns (model, provenance)."""
    info: dict = {}
    base = {"toy": TOY, "vgg19": OFFICIAL}.get(p.config)
    if p.from_classifier:
        from studio.adain.toy import derive_encoder, load_classifier, toy_config_for, toy_images  # noqa: PLC0415 (loaded when used)

        clf = load_classifier(p.from_classifier)
        config = toy_config_for(clf.config, base or TOY)
        imgs = toy_images(max(1, p.normalise_images // 3), seed=derive_seed(p.seed, "norm") % 1000)
        enc = derive_encoder(clf, imgs)
        enc_path = save_state_dict(enc, Path(p.save_dir) / "encoder.pth")
        info["classifier"] = str(p.from_classifier)
        info["classifier_sha256"] = sha256_file(p.from_classifier)
        enc_sd = enc.state_dict()
    else:
        enc_path = find_model(p.vgg)
        enc_sd = load_state_dict(enc_path)
        config = base or infer_config(enc_sd, {})
    if p.layer and p.layer != config.layer:  # another depth: the decoder mirrors it
        config = dataclasses.replace(config, layer=p.layer, decoder_widths=None,
                                     decoder_convs=None)
    if p.content_sigma >= 0:
        config = dataclasses.replace(config, content_sigma=p.content_sigma)
    if p.decoder_widths or p.decoder_convs:
        config = dataclasses.replace(
            config, name=config.name,
            decoder_widths=tuple(p.decoder_widths) or config.mirror()[0],
            decoder_convs=tuple(p.decoder_convs) or config.mirror()[1])
    if p.style_layer:
        deepest = TAP_NAMES.index(p.style_layer) + 1
        if not config.depth <= deepest <= len(config.encoder_widths):
            raise ValueError(f"--style_layer {p.style_layer} must lie between the AdaIN "
                             f"layer {config.layer} and the encoder's deepest tap "
                             f"{TAP_NAMES[len(config.encoder_widths) - 1]}")
        info["style_layer"] = p.style_layer
    with torch.random.fork_rng(devices=[]):  # the same initial decoder for the same seed
        torch.manual_seed(derive_seed(p.seed, "decoder-init"))
        model = AdaINModel(config)
    hint = "the encoder must be in the vgg_normalised layout (see docs/adain.md)"
    check_state_dict(model.encoder, enc_sd, enc_path, hint)
    model.encoder.load_state_dict(enc_sd)
    if p.decoder:
        dec_path = find_model(p.decoder)
        dec_sd = load_state_dict(dec_path)
        check_state_dict(model.decoder, dec_sd, dec_path, "initial decoder of another shape")
        model.decoder.load_state_dict(dec_sd)
    info["encoder"] = str(enc_path)
    info["encoder_sha256"] = sha256_file(enc_path)
    info["config"] = config.to_dict()
    return model, info


def reference_name(path: Path) -> Path:
    """Also file a checkpoint as pytorch-AdaIN names it (``decoder_iter_N.pth.tar``): a
    hard link where the file system allows, else a copy; both load alike."""
    alias = path.with_name(path.name + ".tar")
    tmp = alias.with_name(alias.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, alias)
    return alias


def _grid(*rows: torch.Tensor) -> np.ndarray:
    """Rows of images (N, 3, H, W) -> one uint8 (H*rows, W*N, 3) preview."""
    return image_grid([im for r in rows for im in quantize(r)], ncols=len(rows[0]), pad=0)


def train_job(p: TrainParams, token: CancelToken | None = None) -> JobGen:
    token = job_context(token)
    device = token.device(p.device)
    save_dir = Path(p.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    contents = _scan(p.content_dir, "content")
    styles = _scan(p.style_dir, "style")
    if -1 < p.content_sigma < 0:
        raise ValueError(f"--content_sigma must be -1 (the config's) or >= 0, "
                         f"got {p.content_sigma}")
    if p.exemplar_weight and not p.target_dir:
        raise ValueError("--exemplar_weight needs --target_dir (the images to compare with)")
    if p.exemplar_texture_weight and not p.exemplar_weight:
        raise ValueError("--exemplar_texture_weight needs --exemplar_weight (and its "
                         "--target_dir)")
    if p.exemplar_alpha and not p.exemplar_weight:
        raise ValueError("--exemplar_alpha needs --exemplar_weight (its targets define what "
                         "an alpha below 1 should give)")
    triples, unmatched = _triplets(contents, styles, p) if p.target_dir else ([], [])
    model, info = build_model(p)
    state_path = save_dir / "state.pth"
    fingerprint = make_fingerprint(
        "adain.train", {**dataclasses.asdict(p), "device_type": device.type},
        ignore=("content_dir", "style_dir", "target_dir", "vgg", "from_classifier", "decoder",
                "save_dir", "device", "n_threads", "resume", "max_iter", "save_model_interval",
                "preview_interval", "log_interval", "log_dir"),
        inputs={"content": file_list_digest(contents), "style": file_list_digest(styles),
                **({"triplets": file_list_digest([f for t in triples for f in t])}
                   if triples else {})},
        models={"encoder_sha256": state_sha256(model.encoder),
                "decoder_init_sha256": state_sha256(model.decoder)})
    lock = claim_run_folder(save_dir, fingerprint,
                            resuming=p.resume and state_path.is_file())
    try:
        model.to(device)
        opt = torch.optim.Adam(model.decoder.parameters(), lr=p.lr)
        start = 0
        if p.resume and state_path.is_file():
            state = torch.load(state_path, map_location="cpu", weights_only=True)
            if state.get("config") != info["config"]:
                raise ValueError(f"{state_path}: saved for config {state.get('config')}, "
                                 f"not {info['config']}; use another --save_dir or --no-resume")
            model.decoder.load_state_dict(state["decoder"])
            opt.load_state_dict(state["optimizer"])
            start = int(state["iter"])
            yield Log(f"resumed at iteration {start} from {state_path}")
        yield Log(f"{len(contents)} content and {len(styles)} style images; "
                  f"config {info['config']['name']}; device {device}")
        if triples:
            yield Log(f"{len(triples)} content / style / target triplets from {p.target_dir}")
            if unmatched:
                yield Log(f"{len(unmatched)} content images without a style and a target "
                          f"at the same relative path skipped (e.g. {unmatched[0]})", "warning")
            samplers = [_Sampler(triples, "content", p)]
        else:
            samplers = [_Sampler([(f,) for f in contents], "content", p),
                        _Sampler([(f,) for f in styles], "style", p)]
        pool = ThreadPoolExecutor(max(1, p.n_threads))

        def fetch(i: int):
            return [pool.submit(sampler.batch, i) for sampler in samplers]

        def save_state(i: int) -> None:
            buf = io.BytesIO()
            torch.save({"decoder": {k: v.detach().cpu() for k, v in
                                    model.decoder.state_dict().items()},
                        "optimizer": opt.state_dict(), "iter": i, "config": info["config"]}, buf)
            with atomic_write(state_path) as fh:
                fh.write(buf.getvalue())

        model.decoder.train()
        log = yield from open_metrics(save_dir, p.log_dir, resume_step=start or None)
        pending = fetch(start) if start < p.max_iter else None
        t0, last = time.monotonic(), None
        reported: set[str] = set()
        done, saved_at = start, start
        try:
            for i in range(start, p.max_iter):
                token.check()
                lr = p.lr / (1.0 + p.lr_decay * i)
                for group in opt.param_groups:
                    group["lr"] = lr
                futures, pending = pending, (fetch(i + 1) if i + 1 < p.max_iter else None)
                batches, errors = [], []
                for f in futures:
                    tensors, errs = f.result()
                    batches += [t.to(device) for t in tensors]
                    errors += errs
                for e in errors:
                    if e not in reported:
                        reported.add(e)
                        yield Log(f"skipped unreadable training image {e}", "warning")
                content, style, *rest = batches
                target = rest[0] if rest else None
                terms, g_t = training_losses(model, p, content, style, target,
                                             batch_alpha(p, i))
                loss = sum(terms.values())
                check_finite_loss(float(loss.detach()), f"iteration {i + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                n = done = i + 1
                last = {**{k: v.item() for k, v in terms.items()}, "lr": lr}
                if n % p.log_interval == 0 or n == p.max_iter:
                    yield log(n, last)
                yield Progress(n, p.max_iter, f"Lc {last['loss_content']:.3f} "
                               f"Ls {last['loss_style']:.3f}")
                if p.preview_interval and (n % p.preview_interval == 0 or n == start + 1):
                    k = min(4, content.shape[0])
                    shown = [content[:k], style[:k]] + ([target[:k]] if target is not None
                                                        else []) + [g_t[:k].detach()]
                    yield Preview(_grid(*shown), "content / style / "
                                  f"{'target / ' if target is not None else ''}output", n)
                if n % p.save_model_interval == 0 or n == p.max_iter:
                    reference_name(save_state_dict(model.decoder,
                                                   save_dir / f"decoder_iter_{n}.pth"))
                    save_state(n)
                    saved_at = n
        finally:
            log.close()
            pool.shutdown(wait=False, cancel_futures=True)
            if done != saved_at:  # cancelled or failed: keep what was trained
                save_state(done)
        final = save_state_dict(model.decoder, save_dir / "decoder.pth")
        elapsed = time.monotonic() - t0
        return {"decoder": str(final), "encoder": info["encoder"], "iterations": p.max_iter,
                "trained_now": p.max_iter - start, "seconds": round(elapsed, 1),
                "last": last, "config": info["config"],
                "skipped_images": sorted(reported)}
    finally:
        lock.release()
