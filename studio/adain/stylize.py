"""Stylising files: pytorch-AdaIN's ``test.py`` as a job, same outputs, faster path.

Same math and names as the reference: every content x every style gives
``{content}_stylized_{style}{ext}``; several styles with weights give
``{content}_interpolation{ext}``. Faster because (a) each style is encoded once and only
its relu4_1 statistics are kept (exactly the same result: AdaIN uses nothing else),
(b) contents of equal size are batched, (c) decoding/encoding of files overlaps compute
in threads, (d) channels-last memory and, on CUDA, optional half precision / compile.
Bad files are reported and skipped; the result lists them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import torch

from studio.adain.model import AdaINModel
from studio.adain.ops import StyleStats, normalize_weights
from studio.adain.params import StylizeParams
from studio.adain.transforms import load_tensor, pil_to_tensor, to_uint8
from studio.core.checkpoints import find_model, sha256_file, state_sha256
from studio.core.errors import NoInputError, is_out_of_memory
from studio.core.guards import NOT_UTF8, ImageBudget, free_memory, is_utf8_name, safe_name
from studio.core.images import (
    ImageError,
    ImageTooSmallError,
    encode_image,
    load_image,
    to_uint8_array,
    walk_images,
)
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Preview,
    Progress,
    job_context,
    params_dict,
)
from studio.core.memo import Memo
from studio.datasets.folders import distinct_stems
from studio.datasets.writers import (
    ImageFolderWriter,
    OutputItem,
    check_separate,
    file_list_digest,
    make_fingerprint,
)
from studio.toyworld.guard import warn_if_foreign

# ---------------------------------------------------------------------------------------
# Pieces other builders reuse


class StyleCache:
    """relu4_1 statistics per (style file, size, crop): each style is encoded once."""

    def __init__(self, model: AdaINModel, device: torch.device | str, max_items: int = 4096):
        self.model, self.device = model, torch.device(device)
        self._memo = Memo(max_items)

    def stats_of(self, image: torch.Tensor) -> StyleStats:
        """Statistics of one preprocessed style tensor (3, H, W)."""
        with torch.inference_mode():
            x = image.unsqueeze(0).to(self.device)
            return self.model.style_stats(_fmt(x, self.model)).to(self.device, torch.float32)

    def get(self, path: str | os.PathLike, size: int = 512, crop: bool = False) -> StyleStats:
        return self._memo.get((str(path), size, crop),
                              lambda: self.stats_of(load_tensor(path, size, crop)))

    def __len__(self) -> int:
        return len(self._memo)


def load_masks(paths: Sequence[str | os.PathLike], n_styles: int) -> torch.Tensor:
    """(K, H, W) region masks as ``--masks`` gives them, at the files' own resolution.

    The one reader of mask files for the job and the window's preview: mapping a mask onto
    the features is left to :func:`studio.adain.ops.region_masks` (one nearest resize), so
    a preview that resized the mask first would pick other feature cells than the job.
    One grey mask serves two styles: white = the first, black = the second.
    """
    if len(paths) != n_styles and not (len(paths) == 1 and n_styles == 2):
        raise ValueError(f"{len(paths)} masks for {n_styles} styles (one grey mask serves "
                         "two styles, else one mask per style)")
    masks = torch.stack([pil_to_tensor(load_image(m).convert("L"))[0] for m in paths])
    if len(masks) == 1:
        masks = torch.cat([masks, 1 - masks])
    return masks


def _fmt(x: torch.Tensor, model: AdaINModel) -> torch.Tensor:
    """Match the model's memory format (channels-last when the model was converted)."""
    if getattr(model, "channels_last", False):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def prepare_model(model: AdaINModel, device: torch.device, *, channels_last: bool = True,
                  compile: bool = False) -> AdaINModel:
    """Move to device, eval, channels-last (faster convolutions on CPU and GPU), conv +
    ReLU fused on CPU."""
    model = model.to(device).eval()
    if channels_last:
        # only the layers that run: the official encoder's children past relu4_1 (16 M of
        # its 20 M weights) are kept for the checkpoint layout but never used
        for m in [*model.encoder[:model.taps[model.config.layer]], model.decoder]:
            m.to(memory_format=torch.channels_last)
        model.channels_last = True
        model.fuse_relu = True
    if compile:
        # compile the steps, not the Sequentials: encode() slices the encoder by index,
        # which a compiled module does not support
        model.encode = torch.compile(model.encode, dynamic=True)
        model.decode = torch.compile(model.decode, dynamic=True)
    return model


