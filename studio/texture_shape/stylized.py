"""Stylized-ImageNet builder: any ImageFolder dataset into its AdaIN-stylised twin.

Faithful to rgeirhos/Stylized-ImageNet by default (``shared/reference/texture_bias.md``):
styles converted to RGB, rejected below 224 px, centre-cropped to the largest square and
shrunk to 224 px (LANCZOS); contents ``Resize(256)`` + ``CenterCrop(224)``; one style per
content, uniform with replacement, drawn from ``numpy.random.RandomState(seed)`` over the
contents in the reference's order (val before train); alpha 1.0; PNGs quantised as
torchvision's ``save_image`` does, in the input's split and class folders.

What the reference lacks, and why it is built this way:

- *Deterministic.* The style of content ``i`` is fixed by the seed and the sorted file
  lists before any work starts (:func:`plan_build`), and every network call sees at least
  two images (a single one is run as a pair: a batch of one takes a different, not
  bit-identical, convolution path on CPU), so the bytes do not depend on workers, batch
  size, shards or resume points.
- *Resumable.* Outputs go through :mod:`studio.datasets.writers` (atomic files, per-rank
  records); a rerun produces only what is missing.
- *Fast.* Style statistics are computed once and cached on disk (:mod:`.style_cache`);
  contents are batched; decoding and PNG encoding run in worker processes while the main
  process computes.
- *Robust.* Unreadable contents and styles are reported in ``errors.jsonl`` with the
  reason, the build goes on.
- *Many machines.* Under ``torchrun`` each rank takes ``index % world`` of the plan; rank
  0 merges the records after a barrier.
"""

from __future__ import annotations

import collections
import copy
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio.adain.style_cache import StyleStatsCache, default_cache_root, style_key
from studio.core.checkpoints import (
    CheckpointError,
    find_model,
    resources_dir,
    sha256_file,
    state_sha256,
)
from studio.core.distributed import DistInfo, barrier, dist_info, init_distributed
from studio.core.guards import NOT_UTF8, ImageBudget, SkipReport, free_memory, shorter_side_to
from studio.core.images import ImageError, encode_png, list_images, load_image, quantize
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Metrics,
    Preview,
    Progress,
    job_context,
)
from studio.core.jobs import params_dict as _params_dict
from studio.core.seeding import derive_seed
from studio.datasets.folders import FolderScan, Sample, distinct_stems, scan_image_folder
from studio.datasets.writers import (
    OutputItem,
    WebDatasetWriter,
    check_separate,
    file_list_digest,
    make_fingerprint,
    make_writer,
)
from studio.texture_shape.params import StylizedParams

#: The reference's style seed (``np.random.RandomState(seed=49809)``).
SIN_SEED = 49809


#: ``--preset sin``: Stylized-ImageNet exactly as published.
SIN_PRESET: dict[str, Any] = {
    "model": "official", "alpha": 1.0, "content_size": 256, "crop": 224, "style_size": 224,
    "min_style_size": 224, "seed": SIN_SEED, "assignment": "stream", "format": "imagefolder",
}
#: ``--preset toy``: the toy world (64 px scenes, 64 px texture patches, the toy AdaIN).
TOY_PRESET: dict[str, Any] = {
    "model": "toy", "alpha": 1.0, "content_size": 64, "crop": 64, "style_size": 64,
    "min_style_size": 64, "assignment": "stream", "format": "imagefolder",
}
PRESETS = {"sin": SIN_PRESET, "toy": TOY_PRESET}


# ---------------------------------------------------------------------------------------
# Image preparation (runs in worker processes: PIL and NumPy only)


