"""Does a toy style-transfer model keep the content and take the style? Measured, not eyeballed.

Three classifiers the project trains judge every stylised image:

- a **texture-blind shape classifier** (``classifier_shape.pth``: ToyVGG trained on
  ``--kind shuffled`` images, where the shape and its background each wear an independent
  random appearance — texture, flat colour or grey — so only the outline carries the
  label) — did the output keep the content's silhouette? (The earlier judge,
  ``classifier_shuffled.pth``, had seen only plain grey backgrounds and read 17 % of flat
  silhouettes: a stylised output, textured or tinted all over, was outside its world.)
- a **shape-blind texture classifier** (``classifier_texture.pth``: ToyVGG trained on
  full-frame texture patches and on randomly textured shapes on a plain ground, each
  filed under the category whose own texture it wears) — did the output take the style's
  texture? Each toy texture has its own palette, and
  this judge reads mostly the palette (``judge_reference``'s ``texture_follows_palette``),
  so it also says "taken" when only the colours were;
- a **colour-blind pattern classifier** (``classifier_pattern.pth``: the same, trained on
  ``--kind pattern`` patches, each texture's pattern in random colours) — did the output
  take the style's *pattern*, the part of a texture that is not its colours?

The fixed evaluation set: one silhouette per shape class x one texture patch per texture
class, drawn procedurally from fixed seeds (100 pairs at 64 px), so the numbers are
reproducible byte for byte and cheap (seconds on a CPU). Issue 19's targets: toy AdaIN at
alpha 1 — shape >= 0.90, texture >= 0.80; toy TSIT — shape >= 0.90, texture >= 0.70.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio.core.checkpoints import resources_dir
from studio.core.images import image_grid
from studio.toyworld.generate import SHAPES, TEXTURES, ToyWorldParams, draw, plan, texture_rgb
from studio.toyworld.models import normalize

#: Seeds of the fixed evaluation set (not used by any shipped model's training data).
EVAL_SEEDS = {"shape": 901, "texture": 902, "scene": 903, "swap": 904}
SHAPE_CLASSIFIER = "classifier_shape.pth"
TEXTURE_CLASSIFIER = "classifier_texture.pth"
PATTERN_CLASSIFIER = "classifier_pattern.pth"
Judges = tuple[Any, Any, Any]


def eval_pairs(per_class: int = 1, size: int = 64) -> tuple[torch.Tensor, torch.Tensor,
                                                            torch.Tensor, torch.Tensor]:
    """(contents, content labels, styles, style labels): silhouettes and texture patches
    in [0, 1], ``per_class`` of each of the 10 classes, labels in SHAPES order."""
    c, cl = drawn(ToyWorldParams(Path("unused"), per_class=per_class, size=size,
                                 seed=EVAL_SEEDS["shape"], kind="shape"))
    s, sl = drawn(ToyWorldParams(Path("unused"), per_class=per_class, size=size,
                                 seed=EVAL_SEEDS["texture"], kind="texture"))
    return c, cl, s, sl


def drawn(p: ToyWorldParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image the parameters plan, as (N, 3, H, W) in [0, 1], and its labels."""
    items = plan(p)
    imgs = np.stack([draw(p, it) for it in items]).astype(np.float32) / 255.0
    return (torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(),
            torch.tensor([SHAPES.index(it.category) for it in items]))


def load_judges(resources: str | Path | None = None) -> Judges:
    """(shape, texture, pattern classifier) from ``studio/resources/toy`` (eval mode)."""
    from studio.adain.toy import load_classifier  # noqa: PLC0415 (engine: loaded when used)

    root = Path(resources) if resources else resources_dir() / "toy"
    return tuple(load_classifier(root / name)  # type: ignore[return-value]
                 for name in (SHAPE_CLASSIFIER, TEXTURE_CLASSIFIER, PATTERN_CLASSIFIER))


@torch.no_grad()
def predict(classifier: Any, images01: torch.Tensor, batch: int = 100) -> torch.Tensor:
    """Top-1 class of each [0, 1] image (the toy normalisation applied here)."""
    preds = [classifier(normalize(images01[i:i + batch].clamp(0, 1))).argmax(1)
             for i in range(0, len(images01), batch)]
    return torch.cat(preds)


