"""Parameters of knowledge distillation and pruning with synthetic data.

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from studio.core.jobs import PATH_META


@dataclass
class KDParams:
    """What `studio distill` and `studio prune` share: synthetic data, teacher, the
    knowledge-distillation recipe and the real test set."""

    synthetic: Path
    out: Path
    teacher: str = field(default="toy", metadata={PATH_META: "path-or-name"})
    arch: str = "auto"
    data: str = "auto"
    real_test: Path | None = None          # ImageFolder of real test images (or its root)
    real_split: str = "test"
    epochs: int = 20
    batch_size: int = 128
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    temperature: float = 3.0
    kd_weight: float = 1.0
    ce_weight: float = 0.0
    augment: bool = True
    eval_every: int = 1                    # epochs between real-test evaluations (and the last)
    seed: int = 0
    device: str = "auto"


@dataclass
class DistillParams(KDParams):
    """Parameters of `studio distill`."""

    student: str = "auto"                  # resnet18 for CIFAR teachers, toyvgg-small for toy


@dataclass
class PruneParams(KDParams):
    """Parameters of `studio prune` (fine-tuning = distillation from the unpruned teacher)."""

    method: Literal["l1-filter", "global-magnitude"] = "l1-filter"
    sparsities: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    epochs: int = 5
    lr: float = 0.01
