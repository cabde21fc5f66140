"""Parameters of the data-free synthesis jobs (synthesize, eval synthetic, inversion comparison).

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from studio.core.jobs import PATH_META


@dataclass
class SynthesizeParams:
    """Parameters of `studio synthesize` (None = the method's paper default)."""

    out: Path
    teacher: str = field(default="toy", metadata={PATH_META: "path-or-name"})
    arch: str = "auto"
    data: str = "auto"                      # cifar10 | cifar100 | imagenet | toy | auto
    method: Literal["natural", "deep", "noise"] = "natural"
    #: cifar10 / cifar100: the paper's settings; toy: the named deviation for the toy
    #: teacher (docs/inversion.md, both methods)
    preset: Literal["cifar10", "cifar100", "toy"] = "cifar10"
    num_images: int = 256
    batch_size: int = 256
    iterations: int | None = None
    r_feature: float | None = None
    var_scale: float | None = None
    l2_scale: float | None = None
    lr: float | None = None                 # deep: pixel lr; natural: generator lr
    jitter: int | None = None
    flip: bool | None = None
    keep: Literal["best", "last"] = "best"
    adi_scale: float = 0.0                  # > 0: Adaptive DeepInversion (method deep)
    adi_student: str = "auto"
    adi_student_epochs: int = 2
    format: Literal["imagefolder", "webdataset"] = "imagefolder"
    shard_batches: int = 0                  # WebDataset: batches per shard (0: ~`shards`)
    shards: int = 8                         # WebDataset shards with shard_batches 0
    preview_every: int = 100
    metrics_every: int = 10
    seed: int = 0
    device: str = "auto"
    overwrite: bool = False                 # start afresh over a build with other settings


@dataclass
class QualityParams:
    """Parameters of `studio eval synthetic`."""

    synthetic: Path
    teacher: str = field(default="toy", metadata={PATH_META: "path-or-name"})
    arch: str = "auto"
    data: str = "auto"
    real: Path | None = None
    real_split: str = "test"
    num_noise: int = 512
    max_images: int = 5000
    temperature: float = 1.0
    bins: int = 30
    out: Path | None = None                # default: <synthetic>/quality.json
    seed: int = 0
    device: str = "auto"


@dataclass
class ComparisonParams:
    """Parameters of `studio eval inversion-comparison`."""

    out: Path
    teacher: str = field(default="toy", metadata={PATH_META: "path-or-name"})
    real: Path | None = None              # toy world root (train/ test/); generated if None
    #: natural | deep | noise | real (that many real training images: the ceiling)
    methods: list[str] = field(default_factory=lambda: ["natural", "deep", "noise"])
    num_images: int = 64
    batch_size: int = 32
    #: synthesis settings of both methods: toy (the named deviation that makes images the
    #: toy teacher recognises; docs/inversion.md) or a paper preset (cifar10, cifar100)
    preset: Literal["cifar10", "cifar100", "toy"] = "toy"
    iterations: int | None = None         # None: the preset's (toy: 60)
    #: DeepInversion's iterations when not ``iterations`` (equal compute: ~3.2x, since one
    #: NaturalInversion iteration costs about 3.2 DeepInversion ones on the toy teacher)
    deep_iterations: int | None = None
    student: str = "auto"
    distill_epochs: int = 60
    distill_eval_every: int = 10
    distill_batch_size: int = 32
    distill_lr: float = 0.05
    temperature: float = 3.0
    seed: int = 0
    device: str = "auto"
