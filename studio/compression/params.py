"""Parameters of knowledge distillation and pruning with synthetic data.

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import log_dir_param, norm_param, param


@dataclass
class KDParams:
    """What `studio distill` and `studio prune` share: synthetic data, teacher, the
    knowledge-distillation recipe and the real test set."""

    synthetic: Path = param(help="the synthetic dataset to train on (ImageFolder)")
    out: Path = param(help="output folder (student.pth, metrics, summary)")
    teacher: str = param("toy", "teacher checkpoint: a path, a registry name or 'toy'",
                         "--teacher_weights", path="path-or-name")
    arch: str = param("auto", "teacher architecture (auto: read from the file)")
    data: str = param("auto", "teacher's data: auto (the registry entry's, else from the "
                      "arch), cifar10, cifar100, cifar10_akamaster, cifar100_chenyaofo, "
                      "imagenet or toy")
    mean: list[float] | None = norm_param("mean", "the teacher's, from the registry or --data")
    std: list[float] | None = norm_param("std", "the teacher's, from the registry or --data")
    real_test: Path | None = param(None, "real ImageFolder to report top-1 on (root with "
                                   "test/ or the split itself)")
    real_split: str = param("test", "split folder of --real-test to read")
    epochs: int = param(20, "training epochs", check="positive")
    batch_size: int = param(128, "batch size", "-b", check="positive")
    optimizer: Literal["sgd", "adam"] = param("sgd", "optimiser (SGD: Nesterov, momentum "
                                             "0.9)")
    lr: float = param(0.05, "learning rate (cosine schedule)", check="positive")
    weight_decay: float = param(5e-4, "weight decay", "--wd", check="nonneg")
    temperature: float = param(3.0, "KD temperature T", check="positive")
    kd_weight: float = param(1.0, "weight of the KD loss (T^2-scaled KL to the teacher)",
                             check="nonneg")
    ce_weight: float = param(0.0, "weight of cross-entropy to the images' intended labels",
                             check="nonneg")
    augment: bool = param(True, "random crop (4 px padding) and flip")
    eval_every: int = param(1, "epochs between real-test evaluations (and the last)",
                            check="positive")
    seed: int = param(0, "global random seed")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    log_dir: str = log_dir_param()


@dataclass
class DistillParams(KDParams):
    """Parameters of `studio distill`."""

    student: str = param("auto", "student architecture (auto: toyvgg_small / "
                         "cifar_resnet18 / resnet18 by teacher)")


@dataclass
class PruneParams(KDParams):
    """Parameters of `studio prune` (fine-tuning = distillation from the unpruned teacher)."""

    method: Literal["l1-filter", "global-magnitude"] = param(
        "l1-filter", "l1-filter: remove whole conv filters by L1 norm (Li et al. 2017); "
        "global-magnitude: zero the smallest weights network-wide")
    sparsities: list[float] = param(help="target sparsities, e.g. 0.3 0.5 0.7",
                                    factory=lambda: [0.3, 0.5, 0.7], check="unit")
    epochs: int = param(5, "fine-tuning epochs per sparsity", check="positive")
    lr: float = param(0.01, "fine-tuning learning rate", check="positive")