def as_saved(images01: torch.Tensor) -> torch.Tensor:
    """Images as they would be saved (clamped, 8 bit): what a user's tools would judge."""
    return (images01.clamp(0, 1) * 255).round() / 255


def judge(outputs01: torch.Tensor, content_labels: torch.Tensor, style_labels: torch.Tensor,
          judges: Judges) -> dict[str, float]:
    """Shares of outputs whose shape / texture / pattern the judges read as intended."""
    outputs01 = as_saved(outputs01)
    shape_clf, texture_clf, pattern_clf = judges

    def share(clf: Any, labels: torch.Tensor) -> float:
        return round((predict(clf, outputs01) == labels).float().mean().item(), 4)

    return {"shape_accuracy": share(shape_clf, content_labels),
            "texture_accuracy": share(texture_clf, style_labels),
            "pattern_accuracy": share(pattern_clf, style_labels),
            "n": int(len(outputs01)), "n_conflict": int((content_labels != style_labels).sum())}


def all_pairs(contents: torch.Tensor, c_labels: torch.Tensor, styles: torch.Tensor,
              s_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                               torch.Tensor]:
    """Every content with every style (content-major)."""
    ci = torch.arange(len(contents)).repeat_interleave(len(styles))
    si = torch.arange(len(styles)).repeat(len(contents))
    return contents[ci], c_labels[ci], styles[si], s_labels[si]


@torch.no_grad()
def adain_quality(model: Any = None, alpha: float = 1.0, judges: Judges | None = None,
                  per_class: int = 1) -> dict[str, float]:
    """The toy AdaIN (default: the shipped one) on the fixed set, judged by the judges."""
    from studio.adain.model import AdaINModel  # noqa: PLC0415 (engine: loaded when used)

    model = (model or AdaINModel.load_toy()).eval()
    c, cl, s, sl = all_pairs(*eval_pairs(per_class))
    out = torch.cat([model.stylize(c[i:i + 50], s[i:i + 50], alpha=alpha)
                     for i in range(0, len(c), 50)])
    return {"alpha": alpha, **judge(out, cl, sl, judges or load_judges())}


@torch.no_grad()
def adain_scene_quality(model: Any = None, judges: Judges | None = None) -> dict[str, float]:
    """The toy AdaIN on textured contents, the closer analogue of Geirhos et al.'s
    photographs: one scene per shape class (random textures, held-out seed) x each texture
    patch of another texture. ``content_pattern_kept``: the pattern judge still names the
    content's own pattern."""
    from studio.adain.model import AdaINModel  # noqa: PLC0415 (engine: loaded when used)

    model = (model or AdaINModel.load_toy()).eval()
    p = ToyWorldParams(Path("unused"), per_class=1, size=64, seed=EVAL_SEEDS["scene"],
                       kind="scene", shape_texture_correlation=0.1)
    scenes, labels = drawn(p)
    _, _, styles, s_labels = eval_pairs()
    c, cl, s, sl = all_pairs(scenes, labels, styles, s_labels)
    c_tex = torch.tensor([TEXTURES.index(it.texture) for it in plan(p)]
                         ).repeat_interleave(len(styles))
    keep = c_tex != sl
    judges = judges or load_judges()
    out = model.stylize(c[keep], s[keep], alpha=1.0)
    r = judge(out, cl[keep], sl[keep], judges)
    kept = (predict(judges[2], as_saved(out)) == c_tex[keep]).float().mean().item()
    return {**r, "content_pattern_kept": round(kept, 4)}


@torch.no_grad()
def tsit_quality(translator: Any = None, judges: Judges | None = None,
                 per_class: int = 1) -> dict[str, float]:
    """The toy TSIT (default: the shipped one) on the fixed set, judged by the judges."""

    from studio.tsit.translate import Translator  # noqa: PLC0415 (engine: loaded when used)

    tr = translator or Translator("toy", device="cpu")
    c, cl, s, sl = all_pairs(*eval_pairs(per_class))

    def pil(x: torch.Tensor) -> Image.Image:
        return Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))

    outs = [torch.from_numpy(np.asarray(tr.translate(pil(c[i]), pil(s[i])), np.float32)
                             / 255.0).permute(2, 0, 1) for i in range(len(c))]
    return judge(torch.stack(outs), cl, sl, judges or load_judges())


