"""TSIT (Jiang et al., ECCV 2020): two feature streams and a FADE/FAdaIN generator.

Reads top-down like the paper's figure: the pieces (``fadain``, :class:`FADE`, the two
residual blocks), the configuration and per-task presets, then the networks — the
content/style :class:`Stream`, the :class:`TSITGenerator`, the VAE :class:`ConvEncoder`
and the multi-scale PatchGAN :class:`MultiscaleDiscriminator`.

Module and parameter names follow the official code (EndlessSora/TSIT, on the SPADE
codebase), so its ``latest_net_G.pth`` / ``latest_net_E.pth`` load strictly: spectral
norm is torch's original hook (``weight_orig`` / ``weight_u`` / ``weight_v``) and the
FADE normalisation is a parameter-free ``BatchNorm2d`` whose running statistics are in the
file. ``torch.nn.SyncBatchNorm`` replaces the hand-copied sync-batchnorm module (same
buffers); :func:`convert_sync_batchnorm` switches to it for multi-GPU training.

Generalisation (a named option, official at the defaults): ``depth`` sets how many x0.5
steps the streams take (official 7, inputs multiples of 128); the decoder keeps the
official names — ``head_0``, ``G_middle_0``, ``G_middle_1`` for the features deeper than
x4 and ``up_0``..``up_3`` for x4..x1 — so depth 4..7 are supported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from studio.core.checkpoints import CheckpointError, check_state_dict, load_state_dict
from studio.models.adain_norm import adain, calc_mean_std

Task = Literal["AST", "MMIS", "SIS"]

# ---------------------------------------------------------------------------------------
# Building blocks


def fadain(x: torch.Tensor, style_feat: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Feature AdaIN: AdaIN on a decoder feature, blended with ``alpha`` (1 = full style)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return alpha * adain(x, style_feat) + (1 - alpha) * x


def _actvn(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class FADE(nn.Module):
    """Feature adaptive denormalisation: ``BN(x) * (1 + gamma(f)) + beta(f)``.

    ``gamma`` and ``beta`` are single 3x3 convolutions of the content-stream feature ``f``
    (no shared hidden layer, unlike SPADE); the batch norm has no affine parameters.
    ``batch_stats`` makes the norm use the batch's statistics even in ``eval()`` — the
    official test script never calls ``eval()`` for photo2art and multimodal, so their
    published results were made that way.
    """

    def __init__(self, norm_nc: int, feat_nc: int, ks: int = 3):
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_gamma = nn.Conv2d(feat_nc, norm_nc, kernel_size=ks, padding=ks // 2)
        self.mlp_beta = nn.Conv2d(feat_nc, norm_nc, kernel_size=ks, padding=ks // 2)
        self.batch_stats = False

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        if self.batch_stats and not self.training:
            normalized = F.batch_norm(x, None, None, training=True,
                                      eps=self.param_free_norm.eps)
        else:
            normalized = self.param_free_norm(x)
        return normalized * (1 + self.mlp_gamma(feat)) + self.mlp_beta(feat)


class FADEResnetBlock(nn.Module):
    """Decoder block: FADE -> LReLU -> conv, twice, plus a (FADE + 1x1 conv) shortcut."""

    def __init__(self, fin: int, fout: int, feat_nc: int | None = None):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = fin
        feat_nc = fin if feat_nc is None else feat_nc
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = FADE(fin, feat_nc)
        self.norm_1 = FADE(fmiddle, feat_nc)
        if self.learned_shortcut:
            self.norm_s = FADE(fin, feat_nc)

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, feat)) if self.learned_shortcut else x
        dx = self.conv_0(_actvn(self.norm_0(x, feat)))
        dx = self.conv_1(_actvn(self.norm_1(dx, feat)))
        return x_s + dx


class StreamResnetBlock(nn.Module):
    """Stream block: conv -> IN -> LReLU, twice, plus a (1x1 conv -> IN -> LReLU) shortcut.

    Spectral norm on every conv, ``InstanceNorm2d(affine=False)`` (official ``norm_S``
    default ``spectralinstance``).
    """

    def __init__(self, fin: int, fout: int):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = fin
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_layer_in = nn.InstanceNorm2d(fmiddle, affine=False)
        self.norm_layer_out = nn.InstanceNorm2d(fout, affine=False)
        if self.learned_shortcut:
            self.norm_layer_s = nn.InstanceNorm2d(fout, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_s = _actvn(self.norm_layer_s(self.conv_s(x))) if self.learned_shortcut else x
        dx = _actvn(self.norm_layer_in(self.conv_0(x)))
        dx = _actvn(self.norm_layer_out(self.conv_1(dx)))
        return x_s + dx


# ---------------------------------------------------------------------------------------
# Configuration and per-task presets


@dataclass(frozen=True)
class TSITConfig:
    """Architecture of one TSIT generator (official defaults: ngf 64, depth 7)."""

    task: Task = "AST"
    ngf: int = 64
    #: x0.5 steps in the streams (official 7: inputs are multiples of 128 px).
    depth: int = 7
    #: Input channels of the content stream: 3 for images, label classes for SIS.
    semantic_nc: int = 3
    #: SIS: one-hot label classes without the extra channels below (for the discriminator).
    label_nc: int = 3
    contain_dontcare_label: bool = False
    use_instance: bool = False
    #: Start the decoder from a VAE latent (Linear z_dim -> 16 ngf x sh x sw).
    use_vae: bool = False
    z_dim: int = 256
    #: Model input size (width, height) the VAE latent grid is tied to; official crop size.
    crop_size: int = 256
    aspect_ratio: float = 1.0
    #: FAdaIN strength (official --alpha).
    alpha: float = 1.0
    #: "running" = eval() batch norm; "batch" = batch statistics (official test of
    #: photo2art and multimodal, which skip model.eval()).
    fade_stats: Literal["running", "batch"] = "running"

    @property
    def has_style_stream(self) -> bool:
        return self.task != "SIS"

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (2^depth)."""
        return 2 ** self.depth

    @property
    def min_side(self) -> int:
        """Smallest input side: the deepest features need 2x2 for instance norm."""
        return 2 * self.multiple

    @property
    def latent_hw(self) -> tuple[int, int]:
        """(sh, sw) of the VAE latent grid, as official ``compute_latent_vector_size``."""
        sw = self.crop_size // self.multiple
        return round(sw / self.aspect_ratio), sw

    @property
    def input_hw(self) -> tuple[int, int]:
        """(height, width) the official data loader feeds (``preprocess_mode fixed``)."""
        return round(self.crop_size / self.aspect_ratio), self.crop_size

    def widths(self) -> list[int]:
        """Stream feature widths x0..x_depth: ngf * min(2^i, 16)."""
        return [self.ngf * min(2 ** i, 16) for i in range(self.depth + 1)]

    def decoder_names(self) -> list[str]:
        """Decoder block names from the deepest feature to x1 (official at depth 7)."""
        if not 4 <= self.depth <= 7:
            raise ValueError(f"depth must be 4..7 (official 7), got {self.depth}")
        middle = ["head_0", "G_middle_0", "G_middle_1"][: self.depth - 4]
        return middle + ["up_0", "up_1", "up_2", "up_3"]


