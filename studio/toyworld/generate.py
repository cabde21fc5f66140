"""The toy world: procedural shape x texture images, a small honest model of texture bias.

Each image shows one *shape* (the label) filled with one *texture* on a plain
background. With probability ``shape_texture_correlation`` the texture is the shape's
own ("circle" wears stripes, "square" checks, ...); otherwise it is one of the others.
When the correlation is close to 1, texture alone predicts the label and a CNN takes
that shortcut — as ImageNet CNNs do (Geirhos et al. 2019).

The kinds of picture share one generator:

- ``scene``   – shape filled with texture on a background (training / test data);
- ``shape``   – the shape's silhouette in a flat neutral tone (content for cue-conflict);
- ``texture`` – a full-frame texture patch (style for cue-conflict), filed under the
  category whose own texture it is;
- ``pattern`` – a texture's pattern in two random colours, filed like ``texture``: only the
  pattern names the category (training data of a colour-blind pattern judge);
- ``shuffled`` – the shape and its background each wear an independent random appearance
  (any texture in random colours, a flat colour or a grey tone), so only the outline
  carries the label: training data of a texture-blind shape classifier that must read
  shapes in stylised images, where the background is textured too;
- ``scene_texture`` – a full-frame patch of the texture that the ``scene`` of the same
  seed, correlation and file name wears (another phase and period): with ``shape`` and
  ``scene`` of that seed, whose silhouette, pose and background coincide, it makes
  (content, style exemplar, target) triplets for exemplar-paired translation training.

Every image is drawn from its own RNG seeded by (seed, split, class, index), so the same
arguments give the same bytes on any machine and in any order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from studio.core.images import encode_png
from studio.core.jobs import (
    CancelToken,
    JobGen,
    Log,
    Preview,
    Progress,
    job_context,
    params_dict,
)
from studio.core.seeding import derive_seed
from studio.datasets.writers import ImageFolderWriter, OutputItem, make_fingerprint
from studio.toyworld.params import ToyWorldParams

SHAPES = ("circle", "square", "triangle", "star", "cross",
          "hexagon", "ring", "crescent", "arrow", "heart")
TEXTURES = ("stripes", "checks", "dots", "waves", "diagonals",
            "grid", "zigzag", "bricks", "speckle", "rings")
#: Texture i is the "own" texture of shape i (the shortcut the training set offers).
OWN_TEXTURE = dict(zip(SHAPES, TEXTURES))

# Two colours per texture, chosen far apart so a palette alone also identifies it.
PALETTES = {
    "stripes": ((220, 40, 40), (250, 210, 60)),
    "checks": ((30, 60, 200), (240, 240, 240)),
    "dots": ((20, 150, 60), (250, 170, 190)),
    "waves": ((120, 40, 170), (140, 230, 230)),
    "diagonals": ((240, 120, 20), (40, 40, 40)),
    "grid": ((10, 120, 130), (250, 240, 200)),
    "zigzag": ((200, 30, 140), (190, 240, 120)),
    "bricks": ((150, 70, 30), (230, 200, 170)),
    "speckle": ((60, 60, 60), (120, 200, 250)),
    "rings": ((250, 230, 0), (80, 20, 120)),
}


# --------------------------------------------------------------------------------------
# Shapes: outlines as polygons (unit square coordinates, centred at 0)


def _regular(n: int, r: float = 1.0, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _star(points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    out = []
    for k in range(2 * points):
        r = 1.0 if k % 2 == 0 else inner
        a = -math.pi / 2 + math.pi * k / points
        out.append((r * math.cos(a), r * math.sin(a)))
    return out


def _heart(n: int = 48) -> list[tuple[float, float]]:
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 17.0, -(y + 2.5) / 17.0))
    return pts


_POLYGONS = {
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": _regular(3, 1.0),
    "star": _star(),
    "cross": [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1),
              (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)],
    "hexagon": _regular(6, 0.95, 0.0),
    "arrow": [(-1, -0.25), (0.15, -0.25), (0.15, -0.7), (1, 0), (0.15, 0.7), (0.15, 0.25),
              (-1, 0.25)],
    "heart": _heart(),
}


def shape_mask(shape: str, size: int, rng: np.random.Generator, *, supersample: int = 4
               ) -> np.ndarray:
    """A float mask in [0, 1] (antialiased) of ``shape`` at a random pose.

    Scale 55-80 % of the frame, rotation within +-20 degrees (never enough to turn a
    square into a diamond), centre jittered by up to 8 %.
    """
    s = size * supersample
    scale = rng.uniform(0.55, 0.8) * s / 2
    angle = math.radians(rng.uniform(-20, 20))
    cx = s / 2 + rng.uniform(-0.08, 0.08) * s
    cy = s / 2 + rng.uniform(-0.08, 0.08) * s
    ca, sa = math.cos(angle), math.sin(angle)

    def tf(pts):
        return [(cx + scale * (x * ca - y * sa), cy + scale * (x * sa + y * ca)) for x, y in pts]

    img = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse([cx - scale * 0.9, cy - scale * 0.9, cx + scale * 0.9, cy + scale * 0.9],
                     fill=255)
    elif shape == "ring":
        draw.ellipse([cx - scale, cy - scale, cx + scale, cy + scale], fill=255)
        r = scale * 0.55
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=0)
    elif shape == "crescent":
        draw.ellipse([cx - scale, cy - scale, cx + scale, cy + scale], fill=255)
        ox, oy = tf([(0.45, -0.25)])[0]
        r = scale * 0.85
        draw.ellipse([ox - r, oy - r, ox + r, oy + r], fill=0)
    else:
        draw.polygon(tf(_POLYGONS[shape]), fill=255)
    img = img.resize((size, size), Image.BOX)
    return np.asarray(img, dtype=np.float32) / 255.0


# --------------------------------------------------------------------------------------
# Textures: two-colour patterns from coordinate grids


def texture_pattern(texture: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A pattern in [0, 1] (0 = background colour, 1 = foreground colour).

    Period and phase vary per image so a network must learn the texture, not a template;
    periods scale with the image size so the texture looks the same at 32 and 128 px.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    p = size / rng.uniform(5.0, 7.0)  # period in pixels
    ph = rng.uniform(0, 2 * math.pi)
    ox, oy = rng.uniform(0, p, size=2)
    if texture == "stripes":
        v = np.sin(2 * math.pi * yy / p + ph) > 0
    elif texture == "checks":
        v = (np.floor((xx + ox) / (p / 1.4)) + np.floor((yy + oy) / (p / 1.4))) % 2 == 0
    elif texture == "dots":
        q = p / 1.3
        dx = (xx + ox) % q - q / 2
        dy = (yy + oy) % q - q / 2
        v = dx * dx + dy * dy < (q * 0.3) ** 2
    elif texture == "waves":
        v = np.sin(2 * math.pi * yy / p + 1.5 * np.sin(2 * math.pi * xx / (p * 1.5)) + ph) > 0
    elif texture == "diagonals":
        v = np.sin(2 * math.pi * (xx + yy) / (p * 1.2) + ph) > 0
    elif texture == "grid":
        q = p / 1.2
        w = max(1.0, q * 0.22)
        v = ((xx + ox) % q < w) | ((yy + oy) % q < w)
    elif texture == "zigzag":
        tri = np.abs(((xx + ox) / (p / 2)) % 2 - 1) * (p / 2.5)
        v = np.sin(2 * math.pi * (yy + tri) / p + ph) > 0
    elif texture == "bricks":
        h = p / 2
        row = np.floor((yy + oy) / h)
        shift = (row % 2) * p / 2
        mortar = max(1.0, h * 0.2)
        v = ~(((yy + oy) % h < mortar) | ((xx + ox + shift) % p < mortar))
    elif texture == "speckle":
        cell = max(1, int(round(size / 24)))
        n = (size + cell - 1) // cell
        v = np.kron(rng.random((n, n)) < 0.35, np.ones((cell, cell)))[:size, :size] > 0
    elif texture == "rings":
        cx, cy = rng.uniform(0, size, size=2)
        v = np.sin(2 * math.pi * np.hypot(xx - cx, yy - cy) / p + ph) > 0
    else:
        raise ValueError(f"unknown texture {texture!r}")
    return v.astype(np.float32)


def texture_rgb(texture: str, size: int, rng: np.random.Generator,
                palette: str | None = None) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] of a texture in its palette (colours jittered), or in
    another texture's ``palette`` (the cue-conflict of pattern and colour)."""
    pat = texture_pattern(texture, size, rng)[..., None]
    fg, bg = (np.array(c, np.float32) / 255.0 for c in PALETTES[palette or texture])
    fg = np.clip(fg + rng.normal(0, 0.04, 3), 0, 1)
    bg = np.clip(bg + rng.normal(0, 0.04, 3), 0, 1)
    return pat * fg + (1 - pat) * bg


