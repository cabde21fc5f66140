"""`studio build cue-conflict`: texture-shape cue-conflict stimuli (Geirhos et al. 2019).

Every shape image is combined with every texture image — same-category pairs included and
marked, as in the reference set — and saved as ``<shape>/<shape><i>-<texture><j>.png``
(``i``/``j`` count from 1 within each category in sorted file order, as the public
1,280-image set is numbered). Two methods:

- ``adain``: one feed-forward AdaIN pass per pair (fast; each shape encoded once, each
  texture's statistics computed once);
- ``gatys``: optimisation-based style transfer (Gram matrices over encoder layers), how
  the reference stimuli were made; iterations, layers, layer and loss weights are options
  and every ``preview_every`` iterations a preview event shows the image being formed.

Both work with the official VGG-19 (``vgg_normalised.pth`` + ``decoder.pth``) and with
the toy encoder/decoder. Output goes through the shared writers (deterministic, resumable,
manifest with both sources and a ``same_category`` flag; unreadable inputs reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.checkpoints import find_model, state_sha256
from studio.core.devices import format_bytes
from studio.core.guards import free_memory
from studio.core.images import ImageError, load_image, quantize
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
from studio.core.memo import Memo
from studio.core.seeding import derive_seed, generator
from studio.datasets.folders import scan_image_folder
from studio.datasets.writers import (
    OutputItem,
    check_separate,
    file_list_digest,
    make_fingerprint,
    make_writer,
)
from studio.texture_shape.params import CueConflictParams, ToyCueConflictParams
from studio.toyworld.generate import OWN_TEXTURE, SHAPES, render


@dataclass(frozen=True)
class Source:
    path: Path
    category: str
    index: int  # 1-based within its category


@dataclass(frozen=True)
class Pair:
    shape: Source
    texture: Source

    @property
    def key(self) -> str:
        return (f"{self.shape.category}/{self.shape.category}{self.shape.index}-"
                f"{self.texture.category}{self.texture.index}")

    @property
    def same_category(self) -> bool:
        return self.shape.category == self.texture.category


def _sources(root: Path) -> tuple[list[Source], list[tuple[str, str]]]:
    scan = scan_image_folder(root, splits=False)
    out: list[Source] = []
    count: dict[str, int] = {}
    for s in scan.samples:
        count[s.class_name] = count.get(s.class_name, 0) + 1
        out.append(Source(s.path, s.class_name, count[s.class_name]))
    return out, list(scan.skipped)


def plan_pairs(shapes: Sequence[Source], textures: Sequence[Source],
               include_same_category: bool = True) -> list[Pair]:
    """Every shape x texture combination, sorted by output name (the stable plan)."""
    pairs = [Pair(s, t) for s in shapes for t in textures
             if include_same_category or s.category != t.category]
    return sorted(pairs, key=lambda p: p.key)


def _square(img, size: int) -> torch.Tensor:
    """Centre-crop to a square and resize to size x size: (3, size, size) in [0, 1]."""
    w, h = img.size
    m = min(w, h)
    img = img.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
    if img.size != (size, size):
        img = img.resize((size, size), resample=2)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def load_adain(params: CueConflictParams):
    """The AdaIN model the params name (explicit files > official > toy)."""
    from studio.adain import AdaINModel, load_default  # noqa: PLC0415 (engine: loaded when used)

    if params.vgg is not None or params.decoder is not None:
        if params.vgg is None or params.decoder is None:
            raise ValueError("give both vgg (encoder) and decoder files")
        return AdaINModel.from_files(find_model(params.vgg), find_model(params.decoder))
    if params.model == "toy":
        return AdaINModel.load_toy()
    if params.model == "official":
        return AdaINModel.load_official(find_model("adain-vgg"), find_model("adain-decoder"))
    return load_default()


def _to_uint8(x: torch.Tensor, size: int) -> np.ndarray:
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return quantize(x)


def cue_conflict_job(params: CueConflictParams, token: CancelToken | None = None) -> JobGen:
    """Make every shape x texture stimulus with AdaIN or Gatys; resumable."""
    token = job_context(token)
    device = token.device(params.device)
    if params.size < 16:
        raise ValueError(f"size must be at least 16 px, got {params.size}")
    shapes, skipped_s = _sources(Path(params.shapes))
    textures, skipped_t = _sources(Path(params.textures))
    categories = sorted({s.category for s in shapes})
    label = {c: i for i, c in enumerate(categories)}
    check_separate(params.out, {"shapes": params.shapes, "textures": params.textures})
    model = load_adain(params)
    check_memory(model.config, params, device)  # before any image is made at this size
    model = model.to(device).eval()
    model_info = {"config": model.config.name}
    fingerprint = make_fingerprint(
        "cue-conflict", {**params_dict(params), "device_type": device.type},
        ignore=("out", "shapes", "textures", "model", "vgg", "decoder", "device",
                "preview_every"),
        inputs={"shapes": file_list_digest([s.path for s in shapes], params.shapes),
                "textures": file_list_digest([t.path for t in textures], params.textures)},
        models={"adain_sha256": state_sha256(model), "config": model.config.name})
    writer = make_writer(params.format, params.out, shard_size=params.shard_size,
                         shards=params.shards).open(
        fingerprint, inputs={"shapes": params.shapes, "textures": params.textures},
        overwrite=params.overwrite)
    with writer:
        return (yield from _cue_conflict_body(params, token, device, writer, model, model_info,
                                              shapes, textures, categories, label,
                                              skipped_s + skipped_t))


class _Inputs:
    """Every input image loaded once, squared to the stimulus size; a bad file is recorded
    as the writer's error and gives None (its pairs are skipped)."""

    def __init__(self, writer: Any, size: int):
        self.writer, self.size = writer, size
        self.cache: dict[Path, torch.Tensor | None] = {}

    def __call__(self, src: Source) -> torch.Tensor | None:
        if src.path not in self.cache:
            try:
                self.cache[src.path] = _square(load_image(src.path), self.size)
            except ImageError as exc:
                self.writer.error(str(src.path), str(exc))
                self.cache[src.path] = None
        return self.cache[src.path]


