"""The Stylize page's engine: the alpha slider re-runs the decoder only, and the preview
is the very image `studio stylize` writes."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from studio.adain.model import AdaINConfig, AdaINModel
from studio.adain.session import StylizeSession
from studio.adain.stylize import StylizeParams, stylize_job
from studio.core.images import load_image
from studio.core.jobs import drive

TINY = AdaINConfig("custom", (4, 8, 8, 16), (1, 2, 1, 1))


def _pictures(tmp_path):
    rng = np.random.default_rng(0)
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(c)
    Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(s)
    return c, s


def _model():
    torch.manual_seed(0)
    return AdaINModel(TINY)


def test_alpha_rerender_is_decoder_only_and_equals_studio_stylize(tmp_path):
    c, s = _pictures(tmp_path)
    sess = StylizeSession()
    sess.set_model(_model(), "tiny")
    spec = {"content": str(c), "styles": [str(s)], "size": 32, "alpha": 1.0}
    sess.render(spec)
    assert sess.encoder_runs == 2
    for alpha in (0.7, 0.3):
        spec["alpha"] = alpha
        preview = sess.render(spec)
        assert sess.encoder_runs == 2  # features and statistics cached
        out = tmp_path / f"out{alpha}"
        drive(stylize_job(StylizeParams(content=str(c), style=str(s), content_size=32,
                                        style_size=32, alpha=alpha, save_ext=".png",
                                        output=str(out), device="cpu"), model=_model()))
        written = np.asarray(load_image(out / "c_stylized_s.png"))
        assert np.array_equal(preview, written)
    assert sess.decoder_runs == 3
