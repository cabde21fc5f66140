"""Parameters of the texture-vs-shape jobs (Geirhos et al. 2019): the Stylized-ImageNet
builder, cue-conflict stimuli, shape bias and the toy experiment.

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import norm_param, param

_OVERWRITE = ("start afresh when the output folder holds a build made with other settings "
              "(removes only what Studio wrote)")
_SHARD_SIZE = "samples per WebDataset shard (0 = about --shards shards per split)"
_DEVICE = "auto, cpu, cuda or cuda:N"


@dataclass
class StylizedParams:
    """Parameters of a stylised-dataset build (defaults = the reference's choices)."""

    content: Path = param(Path(""), "input ImageFolder (class folders, optionally under "
                          "train/ val/)", "--content-dir")
    styles: Path = param(Path(""), "folder of style images", "--style-dir")
    out: Path = param(Path("stylized"), "output folder")
    model: str = param("auto", "auto (official if installed, else toy), official, toy, or an "
                       "encoder .pth (with --decoder)", path="path-or-name")
    vgg: str = param("adain-vgg", "official encoder: registry name or vgg_normalised.pth "
                     "path", path="path-or-name")
    decoder: str = param("adain-decoder", "decoder: registry name or decoder.pth path",
                         path="path-or-name")
    alpha: float = param(1.0, "content-style trade-off in [0, 1]", check="unit")
    content_size: int = param(256, "Resize(shorter side) of contents; 0 = keep",
                              check="nonneg")
    crop: int = param(224, "CenterCrop of contents after resizing; 0 = none",
                      check="nonneg")
    style_size: int = param(224, "styles: centre square crop shrunk to this size",
                            check="positive")
    min_style_size: int = param(224, "reject styles with a side below this (the reference: "
                                "224)", check="nonneg")
    min_content_size: int = param(0, "reject contents with a side below this",
                                  check="nonneg")
    seed: int = param(0, "global random seed (which style each content gets)")
    assignment: Literal["stream", "hash"] = param(
        "stream", "stream: the reference's RandomState stream (val first); hash: each "
        "content's style from a hash of (seed, its path), stable when files are added")
    batch_size: int = param(8, "contents per network call", check="positive")
    workers: int = param(-1, "processes decoding and PNG-encoding beside the compute (0 = "
                         "none; -1 = the spare cores)", check=(-1, None))
    format: Literal["imagefolder", "webdataset"] = param(
        "imagefolder", "imagefolder or webdataset (tar shards)")
    shard_size: int = param(0, _SHARD_SIZE, check="nonneg")
    shards: int = param(8, "WebDataset shards per split when --shard-size is 0",
                        check="positive")
    device: str = param("auto", _DEVICE)
    channels_last: bool = param(True, "NHWC tensors: about 1.25x faster convolutions on "
                                "CPU; results stay batch-invariant")
    cache_dir: str = param("", "style statistics cache folder ('none' = keep in memory; "
                           "empty = $STUDIO_CACHE or ~/.cache/studio)")
    splits: list[str] = param(help="only these split folders (default: all)", factory=list)
    dry_run: bool = param(False, "print the plan (counts, styles, FLOPs, time estimate) and "
                          "stop")
    preview_every: int = param(0, "emit a preview every N batches (GUI; 0 = none)",
                               check="nonneg")
    overwrite: bool = param(False, _OVERWRITE)


@dataclass
class CueConflictParams:
    """Parameters of `studio build cue-conflict`."""

    shapes: Path = param(help="<category>/<image> content (shape) images: one subfolder "
                         "per category")
    textures: Path = param(help="<category>/<image> style (texture) images: one subfolder "
                           "per category")
    out: Path = param(help="output folder")
    method: Literal["adain", "gatys"] = param(
        "adain", "adain (fast) or Gatys optimisation (as the reference stimuli were made)")
    size: int = param(224, "output side in px (square)", check=(16, None))
    model: Literal["auto", "official", "toy"] = param(
        "auto", "auto: official VGG-19 AdaIN if installed, else the toy one")
    vgg: Path | None = param(None, "AdaIN encoder file (vgg_normalised layout)")
    decoder: Path | None = param(None, "AdaIN decoder file")
    alpha: float = param(1.0, "AdaIN content-style trade-off in [0, 1]", check="unit")
    iterations: int = param(300, "Gatys: optimisation steps per image", check="positive")
    content_weight: float = param(1.0, "Gatys: weight of the content loss", check="nonneg")
    style_weight: float = param(1e6, "Gatys: weight of the style (Gram) loss",
                                check="nonneg")
    style_layers: list[str] = param(help="Gatys: style layers, comma-separated (default "
                                    "relu1_1..relu5_1, toy: relu1_1..relu4_1)", factory=list)
    content_layers: list[str] = param(help="Gatys: content layers, comma-separated (default "
                                      "relu4_2, toy: relu3_1)", factory=list)
    layer_weights: list[float] = param(help="Gatys: weight per style layer, comma-separated "
                                       "(default equal)", factory=list)
    optimizer: Literal["lbfgs", "adam"] = param("lbfgs", "Gatys: optimiser")
    lr: float = param(1.0, "Gatys: step size (L-BFGS 1.0; Adam: try 0.02)",
                      check="positive")
    init: Literal["content", "noise"] = param("content", "Gatys: start image")
    preview_every: int = param(25, "Gatys: iterations between previews (0 = none)",
                               check="nonneg")
    include_same_category: bool = param(True, "include same-category pairs (as the "
                                        "reference set)", "--same-category",
                                        "--no-same-category")
    batch_size: int = param(16, "AdaIN pairs per decoder pass", check="positive")
    format: Literal["imagefolder", "webdataset"] = param(
        "imagefolder", "output layout: class folders, or WebDataset .tar shards")
    shard_size: int = param(0, _SHARD_SIZE, check="nonneg")
    shards: int = param(8, "WebDataset shards when --shard-size is 0", check="positive")
    device: str = param("auto", _DEVICE)
    seed: int = param(0, "global random seed")
    overwrite: bool = param(False, _OVERWRITE)


@dataclass
class ToyCueConflictParams:
    """Parameters of the procedural toy cue-conflict set (no style transfer involved)."""

    out: Path = param(help="output folder")
    per_pair: int = param(1, "images per (shape, texture) combination", check="positive")
    size: int = param(64, "image side in px", check=(16, None))
    seed: int = param(3, "random seed of the drawings")
    num_classes: int = param(10, "toy categories (shapes and their textures), 2-10",
                             check=(2, 10))
    overwrite: bool = param(False, _OVERWRITE)


@dataclass
class ShapeBiasParams:
    """Parameters of `studio eval shape-bias`."""

    stimuli: Path = param(help="cue-conflict folder: <shape>/<shape><i>-<texture><j>.png")
    out: Path = param(help="output folder (decisions.csv, summary.json, plots)")
    models: list[str] = param(help="ARCH=WEIGHTS per model, e.g. resnet50=resnet50_sin.pth."
                              "tar or toyvgg=toy-teacher; WEIGHTS may be a "
                              "registry name", factory=list)
    names: list[str] = param(help="plot label per model (default: the weights' stems)",
                             factory=list)
    classes: list[str] = param(help="class names of non-ImageNet models, comma-separated "
                               "(default: the categories, or the toy shapes for toyvgg)",
                               factory=list)
    mean: list[float] | None = norm_param("mean", "each model's own")
    std: list[float] | None = norm_param("std", "each model's own")
    batch_size: int = param(64, "images per forward pass", check="positive")
    device: str = param("auto", _DEVICE)
    plot: bool = param(True, "draw the model-vs-human matrix plot")
    reference: bool = param(True, "draw the published reference values")
    formats: list[str] = param(help="plot file formats, comma-separated",
                               factory=lambda: ["png", "svg", "pdf"])


@dataclass
class ExperimentParams:
    """Parameters of the toy texture-bias experiment (`studio demo` runs it)."""

    out: Path = param(help="output folder")
    per_class: int = param(600, "standard world size (train images per class)",
                           check="positive")
    test_per_class: int = param(100, "test images per class", check="positive")
    style_per_class: int = param(20, "style images per category in the style pool",
                                 check="positive")
    style_pool: Literal["scene", "texture"] = param(
        "scene", "the style pool: scene = toy scenes with uniformly random textures, the "
        "analogue of SIN's paintings; texture = bare texture patches, the styles the "
        "shipped (exemplar-trained) toy AdaIN was trained on and the pool of the shipped "
        "classifier B (docs/texture_bias.md)")
    epochs: int = param(6, "classifier B (stylised) epochs", check="positive")
    teacher_epochs: int = param(2, "classifier A epochs when retraining it",
                                check="positive")
    retrain_teacher: bool = param(False, "retrain classifier A (else the shipped "
                                  "toy-teacher)")
    batch_size: int = param(64, "training batch size", check="positive")
    lr: float = param(0.4, "base learning rate (x batch / 256)", check="positive")
    adain_encoder: Path | None = param(None, "AdaIN encoder file that stylises B's "
                                       "training world (default: the shipped toy encoder)")
    adain_decoder: Path | None = param(None, "its decoder (with --adain-encoder; default: "
                                       "the shipped relu3_1 toy decoder, B's world builder)")
    stimuli_encoder: Path | None = param(None, "AdaIN encoder file of the cue-conflict "
                                         "stimuli (default: the shipped toy AdaIN; the paper "
                                         "made its stimuli with another stylisation than SIN)")
    stimuli_decoder: Path | None = param(None, "its decoder (with --stimuli-encoder)")
    stylized_model: Path | None = param(None, "reuse an already trained classifier B")
    methods: list[str] = param(help="cue-conflict stimuli to measure on: adain, procedural",
                               factory=lambda: ["adain", "procedural"])
    stylization: Literal["adain", "texture-shuffle"] = param(
        "adain", "how classifier B's training set loses the texture shortcut: adain (the "
        "paper: build-stylized with the toy AdaIN) or texture-shuffle (a named deviation: "
        "the same world re-drawn with uniformly random textures, no style transfer)")
    threads: int = param(1, "CPU threads", check="nonneg")
    device: str = param("auto", _DEVICE)
    seed: int = param(0, "global random seed")
