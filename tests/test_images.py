"""The one image loader and writer: every bad-image kind, atomic writes, PNG parameters."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from studio.core import images
from studio.core.images import (
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    TruncatedImageError,
    atomic_write,
    encode_png,
    list_images,
    load_image,
    read_params,
    save_image,
)


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_png_roundtrip_keeps_pixels(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    p = _save(Image.fromarray(arr), tmp_path / "a.png")
    out = load_image(p)
    assert out.mode == "RGB" and out.size == (7, 9)
    assert np.array_equal(np.asarray(out), arr)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    p = _save(Image.fromarray(np.full((4, 5), 77, np.uint8), "L"), tmp_path / "g.png")
    arr = np.asarray(load_image(p))
    assert arr.shape == (4, 5, 3) and (arr == 77).all()


def test_palette_image_is_expanded(tmp_path):
    img = Image.new("P", (3, 3))
    img.putpalette([10, 20, 30] * 256)
    arr = np.asarray(load_image(_save(img, tmp_path / "p.png")))
    assert (arr == [10, 20, 30]).all()


def test_cmyk_jpeg_is_converted(tmp_path):
    img = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    arr = np.asarray(load_image(_save(img, tmp_path / "c.jpg", quality=95)))
    assert arr.shape == (8, 8, 3)
    assert arr[..., 0].mean() > 200 and arr[..., 1].mean() < 60 and arr[..., 2].mean() < 60


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    arr16 = np.full((4, 4), 32768, np.uint16)  # half of full scale
    p = tmp_path / "g16.png"
    Image.fromarray(arr16).save(p)
    out = np.asarray(load_image(p))
    assert abs(int(out[0, 0, 0]) - 128) <= 1


def _png_rgb16(path, value: int, size=(3, 2)):
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    w, h = size
    raw = b"".join(b"\x00" + struct.pack(">HHH", value, value, value) * w for _ in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def test_16bit_rgb_png_loads(tmp_path):
    out = np.asarray(load_image(_png_rgb16(tmp_path / "rgb16.png", 65535)))
    assert out.shape == (2, 3, 3) and (out == 255).all()


def test_alpha_is_composited_on_the_stated_background(tmp_path):
    img = Image.new("RGBA", (2, 2), (255, 0, 0, 0))  # fully transparent red
    p = _save(img, tmp_path / "t.png")
    assert (np.asarray(load_image(p)) == 255).all()  # white by default
    assert (np.asarray(load_image(p, background=(0, 0, 0))) == 0).all()
    half = _save(Image.new("RGBA", (2, 2), (255, 0, 0, 128)), tmp_path / "h.png")
    px = np.asarray(load_image(half, background=(0, 0, 255)))[0, 0]
    assert abs(int(px[0]) - 128) <= 1 and abs(int(px[2]) - 127) <= 1


def test_la_image_with_alpha(tmp_path):
    p = _save(Image.new("LA", (2, 2), (0, 0)), tmp_path / "la.png")
    assert (np.asarray(load_image(p)) == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (4, 2), (0, 0, 0))
    img.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    p = tmp_path / "o.jpg"
    img.save(p, exif=exif.tobytes(), quality=100)
    out = load_image(p)
    assert out.size == (2, 4)


def test_truncated_png_is_a_typed_error(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(good)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(TruncatedImageError) as exc:
        load_image(bad)
    assert "cut.png" in str(exc.value) and exc.value.path == bad


def test_truncated_jpeg_is_a_typed_error(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(good)
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(good.read_bytes()[:400])
    with pytest.raises(TruncatedImageError, match="cut.jpg"):
        load_image(bad)


def test_non_image_and_empty_files(tmp_path):
    txt = tmp_path / "notes.jpg"
    txt.write_text("this is not a picture")
    with pytest.raises(NotAnImageError, match="notes.jpg: not a recognised image format"):
        load_image(txt)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(NotAnImageError, match="empty"):
        load_image(empty)
    with pytest.raises(NotAnImageError, match="cannot read"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(NotAnImageError, match="directory"):
        load_image(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = _save(Image.new("L", (300, 300)), tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError, match="90,000 pixels exceeds the limit of 10,000"):
        load_image(p, max_pixels=10_000)


def test_min_size(tmp_path):
    p = _save(Image.new("RGB", (10, 20)), tmp_path / "small.png")
    with pytest.raises(ImageTooSmallError, match="10x20 is smaller than the minimum side 16"):
        load_image(p, min_size=16)
    assert load_image(p, min_size=10).size == (10, 20)


def test_params_roundtrip_and_absence(tmp_path):
    p = save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "x.png",
                   params={"alpha": 0.5, "style": "a.png"})
    assert read_params(p) == {"alpha": 0.5, "style": "a.png"}
    q = save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "y.png")
    assert read_params(q) is None


def test_png_encoding_is_deterministic():
    arr = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert encode_png(arr, {"b": 1, "a": 2}) == encode_png(arr, {"a": 2, "b": 1})


def test_save_accepts_tensors_and_other_formats(tmp_path):
    import torch

    t = torch.zeros(3, 5, 6)
    t[0] = 1.0
    p = save_image(t, tmp_path / "t.jpg")
    arr = np.asarray(Image.open(p))
    assert arr.shape == (5, 6, 3) and arr[..., 0].mean() > 240
    with pytest.raises(ValueError, match="unsupported output extension"):
        save_image(t, tmp_path / "t.xyz")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"partial new data")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_interrupted_save_never_creates_the_final_name(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(images.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        save_image(np.zeros((2, 2, 3), np.uint8), tmp_path / "new.png")
    assert not (tmp_path / "new.png").exists()
    assert list(tmp_path.iterdir()) == []


def test_killed_writer_process_leaves_only_a_hidden_part_file(tmp_path):
    """A process killed mid-write (os._exit, like kill -9) never exposes the final name."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from studio.core.images import atomic_write\n"
        f"with atomic_write({str(tmp_path / 'f.bin')!r}) as fh:\n"
        "    fh.write(b'x' * 1000); fh.flush(); os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    names = os.listdir(tmp_path)
    assert "f.bin" not in names
    assert all(n.startswith(".") and n.endswith(".part") for n in names)
    assert list_images(tmp_path) == []


