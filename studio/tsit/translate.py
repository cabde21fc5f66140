"""Translating images with a TSIT generator: single images, folders, dataset builds.

What the official test script lacks, and how it is done here:

- CPU works (the official noise is created on ``get_device()`` = -1 and crashes); the
  model is always in ``eval()`` (the official test skips it for photo2art/multimodal —
  their batch-statistics behaviour stays available as ``fade_stats="batch"``);
- any input size: the image is resized (default) or reflect-padded to a multiple of
  2^depth (128 for official models, at least two cells per side) and the output is
  brought back to the input's size;
- noise comes from a seed, so a result is reproduced exactly from (model, inputs, seed).
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from studio.core.checkpoints import find_model, resources_dir, sha256_file
from studio.core.devices import resolve_device
from studio.core.distributed import barrier, dist_info
from studio.core.errors import NoInputError
from studio.core.guards import (
    NOT_UTF8,
    ImageBudget,
    SkipReport,
    free_memory,
    is_utf8_name,
    safe_name,
)
from studio.core.images import ImageError, encode_png, list_images, load_image
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Preview,
    Progress,
    drive,
    job_context,
    params_dict,
)
from studio.core.seeding import derive_seed
from studio.datasets.folders import distinct_stems, scan_image_folder
from studio.datasets.writers import (
    ImageFolderWriter,
    OutputItem,
    check_separate,
    file_list_digest,
    make_fingerprint,
    make_writer,
)
from studio.toyworld.guard import warn_if_foreign
from studio.tsit.data import load_label_map, one_hot, to_tensor, to_uint8
from studio.tsit.model import TSITGenerator, load_generator
from studio.tsit.params import BuildTranslatedParams, TranslateParams

#: The toy TSIT shipped in studio/resources/toy (silhouettes -> textured toy scenes).
TOY_MODEL = "tsit_toy_G.pth"


def resolve_model(model: str | os.PathLike) -> tuple[Path, str | None]:
    """(path, task override): 'toy' is the shipped toy TSIT, anything else a file/name."""
    if str(model) == "toy":
        return resources_dir() / "toy" / TOY_MODEL, "summer2winter"
    return find_model(model), None


def fit_size(h: int, w: int, multiple: int, min_side: int) -> tuple[int, int]:
    """Nearest multiple of ``multiple`` per side, at least ``min_side``."""
    def one(s: int) -> int:
        return max(min_side, multiple * max(1, round(s / multiple)))
    return one(h), one(w)


def bytes_per_pixel(cfg: Any) -> float:
    """Rough peak bytes per pixel the generator sees in one translation: both streams'
    and the decoder's features at every scale, plus the image tensors around them
    (measured on the toy TSIT, ngf 8: 375-430 B/px at 512-1024 px; this gives 440)."""
    return 4 * 6 * sum(w / 4 ** i for i, w in enumerate(cfg.widths())) + 64


def to_model_size(x: torch.Tensor, multiple: int, min_side: int, fit: str,
                  label: bool = False, fixed_hw: tuple[int, int] | None = None
                  ) -> torch.Tensor:
    """Resize (bicubic; nearest for labels) or pad to what the model accepts."""
    h, w = x.shape[-2:]
    if fixed_hw is not None or fit == "resize":
        th, tw = fixed_hw or fit_size(h, w, multiple, min_side)
        if (th, tw) == (h, w):
            return x
        if label:
            return F.interpolate(x.float(), size=(th, tw), mode="nearest").to(x.dtype)
        return F.interpolate(x, size=(th, tw), mode="bicubic", align_corners=False
                             ).clamp(-1, 1)
    if fit != "pad":
        raise ValueError(f"fit must be 'resize' or 'pad', got {fit!r}")
    th = max(min_side, math.ceil(h / multiple) * multiple)
    tw = max(min_side, math.ceil(w / multiple) * multiple)
    pad = (0, tw - w, 0, th - h)
    if label or tw - w >= w or th - h >= h:
        return F.pad(x.float() if label else x, pad, mode="replicate").to(x.dtype)
    return F.pad(x, pad, mode="reflect")


def restore(y: torch.Tensor, hw: tuple[int, int], fit: str) -> torch.Tensor:
    """Bring the output back to the input's (height, width)."""
    h, w = hw
    if y.shape[-2:] == (h, w):
        return y
    if fit == "pad" and y.shape[-2] >= h and y.shape[-1] >= w:
        return y[..., :h, :w]
    return F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)