def prepare_style(path: str | os.PathLike, style_size: int = 224, min_size: int = 224
                  ) -> np.ndarray:
    """A style image as the reference prepares it: RGB, reject if a side < ``min_size``,
    centre square crop, shrink (never enlarge) to ``style_size`` with LANCZOS.

    Returns HWC uint8. ``style_size`` 0 keeps the square crop's size.
    """
    img = load_image(path)
    w, h = img.size
    if min_size and (w < min_size or h < min_size):
        raise ImageError(path, f"{w}x{h} is smaller than the minimum style size {min_size} px")
    s = min(w, h)
    left, top = int((w - s) / 2), int((h - s) / 2)
    img = img.crop((left, top, left + s, top + s))
    if style_size and s > style_size:
        img = img.resize((style_size, style_size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def prepare_content(path: str | os.PathLike, content_size: int = 256, crop: int = 224,
                    min_size: int = 0, budget: ImageBudget | None = None) -> np.ndarray:
    """``Resize(content_size)`` + ``CenterCrop(crop)`` as torchvision does them; HWC uint8
    (written on PIL: importing torchvision costs every worker ~2 s). With ``budget``, an
    image whose resize would not fit (a 1x3000 strip becomes 256 x 768,000 px) is refused
    with an :class:`ImageError` before anything is allocated."""
    from studio.adain.transforms import center_crop, resize_shorter  # noqa: PLC0415 (engine: loaded when used)

    img = load_image(path, min_size=min_size)
    if content_size:
        if budget is not None:
            why = budget.reason(img.size, shorter_side_to(*img.size, content_size),
                                (crop, crop) if crop else None)
            if why:
                raise ImageError(path, why)
        img = resize_shorter(img, content_size)
    if crop:
        img = center_crop(img, crop)
    return np.asarray(img, dtype=np.uint8)


def to_tensor(arrays: list[np.ndarray], channels_last: bool = False) -> torch.Tensor:
    """HWC uint8 arrays -> (N, 3, H, W) float in [0, 1], bit-identical to ``ToTensor``."""
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    x = x.contiguous(memory_format=torch.channels_last if channels_last
                     else torch.contiguous_format)
    return x.float().div(255)


def _content_task(task: tuple) -> tuple[int, np.ndarray | None, str | None]:
    index, path, content_size, crop, min_size, budget = task
    try:
        return index, prepare_content(path, content_size, crop, min_size, budget), None
    except ImageError as exc:
        return index, None, exc.reason
    except Exception as exc:  # a bad file must never stop the build
        return index, None, f"cannot prepare image ({type(exc).__name__}: {exc})"


def _style_task(task: tuple) -> tuple[int, np.ndarray | None, str | None]:
    index, path, style_size, min_size = task
    try:
        return index, prepare_style(path, style_size, min_size), None
    except ImageError as exc:
        return index, None, exc.reason
    except Exception as exc:
        return index, None, f"cannot prepare style ({type(exc).__name__}: {exc})"


def _png_task(task: tuple) -> bytes:
    image, params = task
    return encode_png(image, params)


# ---------------------------------------------------------------------------------------
# Worker pool: ordered, bounded, overlapped with compute in the main process


class _Done:
    """An already computed result with the AsyncResult interface (in-process mode)."""

    def __init__(self, value: Any):
        self.value = value

    def ready(self) -> bool:
        return True

    def get(self, timeout: float | None = None) -> Any:
        return self.value


def auto_workers(device: torch.device) -> int:
    """Spare cores only: on CPU the convolutions already use every core (measured on 2
    cores: worker processes there cost 10-20 %), on a GPU the CPU is free for I/O."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    if device.type == "cpu":
        return max(0, min(8, cores // local - torch.get_num_threads()))
    return max(1, min(8, cores // local - 1))


class _InThread:
    """A helper thread's result with the AsyncResult interface."""

    def __init__(self, future: Any):
        self.future = future

    def ready(self) -> bool:
        return self.future.done()

    def get(self, timeout: float | None = None) -> Any:
        return self.future.result(timeout)


class WorkerPool:
    """``workers`` processes for decoding and PNG encoding; with 0, one helper thread in
    this process does them beside the compute (PIL and zlib release the GIL, so decoding,
    encoding and writing overlap the convolutions without a process's start-up and
    copies); ``thread=False`` runs them inline."""

    def __init__(self, workers: int, thread: bool = True):
        self.workers = max(0, int(workers))
        self.pool = None
        self.thread = None
        if self.workers:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self.pool = mp.get_context(method).Pool(self.workers)
        elif thread:
            self.thread = ThreadPoolExecutor(1, thread_name_prefix="studio-io")

    def submit(self, fn: Callable, arg: Any):
        if self.pool is not None:
            return self.pool.apply_async(fn, (arg,))
        if self.thread is not None:
            return _InThread(self.thread.submit(fn, arg))
        return _Done(fn(arg))

    def imap(self, fn: Callable, tasks: Iterator, window: int) -> Iterator:
        """Results in task order, with at most ``window`` tasks in flight."""
        q: collections.deque = collections.deque()
        it = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(q) < max(1, window):
                t = next(it, None)
                if t is None:
                    exhausted = True
                    break
                q.append(self.submit(fn, t))
            if not q:
                return
            yield q.popleft().get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
        if self.thread is not None:
            self.thread.shutdown(wait=True, cancel_futures=True)
            self.thread = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# The network


@dataclass
class StyleNet:
    """An AdaIN model with the provenance the manifest records."""

    model: Any                 # studio.adain.model.AdaINModel
    name: str
    encoder_sha256: str
    decoder_sha256: str

    @classmethod
    def from_model(cls, model: Any, name: str = "in-memory") -> StyleNet:
        taps = model.taps[model.config.layer]
        enc = torch.nn.Sequential(*list(model.encoder.children())[:taps])
        return cls(model.eval(), name, state_sha256(enc), state_sha256(model.decoder))


def load_style_net(model: str = "auto", vgg: str = "adain-vgg", decoder: str = "adain-decoder"
                   ) -> StyleNet:
    """The official AdaIN files, the shipped toy AdaIN, or a given encoder/decoder pair."""
    from studio.adain.model import AdaINModel  # noqa: PLC0415 (engine: loaded when used)

    def hashed(name: str, enc: Path, dec: Path, load: Callable[[], Any]) -> StyleNet:
        # the two files are hashed in threads while they load (hashlib releases the GIL)
        with ThreadPoolExecutor(2) as ex:
            h_enc, h_dec = ex.submit(sha256_file, enc), ex.submit(sha256_file, dec)
            model = load()
            return StyleNet(model, name, h_enc.result(), h_dec.result())

    def official() -> StyleNet:
        v, d = find_model(vgg), find_model(decoder)
        return hashed("official", v, d, lambda: AdaINModel.load_official(v, d))

    def toy() -> StyleNet:
        root = resources_dir() / "toy"
        e, d = root / "adain_encoder.pth", root / "adain_decoder.pth"
        return hashed("toy", e, d, lambda: AdaINModel.load_toy(root))

    if model == "official":
        return official()
    if model == "toy":
        return toy()
    if model == "auto":
        try:
            return official()
        except CheckpointError as first:
            try:
                return toy()
            except CheckpointError:
                raise first from None
    enc_path = Path(model)
    dec_path = find_model(decoder)
    return hashed(enc_path.name, enc_path, dec_path,
                  lambda: AdaINModel.from_files(enc_path, dec_path))


def _run_pairsafe(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Run ``fn`` on a batch, never on a batch of one (see the module docstring)."""
    if x.shape[0] == 1:
        return fn(torch.cat([x, x]))[:1]
    return fn(x)


# ---------------------------------------------------------------------------------------
# Planning: everything that decides the output, before any image is touched


@dataclass
class StyleSet:
    paths: list[Path]           # accepted styles, sorted (what indices refer to)
    rels: list[str]
    keys: list[str]
    rejected: list[tuple[str, str]]   # (path, reason)
    cache: StyleStatsCache | None = None


@dataclass
class BuildPlan:
    samples: list[Sample]
    classes: list[str]
    items: list[OutputItem]
    style_index: list[int]      # per sample: index into styles.paths
    skipped: list[tuple[str, str]]


def list_styles(root: str | os.PathLike, skipped: list[tuple[str, str]] | None = None
                ) -> list[Path]:
    """Style images under ``root``, sorted; ``skipped`` receives the files that are left
    out because of their name (not UTF-8): they are reported like rejected styles, the
    rest of what the walk leaves out (other files beside the styles) is not."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: style folder does not exist")
    left_out: list[tuple[str, str]] = []
    found = list_images(root, recursive=True, skipped=left_out)
    if skipped is not None:
        skipped.extend((p, r) for p, r in left_out if r == NOT_UTF8)
    return found


def reference_order(samples: list[Sample]) -> list[int]:
    """Indices of ``samples`` in the order the reference draws styles: val, then train."""
    first = ("val", "validation")
    return sorted(range(len(samples)),
                  key=lambda i: (0 if samples[i].split in first else 1, samples[i].split or "", i))


def assign_styles(samples: list[Sample], n_styles: int, seed: int,
                  assignment: str = "stream") -> list[int]:
    """One style index per sample, uniform with replacement, fixed by seed and file list."""
    if n_styles < 1:
        raise ValueError("no usable style images")
    if assignment == "stream":
        order = reference_order(samples)
        draws = np.random.RandomState(seed % 2**32).randint(0, n_styles, size=len(order))
        out = [0] * len(samples)
        for pos, i in enumerate(order):
            out[i] = int(draws[pos])
        return out
    if assignment == "hash":
        return [derive_seed(seed, "style", s.rel) % n_styles for s in samples]
    raise ValueError(f"assignment must be 'stream' or 'hash', not {assignment!r}")


def plan_build(content: str | os.PathLike, styles: StyleSet, seed: int,
               assignment: str = "stream", splits: list[str] | None = None,
               scan: FolderScan | None = None) -> BuildPlan:
    scan = scan or scan_image_folder(content)
    samples = [s for s in scan.samples if not splits or s.split in splits]
    style_index = assign_styles(samples, len(styles.paths), seed, assignment)
    items = []
    keys = distinct_stems([s.rel for s in samples])  # a.jpg and a.png: keep both apart
    for s, si, key in zip(samples, style_index, keys):
        items.append(OutputItem(key, s.label, s.class_name,
                                {"content": s.rel, "style": styles.rels[si],
                                 "style_index": si}))
    return BuildPlan(samples, scan.classes, items, style_index, list(scan.skipped))


# ---------------------------------------------------------------------------------------
# Style statistics


def _cache_for(params: StylizedParams, net: StyleNet, device: torch.device) -> StyleStatsCache:
    info = {"encoder_sha256": net.encoder_sha256, "layer": net.model.config.layer,
            "style_size": params.style_size, "min_style_size": params.min_style_size,
            "crop": "centre-square", "resample": "lanczos", "eps": 1e-5,
            "device": device.type, "dtype": "float32", "version": 1}
    root = None if params.cache_dir == "none" else (
        Path(params.cache_dir) if params.cache_dir else default_cache_root())
    return StyleStatsCache(root, info)


def compute_style_stats(paths: list[Path], keys: list[str], net: StyleNet, cache: StyleStatsCache,
                        device: torch.device, pool: WorkerPool, *, style_size: int,
                        min_size: int, batch_size: int, token: CancelToken | None = None,
                        chunk: int = 256, channels_last: bool = False,
                        share: tuple[int, int] = (0, 1)) -> Iterator[Progress]:
    """Encode the styles not yet in ``cache`` and store their (mean, std); yields progress.

    Styles of one size are batched; every ``chunk`` styles a cache chunk is written, so a
    killed run keeps what it computed. ``share = (rank, world)``: this process takes every
    world-th missing style (ranks must see the same cache snapshot).
    """
    from studio.adain.ops import calc_mean_std  # noqa: PLC0415 (engine: loaded when used)

    todo = [(i, p, k) for i, (p, k) in enumerate(zip(paths, keys)) if k not in cache]
    todo = todo[share[0]::share[1]]
    done_keys: list[str] = []
    means: list[torch.Tensor] = []
    stds: list[torch.Tensor] = []
    rejected: dict[str, str] = {}
    by_shape: dict[tuple, list[tuple[str, np.ndarray]]] = collections.defaultdict(list)

    def run(group: list[tuple[str, np.ndarray]]) -> None:
        x = to_tensor([a for _, a in group], channels_last).to(device)
        with torch.inference_mode():
            m, s = calc_mean_std(_run_pairsafe(net.model.encode, x))
        done_keys.extend(k for k, _ in group)
        means.append(m.flatten(1).cpu())
        stds.append(s.flatten(1).cpu())

    def flush() -> None:
        if done_keys or rejected:
            cache.add(list(done_keys), torch.cat(means) if means else np.zeros((0, 0)),
                      torch.cat(stds) if stds else np.zeros((0, 0)), dict(rejected))
        done_keys.clear()
        means.clear()
        stds.clear()
        rejected.clear()

    tasks = ((i, str(p), style_size, min_size) for i, p, _ in todo)
    key_of = {i: k for i, _, k in todo}
    for n, (i, arr, reason) in enumerate(
            pool.imap(_style_task, tasks, window=max(4, 2 * batch_size)), 1):
        if token is not None:
            token.check()
        k = key_of[i]
        if arr is None:
            rejected[k] = reason or "unusable"
        else:
            group = by_shape[arr.shape]
            group.append((k, arr))
            if len(group) >= batch_size:
                run(group)
                by_shape[arr.shape] = []
        if len(done_keys) + len(rejected) >= chunk:
            flush()
        if n % max(1, batch_size) == 0:
            yield Progress(n, len(todo), "style statistics")
    for group in by_shape.values():
        if group:
            run(group)
    flush()
    yield Progress(len(todo), len(todo), "style statistics")


def prepare_style_set(params: StylizedParams, net: StyleNet, device: torch.device,
                      pool: WorkerPool, token: CancelToken | None, compute: bool = True
                      ) -> Iterator[Progress | StyleSet]:
    """Statistics for every style (computing missing ones), then the accepted list."""
    root = Path(params.styles)
    unnamed: list[tuple[str, str]] = []
    paths = list_styles(root, unnamed)
    keys = [style_key(p) for p in paths]

    cache = _cache_for(params, net, device)
    dist = dist_info()
    # ranks split the missing styles only when they share an on-disk cache, and only after
    # all of them have read the same snapshot of it
    shared = dist.world_size > 1 and cache.dir is not None
    if shared:
        barrier()
    if compute:
        opts = dict(style_size=params.style_size, min_size=params.min_style_size,
                    batch_size=params.batch_size, token=token,
                    channels_last=params.channels_last)
        yield from compute_style_stats(paths, keys, net, cache, device, pool, **opts,
                                       share=(dist.rank, dist.world_size) if shared else (0, 1))
        if shared:
            barrier()
            cache.reload()
            # whatever is still missing (another build wrote to the cache meanwhile, or a
            # chunk was unreadable) every rank computes alike
            yield from compute_style_stats(paths, keys, net, cache, device, pool, **opts)
    accepted = [(p, k) for p, k in zip(paths, keys) if k in cache.stats]
    rejected = unnamed + [(str(p), cache.rejected[k]) for p, k in zip(paths, keys)
                          if k in cache.rejected]
    yield StyleSet([p for p, _ in accepted],
                   [p.relative_to(root).as_posix() for p, _ in accepted],
                   [k for _, k in accepted], rejected, cache)


# ---------------------------------------------------------------------------------------
# Dry run: counts, FLOPs and a time estimate


def count_flops(net: StyleNet, size: int, style_size: int) -> dict[str, float]:
    """FLOPs (2 x multiply-adds) of one content encode, one style encode and one decode."""
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415 (heavy: loaded when used)

    model = copy.deepcopy(net.model).to("meta")
    out = {}
    with torch.no_grad():
        for name, fn, shape in (
            ("encode_content", model.encode, (1, 3, size, size)),
            ("encode_style", model.encode, (1, 3, style_size, style_size)),
        ):
            with FlopCounterMode(display=False) as fc:
                feat = fn(torch.zeros(shape, device="meta"))
            out[name] = float(fc.get_total_flops())
            if name == "encode_content":
                content_feat = feat
        with FlopCounterMode(display=False) as fc:
            model.decode(content_feat)
        out["decode"] = float(fc.get_total_flops())
    return out


def _time_per_image(net: StyleNet, device: torch.device, size: int, batch: int) -> float:
    x = torch.rand(max(2, batch), 3, size, size, device=device)
    with torch.inference_mode():
        net.model.decode(net.model.encode(x[:2]))  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        net.model.decode(net.model.encode(x))
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - t0) / x.shape[0]


# ---------------------------------------------------------------------------------------
# The job


def _image_params(params: StylizedParams, net: StyleNet, item: OutputItem) -> dict[str, Any]:
    return {"job": "build-stylized", "content": item.meta["content"],
            "style": item.meta["style"], "seed": params.seed, "alpha": params.alpha,
            "assignment": params.assignment, "model": net.name,
            "encoder_sha256": net.encoder_sha256, "decoder_sha256": net.decoder_sha256,
            "content_size": params.content_size, "crop": params.crop,
            "style_size": params.style_size}


def build_stylized(params: StylizedParams, token: CancelToken | None = None,
                   net: StyleNet | None = None) -> JobGen:
    """Build (or finish) a stylised copy of ``params.content`` in ``params.out``.

    ``net`` overrides the model named in ``params`` (tests, benchmarks).
    """
    token = job_context(token)
    if not 0.0 <= params.alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {params.alpha}")
    if params.batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    for what, folder in (("content", params.content), ("style", params.styles)):
        if str(folder) in ("", "."):
            raise ValueError(f"the {what} folder is not set")
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: {what} folder does not exist")
    check_separate(params.out, {"content": params.content, "styles": params.styles})
    dist = init_distributed()
    device = token.device(params.device)
    if net is None:
        net = load_style_net(params.model, params.vgg, params.decoder)
    net.model.to(device).eval()
    fused = net.model.fuse_relu
    # only the layers that run (the official encoder's children past relu4_1 hold 16 M
    # weights that are never used); converted back afterwards for the caller's model
    used = [*net.model.encoder[:net.model.taps[net.model.config.layer]], net.model.decoder]
    if params.channels_last:
        for m in used:
            m.to(memory_format=torch.channels_last)
        net.model.fuse_relu = True
    try:
        return (yield from _build(params, token, net, dist, device))
    finally:
        if params.channels_last:
            for m in used:
                m.to(memory_format=torch.contiguous_format)
        net.model.fuse_relu = fused


#: Parameters that never change a byte of the output (paths and models enter the
#: fingerprint as file lists and hashes instead).
_NOT_DECIDING = ("out", "content", "styles", "model", "vgg", "decoder", "batch_size",
                 "workers", "device", "cache_dir", "dry_run", "preview_every")


def stylized_fingerprint(params: StylizedParams, net: StyleNet, device: torch.device,
                         scan: FolderScan) -> dict[str, Any]:
    """What decides a stylised build's bytes: settings, both file lists, model hashes."""
    contents = [s.path for s in scan.samples if not params.splits or s.split in params.splits]
    return make_fingerprint(
        "build-stylized", {**_params_dict(params), "device_type": device.type},
        ignore=_NOT_DECIDING,
        inputs={"content": file_list_digest(contents, params.content),
                "styles": file_list_digest(list_styles(params.styles), params.styles)},
        models={"encoder_sha256": net.encoder_sha256, "decoder_sha256": net.decoder_sha256,
                "adain_layer": net.model.config.layer})


def content_budget(params: StylizedParams, net: StyleNet, device: torch.device,
                   workers: int) -> ImageBudget:
    """What one content may cost, measured once before the workers start: its resize in
    RAM (each worker process may hold one) and, without ``--crop``, the network at the
    resized size on the device."""
    ram = free_memory("cpu")
    free = None if ram is None else ram // max(1, workers)
    per_px = 0.0
    if not params.crop:
        side = 256
        per_px = net.model.config.activation_bytes(side) / side ** 2
        if device.type != "cpu":
            dev = free_memory(device)
            free = dev if free is None else (free if dev is None else min(free, dev))
    return ImageBudget(free, per_px, "lower --content-size or crop the image")


def _build(params: StylizedParams, token: CancelToken, net: StyleNet, dist: Any,
           device: torch.device) -> JobGen:
    yield Log(f"model: {net.name} (encoder {net.encoder_sha256[:12]}, "
              f"decoder {net.decoder_sha256[:12]}) on {device}")
    if params.dry_run:
        return (yield from _build_body(params, token, net, dist, device, None, None))
    scan = scan_image_folder(params.content)
    writer = make_writer(params.format, params.out, shard_size=params.shard_size,
                         shards=params.shards, dist=dist)
    with writer.open(stylized_fingerprint(params, net, device, scan),
                     inputs={"content": params.content, "styles": params.styles},
                     overwrite=params.overwrite):
        for note in writer.notes:
            yield Log(note, "warning")
        return (yield from _build_body(params, token, net, dist, device, writer, scan))


def _build_body(params: StylizedParams, token: CancelToken, net: StyleNet, dist: Any,  # noqa: C901 (the overlapped build; split pending)
                device: torch.device, writer: Any, scan: FolderScan | None) -> JobGen:
    from studio.adain.ops import StyleStats, adain_target  # noqa: PLC0415 (engine: loaded when used)

    workers = params.workers if params.workers >= 0 else auto_workers(device)
    with WorkerPool(workers if not params.dry_run else 0, thread=not params.dry_run) as pool:
        styles: StyleSet | None = None
        for ev in prepare_style_set(params, net, device, pool, token,
                                    compute=not params.dry_run):
            if isinstance(ev, StyleSet):
                styles = ev
            else:
                yield ev
        assert styles is not None
        if params.dry_run:
            return (yield from _dry_run(params, net, device, styles))
        yield Log(f"styles: {len(styles.paths)} usable, {len(styles.rejected)} rejected "
                  f"(statistics cached in {styles.cache.dir or 'memory'})")
        plan = plan_build(params.content, styles, params.seed, params.assignment,
                          params.splits or None, scan)
        skips = SkipReport(params.out)
        if dist.is_main:
            for path, reason in plan.skipped:
                writer.error(path, reason, kind="content")
                yield from skips(path, reason)
            for path, reason in styles.rejected:
                writer.error(path, reason, kind="style")
                yield from skips(path, f"style {reason}")
        pending = writer.pending(plan.items)
        total = len(plan.items)
        yield Log(f"contents: {total} in {len(plan.classes)} classes; {len(pending)} to make "
                  f"on rank {dist.rank}/{dist.world_size}; {workers} worker processes")
        mean_all, std_all = styles.cache.gather(styles.keys)
        mean_all, std_all = mean_all.to(device), std_all.to(device)

        B = params.batch_size
        budget = content_budget(params, net, device, workers)
        tasks = ((j, str(plan.samples[idx].path), params.content_size, params.crop,
                  params.min_content_size, budget) for j, (idx, _it) in enumerate(pending))
        out_q: collections.deque = collections.deque()
        batch: list[tuple[int, OutputItem, np.ndarray]] = []
        done = made = failed = 0
        t_start = time.perf_counter()
        is_wds = isinstance(writer, WebDatasetWriter)

        def drain(force: bool = False, limit: int = 2 * B + 2 * max(1, workers)):
            nonlocal done
            while out_q:
                kind, idx, item, payload = out_q[0]
                if kind == "write" and not force and len(out_q) <= limit \
                        and not payload[0].ready():
                    break
                out_q.popleft()
                if kind == "skip":
                    if is_wds:
                        writer.skip(idx)
                else:
                    res, rec = payload
                    png = res.get()
                    if is_wds:
                        writer.write(item, None, record=rec, png=png, index=idx)
                    else:
                        writer.write(item, None, record=rec, png=png)
                done += 1

        def compute(group: list[tuple[int, OutputItem, np.ndarray]]):
            x = to_tensor([a for _, _, a in group], params.channels_last).to(device)
            sidx = torch.tensor([it.meta["style_index"] for _, it, _ in group], device=device)
            stats = StyleStats(mean_all[sidx], std_all[sidx])

            def stylise(xb: torch.Tensor) -> torch.Tensor:
                n = xb.shape[0]
                s = stats if n == len(stats) else StyleStats.cat([stats, stats])
                return net.model.decode(adain_target(net.model.encode_content(xb), s,
                                                     alpha=params.alpha))

            with torch.inference_mode():
                return quantize(_run_pairsafe(stylise, x))

        try:
            window = max(2 * B, 4 * max(1, workers))
            stream = pool.imap(_content_task, tasks, window)
            exhausted = False
            while not exhausted or batch:
                token.check()
                got = next(stream, None)
                if got is None:
                    exhausted = True
                else:
                    j, arr, reason = got
                    idx, item = pending[j]
                    if arr is None:
                        writer.error(str(plan.samples[idx].path), reason, kind="content")
                        yield from skips(plan.samples[idx].path, reason)
                        out_q.append(("skip", idx, item, None))
                        failed += 1
                    else:
                        batch.append((idx, item, arr))
                if len(batch) >= B or (exhausted and batch):
                    imgs = compute(batch)
                    for (idx, item, _), img in zip(batch, imgs):
                        rec = {"content": item.meta["content"], "style": item.meta["style"],
                               "seed": params.seed, "alpha": params.alpha,
                               "encoder_sha256": net.encoder_sha256,
                               "decoder_sha256": net.decoder_sha256}
                        res = pool.submit(_png_task, (img, _image_params(params, net, item)))
                        out_q.append(("write", idx, item, (res, rec)))
                    made += len(batch)
                    if params.preview_every and (made // B) % params.preview_every == 0:
                        yield Preview(imgs[0], batch[0][1].key, made)
                    batch = []
                    rate = made / max(1e-9, time.perf_counter() - t_start)
                    yield Metrics(made, {"images_per_s": rate})
                drain()
                yield Progress(done, len(pending), f"{made} stylised, {failed} failed")
            drain(force=True)
        except BaseException:
            # keep every finished image (a cancelled build leaves only complete files)
            try:
                drain(force=True)
            finally:
                if is_wds:
                    writer.close()
            raise
        if is_wds:
            writer.close()
        elapsed = time.perf_counter() - t_start
        yield Progress(len(pending), len(pending), f"{made} stylised, {failed} failed")
        yield from skips.summary()

    barrier()
    result: dict[str, Any] = {"out": str(params.out), "made": made, "failed": failed,
                              "seconds": elapsed, "rank": dist.rank,
                              "images_per_s": made / elapsed if elapsed > 0 else 0.0}
    if dist.is_main:
        info = {"job": "build-stylized", "params": _params_dict(params),
                "model": net.name, "encoder_sha256": net.encoder_sha256,
                "decoder_sha256": net.decoder_sha256, "num_styles": len(styles.paths),
                "num_styles_rejected": len(styles.rejected)}
        summary = writer.finalize(info, plan.classes)
        result.update(num_items=summary["num_items"], num_errors=summary["num_errors"])
        yield Log(f"done: {summary['num_items']} images, {summary['num_errors']} errors "
                  f"-> {params.out}")
    barrier()
    return result


def _dry_run(params: StylizedParams, net: StyleNet, device: torch.device, styles: StyleSet
             ) -> JobGen:
    # styles not encoded yet count as usable until their statistics say otherwise
    cache = styles.cache
    root = Path(params.styles)
    listed = list_styles(root)
    provisional = [p for p in listed if style_key(p) not in cache.rejected]
    n_new_styles = sum(style_key(p) not in cache for p in listed)
    prov = StyleSet(provisional, [p.relative_to(root).as_posix() for p in provisional],
                    [], styles.rejected)
    plan = plan_build(params.content, prov, params.seed, params.assignment,
                      params.splits or None)
    n = len(plan.items)
    todo = n
    if Path(params.out).is_dir():
        writer = make_writer(params.format, params.out, shard_size=params.shard_size,
                             shards=params.shards, dist=DistInfo()).survey()
        todo = len(writer.pending(plan.items))
    size = params.crop or params.content_size
    flops = count_flops(net, size, params.style_size or size)
    total = (flops["encode_content"] + flops["decode"]) * todo \
        + flops["encode_style"] * n_new_styles
    per_img = _time_per_image(net, device, size, params.batch_size)
    world = dist_info().world_size
    splits = collections.Counter(s.split or "-" for s in plan.samples)
    info = {
        "contents": n, "to_make": todo, "classes": len(plan.classes),
        "per_split": dict(splits), "styles_listed": len(listed),
        "styles_usable": len(provisional), "styles_rejected": len(styles.rejected),
        "styles_to_encode": n_new_styles, "skipped_inputs": len(plan.skipped),
        "flops_per_image": flops, "flops_total": total, "seconds_per_image": per_img,
        "estimated_seconds": per_img * todo / world, "device": str(device),
        "model": net.name, "world_size": world,
    }
    yield Log(f"plan: {n} contents ({', '.join(f'{k}: {v}' for k, v in sorted(splits.items()))})"
              f" in {len(plan.classes)} classes, {todo} still to make; "
              f"{len(plan.skipped)} inputs skipped")
    yield Log(f"styles: {len(listed)} listed, {len(styles.rejected)} known rejected, "
              f"{n_new_styles} still to encode")
    yield Log(f"FLOPs per image: encode {flops['encode_content'] / 1e9:.2f} G + decode "
              f"{flops['decode'] / 1e9:.2f} G (+ style encode {flops['encode_style'] / 1e9:.2f} "
              f"G once per style); total {total / 1e12:.2f} TFLOP")
    yield Log(f"estimated time on {device} x{world}: {per_img:.3f} s/image -> "
              f"{info['estimated_seconds'] / 3600:.2f} h for {todo} images")
    return info


__all__ = [
    "StylizedParams", "SIN_PRESET", "TOY_PRESET", "PRESETS", "SIN_SEED", "StyleNet", "StyleSet", "BuildPlan",
    "build_stylized", "load_style_net", "plan_build", "assign_styles", "reference_order",
    "prepare_style", "prepare_content", "to_tensor", "quantize", "count_flops",
    "WorkerPool", "compute_style_stats", "prepare_style_set",
]