def recoloured_pattern(texture: str, size: int, rng: np.random.Generator,
                       min_contrast: float = 0.0) -> np.ndarray:
    """(H, W, 3) float RGB: the texture's pattern in two random colours, so that only the
    pattern, not the palette, says which texture it is (colours ``min_contrast`` apart in
    at least one channel)."""
    pat = texture_pattern(texture, size, rng)[..., None]
    a, b = rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
    while float(np.abs(a - b).max()) < min_contrast:
        b = rng.random(3).astype(np.float32)
    return pat * a + (1 - pat) * b


def random_appearance(size: int, rng: np.random.Generator, p_texture: float = 0.5
                      ) -> np.ndarray:
    """(H, W, 3) float RGB: one of the textures in two random colours (``p_texture`` of
    the time), else a flat random colour or grey tone — an appearance that says nothing of
    the class."""
    u = rng.random()
    if u < p_texture:
        return recoloured_pattern(TEXTURES[int(rng.integers(len(TEXTURES)))], size, rng)
    tone = rng.random(3) if rng.random() < 0.6 else np.full(3, rng.uniform(0.1, 0.9))
    return np.broadcast_to(tone.astype(np.float32), (size, size, 3)).copy()


def _distinct(a: np.ndarray, b: np.ndarray) -> bool:
    """Foreground and background differ visibly (mean colour or pattern)."""
    return float(np.abs(a.mean((0, 1)) - b.mean((0, 1))).max()) > 0.12 or \
        float(np.abs(a.std((0, 1)) - b.std((0, 1))).max()) > 0.12


