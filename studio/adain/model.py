"""AdaIN networks in the exact layout of the published pytorch-AdaIN checkpoints.

The networks are data — ``nn.Sequential`` lists whose child indices are the checkpoint
keys — so ``vgg_normalised.pth`` and ``decoder.pth`` load unchanged and a reader can check
every index against the key list in ``shared/reference/adain.md``.

Read top-down like Fig. 2 of Huang & Belongie (2017): the encoder ``f`` (VGG up to
relu4_1), the AdaIN layer (:mod:`studio.adain.ops`), the decoder ``g`` mirroring ``f``.
:class:`AdaINConfig` describes both networks, so the same code serves the official VGG-19
and the project's small toy encoder; :class:`AdaINModel` holds the pair and exposes the
steps separately (encode, style statistics, decode) so callers can cache each of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from studio.adain import ops
from studio.adain.fast import run_layers
from studio.adain.ops import StyleStats
from studio.core.checkpoints import check_state_dict, load_state_dict, resources_dir

# ---------------------------------------------------------------------------------------
# Building blocks


def _conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(c_in, c_out, (3, 3))]
    return layers + [nn.ReLU()] if relu else layers


def _pool() -> nn.Module:
    return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


# ---------------------------------------------------------------------------------------
# The official networks, written out as data


def vgg_normalised() -> nn.Sequential:
    """VGG-19 up to relu5_4 with the 1x1 preprocessing conv: 53 children, keys 0..51.

    relu1_1, relu2_1, relu3_1, relu4_1 are the outputs of children 3, 10, 17, 30.
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]            # 0
    layers += _conv(3, 64)                                         # 1-3   relu1_1
    layers += _conv(64, 64) + [_pool()]                            # 4-7
    layers += _conv(64, 128)                                       # 8-10  relu2_1
    layers += _conv(128, 128) + [_pool()]                          # 11-14
    layers += _conv(128, 256)                                      # 15-17 relu3_1
    layers += _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + [_pool()]  # 18-27
    layers += _conv(256, 512)                                      # 28-30 relu4_1
    layers += _conv(512, 512) + _conv(512, 512) + _conv(512, 512) + [_pool()]      # 31-40
    layers += _conv(512, 512) + _conv(512, 512) + _conv(512, 512) + _conv(512, 512)  # 41-52
    return nn.Sequential(*layers)


#: Child index *after* which each tap is taken (slices [0:4], [4:11], [11:18], [18:31]).
VGG_TAPS = {"relu1_1": 4, "relu2_1": 11, "relu3_1": 18, "relu4_1": 31}
TAP_NAMES = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def decoder() -> nn.Sequential:
    """The mirrored decoder of pytorch-AdaIN: relu4_1 features (512) -> RGB, no clamp."""
    return nn.Sequential(
        nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(512, 256, (3, 3)), nn.ReLU(),  # 0-2
        _up(),                                                                     # 3
        *_conv(256, 256), *_conv(256, 256), *_conv(256, 256),                      # 4-12
        *_conv(256, 128),                                                          # 13-15
        _up(),                                                                     # 16
        *_conv(128, 128), *_conv(128, 64),                                         # 17-22
        _up(),                                                                     # 23
        *_conv(64, 64),                                                            # 24-26
        nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(64, 3, (3, 3)),                # 27-28
    )


# ---------------------------------------------------------------------------------------
# The same layouts, generated from a config (official VGG-19 and small encoders alike)


