"""`studio bench build-stylized`: the reference's way versus the builder, in one run.

The baseline does what rgeirhos/Stylized-ImageNet's ``preprocess_imagenet.py`` does per
image: decode and preprocess the content, load its (already prepared) style image,
encode both, AdaIN, decode, quantise, save a PNG — one image at a time, nothing cached,
nothing overlapped. The builder then makes the same dataset from a cold style cache with
1, 2, ... worker processes. Both produce the same pixels (checked and printed).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio.core.jobs import drive


def bench_picture(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A smooth random picture with noise (JPEG-compresses like a photo, not like noise)."""
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.integers(-20, 20, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, int) + noise, 0, 255).astype(np.uint8))


def make_bench_data(root: Path, contents: int, styles: int, size: int, seed: int = 0) -> None:
    """Smooth random pictures: contents a bit larger than ``size`` (so Resize works),
    styles larger than the style size (so they are cropped and shrunk)."""
    rng = np.random.default_rng(seed)

    def picture(w: int, h: int) -> Image.Image:
        return bench_picture(rng, w, h)

    big = size * 256 // 224
    for i in range(contents):
        d = root / "content" / "train" / f"class{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        picture(big + 8 * (i % 5), big + 16 + 4 * (i % 3)).save(d / f"img{i:04d}.jpg", quality=90)
    (root / "styles").mkdir(parents=True, exist_ok=True)
    for j in range(styles):
        picture(size + 40 + 8 * j, size + 20).save(root / "styles" / f"style{j:03d}.png")


def baseline(content_root: Path, prepared_styles: list[Path], out: Path, model: Any,
             device: torch.device, seed: int, content_size: int, crop: int) -> int:
    """One image at a time, style re-encoded for every content (the reference loop)."""
    from torchvision import transforms

    from studio.adain.ops import adain
    from studio.core.images import quantize
    from studio.datasets.folders import scan_image_folder
    from studio.texture_shape.stylized import assign_styles

    scan = scan_image_folder(content_root)
    choice = assign_styles(scan.samples, len(prepared_styles), seed, "stream")
    tf = transforms.Compose([transforms.Resize(content_size), transforms.CenterCrop(crop),
                             transforms.ToTensor()])
    to_t = transforms.ToTensor()
    n = 0
    with torch.inference_mode():
        for s, si in zip(scan.samples, choice):
            c = tf(Image.open(s.path).convert("RGB")).unsqueeze(0).to(device)
            st = to_t(Image.open(prepared_styles[si]).convert("RGB")).unsqueeze(0).to(device)
            y = model.decode(adain(model.encode_content(c), model.encode(st)))
            target = out / Path(s.stem_rel + ".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(quantize(y)[0]).save(target)
            n += 1
    return n


def prepare_styles(styles_dir: Path, out: Path, size: int) -> list[Path]:
    """The reference's separate style preprocessing step (not timed): square-cropped,
    shrunk copies of every style, in sorted order."""
    from studio.texture_shape.stylized import prepare_style

    out.mkdir(parents=True, exist_ok=True)
    prepared = []
    for p in sorted(styles_dir.glob("*.png")):
        Image.fromarray(prepare_style(p, size, size)).save(out / p.name)
        prepared.append(out / p.name)
    return prepared


def _net(model: str):
    from studio.adain.model import AdaINModel
    from studio.texture_shape.stylized import StyleNet, load_style_net

    if model == "random":
        torch.manual_seed(0)
        return StyleNet.from_model(AdaINModel(), "random-official-layout")
    return load_style_net(model)


def run_bench(contents: int = 64, styles: int = 16, size: int = 224, model: str = "random",
              workers: list[int] | None = None, batch_size: int = 8, device: str = "auto",
              out: str | None = None, seed: int = 0, quiet: bool = False,
              repeats: int = 1) -> dict[str, Any]:
    """Measure both ways on the same data (best of ``repeats`` each); return numbers and
    a printable report."""
    from studio.core.devices import resolve_device
    from studio.texture_shape.stylized import StylizedParams, build_stylized

    workers = workers if workers is not None else [1, 2]
    dev = resolve_device(device)
    net = _net(model)
    net.model.to(dev).eval()
    root = Path(out) if out else Path(tempfile.mkdtemp(prefix="studio-bench-"))
    content_size = size * 256 // 224
    try:
        make_bench_data(root, contents, styles, size, seed)
        prepared = prepare_styles(root / "styles", root / "styles-prepared", size)
        # warm-up (thread pools, allocator) so neither side pays it
        with torch.inference_mode():
            net.model.decode(net.model.encode(torch.rand(2, 3, size, size, device=dev)))

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def run_baseline() -> tuple[int, float]:
            t0 = time.perf_counter()
            n = baseline(root / "content", prepared, root / "out-baseline", net.model, dev,
                         seed, content_size, size)
            sync()
            return n, time.perf_counter() - t0

        def run_builder(w: int) -> tuple[dict, float, Path]:
            outdir, cache = root / f"out-builder-w{w}", root / f"cache-w{w}"
            for d in (outdir, cache):  # every repeat starts cold: no outputs, no cache
                shutil.rmtree(d, ignore_errors=True)
            params = StylizedParams(content=root / "content", styles=root / "styles",
                                    out=outdir, content_size=content_size, crop=size,
                                    style_size=size, min_style_size=size, seed=seed,
                                    batch_size=batch_size, workers=w, device=str(dev),
                                    cache_dir=str(cache))
            t0 = time.perf_counter()
            res = drive(build_stylized(params, net=net))
            sync()
            return res, time.perf_counter() - t0, outdir

        # repeats interleave baseline and builder, so a change in machine load hits both;
        # the best time of each is reported
        t_base, t_build, made = float("inf"), {w: float("inf") for w in workers}, {}
        for _ in range(max(1, repeats)):
            n, t = run_baseline()
            t_base = min(t_base, t)
            for w in workers:
                res, t, outdir = run_builder(w)
                t_build[w], made[w] = min(t_build[w], t), (res["made"], outdir)
        rows = [("baseline (sequential, reference loop)", n / t_base, t_base, 1.0, None)]
        for w in workers:
            m, outdir = made[w]
            t = t_build[w]
            rows.append((f"builder, {w} worker process{'es' if w != 1 else ''}, batch "
                         f"{batch_size}, cold style cache", m / t, t, (m / t) / (n / t_base),
                         _max_diff(root / "out-baseline", outdir)))
    finally:
        if not out:
            shutil.rmtree(root, ignore_errors=True)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}")
    load = os.getloadavg()
    lines = [f"studio bench build-stylized: {contents} contents, {styles} styles, {size} px, "
             f"model {net.name}, best of {max(1, repeats)}",
             f"machine: {machine}, load average after {load[0]:.2f}"]
    for name, ips, t, ratio, diff in rows:
        extra = "" if diff is None else f"  (max pixel difference vs baseline: {diff})"
        lines.append(f"  {name:58s} {ips:7.3f} img/s  {t:7.1f} s  x{ratio:.2f}{extra}")
    by_w = dict(zip(workers, rows[1:]))
    if 1 in by_w and len(by_w) > 1:
        top = max(by_w)
        lines.append(f"  scaling 1 -> {top} worker processes: x{by_w[top][1] / by_w[1][1]:.2f}")
    return {"text": "\n".join(lines), "machine": machine,
            "rows": [{"name": r[0], "images_per_s": r[1], "seconds": r[2], "ratio": r[3],
                      "max_pixel_diff": r[4]} for r in rows]}