def render(kind: str, shape: str | None, texture: str | None, size: int,
           rng: np.random.Generator) -> np.ndarray:
    """One toy image as (H, W, 3) uint8."""
    if kind in ("texture", "scene_texture"):
        img = texture_rgb(texture, size, rng)
    elif kind == "pattern":
        img = recoloured_pattern(texture, size, rng, min_contrast=0.3)
    elif kind == "shuffled":
        mask = shape_mask(shape, size, rng)[..., None]
        # textured backgrounds a quarter of the time: a small net learns to read outlines
        # on flat ground first (what a stylised silhouette mostly is), then on patterns
        fill, bg = random_appearance(size, rng), random_appearance(size, rng, 0.25)
        while not _distinct(fill, bg):
            bg = random_appearance(size, rng, 0.25)
        img = mask * fill + (1 - mask) * bg + rng.normal(0, 0.015, (size, size, 3))
    else:
        bg_tone = rng.uniform(0.35, 0.65)
        bg = np.full((size, size, 3), bg_tone, np.float32) + rng.normal(0, 0.015, (size, size, 3))
        mask = shape_mask(shape, size, rng)[..., None]
        if kind == "shape":
            # flat tone clearly apart from the background, plus a dark outline
            tone = bg_tone + (0.3 if bg_tone < 0.5 else -0.3)
            fill = np.full((size, size, 3), tone, np.float32)
        elif kind == "scene":
            fill = texture_rgb(texture, size, rng)
        else:
            raise ValueError(f"unknown kind {kind!r}: scene, shape, texture, pattern, "
                             "shuffled or scene_texture")
        img = mask * fill + (1 - mask) * bg
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# Dataset generation


@dataclass(frozen=True)
class ToyItem:
    split: str | None
    category: str
    index: int
    shape: str | None
    texture: str | None
    key: str


