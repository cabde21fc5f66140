"""Exemplar-paired training data for the toy TSIT (`studio train tsit --target`).

For every item it writes three images under the same relative path:

- ``content/<cat>/<key>.png`` -- the flat silhouette (``--kind shape``);
- ``target/<cat>/<key>.png``  -- the same silhouette, pose and background, filled with a
  uniformly drawn texture (``--kind scene`` from the same draw seed: the generator
  consumes the same random numbers for background and mask in both kinds);
- ``style/<cat>/<key>.png``   -- a full-frame patch of that texture from its own RNG
  (another phase and period than in the target), so that the style stream must carry the
  texture and cannot carry the layout.

Usage::

    python scripts/tsit_toy_data.py --out D --per-class 60 --seed 41
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from studio.core.seeding import derive_seed
from studio.toyworld.generate import draw, plan, texture_rgb
from studio.toyworld.params import ToyWorldParams


def write(out: Path, per_class: int, seed: int, size: int = 64) -> int:
    common = {"per_class": per_class, "size": size, "seed": seed}
    content = ToyWorldParams(out / "content", kind="shape", **common)
    scenes = ToyWorldParams(out / "target", kind="scene", shape_texture_correlation=0.1,
                            **common)
    n = 0
    for c_item, s_item in zip(plan(content), plan(scenes), strict=True):
        assert c_item.key == s_item.key
        rng = np.random.default_rng(derive_seed(seed, "style", s_item.key))
        patch = np.clip(np.round(texture_rgb(s_item.texture, size, rng) * 255), 0, 255)
        for folder, img in (("content", draw(content, c_item)),
                            ("target", draw(scenes, s_item)),
                            ("style", patch.astype(np.uint8))):
            path = out / folder / f"{s_item.key}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path)
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--seed", type=int, default=41)
    a = ap.parse_args()
    print(f"{write(a.out, a.per_class, a.seed)} triplets in {a.out}/content, target, style")


if __name__ == "__main__":
    main()