class Translator:
    """A loaded generator plus the pre/post-processing around it (always ``eval()``)."""

    def __init__(self, model: str | os.PathLike, task: str = "summer2winter", *,
                 device: str | torch.device = "cpu", alpha: float = 1.0,
                 fade_stats: str = "preset", fast: bool = True, fit: str = "resize",
                 label_nc: int | None = None, precision: str = "auto"):
        path, override = resolve_model(model)
        self.path = path
        self.task = override or task
        self.device = resolve_device(device)
        self.generator: TSITGenerator = load_generator(
            path, self.task, device=self.device, alpha=alpha,
            fade_stats=None if fade_stats == "preset" else fade_stats)
        self.config = self.generator.config
        self.sha256 = sha256_file(path)
        self.fit = fit
        self.alpha = alpha
        cfg = self.config
        self.label_nc = label_nc if label_nc is not None else (
            cfg.semantic_nc - int(cfg.contain_dontcare_label) - int(cfg.use_instance))
        if fast:
            from studio.tsit.fast import make_fast  # noqa: PLC0415 (loaded when used)

            self.net = make_fast(self.generator, channels_last=self.device.type == "cpu")
        else:
            self.net = self.generator
        #: what one image may cost, measured once the model is loaded
        self.budget = ImageBudget(free_memory(self.device), bytes_per_pixel(self.config),
                                  "crop or shrink it")
        # half precision only on CUDA and only on the fast path (auto = fp16 there)
        self.dtype = torch.float32
        if fast and self.device.type == "cuda" and precision in ("auto", "fp16", "bf16"):
            self.dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            self.net = self.net.to(self.dtype)
        elif precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")

    @property
    def sis(self) -> bool:
        return self.config.task == "SIS"

    def model_hw(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) the generator sees for an input of ``h`` x ``w``."""
        cfg = self.config
        if cfg.use_vae:
            return cfg.input_hw
        if self.fit == "resize":
            return fit_size(h, w, cfg.multiple, cfg.min_side)
        return (max(cfg.min_side, math.ceil(h / cfg.multiple) * cfg.multiple),
                max(cfg.min_side, math.ceil(w / cfg.multiple) * cfg.multiple))

    def check_fits(self, path: str | os.PathLike, img: Image.Image) -> None:
        """Refuse an image whose translation would not fit in memory (a 20000x1 strip
        becomes 20000 x 256 px for the official model) before anything is allocated:
        an :class:`ImageError` naming the file and its size."""
        h, w = self.model_hw(img.size[1], img.size[0])
        why = self.budget.reason(img.size, (w, h),
                                 verb="resized" if self.fit == "resize" else "padded")
        if why:
            raise ImageError(path, why)

    def _prep_image(self, img: Image.Image) -> torch.Tensor:
        x = to_tensor(img)[None].to(self.device)
        fixed = self.config.input_hw if self.config.use_vae else None
        return to_model_size(x, self.config.multiple, self.config.min_side, self.fit,
                             fixed_hw=fixed)

    def noise(self, content: torch.Tensor, seed: int) -> torch.Tensor | None:
        g = torch.Generator().manual_seed(int(seed))
        return self.generator.sample_noise(content.cpu(), g)

    @torch.inference_mode()
    def translate(self, content: Image.Image | Path, style: Image.Image | None = None,
                  seed: int = 0, alpha: float | None = None) -> Image.Image:
        """One output image at the content's size."""
        cfg = self.config
        if self.sis:
            path = Path(content) if not isinstance(content, Image.Image) else None
            if path is None:
                raise TypeError("SIS content must be a label-map file path")
            label = load_label_map(path)[None]
            hw = tuple(label.shape[-2:])
            fixed = cfg.input_hw if cfg.use_vae else None
            label = to_model_size(label, cfg.multiple, cfg.min_side, self.fit, label=True,
                                  fixed_hw=fixed)
            x = one_hot(label.to(self.device), self.label_nc, cfg.contain_dontcare_label,
                        label.to(self.device) if cfg.use_instance else None)
            s = None
        else:
            img = content if isinstance(content, Image.Image) else load_image(content)
            hw = (img.size[1], img.size[0])
            x = self._prep_image(img)
            s = self._prep_image(style) if style is not None else None
        noise = self.noise(x, seed)
        if noise is not None:
            noise = noise.to(self.device, self.dtype)
        x = x.to(self.dtype)
        s = s.to(self.dtype) if s is not None else None
        y = self.net(x, s, noise=noise, alpha=self.alpha if alpha is None else alpha)
        y = restore(y.float(), hw, self.fit if not cfg.use_vae else "resize")
        return Image.fromarray(to_uint8(y[0]))