def plan(params: ToyWorldParams) -> list[ToyItem]:
    """The sorted list of images the parameters describe (labels and textures decided)."""
    if not 32 <= params.size <= 128:
        raise ValueError(f"size must be between 32 and 128 px, got {params.size}")
    if not 0.0 <= params.shape_texture_correlation <= 1.0:
        raise ValueError("shape_texture_correlation must be in [0, 1]")
    if not 2 <= params.num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be in 2..{len(SHAPES)}")
    if params.label == "texture" and params.kind in ("shape", "shuffled"):
        raise ValueError(f"--file-by texture needs images that wear a texture; {params.kind} "
                         "images are filed by their shape")
    cats = SHAPES[: params.num_classes]
    textures = TEXTURES[: params.num_classes]
    splits = params.splits or [None]
    items: list[ToyItem] = []
    for si, split in enumerate(splits):
        n = params.per_class if si == 0 or params.test_per_class is None else params.test_per_class
        for ci, cat in enumerate(cats):
            for i in range(n):
                rng = np.random.default_rng(derive_seed(params.seed, "plan", split, cat, i))
                if params.kind in ("texture", "pattern"):
                    shape, texture = None, textures[ci]
                elif params.kind in ("shape", "shuffled"):
                    shape, texture = cat, None
                elif rng.random() < params.shape_texture_correlation:
                    shape, texture = cat, textures[ci]
                else:
                    others = [t for t in textures if t != textures[ci]]
                    shape, texture = cat, others[int(rng.integers(len(others)))]
                prefix = f"{split}/" if split else ""
                folder = cat
                if params.label == "texture" and shape is not None:
                    folder = cats[textures.index(texture)]  # the texture's own category
                items.append(ToyItem(split, folder, i, shape, texture,
                                     f"{prefix}{folder}/{cat}{i:05d}"))
    return items


def draw(params: ToyWorldParams, item: ToyItem) -> np.ndarray:
    """The image of one planned item (its own RNG: order and process do not matter)."""
    rng = np.random.default_rng(derive_seed(params.seed, "draw", item.key))
    return render(params.kind, item.shape, item.texture, params.size, rng)


def iter_images(params: ToyWorldParams) -> Iterator[tuple[ToyItem, np.ndarray]]:
    """(item, uint8 image) for every planned image, without writing anything."""
    for item in plan(params):
        yield item, draw(params, item)


def _item_meta(params: ToyWorldParams, item: ToyItem) -> dict:
    return {"shape": item.shape, "texture": item.texture, "split": item.split,
            "seed": params.seed}


def _draw_png(args: tuple[ToyWorldParams, ToyItem]) -> bytes:
    params, item = args
    return encode_png(draw(params, item), {"toyworld": _item_meta(params, item)})


def generate_job(params: ToyWorldParams, token: CancelToken | None = None) -> JobGen:
    """Write the toy world as ImageFolder + manifest; resumable like every builder."""
    token = job_context(token)
    items = plan(params)
    cats = list(SHAPES[: params.num_classes])
    label = {c: i for i, c in enumerate(cats)}
    fingerprint = make_fingerprint("toyworld", params_dict(params), ignore=("out", "workers"))
    writer = ImageFolderWriter(params.out).open(fingerprint, overwrite=params.overwrite)
    for note in writer.notes:
        yield Log(note, "warning")
    outs = [OutputItem(it.key, label[it.category], it.category) for it in items]
    todo = writer.pending(outs)
    by_key = {it.key: it for it in items}
    yield Log(f"toy world: {len(items)} {params.kind} images at {params.size}px "
              f"({len(items) - len(todo)} already present) -> {params.out}")
    workers = params.workers or os.cpu_count() or 1
    jobs = [(params, by_key[out.key]) for _, out in todo]
    pool = ProcessPoolExecutor(workers) if workers > 1 and len(todo) > 256 else None
    try:
        pngs = pool.map(_draw_png, jobs, chunksize=64) if pool else map(_draw_png, jobs)
        for n, ((_, out), png) in enumerate(zip(todo, pngs)):
            token.check()
            item = by_key[out.key]
            writer.write(out, None, png=png, record=_item_meta(params, item))
            if n % 200 == 0 or n + 1 == len(todo):
                yield Progress(n + 1, len(todo), "drawing")
            if n % 500 == 0:
                yield Preview(draw(params, item), f"{item.category} / {item.texture}", n)
    except BaseException:
        writer.release()  # cancelled or failed: the folder is free for the resume
        raise
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    summary = writer.finalize({"generator": "toyworld", "params": {
        "per_class": params.per_class, "size": params.size, "seed": params.seed,
        "shape_texture_correlation": params.shape_texture_correlation, "kind": params.kind,
        "splits": params.splits, "test_per_class": params.test_per_class, "label": params.label,
        "num_classes": params.num_classes}, "textures": dict(zip(cats, TEXTURES))}, cats)
    return summary