def palette_swapped(per_pair: int = 1, size: int = 64) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
    """Every texture's pattern in every *other* texture's palette: (images in [0, 1],
    pattern labels, palette labels) — which of the two cues does a texture judge read?"""
    rng = np.random.default_rng(EVAL_SEEDS["swap"])
    imgs, pattern, palette = [], [], []
    for a, ta in enumerate(TEXTURES):
        for b, tb in enumerate(TEXTURES):
            for _ in range(per_pair if a != b else 0):
                imgs.append(texture_rgb(ta, size, rng, palette=tb))
                pattern.append(a)
                palette.append(b)
    return (torch.from_numpy(np.stack(imgs).astype(np.float32)).permute(0, 3, 1, 2).contiguous(),
            torch.tensor(pattern), torch.tensor(palette))


def judge_reference(judges: Judges | None = None) -> dict[str, float]:
    """The judges on unstylised images: the shape classifier on shapes filled with random
    textures, on flat silhouettes and on its own kind of image (``shuffled``, held-out
    seed); the texture and pattern classifiers on texture patches, on textured shapes on a
    plain ground (what a translated silhouette should look like), on silhouettes (no
    texture) and on palette-swapped patterns (which cue each one follows)."""
    shape_clf, texture_clf, pattern_clf = judges or load_judges()
    c, cl, s, sl = eval_pairs(per_class=3)
    # shapes filled with a random texture (the procedural cue-conflict kind of image)
    scenes = ToyWorldParams(Path("unused"), per_class=3, size=64, seed=EVAL_SEEDS["scene"],
                            kind="scene", shape_texture_correlation=0.1)
    x, xl = drawn(scenes)
    xt = torch.tensor([TEXTURES.index(it.texture) for it in plan(scenes)])
    y, yl = drawn(ToyWorldParams(Path("unused"), per_class=3, size=64,
                                 seed=EVAL_SEEDS["scene"], kind="shuffled"))
    w, w_pattern, w_palette = palette_swapped()

    def acc(clf: Any, images: torch.Tensor, labels: torch.Tensor) -> float:
        return round((predict(clf, images) == labels).float().mean().item(), 4)

    return {"shape_on_textured_shapes": acc(shape_clf, x, xl),
            "shape_on_silhouettes": acc(shape_clf, c, cl),
            "shape_on_shuffled": acc(shape_clf, y, yl),
            "texture_on_patches": acc(texture_clf, s, sl),
            "texture_on_scenes": acc(texture_clf, x, xt),
            "texture_on_silhouettes": acc(texture_clf, c, cl),
            "texture_follows_palette": acc(texture_clf, w, w_palette),
            "texture_follows_pattern": acc(texture_clf, w, w_pattern),
            "pattern_on_patches": acc(pattern_clf, s, sl),
            "pattern_on_scenes": acc(pattern_clf, x, xt),
            "pattern_on_silhouettes": acc(pattern_clf, c, cl),
            "pattern_follows_pattern": acc(pattern_clf, w, w_pattern),
            "pattern_follows_palette": acc(pattern_clf, w, w_palette)}


def grid(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n: int = 5) -> np.ndarray:
    """A before/after grid: top row contents, first column styles, cells ``fn(c, s)``."""
    c, _, s, _ = eval_pairs()
    c, s = c[:: max(1, len(c) // n)][:n], s[:: max(1, len(s) // n)][:n]
    u8 = lambda x: (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    tiles = [np.full_like(u8(c[0]), 255)] + [u8(x) for x in c]
    for si in range(len(s)):
        tiles.append(u8(s[si]))
        out = fn(c, s[si:si + 1].expand(len(c), -1, -1, -1))
        tiles += [u8(x) for x in out]
    return image_grid(tiles, ncols=len(c) + 1)


__all__ = ["eval_pairs", "drawn", "load_judges", "predict", "judge", "adain_quality", "tsit_quality",
           "adain_scene_quality", "palette_swapped", "judge_reference", "grid", "EVAL_SEEDS", "Judges"]