@dataclass(frozen=True)
class TaskPreset:
    """Official settings of one experiment: model shape, data size, loss weights, schedule."""

    name: str
    config: TSITConfig
    lambda_vgg: float
    lambda_feat: float
    niter: int
    niter_decay: int = 0
    batch_size: int = 1
    n_layers_D: int = 3
    #: Output (width, height) of the official loader.
    description: str = ""


PRESETS: dict[str, TaskPreset] = {p.name: p for p in (
    TaskPreset("summer2winter", TSITConfig("AST"), 1.0, 1.0, 200,
               description="arbitrary style transfer, summer2winter_yosemite, 256x256"),
    TaskPreset("photo2art", TSITConfig("AST", fade_stats="batch"), 1.0, 2.0, 40,
               description="arbitrary style transfer, photo2art, 256x256"),
    TaskPreset("day2night", TSITConfig("AST", crop_size=512, aspect_ratio=2.0), 2.0, 1.0, 10,
               description="arbitrary style transfer, BDD100K day -> night, 512x256"),
    TaskPreset("multimodal", TSITConfig("MMIS", crop_size=512, aspect_ratio=2.0,
                                        fade_stats="batch"), 1.0, 1.0, 20,
               description="multimodal synthesis, BDD100K sunny -> night/cloudy/rainy/snowy"),
    TaskPreset("cityscapes", TSITConfig("SIS", semantic_nc=36, label_nc=35, use_instance=True,
                                        use_vae=True, crop_size=512, aspect_ratio=2.0),
               20.0, 10.0, 100, 100, 16, 4,
               description="semantic synthesis, Cityscapes (35 labels + instance edges)"),
    TaskPreset("ade20k", TSITConfig("SIS", semantic_nc=151, label_nc=150,
                                    contain_dontcare_label=True, use_vae=True),
               20.0, 10.0, 100, 100, 16, 4,
               description="semantic synthesis, ADE20K (150 labels + dontcare)"),
)}
#: Names the official release uses for the same experiments.
PRESET_ALIASES = {"ast_summer2winteryosemite": "summer2winter", "ast_photo2art": "photo2art",
                  "ast_day2night": "day2night", "mmis_sunny2diffweathers": "multimodal",
                  "sis_cityscapes": "cityscapes", "sis_ade20k": "ade20k",
                  "ast": "summer2winter", "mmis": "multimodal"}


