"""An inference-only TSIT generator with the same numbers, made for speed and memory.

What it changes against calling the eager :class:`~studio.tsit.model.TSITGenerator`
(all exact up to float rounding):

- spectral norm is applied once (``W / sigma`` from the stored ``u``, ``v``, as eval()
  does), instead of re-dividing all 398M weights on every call and keeping the result
  cached next to ``weight_orig`` (which doubles the resident weights);
- within each FADE residual block every ``mlp_gamma`` / ``mlp_beta`` convolution reads the
  same content feature, so they are stacked into ONE convolution (up to six times the
  output channels, one pass over the input), with the ``1 +`` folded into the gamma bias;
- tensors are channels-last (oneDNN's preferred layout) and the call runs under
  ``torch.inference_mode``; on CUDA the caller may pick fp16/bf16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.tsit.model import FADEResnetBlock, StreamResnetBlock, TSITGenerator, fadain


def _sn_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The eval-mode spectral-normalised weight (torch's hook without power iteration)."""
    if not hasattr(conv, "weight_orig"):
        return conv.weight.detach().clone()
    w = conv.weight_orig.detach()
    u, v = conv.weight_u.detach(), conv.weight_v.detach()
    sigma = torch.dot(u, torch.mv(w.reshape(w.shape[0], -1), v))
    return w / sigma


def _bias(conv: nn.Conv2d) -> torch.Tensor | None:
    return None if conv.bias is None else conv.bias.detach().clone()


