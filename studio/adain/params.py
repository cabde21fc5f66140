"""Parameters of the AdaIN jobs (`studio stylize`, `studio train adain`).

Torch-free on purpose: the command line, recipes and the window read these classes to
build their options without importing the engine. The flags keep pytorch-AdaIN's
``test.py`` / ``train.py`` spellings (``--content_size``, ``--max_iter``) beside ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.core.params import log_dir_param, param

_ENCODER = ("encoder file vgg_normalised.pth or model name (default: the installed "
            "official model, else the toy)")


def _items(value: object, conv: type) -> list:
    """A list field given as one comma-separated string (older callers, the reference's
    ``--style a.jpg,b.jpg``) as a real list."""
    if isinstance(value, str):
        return [conv(t.strip()) for t in value.split(",") if t.strip()]
    return [conv(v) for v in value]  # type: ignore[union-attr]


@dataclass
class StylizeParams:
    """pytorch-AdaIN test.py's options and defaults, plus batching, device, precision and
    masks (spatial control)."""

    content: str = param("", "content image file", path="path")
    content_dir: str = param("", "folder of content images", "--content_dir", path="path")
    style: list[str] = param(help="style image, or several (comma-separated as test.py, or "
                             "repeated) for interpolation (with --style_interpolation_weights) "
                             "or spatial control (with --masks)", factory=list, path="path",
                             path_list=",")
    style_dir: str = param("", "folder of style images (every content x every style)",
                           "--style_dir", path="path")
    vgg: str = param("", _ENCODER, path="path-or-name")
    decoder: str = param("", "decoder file decoder.pth or model name (default: the one of "
                         "the chosen encoder)", path="path-or-name")
    content_size: int = param(512, "shorter side of the content; 0 keeps the size",
                              "--content_size", check="nonneg")
    style_size: int = param(512, "shorter side of the style; 0 keeps the size",
                            "--style_size", check="nonneg")
    crop: bool = param(False, "centre crop to a square after resizing")
    save_ext: str = param(".jpg", "output extension (.png embeds the parameters)",
                          "--save_ext")
    output: str = param("output", "output folder", "--out", path="path")
    preserve_color: bool = param(False, "keep the content's colours (CORAL recolouring of "
                                 "the style, as the port)")
    color_method: Literal["coral", "luminance"] = param(
        "coral", "colour preservation method (given on the command line it implies "
        "--preserve_color): coral as the port, luminance = stylise luminance only, as the "
        "paper describes", "--color_method")
    alpha: float = param(1.0, "stylisation strength in [0, 1]", check="unit")
    style_interpolation_weights: list[float] = param(
        help="weights for several styles, comma-separated (floats; normalised to sum 1)",
        flags=("--style_interpolation_weights",), factory=list, sep=",")
    masks: list[str] = param(help="mask images, one per style (spatial control: white = "
                             "that style's region); one grey mask with two styles: white = "
                             "first", factory=list, path="path", path_list=",")
    batch_size: int = param(8, "contents of equal size per batch", "--batch_size",
                            check="positive")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    precision: Literal["fp32", "fp16", "bf16"] = param(
        "fp32", "autocast precision (fp16 on CUDA only; fp32 matches the reference)")
    channels_last: bool = param(True, "NHWC memory format (faster convolutions on CPU and "
                                "GPU)")
    compile: bool = param(False, "torch.compile the networks (CUDA)")
    jpeg_quality: int = param(75, "JPEG quality (75 = what the reference's save_image "
                              "writes)", "--jpeg_quality", check=(1, 100))
    workers: int = param(2, "image decode/encode threads", check="nonneg")
    overwrite: bool = param(False, "start afresh when the output folder holds a build made "
                            "with other settings (removes only what Studio wrote)")

    def __post_init__(self) -> None:
        # the lists may come as test.py's comma strings (older recipes, callers)
        self.style = _items(self.style, str)
        self.masks = _items(self.masks, str)
        self.style_interpolation_weights = _items(self.style_interpolation_weights, float)


@dataclass
class TrainParams:
    """pytorch-AdaIN train.py's options and defaults (style weight 10, 160k iterations as
    in the paper's released model), plus the encoder choice and resume."""

    content_dir: str = param("", "content image folder(s), comma-separated; searched "
                             "recursively", "--content_dir", path="path", path_list=",")
    style_dir: str = param("", "style image folder(s), comma-separated; searched "
                           "recursively", "--style_dir", path="path", path_list=",")
    vgg: str = param("adain-vgg", "encoder file (vgg_normalised layout) or model name",
                     path="path-or-name")
    from_classifier: str = param("", "derive the encoder from a toy classifier (ToyVGG) "
                                 "file instead: BN folded, activations normalised; written "
                                 "to SAVE_DIR/encoder.pth", "--from_classifier", path="path")
    config: Literal["auto", "vgg19", "toy"] = param(
        "auto", "decoder shape: the encoder's mirror (vgg19) or the wider toy decoder")
    layer: Literal["", "relu1_1", "relu2_1", "relu3_1", "relu4_1"] = param(
        "", "AdaIN layer (default: the config's; the paper's relu4_1, toy relu2_1); the "
        "decoder mirrors the encoder up to it")
    content_sigma: float = param(-1.0, "extra (not in the reference): Gaussian low-pass (px) "
                                 "of the content before encoding (a decoder trained with it "
                                 "expects it at inference: AdaINConfig.content_sigma, "
                                 "scripts/toy_quality.py --content-sigma); -1 = the "
                                 "config's (0, as the paper)", "--content_sigma",
                                 check=(-1, None))
    style_layer: Literal["", "relu1_1", "relu2_1", "relu3_1", "relu4_1"] = param(
        "", "extra (not in the reference): the style loss's deepest tap (default: the AdaIN "
        "layer, as the paper); deeper asks a shallow-layer decoder for larger patterns")
    decoder: str = param("", "initial decoder weights (fine-tune): a file (decoder.pth, "
                         "decoder_iter_N.pth.tar) or model name", path="path-or-name")
    save_dir: Path = param(Path("experiments"), "checkpoints (decoder_iter_N.pth and "
                           "pytorch-AdaIN's decoder_iter_N.pth.tar), state.pth, previews/",
                           "--save_dir", "--out", "--output")
    lr: float = param(1e-4, "Adam learning rate", check="positive")
    lr_decay: float = param(5e-5, "lr / (1 + lr_decay * iteration)", "--lr_decay",
                            check="nonneg")
    max_iter: int = param(160_000, "training iterations", "--max_iter", check="positive")
    batch_size: int = param(8, "content/style pairs per iteration", "--batch_size",
                            check="positive")
    style_weight: float = param(10.0, "weight of the style loss", "--style_weight",
                                check="nonneg")
    content_weight: float = param(1.0, "weight of the content loss", "--content_weight",
                                  check="nonneg")
    identity_weight: float = param(0.0, "extra (not in the reference): weight of a pixel "
                                   "loss between g(f(c)) and c (SANet's identity loss) that "
                                   "teaches small decoders structure faster",
                                   "--identity_weight", check="nonneg")
    structure_weight: float = param(0.0, "extra (not in the reference): weight of a loss "
                                    "between the low-passed, standardised luminance of "
                                    "g(t) and of c, so the content's figure-ground layout "
                                    "survives while the style's pattern stays free",
                                    "--structure_weight", check="nonneg")
    structure_sigma: float = param(3.0, "Gaussian blur (px) of --structure_weight: "
                                   "larger than the style's pattern, smaller than the "
                                   "content's shapes", "--structure_sigma", check="positive")
    target_dir: str = param("", "extra (not in the reference): folder of exemplar targets: "
                            "each content image is paired with the style image and the "
                            "target at its own path relative to its folder (toy-world "
                            "triplets; unmatched contents are skipped)", "--target_dir",
                            path="path")
    exemplar_weight: float = param(0.0, "extra (not in the reference): weight of the "
                                   "exemplar loss, the pixel and encoder-feature MSE "
                                   "between g(t) and the target (needs --target_dir)",
                                   "--exemplar_weight", check="nonneg")
    exemplar_texture_weight: float = param(0.0, "extra (not in the reference): weight of a "
                                           "phase-free texture loss inside the figure: "
                                           "mean and std of the encoder features (relu1_1 "
                                           "to the style layer) of g(t) and of the target "
                                           "over the pixels where target and content "
                                           "differ (needs --exemplar_weight)",
                                           "--exemplar_texture_weight", check="nonneg")
    exemplar_alpha: float = param(0.0, "extra (not in the reference): share of iterations "
                                  "trained at an alpha drawn uniformly from [0, 1) instead "
                                  "of 1: t = alpha AdaIN + (1 - alpha) f(c), the target "
                                  "(1 - alpha) c + alpha exemplar, the style loss times "
                                  "alpha, so the decoder learns the trade-off it is used "
                                  "with (needs --exemplar_weight)", "--exemplar_alpha",
                                  check="unit")
    image_size: int = param(512, "resize to SIZE x SIZE before cropping (0 keeps the size)",
                            "--image_size", check="nonneg")
    crop_size: int = param(256, "random crop side", "--crop_size", check="positive")
    save_model_interval: int = param(10_000, "iterations between decoder checkpoints",
                                     "--save_model_interval", check="positive")
    preview_interval: int = param(500, "iterations between previews (0 = none)",
                                  "--preview_interval", check="nonneg")
    log_interval: int = param(50, "iterations between loss records", "--log_interval",
                              check="positive")
    n_threads: int = param(2, "image loading threads", "--n_threads", check="nonneg")
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    seed: int = param(0, "global random seed (which images and crops each batch takes)")
    resume: bool = param(True, "continue from SAVE_DIR/state.pth when present")
    normalise_images: int = param(256, "toy-world images used to normalise the derived "
                                  "encoder's activations", "--normalise_images",
                                  check="positive")
    decoder_widths: list[int] = param(help="override decoder stage widths, e.g. "
                                      "48,96,192,256", factory=list,
                                      flags=("--decoder_widths",), check="positive")
    decoder_convs: list[int] = param(help="override decoder convs per stage, e.g. 2,2,2,1",
                                     factory=list, flags=("--decoder_convs",),
                                     check="positive")
    log_dir: str = log_dir_param()