def get_preset(name: str) -> TaskPreset:
    key = PRESET_ALIASES.get(name.lower(), name.lower())
    if key not in PRESETS:
        raise ValueError(f"unknown TSIT task {name!r} (known: {', '.join(PRESETS)}, "
                         f"{', '.join(PRESET_ALIASES)})")
    return PRESETS[key]


# ---------------------------------------------------------------------------------------
# Networks


class Stream(nn.Module):
    """Content or style stream: residual blocks res_0..res_depth with nearest x0.5 between."""

    def __init__(self, config: TSITConfig):
        super().__init__()
        w = config.widths()
        self.depth = config.depth
        self.add_module("res_0", StreamResnetBlock(config.semantic_nc, w[0]))
        for i in range(1, config.depth + 1):
            self.add_module(f"res_{i}", StreamResnetBlock(w[i - 1], w[i]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.res_0(x)]
        for i in range(1, self.depth + 1):
            x = F.interpolate(feats[-1], scale_factor=0.5)
            feats.append(getattr(self, f"res_{i}")(x))
        return feats


class TSITGenerator(nn.Module):
    """Content stream + optional style stream + FADE decoder with FAdaIN before each block.

    ``forward(content, style=None, noise=None)``: ``content`` in [-1, 1] (or a one-hot
    label map for SIS), ``style`` in [-1, 1] (defaults to the content image), ``noise``
    the decoder's starting tensor — (N, 3, H/2^depth, W/2^depth) for style tasks, (N,
    z_dim) for SIS with VAE — drawn from the global RNG when not given. Returns [-1, 1].
    """

    def __init__(self, config: TSITConfig | None = None):
        super().__init__()
        self.config = config = config or TSITConfig()
        nf16 = config.widths()[-1]
        self.content_stream = Stream(config)
        self.style_stream = Stream(config) if config.has_style_stream else None
        if config.use_vae:
            sh, sw = config.latent_hw
            self.fc = nn.Linear(config.z_dim, nf16 * sh * sw)
        else:
            self.fc = nn.Conv2d(3 if config.task != "SIS" else config.semantic_nc, nf16, 3,
                                padding=1)
        w = config.widths()
        self.block_names = config.decoder_names()
        for name, k in zip(self.block_names, range(config.depth, 0, -1)):
            self.add_module(name, FADEResnetBlock(w[k], w[k - 1]))
        self.conv_img = nn.Conv2d(w[0], 3, 3, padding=1)
        self.alpha = config.alpha
        self.set_fade_stats(config.fade_stats)

    def set_fade_stats(self, mode: str) -> None:
        if mode not in ("running", "batch"):
            raise ValueError(f"fade_stats must be 'running' or 'batch', got {mode!r}")
        for m in self.modules():
            if isinstance(m, FADE):
                m.batch_stats = mode == "batch"

    def noise_shape(self, content: torch.Tensor) -> tuple[int, ...]:
        c = self.config
        if c.use_vae:
            return (content.shape[0], c.z_dim)
        return (content.shape[0], 3, content.shape[2] // c.multiple,
                content.shape[3] // c.multiple)

    def sample_noise(self, content: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor | None:
        """The random start of the decoder (None for SIS without VAE, which has none)."""
        if self.config.task == "SIS" and not self.config.use_vae:
            return None
        dev = generator.device if generator is not None else content.device
        n = torch.randn(self.noise_shape(content), generator=generator, device=dev,
                        dtype=torch.float32)
        dtype = content.dtype if content.is_floating_point() else torch.float32
        return n.to(device=content.device, dtype=dtype)

    def check_input(self, content: torch.Tensor) -> None:
        c = self.config
        h, w = content.shape[-2:]
        if h % c.multiple or w % c.multiple or min(h, w) < c.min_side:
            raise ValueError(f"input {w}x{h} must be a multiple of {c.multiple} px and at "
                             f"least {c.min_side} px (depth {c.depth}); "
                             "studio.tsit.translate pads/resizes any size")
        if c.use_vae and (h, w) != tuple(s * c.multiple for s in c.latent_hw):
            raise ValueError(f"this VAE model needs {c.input_hw[1]}x{c.input_hw[0]} input, "
                             f"got {w}x{h}")

    def forward(self, content: torch.Tensor, style: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, alpha: float | None = None) -> torch.Tensor:
        c = self.config
        self.check_input(content)
        alpha = self.alpha if alpha is None else alpha
        ft = self.content_stream(content)
        sft = None
        if self.style_stream is not None:
            sft = self.style_stream(content if style is None else style)
        if c.use_vae:
            z = noise if noise is not None else self.sample_noise(content)
            sh, sw = c.latent_hw
            x = self.fc(z).view(-1, c.widths()[-1], sh, sw)
        elif c.task == "SIS":
            x = self.fc(F.interpolate(content, size=ft[-1].shape[-2:]))
        else:
            x = self.fc(noise if noise is not None else self.sample_noise(content))
        for name, k in zip(self.block_names, range(c.depth, 0, -1)):
            if sft is not None:
                x = fadain(x, sft[k], alpha)
            x = getattr(self, name)(x, ft[k])
            x = F.interpolate(x, scale_factor=2.0)
        return torch.tanh(self.conv_img(_actvn(x)))


class ConvEncoder(nn.Module):
    """VAE image encoder (official ``ConvEncoder``): 6 stride-2 convs -> mu, logvar."""

    def __init__(self, ngf: int = 64, z_dim: int = 256, layer6: bool = True):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 3, 2, 1, bias=False)),
                                 nn.InstanceNorm2d(cout, affine=False))

        ndf = ngf
        self.layer1 = block(3, ndf)
        self.layer2 = block(ndf, ndf * 2)
        self.layer3 = block(ndf * 2, ndf * 4)
        self.layer4 = block(ndf * 4, ndf * 8)
        self.layer5 = block(ndf * 8, ndf * 8)
        self.has_layer6 = layer6
        if layer6:
            self.layer6 = block(ndf * 8, ndf * 8)
        self.fc_mu = nn.Linear(ndf * 8 * 4 * 4, z_dim)
        self.fc_var = nn.Linear(ndf * 8 * 4 * 4, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-2:] != (256, 256):
            x = F.interpolate(x, size=(256, 256), mode="bilinear")
        x = self.layer1(x)
        for name in ("layer2", "layer3", "layer4", "layer5") + (("layer6",) if
                                                              self.has_layer6 else ()):
            x = getattr(self, name)(_actvn(x))
        x = _actvn(x).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN with 4x4 convs; returns every layer's output (for feature matching)."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        kw, padw = 4, 2
        nf = ndf
        seq: list[list[nn.Module]] = [[nn.Conv2d(input_nc, nf, kw, 2, padw),
                                       nn.LeakyReLU(0.2, False)]]
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == 3 else 2
            seq.append([nn.Sequential(spectral_norm(nn.Conv2d(nf_prev, nf, kw, stride, padw,
                                                              bias=False)),
                                      nn.InstanceNorm2d(nf, affine=False)),
                        nn.LeakyReLU(0.2, False)])
        seq.append([nn.Conv2d(nf, 1, kw, 1, padw)])
        for n, layers in enumerate(seq):
            self.add_module(f"model{n}", nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for sub in self.children():
            x = sub(x)
            out.append(x)
        return out


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on the image and its 3x3/2 average-pooled copies."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, num_D: int = 2):
        super().__init__()
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf, n_layers))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        result = []
        for d in self.children():
            result.append(d(x))
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=[1, 1],
                             count_include_pad=False)
        return result