def _record(p: Pair, method: str) -> dict:
    return {"shape": p.shape.category, "texture": p.texture.category,
            "shape_source": str(p.shape.path), "texture_source": str(p.texture.path),
            "same_category": p.same_category, "method": method}


def _style_stats(model: Any, img: torch.Tensor | None, device: torch.device) -> Any:
    return None if img is None else model.style_stats(img[None].to(device))


def _adain_stimuli(params: CueConflictParams, token: CancelToken, device: torch.device,
                   writer: Any, model: Any, meta: dict, todo: list, by_key: dict,
                   image: _Inputs) -> JobGen:
    """AdaIN: each shape encoded once, its textures' statistics cached, batched decodes."""
    from studio.adain.ops import StyleStats  # noqa: PLC0415 (engine: loaded when used)

    stats_cache = Memo()
    groups: dict[Path, list[tuple[int, OutputItem]]] = {}
    for idx, out in todo:
        groups.setdefault(by_key[out.key].shape.path, []).append((idx, out))
    done = 0
    with torch.inference_mode():
        for group in groups.values():
            token.check()
            p0 = by_key[group[0][1].key]
            c = image(p0.shape)
            if c is None:
                _skip(writer, group, f"shape image {p0.shape.path} unreadable")
                done += len(group)
                continue
            feat = model.encode_content(c[None].to(device))
            preview = None
            for b in range(0, len(group), params.batch_size):
                chunk = group[b:b + params.batch_size]
                stats, ok = [], []
                for idx, out in chunk:
                    t = by_key[out.key].texture
                    st = stats_cache.get(t.path, lambda t=t: _style_stats(model, image(t), device))
                    if st is None:
                        _skip(writer, [(idx, out)], f"texture image {t.path} unreadable")
                        continue
                    stats.append(st)
                    ok.append((idx, out))
                done += len(chunk)
                if ok:
                    target = model.target(feat.expand(len(ok), -1, -1, -1),
                                          StyleStats.cat(stats), alpha=params.alpha)
                    imgs = _to_uint8(model.decode(target), params.size)
                    for (idx, out), arr in zip(ok, imgs):
                        writer_write(writer, out, arr, idx, meta,
                                     _record(by_key[out.key], params.method))
                    preview = (imgs[0], ok[0][1].key)
                yield Progress(done, len(todo), "stylising")
            if preview is not None:
                yield Preview(preview[0], preview[1], done)


