"""Parameters of the classifier trainer (`studio train classifier`).

Torch-free on purpose: the command line, recipes and the window read this class to build
their options without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import log_dir_param, norm_param, param


@dataclass
class TrainParams:
    """Parameters of `studio train classifier` (Bag-of-Tricks refinements as options).
    Flags also accept the spellings of torchvision's classification reference
    (``--data-path``, ``--model``, ``-j``, ``--wd``, ``--lr-scheduler``, ...)."""

    data: list[Path] = param(help="dataset folder(s) or manifest.jsonl file(s), mixed; the "
                             "train split is used", flags=("--data-path",))
    out: Path = param(help="output folder (checkpoints, model.pth)", flags=("--output-dir",))
    arch: str = param("resnet50", "toyvgg, cifar_resnet18/34, cifar_vgg11/16 or a "
                      "torchvision model name", "--model")
    val: Path | None = param(None, "evaluation dataset (default: the val/test split of the "
                             "first --data)")
    classes: list[str] = param(help="class order, comma-separated (default: the dataset's "
                               "dataset.json order, else sorted folder names)", factory=list)
    epochs: int = param(90, "training epochs", check="positive")
    batch_size: int = param(256, "global batch size over all processes (torchvision's -b "
                            "is per process: -b x processes)", check="positive")
    lr: float = param(0.1, "base learning rate (per 256 images with --linear-scaling)",
                      check="positive")
    linear_scaling: bool = param(True, "lr = base lr x batch / 256 (Goyal et al.)")
    momentum: float = param(0.9, "SGD momentum", check="unit")
    nesterov: bool = param(False, "Nesterov momentum")
    weight_decay: float = param(1e-4, "weight decay", "--wd", check="nonneg")
    bias_decay: bool = param(False, "weight decay on biases and BN γ/β too (Bag of Tricks: "
                             "off)")
    schedule: Literal["cosine", "step", "constant"] = param(
        "cosine", "learning-rate schedule after warm-up (torchvision's cosineannealinglr, "
        "steplr are accepted)", "--lr-scheduler",
        values={"cosineannealinglr": "cosine", "steplr": "step"})
    step_epochs: list[int] = param(help="epochs where the step schedule multiplies the lr by "
                                   "--step-gamma", flags=("--lr-steps",),
                                   factory=lambda: [30, 60, 80], check="positive")
    step_gamma: float = param(0.1, "lr factor at each step epoch", "--lr-gamma",
                              check="nonneg")
    warmup_epochs: float = param(5.0, "linear lr warm-up epochs", "--lr-warmup-epochs",
                                 check="nonneg")
    label_smoothing: float = param(0.1, "label smoothing ε", check="unit")
    mixup_alpha: float = param(0.0, "mixup Beta(α, α); 0 = off (Bag of Tricks: 0.2)",
                               check="nonneg")
    zero_gamma: bool = param(True, "γ = 0 in the last BN of each residual block")
    amp: bool = param(True, "mixed precision (CUDA only)")
    image_size: int = param(224, "training and evaluation image side", check="positive")
    augment: Literal["imagenet", "cifar", "none"] = param(
        "imagenet", "imagenet: random-resized crop + flip; cifar: 4-px padded crop + flip; "
        "none: resize only")
    init: Path | None = param(None, "fine-tune from this weights file (either format)")
    mode: Literal["finetune", "linear-probe", "lp-ft"] = param(
        "finetune", "finetune: train every weight; linear-probe: fit only the head on the "
        "frozen features (L2 logistic regression by L-BFGS, no epochs); lp-ft: that probe "
        "first, then fine-tune every weight from it (Kumar et al. 2022)")
    lp_l2: float = param(1e-3, "L2 strength of the linear probe (mean CE + l2/2 ||W||^2)",
                         check="nonneg")
    mean: list[float] | None = norm_param("mean", "the architecture's data: e.g. ImageNet's "
                                          "for torchvision and option-A CIFAR ResNets")
    std: list[float] | None = norm_param("std", "the architecture's data")
    reset_head: bool = param(False, "drop a classifier head whose class count differs")
    new_head: bool = param(False, "start the head from a fresh random init even when --init's "
                           "fits (transfer to a new task, the FT of the LP-FT paper)")
    workers: int = param(4, "data loading processes", "-j", check="nonneg")
    eval_every: int = param(1, "epochs between evaluations", check="positive")
    resume: bool = param(True, "continue from OUT/checkpoint.pth when present")
    keep_checkpoints: bool = param(False, "keep checkpoint-epochNNN.pth for every epoch")
    log_dir: str = log_dir_param()
    sync_bn: bool = param(True, "SyncBatchNorm under DDP (same result as 1 process)")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    seed: int = param(0, "global random seed")
    threads: int = param(0, "CPU threads (0 = torch default)", check="nonneg")
    max_steps: int = param(0, "stop after this many steps (smoke tests); 0 = all",
                           check="nonneg")


@dataclass
class EvalClassifierParams:
    """Parameters of `studio eval classifier`: any classifier the zoo loads, measured on
    an image folder whose class folders are matched to the model's classes by name."""

    images: Path = param(help="the images: an ImageFolder (its root or one split folder), "
                         "WebDataset shards or a manifest.jsonl; class folders are matched "
                         "to the model's classes by name", flags=("--data-dir",))
    model: str = param("toy", "weights file, registry name (cifar10-resnet20, ...), a file "
                       "in the model folder, or toy (the shipped toy teacher: the default of "
                       "recipes and the window; the command line requires it)", "--weights", path="path-or-name")
    split: str = param("test", "split to read: <images>/<split> when that folder exists "
                       "(else --images itself)")
    arch: str = param("auto", "architecture (auto: the registry entry's or what the file's "
                      "keys say); any --arch of the zoo")
    data: str = param("auto", "the model's data preset (normalisation, input size, class "
                      "names): auto (the registry entry's or the architecture's usual), "
                      "cifar10, cifar10_akamaster, cifar100, imagenet, toy, ...")
    mean: list[float] | None = norm_param("mean")
    std: list[float] | None = norm_param("std")
    image_size: int | None = param(None, "input side in px (default: the preset's)",
                                   check="positive")
    resize: Literal["auto", "stretch", "crop"] = param(
        "auto", "how images reach the input size: stretch (bilinear resize to a square, as "
        "the synthesis and distillation tools read images), crop (shorter side to "
        "size/0.875, centre crop: torchvision's ImageNet evaluation); auto: crop for the "
        "imagenet preset, else stretch")
    batch_size: int = param(256, "images per forward pass", check="positive")
    limit: int | None = param(None, "evaluate at most this many images, taken in turn from "
                              "each class (the first files of each, sorted)",
                              check="positive")
    workers: int = param(0, "image decoding processes (0: decode in this process)",
                         "-j", check="nonneg")
    out: Path | None = param(None, "write eval.json and confusion.png here (default: write "
                             "nothing); never inside the images folder")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    seed: int = param(0, "global random seed (the evaluation itself draws nothing random)")