# ---------------------------------------------------------------------------------------
# Initialisation, sync BN, official checkpoints


def init_weights(net: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> nn.Module:
    """Official ``init_weights``: xavier-normal (gain 0.02) conv/linear weights, zero bias."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            with torch.no_grad():
                if init_type == "xavier":
                    nn.init.xavier_normal_(w, gain=gain)
                elif init_type == "normal":
                    nn.init.normal_(w, 0.0, gain)
                elif init_type == "kaiming":
                    nn.init.kaiming_normal_(w, a=0, mode="fan_in")
                elif init_type == "orthogonal":
                    nn.init.orthogonal_(w, gain=gain)
                else:
                    raise ValueError(f"unknown init_type {init_type!r}")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return net


def convert_sync_batchnorm(net: nn.Module) -> nn.Module:
    """torch's SyncBatchNorm for multi-GPU training (same state_dict keys as BatchNorm2d)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(net)


def build_generator(config: TSITConfig | None = None, *, device: str | torch.device = "cpu",
                    init: bool = True) -> TSITGenerator:
    """A fresh generator; ``device="meta"`` builds the full-size tree without memory."""
    with torch.device(device):
        g = TSITGenerator(config)
    if init and str(device) != "meta":
        init_weights(g)
    return g


def config_from_state_dict(sd: dict[str, torch.Tensor], base: TSITConfig) -> TSITConfig:
    """Read ngf, depth, input channels and VAE use off the tensors of a generator file."""
    try:
        ngf = sd["content_stream.res_0.conv_1.weight_orig"].shape[0]
        semantic_nc = sd["content_stream.res_0.conv_0.weight_orig"].shape[1]
        fc_w = sd["fc.weight"]
    except KeyError as exc:
        raise KeyError(f"not a TSIT generator state_dict: no {exc.args[0]!r}") from None
    depth = max(int(k.split(".")[1][4:]) for k in sd if k.startswith("content_stream.res_"))
    use_vae = fc_w.dim() == 2
    task = base.task
    if "style_stream.res_0.conv_0.weight_orig" not in sd and task != "SIS":
        task = "SIS"
    cfg = replace(base, ngf=ngf, depth=depth, semantic_nc=semantic_nc, use_vae=use_vae,
                  task=task)
    if use_vae:
        cfg = replace(cfg, z_dim=fc_w.shape[1])
        cells = fc_w.shape[0] // cfg.widths()[-1]
        sh, sw = cfg.latent_hw
        if sh * sw != cells:  # the file's grid wins; keep the preset's aspect ratio
            sw = max(1, round(math.sqrt(cells * cfg.aspect_ratio)))
            cfg = replace(cfg, crop_size=sw * cfg.multiple,
                          aspect_ratio=sw / max(1, cells // sw))
    return cfg


def load_generator(path: str | os.PathLike, task: str = "summer2winter", *,
                   device: str | torch.device = "cpu", alpha: float | None = None,
                   fade_stats: str | None = None) -> TSITGenerator:
    """Load an official (or Studio-trained) ``latest_net_G.pth`` strictly, in ``eval()``.

    ``task`` is a preset name (summer2winter, photo2art, day2night, multimodal,
    cityscapes, ade20k; official experiment names work too) or AST / MMIS / SIS. ngf,
    depth and input channels are read from the file.
    """
    base = get_preset(task).config
    sd = load_state_dict(path, strip_prefixes=("module.",))
    try:
        cfg = config_from_state_dict(sd, base)
    except KeyError as exc:
        raise CheckpointError(path, exc.args[0]) from None
    if alpha is not None:
        cfg = replace(cfg, alpha=alpha)
    if fade_stats is not None:
        cfg = replace(cfg, fade_stats=fade_stats)
    g = build_generator(cfg, init=False)
    check_state_dict(g, sd, path, hint=f"expected a TSIT {cfg.task} generator "
                                       f"(ngf {cfg.ngf}, depth {cfg.depth})")
    g.load_state_dict(sd, strict=True)
    return g.to(device).eval()


def load_encoder(path: str | os.PathLike, *, device: str | torch.device = "cpu"
                 ) -> ConvEncoder:
    """Load an official ``latest_net_E.pth`` (the SIS VAE encoder) strictly, in ``eval()``."""
    sd = load_state_dict(path, strip_prefixes=("module.",))
    ngf = sd["layer1.0.weight_orig"].shape[0] if "layer1.0.weight_orig" in sd else 64
    z_dim = sd["fc_mu.weight"].shape[0] if "fc_mu.weight" in sd else 256
    enc = ConvEncoder(ngf, z_dim, layer6="layer6.0.weight_orig" in sd)
    check_state_dict(enc, sd, path, hint="expected a TSIT VAE encoder (latest_net_E.pth)")
    enc.load_state_dict(sd, strict=True)
    return enc.to(device).eval()


def official_keys(task: str = "summer2winter", **overrides) -> list[str]:
    """The state_dict keys of a generator, built on the meta device (no memory used)."""
    cfg = replace(get_preset(task).config, **overrides)
    return list(build_generator(cfg, device="meta").state_dict())


def iter_fade(net: nn.Module) -> Iterator[FADE]:
    for m in net.modules():
        if isinstance(m, FADE):
            yield m


__all__ = [
    "Task", "calc_mean_std", "adain", "fadain", "FADE", "FADEResnetBlock",
    "StreamResnetBlock", "TSITConfig", "TaskPreset", "PRESETS", "get_preset", "Stream",
    "TSITGenerator", "ConvEncoder", "NLayerDiscriminator", "MultiscaleDiscriminator",
    "init_weights", "convert_sync_batchnorm", "build_generator", "config_from_state_dict",
    "load_generator", "load_encoder", "official_keys",
]