def test_list_images_sorted_and_filtered(tmp_path):
    for name in ("b.png", "a.JPG", "c.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]


def test_in_memory_formats_via_bytes(tmp_path):
    buf = io.BytesIO()
    Image.new("1", (3, 3), 1).save(buf, format="BMP")
    p = tmp_path / "bw.bmp"
    p.write_bytes(buf.getvalue())
    assert (np.asarray(load_image(p)) == 255).all()


def test_image_grid_places_tiles():
    from studio.core.images import image_grid

    tiles = [np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30)]
    g = image_grid(tiles, ncols=2, pad=1, background=0)
    assert g.shape == (1 + 2 * 3, 1 + 2 * 4, 3)
    assert (g[1:3, 1:4] == 10).all() and (g[1:3, 5:8] == 20).all() and (g[4:6, 1:4] == 30).all()
    assert (g[4:6, 5:8] == 0).all()
    with pytest.raises(ValueError, match="same size"):
        image_grid([np.zeros((2, 2, 3), np.uint8), np.zeros((3, 3, 3), np.uint8)])


def test_written_files_get_the_usual_permissions(tmp_path):
    p = save_image(np.zeros((2, 2, 3), np.uint8), tmp_path / "m.png")
    mode = p.stat().st_mode & 0o777
    assert mode == 0o666 & ~images._UMASK


def test_one_quantisation_rule_matches_torchvision_save_image(tmp_path):
    """Tensors, arrays and [-1, 1] outputs all quantise as save_image does (x255, +0.5)."""
    import torch
    import torchvision

    from studio.core.images import quantize

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 5, 7, generator=g) * 1.2 - 0.1
    x[0, 0, 0, :4] = torch.tensor([2.5, 3.5, 126.5, 127.5]) / 255  # ties: half up
    torchvision.utils.save_image(x[1], tmp_path / "tv.png")
    q = quantize(x)
    assert q.shape == (2, 5, 7, 3) and q.dtype == np.uint8
    assert np.array_equal(q[1], np.asarray(Image.open(tmp_path / "tv.png")))
    assert list(q[0, 0, :4, 0]) == [3, 4, 127, 128]
    assert np.array_equal(quantize(x[1]), q[1])
    assert np.array_equal(quantize(x.permute(0, 2, 3, 1).numpy()), q)
    tsit = quantize(x * 2 - 1, -1.0, 1.0).astype(int)  # [-1, 1] outputs (TSIT)
    assert np.abs(tsit - q).max() <= 1 and (tsit == q).mean() > 0.97  # only float ties move


def test_image_grid_tiles_with_padding():
    from studio.core.images import image_grid

    tiles = [np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30)]
    g = image_grid(tiles, ncols=2, pad=1, background=255)
    assert g.shape == (2 * 3 + 1, 2 * 4 + 1, 3)
    assert g[1, 1, 0] == 10 and g[1, 5, 0] == 20 and g[4, 1, 0] == 30 and g[4, 5, 0] == 255
    assert image_grid(tiles, ncols=3, pad=0).shape == (2, 9, 3)
