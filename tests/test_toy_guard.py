"""A toy model applied to a non-toy image says so, once, naming the model and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from studio.core.jobs import Log
from studio.toyworld.generate import ToyWorldParams, draw, plan
from studio.toyworld.guard import first_foreign, top_colour_share, toy_mismatch, toy_warning


def _photo_like(size: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus sensor-like noise: many colours, like a photograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.4 * np.sin(3 * xx + 1), 0.4 + 0.3 * yy, 0.3 + 0.5 * xx * yy], -1)
    img = img + rng.normal(0, 0.06, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def test_toy_images_pass_and_photos_do_not():
    for kind in ("scene", "shape", "texture"):
        for size in (32, 64, 128):
            p = ToyWorldParams(Path("x"), per_class=1, size=size, seed=5, kind=kind)
            for item in plan(p):
                img = draw(p, item)
                assert toy_mismatch(img) is None, (kind, size, top_colour_share(img))
    photo = _photo_like(64)
    assert top_colour_share(photo) < 0.6
    assert "palette" in toy_mismatch(photo)
    big = np.zeros((300, 400, 3), np.uint8)  # flat, but far larger than the toy world
    assert toy_mismatch(big).startswith("400x300 px")
    # floats in [0, 1] and CHW tensors-as-arrays are read the same way
    assert toy_mismatch(photo.astype(np.float32) / 255) is not None
    assert toy_mismatch(np.transpose(draw(p, plan(p)[0]), (2, 0, 1))) is None


def test_warning_names_model_and_install_command():
    line = toy_warning("toy AdaIN", "400x300 px", "photo.jpg")
    assert "\n" not in line
    assert line.startswith("photo.jpg: 400x300 px")
    assert "toy AdaIN" in line and "`studio models import vgg_normalised.pth decoder.pth`" in line
    assert "studio models import" in toy_warning("toy TSIT", "x")


def test_first_foreign_reads_files(tmp_path):
    p = ToyWorldParams(Path("x"), per_class=1, size=64, seed=1, kind="scene")
    toy = tmp_path / "toy.png"
    Image.fromarray(draw(p, plan(p)[0])).save(toy)
    photo = tmp_path / "photo.png"
    Image.fromarray(_photo_like(200)).save(photo)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert first_foreign([toy, broken]) is None
    path, reason = first_foreign([toy, photo])
    assert path == str(photo) and reason.startswith("200x200 px")


def _stylize_logs(tmp_path: Path, content: Path, style: Path) -> list[Log]:
    from studio.adain.model import AdaINModel
    from studio.adain.stylize import StylizeParams, stylize_job

    params = StylizeParams(content=str(content), style=str(style), output=str(tmp_path / "o"),
                           content_size=64, style_size=64, device="cpu")
    gen = stylize_job(params, model=AdaINModel.load_toy())
    logs = []
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, Log):
                logs.append(ev)
    except StopIteration:
        pass
    return logs


def test_toy_adain_on_a_photo_warns_once(tmp_path):
    p = ToyWorldParams(Path("x"), per_class=1, size=64, seed=1, kind="scene")
    toy = tmp_path / "toy.png"
    Image.fromarray(draw(p, plan(p)[0])).save(toy)
    tex = ToyWorldParams(Path("x"), per_class=1, size=64, seed=1, kind="texture")
    style = tmp_path / "style.png"
    Image.fromarray(draw(tex, plan(tex)[0])).save(style)
    photo = tmp_path / "photo.png"
    Image.fromarray(_photo_like(256)).save(photo)

    warn = [e for e in _stylize_logs(tmp_path / "a", photo, style) if "toy AdaIN" in e.message]
    assert len(warn) == 1 and warn[0].level == "warning"
    assert "studio models import" in warn[0].message and "photo.png" in warn[0].message
    quiet = [e for e in _stylize_logs(tmp_path / "b", toy, style) if "toy AdaIN" in e.message]
    assert quiet == []


def test_toy_tsit_on_a_photo_warns_once(tmp_path):
    from studio.core.jobs import drive
    from studio.tsit.translate import TranslateParams, translate_job

    photo = tmp_path / "photo.png"
    Image.fromarray(_photo_like(160)).save(photo)
    tex = ToyWorldParams(Path("x"), per_class=1, size=64, seed=1, kind="texture")
    style = tmp_path / "style.png"
    Image.fromarray(draw(tex, plan(tex)[0])).save(style)
    logs: list[Log] = []
    drive(translate_job(TranslateParams(model="toy", content=[photo], style=[style],
                                        out=tmp_path / "out", device="cpu")),
          on_event=lambda ev: logs.append(ev) if isinstance(ev, Log) else None)
    warn = [e for e in logs if "toy TSIT" in e.message]
    assert len(warn) == 1 and warn[0].level == "warning"
    assert "studio models import" in warn[0].message