def _gatys_stimuli(params: CueConflictParams, token: CancelToken, device: torch.device,
                   writer: Any, model: Any, meta: dict, todo: list, by_key: dict,
                   image: _Inputs) -> JobGen:
    """Gatys et al.: one optimisation per stimulus, previewed as it runs."""
    from studio.texture_shape.gatys import GatysConfig, default_layers, style_transfer, taps_for  # noqa: PLC0415 (loaded when used)

    d_style, d_content = default_layers(model.encoder)
    cfg = GatysConfig(
        iterations=params.iterations, content_weight=params.content_weight,
        style_weight=params.style_weight,
        content_layers=tuple(params.content_layers or d_content),
        style_layers=tuple(params.style_layers or d_style),
        layer_weights=tuple(params.layer_weights) if params.layer_weights else None,
        optimizer=params.optimizer, lr=params.lr, init=params.init,
        preview_every=params.preview_every)
    taps = taps_for(model.encoder, cfg.style_layers, cfg.content_layers).to(device)
    yield Log(f"Gatys: style {list(cfg.style_layers)}, content "
              f"{list(cfg.content_layers)}, {cfg.iterations} {cfg.optimizer} iterations")
    done = 0
    for idx, out in todo:
        token.check()
        p = by_key[out.key]
        c, s = image(p.shape), image(p.texture)
        if c is None or s is None:
            _skip(writer, [(idx, out)], "input image unreadable")
            continue
        step = None
        gen = generator(params.seed, "gatys-init", out.key)
        for step in style_transfer(taps, c[None].to(device), s[None].to(device), cfg,
                                   generator=gen):
            token.check()
            yield Preview(_to_uint8(step.image, params.size)[0],
                          f"{out.key}: iteration {step.iteration}, loss {step.loss:.4g}",
                          step.iteration)
            yield Metrics(done * cfg.iterations + step.iteration,
                          {"loss": step.loss, "content_loss": step.content_loss,
                           "style_loss": step.style_loss})
        arr = _to_uint8(step.image, params.size)[0]
        writer_write(writer, out, arr, idx, {**meta, "final_loss": step.loss},
                     {**_record(p, params.method), "final_loss": step.loss})
        done += 1
        yield Progress(done, len(todo), "optimising")


def _cue_conflict_body(params: CueConflictParams, token: CancelToken, device: torch.device,
                       writer, model, model_info: dict, shapes: list[Source],
                       textures: list[Source], categories: list[str], label: dict[str, int],
                       skipped: list[tuple[str, str]]) -> JobGen:
    for note in writer.notes:
        yield Log(note, "warning")
    for path, reason in skipped:
        writer.error(path, reason)
        yield Log(f"skipped {path}: {reason}", "warning")
    pairs = plan_pairs(shapes, textures, params.include_same_category)
    outs = [OutputItem(p.key, label[p.shape.category], p.shape.category) for p in pairs]
    by_key = {p.key: p for p in pairs}
    todo = writer.pending(outs)
    n_same = sum(p.same_category for p in pairs)
    yield Log(f"cue-conflict ({params.method}): {len(shapes)} shapes x {len(textures)} "
              f"textures = {len(pairs)} stimuli ({n_same} same-category), "
              f"{len(pairs) - len(todo)} already present -> {params.out}")
    meta = {**{k: v for k, v in params_dict(params).items()
               if k not in ("out", "device", "shapes", "textures")}, "model": model_info}
    stimuli = {"adain": _adain_stimuli, "gatys": _gatys_stimuli}.get(params.method)
    if stimuli is None:
        raise ValueError(f"unknown method {params.method!r}: adain or gatys")
    yield from stimuli(params, token, device, writer, model, meta, todo, by_key,
                       _Inputs(writer, params.size))
    return writer.finalize({"builder": "cue-conflict", "params": params_dict(params),
                            "model": model_info, "num_same_category": n_same,
                            "shape_categories": categories,
                            "texture_categories": sorted({t.category for t in textures})},
                           categories)


