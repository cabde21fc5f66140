"""Parameters of the data-free synthesis jobs (synthesize, eval synthetic, inversion comparison).

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import norm_param, param

_TEACHER = "teacher checkpoint: a path, a registry name (studio models list) or 'toy'"
_ARCH = ("auto (read from the file), toyvgg, cifar_resnet18/34, cifar_vgg11/16 or a "
         "torchvision name (resnet18, resnet50, ...: ImageNet layout)")
_DATA = ("the teacher's data: auto (the registry entry's, else from the arch and class "
         "count), cifar10, cifar100, cifar10_akamaster, cifar100_chenyaofo, imagenet or toy; "
         "sets image size, mean/std and class names")


@dataclass
class SynthesizeParams:
    """Parameters of `studio synthesize` (None = the method's paper default)."""

    out: Path = param(help="output folder of the synthetic dataset")
    teacher: str = param("toy", _TEACHER, "--teacher_weights", path="path-or-name")
    arch: str = param("auto", _ARCH)
    data: str = param("auto", _DATA)
    mean: list[float] | None = norm_param("mean")
    std: list[float] | None = norm_param("std")
    method: Literal["natural", "deep", "noise"] = param(
        "natural", "natural: NaturalInversion (Kim et al. 2021); deep: DeepInversion (Yin "
        "et al. 2020); noise: Gaussian noise, the baseline")
    preset: Literal["cifar10", "cifar100", "toy"] = param(
        "cifar10", "settings: cifar10 / cifar100 are the papers' (NaturalInversion: 2000 "
        "iterations, r_feature 10 / 4000, r_feature 3); toy is the named deviation for the "
        "toy teacher, both methods (80 iterations, r_feature 0.02, first BN x10; "
        "NaturalInversion: generator width 32, channel scaling N(2, 0.4); docs/inversion.md)")
    num_images: int = param(256, "how many images to make", "--num_total_images",
                            check="positive")
    batch_size: int = param(256, "images optimised together (the papers: 256)", "--bs",
                            check="positive")
    iterations: int | None = param(None, "optimisation steps per batch (default: the "
                                   "method's paper setting)", "--iters_mi", check="positive")
    r_feature: float | None = param(None, "weight of the BN-statistics loss (default: the "
                                    "paper's)", "--r_feature_weight", check="nonneg")
    var_scale: float | None = param(None, "weight of the total-variation prior (default: "
                                    "the paper's)", "--di_var_scale", check="nonneg")
    l2_scale: float | None = param(None, "weight of the L2 image prior (default: the "
                                   "paper's)", "--di_l2_scale", check="nonneg")
    lr: float | None = param(None, "learning rate: the pixels' (deep) or the generator's "
                             "(natural); default: the paper's", "--di_lr", "--G_lr",
                             check="positive")
    jitter: int | None = param(None, "random shift in pixels each step (default: the "
                               "paper's, 2)", check="nonneg")
    flip: bool | None = param(None, "random horizontal flips each step (default: the "
                              "method's setting)")
    keep: Literal["best", "last"] = param(
        "best", "which images a batch keeps: those of its lowest-loss step, or the last")
    adi_scale: float = param(0.0, "> 0: Adaptive DeepInversion's competition weight "
                             "(method deep)", "--cig_scale", check="nonneg")
    adi_student: str = param("auto", "ADI's student (auto: toyvgg_small / cifar_resnet18 / "
                             "resnet18 by teacher)")
    adi_student_epochs: int = param(2, "epochs the ADI student trains on each new batch",
                                    check="nonneg")
    format: Literal["imagefolder", "webdataset"] = param(
        "imagefolder", "output layout: class folders, or WebDataset .tar shards")
    shard_batches: int = param(0, "WebDataset: batches per shard (0: about --shards "
                               "shards)", check="nonneg")
    shards: int = param(8, "WebDataset: how many shards when --shard-batches is 0",
                        check="positive")
    preview_every: int = param(100, "steps between preview images (0: none)",
                               check="nonneg")
    metrics_every: int = param(10, "steps between loss records (0: none)", check="nonneg")
    seed: int = param(0, "global random seed")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    overwrite: bool = param(False, "start afresh when the output folder holds a build made "
                            "with other settings (removes only what Studio wrote)")


@dataclass
class QualityParams:
    """Parameters of `studio eval synthetic`."""

    synthetic: Path = param(help="the synthetic dataset (an ImageFolder Studio wrote)")
    teacher: str = param("toy", _TEACHER, "--teacher_weights", path="path-or-name")
    arch: str = param("auto", _ARCH)
    data: str = param("auto", _DATA)
    mean: list[float] | None = norm_param("mean")
    std: list[float] | None = norm_param("std")
    real: Path | None = param(None, "real images to compare with (ImageFolder or its root)")
    real_split: str = param("test", "split folder of --real to read")
    num_noise: int = param(512, "Gaussian-noise images for the energy baseline",
                           check="positive")
    max_images: int = param(5000, "read at most this many synthetic images",
                            check="positive")
    temperature: float = param(1.0, "temperature of the energy score", check="positive")
    bins: int = param(30, "histogram bins of the energy report", check="positive")
    out: Path | None = param(None, "report file (default: <synthetic>/quality.json)")
    seed: int = param(0, "global random seed")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")


@dataclass
class ComparisonParams:
    """Parameters of `studio eval inversion-comparison`."""

    out: Path = param(help="output folder (one sub-folder per method)")
    teacher: str = param("toy", _TEACHER, "--teacher_weights", path="path-or-name")
    real: Path | None = param(None, "toy world root with train/ and test/ (default: "
                              "generate it)")
    methods: list[str] = param(help="methods to compare: natural, deep, noise, real (that "
                               "many real training images: the ceiling)",
                               factory=lambda: ["natural", "deep", "noise"])
    num_images: int = param(64, "synthetic images per method", check="positive")
    batch_size: int = param(32, "synthesis batch size", "--bs", check="positive")
    preset: Literal["cifar10", "cifar100", "toy"] = param(
        "toy", "synthesis settings of both methods: toy (the named deviation that makes "
        "images the toy teacher recognises; docs/inversion.md) or a paper preset")
    iterations: int | None = param(None, "synthesis steps per batch (default: the "
                                   "preset's; toy: 80)", "--iters_mi", check="positive")
    deep_iterations: int | None = param(
        None, "DeepInversion's steps when --iterations is not given (equal compute: about "
        "1.8x NaturalInversion's on the toy teacher)", check="positive")
    student: str = param("auto", "student architecture (auto: toyvgg_small for the toy)")
    distill_epochs: int = param(60, "distillation epochs per method", check="positive")
    distill_eval_every: int = param(10, "epochs between real-test evaluations",
                                    check="positive")
    distill_batch_size: int = param(32, "distillation batch size", check="positive")
    distill_lr: float = param(0.05, "distillation learning rate", check="positive")
    temperature: float = param(3.0, "KD temperature T", check="positive")
    seed: int = param(0, "global random seed")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