def _max_diff(a: Path, b: Path, pattern: str = "*.png") -> int:
    """Largest pixel difference between the images under ``a`` and their namesakes under
    ``b`` (JPEGs compared decoded)."""
    worst = 0
    for p in sorted(a.rglob(pattern)):
        q = b / p.relative_to(a)
        x = np.asarray(Image.open(p), dtype=int)
        y = np.asarray(Image.open(q), dtype=int)
        worst = max(worst, int(np.abs(x - y).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    """``python -m studio.texture_shape.stylized_bench baseline ...``: the sequential
    reference loop as its own process, start-up included (what `studio bench e2e` times)."""
    import argparse

    t_start = time.perf_counter()
    p = argparse.ArgumentParser(prog="python -m studio.texture_shape.stylized_bench")
    p.add_argument("what", choices=["baseline"])
    p.add_argument("--content", required=True, help="ImageFolder of contents")
    p.add_argument("--prepared-styles", required=True, help="folder of prepared styles")
    p.add_argument("--out", required=True)
    p.add_argument("--vgg", required=True)
    p.add_argument("--decoder", required=True)
    p.add_argument("--content-size", type=int, default=256)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    from studio.adain.model import AdaINModel
    from studio.core.devices import resolve_device

    dev = resolve_device(a.device)
    model = AdaINModel.from_files(a.vgg, a.decoder).to(dev).eval()
    styles = sorted(Path(a.prepared_styles).glob("*.png"))
    t_loop = time.perf_counter()
    n = baseline(Path(a.content), styles, Path(a.out), model, dev, a.seed, a.content_size,
                 a.crop)
    t_end = time.perf_counter()
    print(f"reference sequential loop: {n} images, start-up {t_loop - t_start:.2f} s, "
          f"loop {t_end - t_loop:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