def vgg_encoder(widths: Sequence[int], convs: Sequence[int]) -> nn.Sequential:
    """A ``vgg_normalised``-style encoder: 1x1 preprocessing conv, then stages of
    (pad, 3x3 conv, ReLU) x convs[s] with a ceil-mode 2x2 max-pool between stages.

    ``vgg_encoder((64, 128, 256, 512, 512), (2, 2, 4, 4, 4))`` is :func:`vgg_normalised`.
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    c = 3
    for s, (w, n) in enumerate(zip(widths, convs)):
        for _ in range(n):
            layers += _conv(c, w)
            c = w
        if s < len(widths) - 1:
            layers.append(_pool())
    return nn.Sequential(*layers)


def encoder_taps(convs: Sequence[int]) -> dict[str, int]:
    """Slice end of relu{s}_1 for the first four stages of :func:`vgg_encoder`."""
    taps, i = {}, 1
    for s, n in enumerate(convs[:4]):
        taps[f"relu{s + 1}_1"] = i + 3
        i += 3 * n + 1
    return taps


def mirror_decoder(in_channels: int, widths: Sequence[int], convs: Sequence[int]
                   ) -> nn.Sequential:
    """Decoder mirroring an encoder's four stages, top stage first.

    Stage s has ``convs[s]`` (pad, conv, ReLU) blocks at width ``widths[s]``; its last block
    narrows to ``widths[s-1]`` (to RGB, without ReLU, for the first stage); nearest x2
    upsampling between stages. ``mirror_decoder(512, (64, 128, 256, 512), (2, 2, 4, 1))``
    is :func:`decoder`.
    """
    layers: list[nn.Module] = []
    c = in_channels
    for s in reversed(range(len(widths))):
        for k in range(convs[s]):
            last = k == convs[s] - 1
            out = (widths[s - 1] if s > 0 else 3) if last else widths[s]
            layers += _conv(c, out, relu=not (s == 0 and last))
            c = out
        if s > 0:
            layers.append(_up())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class AdaINConfig:
    """Encoder and decoder shapes, and the layer where AdaIN acts.

    ``encoder_widths/convs`` describe every stage in the encoder *file* (VGG-19 keeps
    relu5_x so ``vgg_normalised.pth`` loads strictly); only the stages up to ``layer`` run.
    ``layer`` is relu4_1 in the paper; a shallower layer (the toy AdaIN's relu2_1) is a
    named deviation for small images, where relu4_1 is too coarse to carry a texture. The
    decoder defaults to the mirror of the stages that run. ``content_sigma`` > 0 (a named
    deviation, a probe of the toy AdaIN; 0 in every shipped config) low-passes the
    content before it is encoded: a shallow AdaIN layer keeps the content's own fine
    pattern, which a classifier trained on the stylised world learns as a shortcut.
    """

    name: str = "vgg19"
    encoder_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    encoder_convs: tuple[int, ...] = (2, 2, 4, 4, 4)
    decoder_widths: tuple[int, ...] | None = None
    decoder_convs: tuple[int, ...] | None = None
    layer: str = "relu4_1"
    content_sigma: float = 0.0

    def __post_init__(self):
        if self.layer not in TAP_NAMES:
            raise ValueError(f"AdaIN layer must be one of {', '.join(TAP_NAMES)}, "
                             f"not {self.layer!r}")
        if not self.content_sigma >= 0:
            raise ValueError(f"content_sigma must be >= 0, not {self.content_sigma!r}")

    @property
    def depth(self) -> int:
        """Encoder stages that run (4 for relu4_1)."""
        return TAP_NAMES.index(self.layer) + 1

    @property
    def min_side(self) -> int:
        """Smallest image side the encoder takes: every stage up to the AdaIN layer needs
        at least 2 px for its reflection padding, and each pool halves (rounding up)."""
        return 2 ** (self.depth - 1) + 1

    def activation_bytes(self, side: int, batch: int = 1, dtype_bytes: int = 4) -> int:
        """Rough peak memory of a forward pass (encode, AdaIN, decode) at ``side`` x
        ``side``: the largest layer's input and output (its widest full-resolution
        stage) for ``batch`` images; a lower bound, the true peak is somewhat higher."""
        widths = self.encoder_widths[:self.depth]
        dec_widths, _ = self.mirror()
        peak = 0
        for s, w in enumerate(widths):
            px = (-(-side // 2 ** s)) ** 2  # ceil-mode pools
            peak = max(peak, 2 * max(w, dec_widths[s] if s < len(dec_widths) else w) * px)
        return peak * batch * dtype_bytes

    @property
    def feature_channels(self) -> int:
        """Channels of the AdaIN layer."""
        return self.encoder_widths[self.depth - 1]

    def mirror(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        d = self.depth
        widths = self.decoder_widths or tuple(self.encoder_widths[:d])
        convs = self.decoder_convs or (*self.encoder_convs[:d - 1], 1)
        return tuple(widths), tuple(convs)

    def build_encoder(self) -> nn.Sequential:
        return vgg_encoder(self.encoder_widths, self.encoder_convs)

    def build_decoder(self) -> nn.Sequential:
        widths, convs = self.mirror()
        return mirror_decoder(self.feature_channels, widths, convs)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> AdaINConfig:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


#: The published pytorch-AdaIN networks.
OFFICIAL = AdaINConfig()
#: The toy world's encoder (a ToyVGG with BN folded and activations normalised), AdaIN at
#: relu2_1 and the mirror decoder. At 64 px relu4_1 is 8x8, coarser than a toy texture's
#: period, and a decoder from it loses both the texture and the outline; relu3_1 (16x16)
#: still softens the outline; relu2_1 (32x32) keeps it (docs/adain.md).
TOY = AdaINConfig(name="toy", encoder_widths=(32, 64, 128, 256), encoder_convs=(2, 2, 1, 1),
                  layer="relu2_1")
#: The earlier toy AdaIN at relu3_1 (one extra conv in decoder stage 3): it builds
#: classifier B's stylised world, as SIN was built by another stylisation than the
#: paper's cue-conflict stimuli (resources/toy/README.md).
TOY_RELU3_1 = AdaINConfig(name="toy", encoder_widths=TOY.encoder_widths,
                          encoder_convs=TOY.encoder_convs, decoder_widths=(32, 64, 128),
                          decoder_convs=(2, 2, 2), layer="relu3_1")

OFFICIAL_HINT = ("The official files are vgg_normalised.pth and decoder.pth from "
                 "https://github.com/naoto0804/pytorch-AdaIN/releases/tag/v0.0.0 "
                 "(import them with `studio models import FILE`).")
TOY_HINT = "The toy AdaIN files are resources/toy/adain_encoder.pth and adain_decoder.pth."


# ---------------------------------------------------------------------------------------
# The model: encoder f (to relu4_1) + decoder g, with each step exposed for caching


class AdaINModel(nn.Module):
    """Encoder (to relu4_1, or the config's layer) and decoder of AdaIN style transfer.

    ``encoder`` keeps the checkpoint's full child list (so it saves/loads in the official
    layout); :meth:`encode` runs only the slices up to the AdaIN layer.
    """

    #: run conv + ReLU pairs fused on CPU (see :func:`run_layers`); set by the fast paths
    #: (``prepare_model``, the dataset builder), off for the plain reference-style forward
    fuse_relu: bool = False

    def __init__(self, config: AdaINConfig = OFFICIAL,
                 encoder: nn.Sequential | None = None, decoder: nn.Sequential | None = None):
        super().__init__()
        self.config = config
        self.encoder = encoder if encoder is not None else config.build_encoder()
        self.decoder = decoder if decoder is not None else config.build_decoder()
        self.taps = encoder_taps(config.encoder_convs)
        for p in self.encoder.parameters():
            p.requires_grad_(False)

    # -- the steps --------------------------------------------------------------------

    def encode_with_intermediate(self, images: torch.Tensor, upto: str = ""
                                 ) -> list[torch.Tensor]:
        """relu1_1 .. relu4_1 (or the AdaIN layer, or ``upto``) features of RGB images in
        [0, 1]: what the style loss uses."""
        feats, x, start = [], images, 0
        depth = TAP_NAMES.index(upto) + 1 if upto else self.config.depth
        for name in TAP_NAMES[:depth]:
            end = self.taps[name]
            x = run_layers(self.encoder, x, start, end, fuse_relu=self.fuse_relu)
            feats.append(x)
            start = end
        return feats

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """f(x): relu4_1 (the AdaIN layer's) features of RGB images in [0, 1] (N, 3, H, W)."""
        return run_layers(self.encoder, images, 0, self.taps[self.config.layer],
                          fuse_relu=self.fuse_relu)

    def encode_content(self, images: torch.Tensor) -> torch.Tensor:
        """f(c) of content images: :meth:`encode`, after the config's ``content_sigma``
        low-pass (none in the paper's config)."""
        return self.encode(ops.low_pass(images, self.config.content_sigma))

    def style_stats(self, styles: torch.Tensor) -> StyleStats:
        """The cacheable statistics of style images: per-channel mean and std of f(s)."""
        return StyleStats(*ops.calc_mean_std(self.encode(styles)))

    def decode(self, target: torch.Tensor) -> torch.Tensor:
        """g(t): RGB images from AdaIN-layer features; not clamped (as in the reference)."""
        return run_layers(self.decoder, target, fuse_relu=self.fuse_relu)

    def target(self, content_feat: torch.Tensor, style: StyleStats | Sequence[StyleStats],
               alpha: float = 1.0, weights: Sequence[float] | None = None,
               masks: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder input t = alpha * AdaIN(f(c), s) + (1 - alpha) * f(c).

        ``style`` is one :class:`StyleStats` with one entry per content (or one for all), or
        a list of K styles combined by ``weights`` (interpolation) or by ``masks``
        (K, H, W) / (N, K, H, W) (spatial control: region k takes style k).
        """
        return ops.adain_target(content_feat, style, alpha=alpha, weights=weights, masks=masks)

    @torch.inference_mode()
    def stylize(self, content: torch.Tensor, style: torch.Tensor | StyleStats | Sequence,
                alpha: float = 1.0, weights: Sequence[float] | None = None,
                masks: torch.Tensor | None = None, preserve_color: str | None = None
                ) -> torch.Tensor:
        """Stylise a batch of contents (N, 3, H, W) in [0, 1]; returns unclamped images.

        ``style``: style images (N or 1, 3, h, w), a :class:`StyleStats`, or a list of either
        for interpolation (``weights``) / spatial control (``masks``). ``preserve_color``:
        None, "coral" (recolour the style image to the content, as pytorch-AdaIN does; needs
        style images) or "luminance" (stylise luminance only, keep the content's colour).
        """
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        if preserve_color == "coral":
            styles = [_coral_batch(s, content) for s in styles]
        elif preserve_color == "luminance":
            lum_c = ops.luminance(content).expand_as(content)
            styles = [ops.match_luminance(s, content) if isinstance(s, torch.Tensor)
                      else _need_images() for s in styles]
            out = self.stylize(lum_c, styles if len(styles) > 1 else styles[0], alpha,
                               weights, masks)
            return ops.combine_luminance(out, content)
        elif preserve_color is not None:
            raise ValueError(f"preserve_color must be None, 'coral' or 'luminance', "
                             f"not {preserve_color!r}")
        stats = [s if isinstance(s, StyleStats) else self.style_stats(s) for s in styles]
        t = self.target(self.encode_content(content), stats if len(stats) > 1 else stats[0],
                        alpha=alpha, weights=weights, masks=masks)
        return self.decode(t)

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def load_official(cls, vgg_path: str | os.PathLike, decoder_path: str | os.PathLike
                      ) -> AdaINModel:
        """pytorch-AdaIN's ``vgg_normalised.pth`` + ``decoder.pth``, loaded strictly."""
        return cls.from_files(vgg_path, decoder_path, OFFICIAL)

    @classmethod
    def load_toy(cls, resources: str | os.PathLike | None = None) -> AdaINModel:
        """The project's toy AdaIN shipped in ``resources/toy/`` (the embedded default)."""
        root = Path(resources) if resources else resources_dir() / "toy"
        return cls.from_files(root / "adain_encoder.pth", root / "adain_decoder.pth", TOY)

    @classmethod
    def from_files(cls, encoder_path: str | os.PathLike, decoder_path: str | os.PathLike,
                   config: AdaINConfig | None = None) -> AdaINModel:
        """Load an encoder/decoder pair; the config is inferred from the files if not given.

        Mismatches raise :class:`~studio.core.checkpoints.CheckpointMismatch` naming the
        file, the missing/unexpected keys and where to get the right one.
        """
        enc_sd = load_state_dict(encoder_path)
        dec_sd = load_state_dict(decoder_path)
        if config is None:
            config = infer_config(enc_sd, dec_sd)
        # built on the meta device and then given the loaded tensors: no random
        # initialisation of 23 M weights that are overwritten at once (0.1-0.2 s of start-up)
        with torch.device("meta"):
            model = cls(config)
        hint = OFFICIAL_HINT if config.name == "vgg19" else TOY_HINT
        check_state_dict(model.encoder, enc_sd, encoder_path, hint)
        check_state_dict(model.decoder, dec_sd, decoder_path, hint)
        for net, sd in ((model.encoder, enc_sd), (model.decoder, dec_sd)):
            net.load_state_dict(_as_params_of(net, sd), assign=True)
        return model.eval()


def _as_params_of(net: nn.Module, sd: dict) -> dict:
    """``sd`` with each tensor in its parameter's dtype and contiguous (what a
    copying ``load_state_dict`` would have given), ready for ``assign=True``."""
    want = dict(net.state_dict(keep_vars=True))
    out = {}
    for k, v in sd.items():
        ref = want.get(k)
        dtype = ref.dtype if ref is not None else v.dtype
        out[k] = v.detach().to(dtype=dtype, memory_format=torch.contiguous_format)
    return out


def _need_images():
    raise ValueError("colour preservation needs style images, not cached statistics")


def _coral_batch(style, content: torch.Tensor) -> torch.Tensor:
    if not isinstance(style, torch.Tensor):
        _need_images()
    if style.shape[0] == 1 and content.shape[0] > 1:
        style = style.expand(content.shape[0], -1, -1, -1)
    return torch.stack([ops.coral(s, c) for s, c in zip(style, content)])


def _conv_shapes(sd: dict) -> list[tuple[int, int, int]]:
    """(child index, out, in) of every conv weight, in order."""
    rows = []
    for k, v in sd.items():
        idx, _, kind = k.partition(".")
        if kind == "weight" and idx.isdigit() and v.dim() == 4:
            rows.append((int(idx), v.shape[0], v.shape[1]))
    return sorted(rows)


def _stages(rows: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
    """Split consecutive convs into stages: 3 children apart within a stage, 4 across a
    pool / upsample."""
    stages: list[list[tuple[int, int, int]]] = []
    for r in rows:
        if stages and r[0] - stages[-1][-1][0] == 3:
            stages[-1].append(r)
        else:
            stages.append([r])
    return stages


def infer_config(enc_sd: dict, dec_sd: dict) -> AdaINConfig:
    """The config of an encoder/decoder pair in the ``vgg_normalised`` layout, read from
    the conv shapes (so any trained pair loads without a side file)."""
    enc = _conv_shapes(enc_sd)
    dec = _conv_shapes(dec_sd)
    if len(enc) < 5 or enc[0][1:] != (3, 3):
        return OFFICIAL  # not our layout: the strict check then lists what does not match
    enc_stages = _stages(enc[1:])
    widths = tuple(s[0][1] for s in enc_stages)
    convs = tuple(len(s) for s in enc_stages)
    if len(enc_stages) < 4:
        return OFFICIAL
    if not dec:  # encoder only (training a new decoder): the known pairing or the mirror
        for known in (OFFICIAL, TOY):
            if (known.encoder_widths, known.encoder_convs) == (widths, convs):
                return known
        return AdaINConfig("custom", widths, convs)
    dec_stages = list(reversed(_stages(dec)))
    if not 1 <= len(dec_stages) <= min(4, len(enc_stages)):
        return OFFICIAL
    d_convs = tuple(len(s) for s in dec_stages)
    d_widths = tuple(s[0][1] if len(s) > 1 else s[0][2] for s in dec_stages)
    cand = AdaINConfig("custom", widths, convs, d_widths, d_convs,
                       layer=TAP_NAMES[len(dec_stages) - 1])
    for known in (OFFICIAL, TOY, TOY_RELU3_1):
        if (known.encoder_widths, known.encoder_convs, known.layer) == \
                (widths, convs, cand.layer) and known.mirror() == cand.mirror():
            return known
    return cand


__all__ = [
    "AdaINConfig", "AdaINModel", "StyleStats", "OFFICIAL", "TOY", "VGG_TAPS", "TAP_NAMES",
    "vgg_normalised", "decoder", "vgg_encoder", "mirror_decoder", "encoder_taps",
    "infer_config",
]