class _Conv(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, padding: int):
        super().__init__()
        self.weight = nn.Parameter(weight.contiguous(memory_format=torch.channels_last)
                                   if weight.dim() == 4 else weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


def _conv(conv: nn.Conv2d) -> _Conv:
    return _Conv(_sn_weight(conv), _bias(conv), conv.padding[0])


class FastStreamBlock(nn.Module):
    def __init__(self, b: StreamResnetBlock):
        super().__init__()
        self.conv_0, self.conv_1 = _conv(b.conv_0), _conv(b.conv_1)
        self.conv_s = _conv(b.conv_s) if b.learned_shortcut else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def act(t):
            return F.leaky_relu_(t, 0.2)

        x_s = act(F.instance_norm(self.conv_s(x))) if self.conv_s is not None else x
        dx = act(F.instance_norm(self.conv_0(x)))
        dx = act(F.instance_norm(self.conv_1(dx)))
        return x_s + dx


class FastFADEBlock(nn.Module):
    """FADE residual block with its 4 or 6 modulation convs stacked into one."""

    def __init__(self, b: FADEResnetBlock):
        super().__init__()
        norms = [b.norm_0, b.norm_1] + ([b.norm_s] if b.learned_shortcut else [])
        ws, bs = [], []
        for n in norms:
            ws += [n.mlp_gamma.weight.detach(), n.mlp_beta.weight.detach()]
            bs += [n.mlp_gamma.bias.detach() + 1.0, n.mlp_beta.bias.detach()]
        self.splits = [w.shape[0] for w in ws]
        self.mlp = _Conv(torch.cat(ws), torch.cat(bs), norms[0].mlp_gamma.padding[0])
        self.batch_stats = norms[0].batch_stats
        self.stats = []
        for i, n in enumerate(norms):
            bn = n.param_free_norm
            self.register_buffer(f"rm{i}", bn.running_mean.detach().clone())
            self.register_buffer(f"rv{i}", bn.running_var.detach().clone())
        self.eps = norms[0].param_free_norm.eps
        self.conv_0, self.conv_1 = _conv(b.conv_0), _conv(b.conv_1)
        self.conv_s = _conv(b.conv_s) if b.learned_shortcut else None

    def _norm(self, x: torch.Tensor, i: int) -> torch.Tensor:
        if self.batch_stats:
            return F.batch_norm(x, None, None, training=True, eps=self.eps)
        return F.batch_norm(x, getattr(self, f"rm{i}"), getattr(self, f"rv{i}"),
                            training=False, eps=self.eps)

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        gb = torch.split(self.mlp(feat), self.splits, dim=1)
        if self.conv_s is not None:
            x_s = self.conv_s(torch.addcmul(gb[5], self._norm(x, 2), gb[4]))
        else:
            x_s = x
        dx = self.conv_0(F.leaky_relu_(torch.addcmul(gb[1], self._norm(x, 0), gb[0]), 0.2))
        dx = self.conv_1(F.leaky_relu_(torch.addcmul(gb[3], self._norm(dx, 1), gb[2]), 0.2))
        return x_s + dx


class FastStream(nn.Module):
    def __init__(self, s: nn.Module, depth: int):
        super().__init__()
        self.blocks = nn.ModuleList(FastStreamBlock(getattr(s, f"res_{i}"))
                                    for i in range(depth + 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.blocks[0](x)]
        for blk in self.blocks[1:]:
            feats.append(blk(F.interpolate(feats[-1], scale_factor=0.5)))
        return feats


class FastTSIT(nn.Module):
    """Same ``forward(content, style=None, noise=None, alpha=None)`` as the generator."""

    def __init__(self, g: TSITGenerator, channels_last: bool = True):
        super().__init__()
        self.config = c = g.config
        self.alpha = g.alpha
        self.channels_last = channels_last
        self.content_stream = FastStream(g.content_stream, c.depth)
        self.style_stream = FastStream(g.style_stream, c.depth) if g.style_stream else None
        if isinstance(g.fc, nn.Linear):
            self.fc = nn.Linear(g.fc.in_features, g.fc.out_features)
            self.fc.load_state_dict(g.fc.state_dict())
            self.fc.requires_grad_(False)
        else:
            self.fc = _conv(g.fc)
        self.blocks = nn.ModuleList(FastFADEBlock(getattr(g, n)) for n in g.block_names)
        self.conv_img = _conv(g.conv_img)
        object.__setattr__(self, "_ref", g)  # noise shapes and input checks; not a submodule
        self.eval()

    def sample_noise(self, content, generator=None):
        return self._ref.sample_noise(content, generator)

    @torch.inference_mode()
    def forward(self, content: torch.Tensor, style: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, alpha: float | None = None) -> torch.Tensor:
        c = self.config
        self._ref.check_input(content)
        alpha = self.alpha if alpha is None else alpha
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        content = content.contiguous(memory_format=mf)
        ft = self.content_stream(content)
        sft = None
        if self.style_stream is not None:
            s = content if style is None else style.contiguous(memory_format=mf)
            sft = self.style_stream(s)
        if noise is None:
            noise = self.sample_noise(content)
        if c.use_vae:
            sh, sw = c.latent_hw
            x = self.fc(noise).view(-1, c.widths()[-1], sh, sw)
        elif c.task == "SIS":
            x = self.fc(F.interpolate(content, size=ft[-1].shape[-2:]))
        else:
            x = self.fc(noise.to(content.dtype).contiguous(memory_format=mf))
        x = x.contiguous(memory_format=mf)
        for blk, k in zip(self.blocks, range(c.depth, 0, -1)):
            if sft is not None:
                x = fadain(x, sft[k], alpha)
            x = F.interpolate(blk(x, ft[k]), scale_factor=2.0)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2))).contiguous()


def make_fast(g: TSITGenerator, *, channels_last: bool = True,
              release: bool = False) -> FastTSIT:
    """Build the fast path from an eval-mode generator.

    ``release=True`` frees the eager weights afterwards (only the noise/shape logic of
    ``g`` is kept), so the process holds one copy of the 398M parameters.
    """
    g = g.eval()
    fast = FastTSIT(g, channels_last)
    if release:
        for name, mod in list(g.named_children()):
            delattr(g, name)
            del mod
    return fast
