"""Parameters of the TSIT jobs (`studio translate`, `studio build translated`,
`studio train tsit`).

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engine. Flags also accept the official code's
spellings (EndlessSora/TSIT: ``--croot``, ``--sroot``, ``--batchSize``, ``--niter``,
``--lambda_vgg``, ``--results_dir``, ...) where they mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import log_dir_param, param

_MODEL = ("generator file (official latest_net_G.pth or one Studio trained; 'toy' = the "
          "shipped toy TSIT)")
_TASK = ("preset the file belongs to: summer2winter, photo2art, day2night, multimodal, "
         "cityscapes, ade20k (or the official experiment names and AST/SIS/MMIS)")
_FIT = ("bring inputs to a multiple of 2^depth by resizing or by reflect padding; the "
        "output is restored to the input size either way")
_FADE = ("FADE batch norm: running statistics (eval), batch statistics (what the official "
         "test did for photo2art/multimodal), or the preset's choice")
_FAST = "the fast fused forward (--no-fast or --eager: the plain eager one)"
_PRECISION = "fast path on CUDA: auto = fp16; the CPU always computes in fp32"
_OVERWRITE = ("start afresh when the output folder holds a build made with other settings "
              "(removes only what Studio wrote)")


@dataclass
class TranslateParams:
    """Parameters of `studio translate`."""

    model: str = param("toy", _MODEL, path="path-or-name")
    task: str = param("summer2winter", _TASK)
    content: list[Path] = param(help="content images or folders (label maps for SIS)",
                                factory=list, flags=("--croot",))
    style: list[Path] = param(help="style images or folders", factory=list,
                              flags=("--sroot",))
    out: Path = param(Path("translated"), "output folder", "--results_dir")
    alpha: float = param(1.0, "FAdaIN strength in [0, 1]", check="unit")
    seeds: list[int] = param(help="noise seeds; one output per seed",
                             factory=lambda: [0], check=(0, 2**63 - 1))
    all_pairs: bool = param(False, "every content x every style (default: style i for "
                            "content i, cycling)")
    fit: Literal["resize", "pad"] = param("resize", _FIT)
    label_nc: int | None = param(None, "SIS: classes in the label maps (default: the "
                                 "model's)", "--label_nc", check="positive")
    fade_stats: Literal["preset", "running", "batch"] = param("preset", _FADE)
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    seed: int = param(0, "unused by translate (the noise seeds are --seeds)")
    fast: bool = param(True, _FAST)
    precision: Literal["auto", "fp32", "fp16", "bf16"] = param("auto", _PRECISION)
    overwrite: bool = param(False, _OVERWRITE)


@dataclass
class BuildTranslatedParams:
    """Parameters of `studio build translated` (a translated twin of an ImageFolder)."""

    model: str = param("toy", _MODEL, path="path-or-name")
    task: str = param("summer2winter", _TASK)
    content: Path = param(Path(""), "content ImageFolder (classes kept)", "--croot")
    style: Path = param(Path(""), "style image folder", "--sroot")
    out: Path = param(Path("translated-dataset"), "output folder", "--results_dir")
    styles_per_content: int = param(1, "translations per content image, each with its own "
                                    "seeded style", check="positive")
    alpha: float = param(1.0, "FAdaIN strength in [0, 1]", check="unit")
    fit: Literal["resize", "pad"] = param("resize", _FIT)
    format: Literal["imagefolder", "webdataset"] = param(
        "imagefolder", "output layout: class folders, or WebDataset .tar shards")
    shard_size: int = param(0, "samples per WebDataset shard (0 = about --shards shards "
                            "per split)", check="nonneg")
    shards: int = param(8, "WebDataset shards per split when --shard-size is 0",
                        check="positive")
    fade_stats: Literal["preset", "running", "batch"] = param("preset", _FADE)
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    seed: int = param(0, "global random seed (style choice and noise)")
    fast: bool = param(True, _FAST)
    precision: Literal["auto", "fp32", "fp16", "bf16"] = param("auto", _PRECISION)
    overwrite: bool = param(False, _OVERWRITE)


_PRESET = " (default: the task preset's)"


@dataclass
class TrainTSITParams:
    """Parameters of `studio train tsit` (None = the task preset's official value)."""

    data: Path = param(help="content folder, a root with trainA/ and trainB/, or label "
                       "maps (SIS)", flags=("--croot",))
    style: Path | None = param(None, "style folder (AST/MMIS) or image folder (SIS)",
                               "--sroot")
    out: Path = param(Path("tsit-run"), "run folder (checkpoints, preview, options); "
                      "--checkpoints_dir/--name make it CHECKPOINTS_DIR/NAME")
    task: str = param("summer2winter", "preset for losses, sizes and schedule: "
                      "summer2winter, photo2art, day2night, multimodal, cityscapes, ade20k "
                      "(or the official experiment names; see docs/tsit.md)")
    ngf: int = param(64, "generator width (official 64)", check="positive")
    depth: int | None = param(None, "x0.5 steps of the streams, 4..7 (official 7)" + _PRESET,
                              check=(4, 7))
    size: int | None = param(None, "image width (height = width / the preset's aspect "
                             "ratio)" + _PRESET, "--crop_size", check="positive")
    height: int | None = param(None, "image height" + _PRESET, check="positive")
    batch_size: int | None = param(None, "images per iteration" + _PRESET, "--batchSize",
                                   check="positive")
    epochs: int | None = param(None, "epochs at the initial learning rate (official "
                               "--niter)" + _PRESET, "--niter", check="nonneg")
    epochs_decay: int | None = param(None, "epochs of linear decay to zero (official "
                                     "--niter_decay)" + _PRESET, "--niter_decay",
                                     check="nonneg")
    iterations: int | None = param(None, "train by iterations instead of epochs",
                                   check="positive")
    decay_iterations: int = param(0, "with --iterations: linear decay over the last N",
                                  check="nonneg")
    lr: float = param(0.0002, "base learning rate (TTUR: G lr/2, D lr*2)", check="positive")
    no_ttur: bool = param(False, "one learning rate for G and D, Adam betas (0.5, 0.999) "
                          "(the official --no_TTUR)", "--no_TTUR")
    lambda_vgg: float | None = param(None, "weight of the VGG perceptual loss" + _PRESET,
                                     "--lambda_vgg", check="nonneg")
    lambda_feat: float | None = param(None, "weight of discriminator feature matching"
                                      + _PRESET, "--lambda_feat", check="nonneg")
    lambda_style: float = param(0.0, "extra (not in TSIT): weight of an AdaIN-style loss "
                                "(per-channel mean/std of the perceptual encoder's features, "
                                "output vs the style image); style tasks only",
                                "--lambda_style", check="nonneg")
    lambda_kld: float = param(0.05, "weight of the KL term (VAE only)", "--lambda_kld",
                              check="nonneg")
    gan_mode: Literal["hinge", "ls", "original", "w"] = param(
        "hinge", "GAN loss (official hinge)", "--gan_mode")
    ndf: int = param(64, "discriminator width (official 64)", check="positive")
    num_D: int = param(2, "discriminator scales (official 2)", "--num_D", check="positive")
    n_layers_D: int | None = param(None, "layers per discriminator" + _PRESET,
                                   "--n_layers_D", check="positive")
    perceptual: Literal["auto", "vgg19", "toy", "none"] = param(
        "auto", "perceptual encoder: auto = torchvision VGG-19 weights if present, else the "
        "toy teacher")
    perceptual_weights: Path | None = param(None, "file of the perceptual encoder (VGG-19 "
                                            "or ToyVGG state_dict)")
    label_nc: int | None = param(None, "SIS: classes in the label maps" + _PRESET,
                                 "--label_nc", check="positive")
    contain_dontcare: bool | None = param(None, "SIS: the label maps have a don't-care "
                                          "label (255)" + _PRESET)
    alpha: float = param(1.0, "FAdaIN strength in [0, 1]", check="unit")
    target: Path | None = param(None, "extra (not in TSIT): folder of the translations the "
                                "content images should become, matched by relative path; "
                                "the perceptual loss and the discriminator's real images "
                                "use them instead of the content and the style (exemplar-"
                                "paired data such as the toy world's); style tasks only")
    pairing: Literal["fixed", "random"] = param(
        "fixed", "fixed: official index pairing; random: a seeded style per item")
    flip: bool = param(True, "random horizontal flips (--no_flip as the official code)",
                       "--no_flip")
    preview_every: int = param(100, "iterations between previews", "--display_freq",
                               check="positive")
    save_every: int = param(500, "iterations between checkpoints (latest_net_G.pth ...)",
                            "--save_latest_freq", check="positive")
    log_every: int = param(10, "iterations between loss records", "--print_freq",
                           check="positive")
    log_dir: str = log_dir_param()
    tf_log: bool = param(False, "the official --tf_log: TensorBoard events in OUT/logs (as "
                         "--log_dir OUT/logs)")
    max_minutes: float | None = param(None, "stop cleanly after this long; the same "
                                      "command resumes", check="positive")
    seed: int = param(0, "global random seed")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    amp: bool = param(False, "fp16 mixed precision (CUDA)")
    threads: int = param(0, "CPU threads (0 = torch default)", check="nonneg")
    resume: bool = param(True, "continue a run of the same settings found in --out (a run "
                         "with other settings is refused)", "--continue_train")
