"""An interactive AdaIN session: one model, cached content features and style statistics.

The Stylize page's live preview runs here (in a worker thread, no Qt): when only ``alpha``
changes, only AdaIN's blend and the decoder run; the encoder runs when an image, the size
or the colour mode changes. Colour preservation and spatial masks use the same
:mod:`studio.adain.ops` as ``studio stylize``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from studio.core.memo import Memo


class StylizeSession:
    """The AdaIN model plus caches; no Qt, runs inside a worker thread."""

    def __init__(self) -> None:
        self.model: Any = None
        self.model_name = ""
        self._feat = Memo(64)     # content features
        self._stats = Memo(256)   # style statistics
        self._images = Memo(256)  # preprocessed images
        self.decoder_runs = 0
        self.last_ms = 0.0

    @property
    def encoder_runs(self) -> int:
        """How often the encoder ran (contents and styles): the cost alpha never pays."""
        return self._feat.misses + self._stats.misses

    def load(self) -> str:
        """Load the official AdaIN if installed, else the toy one; return its name."""
        from studio.adain import load_default  # noqa: PLC0415 (loaded when used)

        if self.model is None:
            model = load_default()
            self.set_model(model, "official VGG-19 AdaIN" if model.config.name == "vgg19"
                           else f"toy AdaIN ({model.config.name})")
        return self.model_name

    def set_model(self, model: Any, name: str = "") -> None:
        """Use ``model``, prepared as ``studio stylize`` prepares it (channels-last, conv +
        ReLU fused: the same bits, about twice as fast on CPU); the caches start empty."""
        import torch  # noqa: PLC0415 (heavy: loaded when used)

        from studio.adain.stylize import prepare_model  # noqa: PLC0415 (loaded when used)

        self.model = prepare_model(model, torch.device("cpu"), channels_last=True)
        self.model_name = name or model.config.name
        self._feat.clear()
        self._stats.clear()

    def _image(self, path: str, size: int) -> Any:
        from studio.adain import load_tensor  # noqa: PLC0415 (loaded when used)
        from studio.adain.stylize import image_budget  # noqa: PLC0415 (loaded when used)

        def load() -> Any:  # a 1x3000 strip: a line, not OOM (measured on a cache miss only)
            return load_tensor(path, size=size,
                               budget=image_budget(self.model, "cpu").content)[None]

        return self._images.get((path, size), load)

    def render(self, spec: dict[str, Any]) -> np.ndarray:
        """Stylise per ``spec``; only the decoder runs when just ``alpha`` changed."""
        import torch  # noqa: PLC0415 (heavy: loaded when used)

        from studio.adain import ops, to_uint8  # noqa: PLC0415 (loaded when used)

        t0 = time.perf_counter()
        self.load()
        m = self.model
        size = int(spec.get("size", 0))
        content_path = spec["content"]
        styles = list(spec["styles"])
        preserve = spec.get("preserve") or None
        with torch.inference_mode():
            c = self._image(content_path, size)
            src = ops.luminance(c).expand_as(c) if preserve == "luminance" else c
            feat = self._feat.get((content_path, size, preserve == "luminance"),
                                  lambda: m.encode_content(_cl(src)))
            stats = []
            for s_path in styles:
                def style_stats(s_path: str = s_path) -> Any:
                    s = self._image(s_path, size)
                    if preserve == "coral":
                        # against the content as the job holds it (channels-last): its
                        # statistics then sum in the same order, and the pixels match
                        s = ops.coral(s[0], _cl(c)[0])[None]
                    elif preserve == "luminance":
                        s = ops.match_luminance(s, c)
                    return m.style_stats(_cl(s))

                skey = (s_path, size, preserve, content_path if preserve else None)
                stats.append(self._stats.get(skey, style_stats))
            masks = spec.get("masks")
            weights = spec.get("weights") if len(stats) > 1 and masks is None else None
            if len(stats) > 1 and masks is None and weights is None:
                weights = [1.0] * len(stats)
            target = m.target(feat, stats if len(stats) > 1 else stats[0],
                              alpha=float(spec.get("alpha", 1.0)), weights=weights,
                              masks=masks)
            out = m.decode(target)
            self.decoder_runs += 1
            if preserve == "luminance":
                out = ops.combine_luminance(out, c)
        self.last_ms = (time.perf_counter() - t0) * 1000
        return to_uint8(out)[0]

    def content_array(self, path: str, size: int) -> np.ndarray:
        from studio.adain import to_uint8  # noqa: PLC0415 (loaded when used)

        return to_uint8(self._image(path, size))[0]


def _cl(x: Any) -> Any:
    """Channels-last, the memory format the prepared model's fused convolutions take."""
    import torch  # noqa: PLC0415 (heavy: loaded when used)

    return x.contiguous(memory_format=torch.channels_last)


def make_masks(kind: str, n_styles: int, shape: tuple[int, int], mask_file: str = "") -> Any:
    """(K, H, W) region masks: 'split' = vertical bands at ``shape``, 'file' = a grey image
    for 2 styles, read exactly as ``studio stylize --masks`` reads it (at its own size, so
    the preview and the saved recipe's replay pick the same feature cells)."""
    import torch  # noqa: PLC0415 (heavy: loaded when used)

    h, w = shape
    if kind == "split":
        m = torch.zeros(n_styles, h, w)
        edges = np.linspace(0, w, n_styles + 1).round().astype(int)
        for k in range(n_styles):
            m[k, :, edges[k]:edges[k + 1]] = 1
        return m
    if kind == "file":
        from studio.adain.stylize import load_masks  # noqa: PLC0415 (loaded when used)

        if n_styles != 2:
            raise ValueError(f"a mask image splits the picture between 2 styles, not {n_styles}")
        if not mask_file:
            raise ValueError("choose a mask image (Regions ▸ mask image…)")
        return load_masks([mask_file], 2)
    return None