def _collect(paths: list[Path], what: str, skipped: list[tuple[str, str]] | None = None
             ) -> tuple[list[Path], list[str]]:
    files, missing = [], []
    for p in paths:
        p = Path(p)
        if not is_utf8_name(p):
            if skipped is not None:
                skipped.append((safe_name(p), NOT_UTF8))
        elif p.is_dir():
            found = list_images(p, recursive=True, skipped=skipped)
            if not found:
                missing.append(f"{p}: no images in this {what} folder")
            files += found
        elif p.exists():
            files.append(p)
        else:
            missing.append(f"{p}: no such {what} file or folder")
    return files, missing


def translate_job(p: TranslateParams, token: CancelToken | None = None) -> JobGen:
    token = job_context(token)
    tr = Translator(p.model, p.task, device=p.device, alpha=p.alpha, fade_stats=p.fade_stats,
                    fast=p.fast, fit=p.fit, label_nc=p.label_nc, precision=p.precision)
    left_out: list[tuple[str, str]] = []
    contents, bad = _collect(p.content, "content", left_out)
    styles, bad_s = _collect(p.style, "style", left_out) if not tr.sis else ([], [])
    for path, reason in left_out:
        yield Log(f"skipped {path}: {reason}", "warning")
    for msg in bad + bad_s:
        yield Log(msg, "error")
    if str(p.model) == "toy":  # the embedded default on a photograph: say so, once

        note = warn_if_foreign("toy TSIT", [*contents, *styles])
        if note:
            yield Log(note, "warning")
    if not contents:
        gone = [m for m in bad if ": no such " in m]
        if gone:
            raise FileNotFoundError(gone[0])
        raise NoInputError("no content images to translate" + (f" ({'; '.join(bad)})"
                                                                if bad else ""))
    if tr.sis:
        pairs = [(c, None) for c in contents]
    elif not styles:
        pairs = [(c, c) for c in contents]
    elif p.all_pairs:
        pairs = [(c, s) for c in contents for s in styles]
    else:
        pairs = [(c, styles[i % len(styles)]) for i, c in enumerate(contents)]
    jobs = [(c, s, seed) for c, s in pairs for seed in p.seeds]
    cstem = dict(zip(contents, distinct_stems([c.name for c in contents])))
    sstem = dict(zip(styles, distinct_stems([s.name for s in styles])))
    items, used = [], set()
    for c, s, seed in jobs:
        name = cstem[c] + (f"__{sstem[s]}" if s is not None and s != c else "") + \
            (f"__seed{seed}" if len(p.seeds) > 1 else "")
        base, k = name, 1
        while name in used:  # equal names from different folders
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        items.append(OutputItem(name, 0, ""))
    out = Path(p.out)
    inputs = {**{f"content {i + 1}": c for i, c in enumerate(p.content)},
              **{f"style {i + 1}": s for i, s in enumerate(p.style)}}
    fingerprint = make_fingerprint(
        "translate", {**params_dict(p), "device_type": tr.device.type},
        ignore=("model", "content", "style", "out", "device", "seed"),
        inputs={"content": file_list_digest(contents), "style": file_list_digest(styles)},
        models={"tsit_sha256": tr.sha256})
    writer = ImageFolderWriter(out).open(fingerprint, inputs=inputs, overwrite=p.overwrite)
    with writer:
        unusable = [(path, r) for path, r in left_out if r == NOT_UTF8]  # inputs, not others
        return (yield from _translate_body(p, token, tr, writer, jobs, items, unusable))


