"""Parameters of the ``stylize-sweep`` job: what a researcher varies on one sheet.

Torch-free on purpose: the command line, recipes and the window read this class to build
their options without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from studio.adain.params import _ENCODER, _items
from studio.core.params import param


@dataclass
class SweepParams:
    """A contact sheet of AdaIN results: every content × style at several alphas (one row
    per pair, one column per alpha), or every content × style at one alpha (a row per
    content, a column per style). Saved as one sheet, the individual images and the
    recipe that replays it."""

    content: list[str] = param(help="content images: the sheet's rows", factory=list,
                               path="path", path_list=",")
    style: list[str] = param(help="style images: the columns of a styles sweep; with an "
                             "alpha sweep each content × style pair is a row", factory=list,
                             path="path", path_list=",")
    sweep: Literal["alpha", "styles"] = param(
        "alpha", "what the columns vary: alpha (one column per --alphas value) or styles "
        "(one column per style, at --alpha)")
    alphas: list[float] = param(help="the alpha steps of an alpha sweep, each in [0, 1]",
                                factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], sep=",")
    alpha: float = param(1.0, "stylisation strength of a styles sweep", check="unit")
    vgg: str = param("", _ENCODER, path="path-or-name")
    decoder: str = param("", "decoder file decoder.pth or model name (default: the one of "
                         "the chosen encoder)", path="path-or-name")
    content_size: int = param(256, "shorter side of the contents; 0 keeps the size",
                              "--content_size", check="nonneg")
    style_size: int = param(256, "shorter side of the styles; 0 keeps the size",
                            "--style_size", check="nonneg")
    preserve_color: bool = param(False, "keep the content's colours")
    color_method: Literal["coral", "luminance"] = param(
        "coral", "colour preservation: coral (recolour the style, as pytorch-AdaIN) or "
        "luminance (stylise brightness only)")
    labels: bool = param(True, "draw each column's alpha or style and each row's images "
                         "around the sheet")
    output: str = param("sweep", "output folder: sheet.png, cells/, sweep.toml, "
                        "manifest.json", "--out", path="path")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    overwrite: bool = param(False, "replace a sweep made with other settings in the output "
                            "folder (its sheet, cells and recipe)")

    def __post_init__(self) -> None:
        # lists may come as one comma-separated string (older callers, test.py's habit)
        self.content = _items(self.content, str)
        self.style = _items(self.style, str)
        self.alphas = _items(self.alphas, float)
