"""Parameters of `studio toyworld generate`.

Torch-free (as the generator is): the command line, recipes and the window read this
class to build their options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import param


@dataclass
class ToyWorldParams:
    """Parameters of `studio toyworld generate`."""

    out: Path = param(help="output folder")
    per_class: int = param(100, "images per class (in the first split)", check="positive")
    size: int = param(64, "image side in px (32-128)", check=(32, 128))
    seed: int = param(0, "global random seed (every image has its own seeded RNG)")
    shape_texture_correlation: float = param(
        0.95, "probability that a shape wears its own texture", "--correlation",
        check="unit")
    kind: Literal["scene", "shape", "texture", "pattern", "shuffled", "scene_texture"] = param(
        "scene", "scene: textured shapes; shape: silhouettes; texture: patches; pattern: "
        "patches in random colours (pattern = label); shuffled: shape and background in "
        "independent random appearances (outline = label); scene_texture: a patch of the "
        "texture the scene of the same seed and name wears (its style exemplar)")
    label: Literal["shape", "texture"] = param(
        "shape", "scene: file each image under its shape, or under the category whose own "
        "texture it wears (with a low --correlation: a shape-blind texture label)",
        "--file-by")
    splits: list[str] | None = param(None, "split folders, e.g. train,test (default: none)")
    test_per_class: int | None = param(None, "images per class in the splits after the "
                                       "first (default: --per-class)", check="nonneg")
    num_classes: int = param(10, "number of shape (and texture) classes, 2-10",
                             check=(2, 10))
    workers: int = param(0, "drawing processes (0 = one per CPU core)", check="nonneg")
    overwrite: bool = param(False, "start afresh when the output folder holds a build made "
                            "with other settings (removes only what Studio wrote)")