def _translate_body(p: TranslateParams, token: CancelToken, tr: Translator,
                    writer: ImageFolderWriter, jobs: list, items: list[OutputItem],
                    unusable: list[tuple[str, str]]) -> JobGen:
    for note in writer.notes:
        yield Log(note, "warning")
    for path, reason in unusable:  # named when listed; recorded here, and they count
        writer.error(path, reason)
    out = writer.out
    todo = writer.pending(items)
    already = len(items) - len(todo)
    yield Log(f"TSIT {tr.config.task} ({tr.path.name}, ngf {tr.config.ngf}, depth "
              f"{tr.config.depth}) on {tr.device}: {len(jobs)} output(s) -> {out}"
              + (f" ({already} already there, same settings)" if already else ""))
    written, failed = 0, len(unusable)
    bad_inputs: set[Path] = set()
    style_cache: dict[Path, Image.Image] = {}
    for n, (idx, item) in enumerate(todo):
        token.check()
        c, s, seed = jobs[idx]
        if c in bad_inputs or s in bad_inputs:
            failed += 1
            continue
        try:
            style_img = None
            if s is not None:
                if s not in style_cache:
                    style = load_image(s)
                    tr.check_fits(s, style)
                    style_cache[s] = style
                style_img = style_cache[s]
            content = c if tr.sis else load_image(c)
            if not tr.sis:
                tr.check_fits(c, content)
            img = tr.translate(content, style_img, seed=seed)
        except (ImageError, ValueError) as exc:
            failed += 1
            culprit = Path(exc.path) if isinstance(exc, ImageError) else c
            bad_inputs.add(culprit)
            reason = exc.reason if isinstance(exc, ImageError) else str(exc)
            writer.error(str(culprit), reason)
            yield Log(f"skipped {safe_name(culprit)}: {reason} (every output using it is "
                      "skipped)", "error")
            continue
        rec = {"content": str(c), "style": str(s) if s else None, "seed": seed,
               "alpha": p.alpha, "model_sha256": tr.sha256, "task": tr.task}
        writer.write(item, img, params={"tool": "studio translate", "model": str(tr.path),
                                        **rec}, record=rec)
        written += 1
        yield Progress(n + 1, len(todo), item.key)
        if written <= 4 or written % 20 == 0:
            yield Preview(np.asarray(img), item.key, n)
    writer.finalize({"job": "translate", "params": params_dict(p), "model": str(tr.path),
                     "model_sha256": tr.sha256, "task": tr.task}, [])
    return {"written": written, "failed": failed, "already_present": already, "out": str(out)}


def build_translated_job(p: BuildTranslatedParams, token: CancelToken | None = None) -> JobGen:
    """Style ``j`` of content ``i`` and its noise depend only on the seed and the file's
    relative path, so outputs are identical across resumes, ranks and runs."""
    token = job_context(token)
    if p.styles_per_content < 1:
        raise ValueError("styles_per_content must be >= 1")
    check_separate(p.out, {"content": p.content, "style": p.style})
    scan = scan_image_folder(p.content)
    style_skipped: list[tuple[str, str]] = []
    styles = list_images(p.style, recursive=True, skipped=style_skipped) \
        if Path(p.style).is_dir() else []
    if not styles:
        if not Path(p.style).is_dir():
            raise FileNotFoundError(f"{p.style}: style folder does not exist")
        raise NoInputError(f"{p.style}: no style images in this folder")
    for path, reason in style_skipped:
        yield Log(f"skipped style {path}: {reason}", "warning")
    tr = Translator(p.model, p.task, device=p.device, alpha=p.alpha, fade_stats=p.fade_stats,
                    fast=p.fast, fit=p.fit, precision=p.precision)
    if tr.sis:
        raise ValueError("build translated takes style-transfer models (AST/MMIS); use "
                         "`studio translate` for label maps")
    dist = dist_info()
    fingerprint = make_fingerprint(
        "build-translated", {**params_dict(p), "device_type": tr.device.type},
        ignore=("out", "content", "style", "model", "device"),
        inputs={"content": file_list_digest([s.path for s in scan.samples], p.content),
                "style": file_list_digest(styles, p.style)},
        models={"tsit_sha256": tr.sha256})
    writer = make_writer(p.format, p.out, shard_size=p.shard_size, shards=p.shards,
                         dist=dist)
    with writer.open(fingerprint, inputs={"content": p.content, "style": p.style},
                     overwrite=p.overwrite):
        return (yield from _build_translated_body(p, token, tr, scan, styles, writer, dist))