def memory_needed(config, params: CueConflictParams, size: int | None = None) -> int:
    """Rough bytes the largest step needs at ``size`` (default ``params.size``), from the
    encoder's feature sizes: AdaIN decodes ``batch_size`` pairs at once; Gatys keeps every
    activation of one image (and its gradient) for the backward pass, plus L-BFGS history.
    A lower bound: the true peak is somewhat higher."""
    side = params.size if size is None else size
    if params.method == "gatys":
        acts = sum(n * w * (-(-side // 2 ** s)) ** 2
                   for s, (w, n) in enumerate(zip(config.encoder_widths, config.encoder_convs)))
        return 4 * (2 * 2 * acts + 100 * 3 * side * side)
    return config.activation_bytes(side, batch=params.batch_size) + \
        4 * 3 * side * side * (params.batch_size + 2)


def check_memory(config, params: CueConflictParams, device: torch.device) -> None:
    """Refuse a size that cannot fit, naming what it would need, before allocating it.
    (Per image nothing more is needed: :func:`_square` crops to a square before it
    resizes, so a 1x3000 strip never grows past ``size`` x ``size``.)"""
    avail = free_memory(device)
    need = memory_needed(config, params)
    if avail is None or need <= avail:
        return
    fits = 16
    while fits * 2 <= params.size and memory_needed(config, params, fits * 2) <= avail:
        fits *= 2
    lo, hi = fits, min(params.size, fits * 2)
    while hi - lo > 16:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if memory_needed(config, params, mid) <= avail else (lo, mid)
    batch = f", batch {params.batch_size}" if params.method == "adain" else ""
    raise ValueError(
        f"--size {params.size} would need about {format_bytes(need)} of memory "
        f"({params.method}, {config.name} encoder{batch}) but {device} has about "
        f"{format_bytes(avail)} free; use --size {lo // 16 * 16} or less"
        + (" or a smaller --batch-size" if params.method == "adain" and params.batch_size > 1
           else ""))


def writer_write(writer, out: OutputItem, arr: np.ndarray, index: int, params: dict,
                 record: dict) -> None:
    if writer.kind == "webdataset":
        writer.write(out, arr, params=params, record=record, index=index)
    else:
        writer.write(out, arr, params=params, record=record)


def _skip(writer, group, reason: str) -> None:
    for idx, out in group:
        writer.error(out.key, reason)
        if writer.kind == "webdataset":
            writer.skip(idx)


# --------------------------------------------------------------------------------------
# Procedural toy stimuli: the toy world draws cue conflicts directly


def toy_cue_conflict_job(params: ToyCueConflictParams, token: CancelToken | None = None
                         ) -> JobGen:
    """Every toy shape drawn filled with every category's own texture, in the reference
    naming (``circle/circle1-square2.png`` = a circle wearing the square's texture).

    The texture of category k is the one the training world pairs with shape k, so these
    are cue conflicts in the same sense as the reference stimuli; they test a classifier
    on images made without the style transfer it may have been trained with.
    """
    token = job_context(token)
    cats = list(SHAPES[: params.num_classes])
    writer = make_writer("imagefolder", params.out).open(
        make_fingerprint("toy-cue-conflict", params_dict(params), ignore=("out",)),
        overwrite=params.overwrite)
    with writer:
        return (yield from _toy_cue_conflict_body(params, token, writer, cats))


def _toy_cue_conflict_body(params: ToyCueConflictParams, token: CancelToken, writer,
                           cats: list[str]) -> JobGen:
    for note in writer.notes:
        yield Log(note, "warning")
    items, meta = [], {}
    for s in cats:
        for t in cats:
            for k in range(1, params.per_pair + 1):
                key = f"{s}/{s}{k}-{t}{k}"
                items.append(OutputItem(key, cats.index(s), s))
                meta[key] = (s, t)
    todo = writer.pending(items)
    for n, (_, out) in enumerate(todo):
        token.check()
        s, t = meta[out.key]
        rng = np.random.default_rng(derive_seed(params.seed, "toy-cue-conflict", out.key))
        img = render("scene", s, OWN_TEXTURE[t], params.size, rng)
        writer.write(out, img, params={"toy_cue_conflict": params_dict(params)},
                     record={"shape": s, "texture": t, "texture_pattern": OWN_TEXTURE[t],
                             "same_category": s == t, "method": "procedural"})
        if n % 50 == 0 or n + 1 == len(todo):
            yield Progress(n + 1, len(todo), "drawing")
    return writer.finalize({"builder": "toy-cue-conflict", "params": params_dict(params)},
                           cats)