def autocast(device: torch.device, precision: str):
    """fp16/bf16 autocast on CUDA (bf16 also on CPU); fp32 = the reference's numbers."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    if dtype is None:
        raise ValueError(f"precision must be fp32, fp16 or bf16, not {precision!r}")
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("fp16 needs a GPU; use bf16 or fp32 on the CPU")
    return torch.autocast(device.type, dtype=dtype)


def output_key(content_stem: str, style_stem: str | None, kind: str = "stylized") -> str:
    """test.py's names without the extension: ``{content}_stylized_{style}`` /
    ``{content}_interpolation`` (stems made distinct by :func:`distinct_stems`)."""
    if kind == "stylized":
        return f"{content_stem}_stylized_{style_stem}"
    return f"{content_stem}_{kind}"


def output_name(content: Path, style: Path | None, ext: str, kind: str = "stylized") -> str:
    """test.py's file name for one content (and style)."""
    return output_key(content.stem, style.stem if style is not None else None, kind) + ext


def _paths(single: str | list[str], folder: str, what: str,
           skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    if single:
        given = [Path(s) for s in single] if isinstance(single, list) else [Path(single)]
        kept = [g for g in given if is_utf8_name(g)]
        if skipped is not None:  # a name that cannot go into a manifest or a log line
            skipped.extend((safe_name(g), NOT_UTF8) for g in given if not is_utf8_name(g))
        if not kept:
            raise NoInputError(f"{safe_name(given[0])}: {NOT_UTF8}")
        return kept
    if folder:
        d = Path(folder)
        if not d.is_dir():
            raise FileNotFoundError(f"{what} folder {d} does not exist")
        # test.py takes every file (os.listdir); we sort, skip non-image names, say so
        left_out: list[tuple[str, str]] = []
        found = walk_images(d, recursive=False, skipped=left_out)
        if skipped is not None:
            skipped.extend(left_out)
        if not found:
            why = "; ".join(f"{Path(p).name}: {r}" for p, r in left_out[:3])
            raise NoInputError(f"{d}: no {what} images in this folder"
                               + (f" (skipped {why})" if why else ""))
        return found
    raise ValueError(f"give --{what} or --{what}_dir")


def _check_side(path: Path, image: torch.Tensor, model: AdaINModel, size: int,
                what: str) -> torch.Tensor:
    """Refuse an image smaller than the encoder can take (1x1, a thin strip), naming the
    file and the minimum, instead of a padding error from deep inside the network."""
    need = model.config.min_side
    h, w = image.shape[-2:]
    if min(h, w) < need:
        after = f" after --{what}_size {size}" if size else ""
        raise ImageTooSmallError(path, f"{w}x{h}{after} is smaller than the {need} px per "
                                 f"side the AdaIN encoder ({model.config.name}, "
                                 f"{model.config.layer}) needs; raise --{what}_size")
    return image


class Budgets(NamedTuple):
    """What one content and one style may cost (the hint names each one's size flag)."""

    content: ImageBudget
    style: ImageBudget


def image_budget(model: AdaINModel, device: torch.device | str, workers: int = 1,
                 hint: str = "lower --{what}_size or crop it") -> Budgets:
    """Measured once per job: free memory on the device (on the CPU shared by the loader
    threads) and what the encoder/decoder need per pixel they see."""
    dev = torch.device(device)
    free = free_memory(dev)
    if free is not None and dev.type == "cpu":
        free //= max(1, workers)
    side = 256
    per_px = model.config.activation_bytes(side) / side ** 2
    return Budgets(ImageBudget(free, per_px, hint.format(what="content")),
                   ImageBudget(free, per_px, hint.format(what="style")))


def load_model(vgg: str = "", decoder: str = "") -> AdaINModel:
    """The model named by --vgg/--decoder, else the installed official one, else the toy."""
    from studio.adain import load_default  # noqa: PLC0415 (loaded when used)

    if vgg and decoder:
        return AdaINModel.from_files(find_model(vgg), find_model(decoder))
    return load_default(vgg or None, decoder or None)


def _prefetch(fn, items: list, pool: ThreadPoolExecutor, depth: int) -> Iterator:
    """Yield (item, future) in order, keeping ``depth`` loads in flight."""
    futs: list[tuple] = []
    it = iter(items)
    for x in it:
        futs.append((x, pool.submit(fn, x)))
        if len(futs) >= depth:
            break
    while futs:
        x, f = futs.pop(0)
        nxt = next(it, None)
        if nxt is not None:
            futs.append((nxt, pool.submit(fn, nxt)))
        yield x, f


# ---------------------------------------------------------------------------------------
# The job


def _weights_text(p: StylizeParams) -> str:
    """The weights as the fingerprint held them when they were a string ("1,0.5"), so
    folders built then still resume; exact (repr) where the short form would round."""
    return ",".join(f"{w:g}" if float(f"{w:g}") == w else repr(w)
                    for w in p.style_interpolation_weights)


def stylize_job(p: StylizeParams, token: CancelToken | None = None,
                model: AdaINModel | None = None) -> JobGen:
    token = job_context(token)
    if not 0.0 <= p.alpha <= 1.0:
        raise ValueError(f"--alpha must be between 0 and 1, got {p.alpha}")
    if not p.save_ext.startswith("."):
        raise ValueError(f"--save_ext must start with a dot, e.g. .jpg (got {p.save_ext!r})")
    skipped: list[tuple[str, str]] = []
    contents = _paths(p.content, p.content_dir, "content", skipped)
    styles = _paths(p.style, p.style_dir, "style", skipped)
    for path, reason in skipped:
        yield Log(f"skipped {path}: {reason}", "warning")
    mask_paths = [Path(m) for m in p.masks]
    mode = "pairs"
    weights: list[float] | None = None
    if len(styles) > 1 and p.style:
        if mask_paths:
            if len(mask_paths) != len(styles) and not (len(mask_paths) == 1 and
                                                       len(styles) == 2):
                raise ValueError(f"{len(mask_paths)} masks for {len(styles)} styles")
            mode = "masked"
        elif p.style_interpolation_weights:
            try:
                weights = normalize_weights(list(p.style_interpolation_weights))
            except ValueError as exc:
                raise ValueError(f"--style_interpolation_weights: {exc}") from exc
            if len(weights) != len(styles):
                raise ValueError(f"{len(weights)} interpolation weights for {len(styles)} "
                                 "styles")
            mode = "interpolation"
        else:
            raise ValueError(f"{len(styles)} styles given: pass "
                             "--style_interpolation_weights (interpolation) or --masks "
                             "(spatial control), or use --style_dir for every pair")
    color = p.color_method if p.preserve_color else None
    if color not in (None, "coral", "luminance"):
        raise ValueError(f"--color-method must be coral or luminance, not {color!r}")

    device = token.device(p.device)
    # the model's hashes (provenance, fingerprint) are computed in threads beside the
    # loading and preparing: hashlib releases the GIL, and they cost ~0.4 s at VGG-19 size
    hasher = ThreadPoolExecutor(2)
    file_hashes = {name: hasher.submit(sha256_file, path)
                   for name, path in (("vgg", p.vgg), ("decoder", p.decoder))
                   if path and Path(path).is_file()}
    model = model or load_model(p.vgg, p.decoder)
    state_hash = hasher.submit(state_sha256, model.state_dict())
    hasher.shutdown(wait=False)
    if model.config.name == "toy":  # the embedded default on a photograph: say so, once

        note = warn_if_foreign("toy AdaIN", [*contents, *styles])
        if note:
            yield Log(note, "warning")
    model = prepare_model(model, device, channels_last=p.channels_last, compile=p.compile)
    out_dir = Path(p.output)
    inputs = {"content": p.content or p.content_dir,
              **{f"style {i + 1}": s for i, s in enumerate(styles)}}
    if p.style_dir:
        inputs["style folder"] = p.style_dir
    for i, m in enumerate(mask_paths):
        inputs[f"mask {i + 1}"] = m
    check_separate(out_dir, inputs)
    provenance = {"config": model.config.name}
    for name, fut in file_hashes.items():
        provenance[f"{name}_sha256"] = fut.result()

    # every output planned before any work: distinct names, a fingerprinted folder
    cstem = dict(zip(contents, distinct_stems([c.name for c in contents])))
    sstem = dict(zip(styles, distinct_stems([s.name for s in styles])))
    kind = "stylized" if mode == "pairs" else mode
    plan = [(c, s) for c in contents for s in styles] if mode == "pairs" else \
        [(c, None) for c in contents]
    items = [OutputItem(output_key(cstem[c], sstem.get(s), kind), 0, "") for c, s in plan]
    fingerprint = make_fingerprint(
        "adain.stylize", {**params_dict(p), "mode": mode, "device_type": device.type,
                          "style_interpolation_weights": _weights_text(p)},
        ignore=("content", "content_dir", "style", "style_dir", "vgg", "decoder", "output",
                "device", "batch_size", "workers", "masks"),
        inputs={"content": file_list_digest(contents), "style": file_list_digest(styles),
                "masks": file_list_digest(mask_paths)},
        models={"adain_sha256": state_hash.result(), "config": model.config.name})
    writer = ImageFolderWriter(out_dir, ext=p.save_ext).open(
        fingerprint, inputs=inputs, overwrite=p.overwrite)
    with writer:
        return (yield from _stylize_body(p, token, model, device, writer, mode, weights,
                                         color, contents, styles, mask_paths, plan, items,
                                         provenance,
                                         [s for s in skipped if s[1] == NOT_UTF8]))


def _stylize_body(p: StylizeParams, token: CancelToken, model: AdaINModel,  # noqa: C901 (test.py's loop, one pass; split pending)
                  device: torch.device, writer: ImageFolderWriter, mode: str,
                  weights: list[float] | None, color: str | None, contents: list[Path],
                  styles: list[Path], mask_paths: list[Path], plan: list, items: list,
                  provenance: dict, unusable: Sequence[tuple[str, str]] = ()) -> JobGen:
    for note in writer.notes:
        yield Log(note, "warning")
    out_dir = writer.out
    todo = {plan[i]: item for i, item in writer.pending(items)}
    already = len(items) - len(todo)
    if already:
        yield Log(f"{already} of {len(items)} output(s) already in {out_dir} (same settings)")
    needed = {c for c, _ in todo}
    contents = [c for c in contents if c in needed]
    failures: list[dict] = []
    written: list[str] = []
    io_pool = ThreadPoolExecutor(max(1, p.workers))
    saves: list[Future] = []

    def fail(source, reason: str) -> Log:
        name = safe_name(source)
        failures.append({"source": name, "reason": reason})
        writer.error(name, reason)
        return Log(f"{name}: {reason}", "error")

    for path, reason in unusable:  # files that are there but cannot be named: they count
        fail(path, reason)

    def save(arr, item: OutputItem, params: dict) -> None:
        data = encode_image(arr, p.save_ext, params=params if p.save_ext.lower() == ".png"
                            else None, quality=p.jpeg_quality)
        rec = writer.write(item, None, png=data, record={
            k: params[k] for k in ("content", "style", "styles", "alpha") if k in params})
        written.append(str(out_dir / rec["file_name"]))

    # Styles: loaded once (as tensors for colour preservation, else only statistics)
    cache = StyleCache(model, device)
    style_imgs: dict[Path, torch.Tensor] = {}
    style_stats: dict[Path, StyleStats] = {}
    budget = image_budget(model, device, p.workers)
    for sp in styles:
        token.check()
        try:
            img = _check_side(sp, load_tensor(sp, p.style_size, p.crop, budget.style), model,
                              p.style_size, "style")
        except ImageError as exc:
            yield fail(sp, f"style image skipped: {exc.reason}")
            continue
        if color:
            style_imgs[sp] = img
        if color is None:
            with autocast(device, p.precision):
                style_stats[sp] = cache.stats_of(img)
    good_styles = [s for s in styles if s in style_stats or s in style_imgs]
    if mode != "pairs" and len(good_styles) != len(styles):
        raise ValueError("a style of the interpolation / mask set could not be read")
    masks = load_masks(mask_paths, len(styles)) if mode == "masked" else None

    total = len(todo)
    done = 0
    yield Progress(0, total, "stylising")

    def load_content(path: Path):
        return _check_side(path, load_tensor(path, p.content_size, p.crop, budget.content),
                           model, p.content_size, "content")

    def run_batch(paths: list[Path], batch: torch.Tensor):
        """Stylise one batch of equal-size contents; schedule the saves."""
        x = _fmt(batch.to(device), model)
        results = []
        with torch.inference_mode(), autocast(device, p.precision):
            if mode == "pairs" and color is None:
                feats = model.encode_content(x)
                for sp in good_styles:
                    t = model.target(feats, style_stats[sp].to(device, feats.dtype)
                                     .expand(len(paths)), alpha=p.alpha)
                    results.append((sp, model.decode(t)))
            elif mode == "pairs":
                for sp in good_styles:
                    s = style_imgs[sp].unsqueeze(0).to(device)
                    results.append((sp, model.stylize(x, s, alpha=p.alpha,
                                                      preserve_color=color)))
            else:
                group = ([style_stats[s] for s in styles] if color is None
                         else [style_imgs[s].unsqueeze(0).to(device) for s in styles])
                out = model.stylize(x, group, alpha=p.alpha, weights=weights,
                                    masks=masks, preserve_color=color)
                results.append((None, out))
        n = 0
        for sp, out in results:
            arrs = to_uint8(out.float())
            for cp, arr in zip(paths, arrs):
                item = todo.get((cp, sp))
                if item is None:  # made by an earlier run with the same settings
                    continue
                n += 1
                params = {"method": "adain", "content": str(cp), "alpha": p.alpha,
                          "content_size": p.content_size, "style_size": p.style_size,
                          "crop": p.crop, "preserve_color": color, "precision": p.precision,
                          **provenance}
                if sp is not None:
                    params["style"] = str(sp)
                else:
                    params["styles"] = [str(s) for s in styles]
                    params["weights"] = weights
                    params["masks"] = [str(m) for m in mask_paths] or None
                saves.append(io_pool.submit(save, arr, item, params))
        return n

    def run_safely(batch_items: list[tuple[Path, torch.Tensor]]) -> JobGen:
        """run_batch; out of memory halves the batch and tries again, and an image that
        does not fit alone fails with a clear reason while the others go on."""
        try:
            return run_batch([c for c, _ in batch_items],
                             torch.stack([t for _, t in batch_items]))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if len(batch_items) == 1:
            cp, t = batch_items[0]
            yield fail(cp, f"content image skipped: out of memory at {t.shape[-1]}x"
                           f"{t.shape[-2]} px even alone; try a smaller --content_size")
            return len(good_styles) if mode == "pairs" else 1
        half = len(batch_items) // 2
        yield Log(f"out of memory with a batch of {len(batch_items)}; retrying as {half} + "
                  f"{len(batch_items) - half} (a smaller --batch_size avoids this)", "warning")
        n = yield from run_safely(batch_items[:half])
        return n + (yield from run_safely(batch_items[half:]))

    buckets: dict[tuple, list[tuple[Path, torch.Tensor]]] = {}
    load_pool = ThreadPoolExecutor(max(1, p.workers))
    try:
        for cp, fut in _prefetch(load_content, contents, load_pool, 2 * p.batch_size):
            token.check()
            try:
                img = fut.result()
            except ImageError as exc:
                yield fail(cp, f"content image skipped: {exc.reason}")
                done += sum((cp, s) in todo for s in good_styles) if mode == "pairs" else 1
                continue
            key = tuple(img.shape)
            buckets.setdefault(key, []).append((cp, img))
            if len(buckets[key]) >= p.batch_size:
                items = buckets.pop(key)
                done += yield from run_safely(items)
                yield Progress(done, total, "stylising")
        for key in list(buckets):
            token.check()
            items = buckets.pop(key)
            done += yield from run_safely(items)
            yield Progress(done, total, "stylising")
        for f in saves:
            exc = f.exception()
            if exc is not None:
                yield fail("output", f"could not write: {exc}")
    finally:
        load_pool.shutdown(wait=True, cancel_futures=True)
        io_pool.shutdown(wait=True)
    if written:
        last = Path(sorted(written)[-1])
        with contextlib.suppress(ImageError):  # a preview only: never fail the job for it
            yield Preview(to_uint8_array(load_image(last)), last.name, done)
    writer.finalize({"job": "adain.stylize", "mode": mode, "params": params_dict(p),
                     "model": provenance}, [])
    yield Log(f"wrote {len(written)} image(s) to {out_dir}"
              + (f" ({already} already there)" if already else "")
              + (f"; {len(failures)} failure(s)" if failures else ""))
    return {"already_present": already, "output": str(out_dir), "written": len(written), "failed": failures,
            "mode": mode, "styles_encoded": len(style_stats)}