def _build_translated_body(p: BuildTranslatedParams, token: CancelToken, tr: Translator,
                           scan: Any, styles: list[Path], writer: Any, dist: Any) -> JobGen:
    for note in writer.notes:
        yield Log(note, "warning")
    skips = SkipReport(p.out)
    for path, reason in scan.skipped:
        writer.error(path, reason, kind="content")
        yield from skips(path, reason)
    yield from skips.summary()
    items, plan = [], []
    for smp in scan.samples:
        for j in range(p.styles_per_content):
            key = smp.stem_rel if p.styles_per_content == 1 else f"{smp.stem_rel}_t{j}"
            style_i = derive_seed(p.seed, "style", smp.rel, j) % len(styles)
            noise_seed = derive_seed(p.seed, "noise", smp.rel, j)
            items.append(OutputItem(key, smp.label, smp.class_name))
            plan.append((smp, styles[style_i], noise_seed))
    todo = writer.pending(items)
    yield Log(f"translated build: {len(items)} outputs ({len(items) - len(todo)} done) from "
              f"{len(scan.samples)} contents x {p.styles_per_content} of {len(styles)} styles "
              f"-> {p.out}")
    style_cache: dict[Path, Image.Image] = {}
    for n, (idx, item) in enumerate(todo):
        token.check()
        smp, spath, noise_seed = plan[idx]
        try:
            if spath not in style_cache:
                style = load_image(spath)
                tr.check_fits(spath, style)
                style_cache[spath] = style
        except ImageError as exc:
            writer.error(str(spath), str(exc), kind="style", content=str(smp.path))
            writer.skip(idx)
            yield Log(f"skipped {safe_name(smp.rel)}: style {safe_name(str(exc))}", "error")
            continue
        try:
            content = load_image(smp.path)
            tr.check_fits(smp.path, content)
            img = tr.translate(content, style_cache[spath], seed=noise_seed)
        except (ImageError, ValueError) as exc:
            writer.error(str(smp.path), str(exc), kind="content")
            writer.skip(idx)
            yield Log(f"skipped {safe_name(smp.rel)}: {safe_name(str(exc))}", "error")
            continue
        rec = {"content": str(smp.path), "style": str(spath), "noise_seed": noise_seed,
               "alpha": p.alpha, "model_sha256": tr.sha256, "task": tr.task}
        png = encode_png(img, {"tool": "studio build translated", **rec})
        writer.write(item, None, record=rec, png=png, index=idx)
        yield Progress(n + 1, len(todo), item.key)
        if n % 50 == 0:
            yield Preview(np.asarray(img), item.key, n)
    if hasattr(writer, "close"):
        writer.close()
    barrier()
    summary: dict = {"num_items": len(items), "num_errors": 0}
    if dist.is_main:
        summary = writer.finalize({"builder": "translated", "model": str(tr.path),
                                   "model_sha256": tr.sha256, "task": tr.task,
                                   "params": {k: str(v) for k, v in vars(p).items()}},
                                  scan.classes)
    return summary


def translate_images(model: str | os.PathLike, content: list[Path], style: list[Path],
                     out: Path, **kwargs) -> dict:
    """Scripting shortcut: run :func:`translate_job` to the end."""
    return drive(translate_job(replace(TranslateParams(), model=str(model), content=content,
                                       style=style, out=out, **kwargs)))
