"""Parameters of the teacher check before a synthesis (`synthesize-preflight`).

Torch-free on purpose: the command line, recipes and the window read this class to build
their options without importing the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import norm_param, param


@dataclass
class PreflightParams:
    """What to check before hours of synthesis: the teacher as it will be loaded, its
    accuracy on real images, and the cost of the planned run."""

    teacher: str = param("toy", "teacher checkpoint: a path, a registry name (studio "
                         "models list) or 'toy'", "--teacher_weights", path="path-or-name")
    arch: str = param("auto", "teacher architecture (auto: read from the file)")
    data: str = param("auto", "teacher's data preset (auto: the registry entry's, else "
                      "from the arch and class count): image size, mean/std, class names")
    mean: list[float] | None = norm_param("mean")
    std: list[float] | None = norm_param("std")
    real: Path | None = param(None, "real ImageFolder to measure the teacher's top-1 on "
                              "(root with test/ or the split itself); none: not measured")
    real_split: str = param("test", "split folder of --real to read when it has one")
    limit: int = param(1000, "read at most this many real images, spread over the classes",
                       check="positive")
    method: Literal["natural", "deep", "noise"] = param(
        "natural", "the synthesis method to time (natural: NaturalInversion, deep: "
        "DeepInversion, noise: nothing to optimise)")
    preset: Literal["auto", "cifar10", "cifar100", "toy"] = param(
        "auto", "the method's settings (as `studio synthesize --preset`); auto: toy for the "
        "toy teacher, cifar100 for 100 classes, else cifar10")
    num_images: int = param(256, "images the planned synthesis makes", "--num_total_images",
                            check="positive")
    batch_size: int = param(256, "images optimised together", "--bs", check="positive")
    iterations: int | None = param(None, "optimisation steps per batch of the planned run "
                                   "(default: the method's paper setting)", "--iters_mi",
                                   check="positive")
    warmup_iterations: int = param(3, "timed iterations (after one untimed); more = a "
                                   "steadier estimate", check="positive")
    seed: int = param(0, "global random seed")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
