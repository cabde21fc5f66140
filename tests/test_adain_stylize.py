"""`studio stylize`: test.py flags, names and preprocessing; bad inputs; batching; training."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from studio.adain import transforms as adain_tf
from studio.adain.model import AdaINConfig, AdaINModel
from studio.adain.stylize import StylizeParams, output_name, stylize_job
from studio.cli import build_parser, main
from studio.core.checkpoints import save_state_dict
from studio.core.images import read_params
from studio.core.jobs import drive

TINY = AdaINConfig("custom", (4, 8, 8, 16), (1, 2, 1, 1))


@pytest.fixture()
def tiny_files(tmp_path):
    torch.manual_seed(0)
    m = AdaINModel(TINY)
    return (save_state_dict(m.encoder, tmp_path / "enc.pth"),
            save_state_dict(m.decoder, tmp_path / "dec.pth"))


def _img(path, size=(40, 32), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if mode == "L":
        img = img.convert("L")
    elif mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(128)
    elif mode == "CMYK":
        img = img.convert("CMYK")
    elif mode == "I;16":
        img = Image.fromarray((rng.integers(0, 65535, (size[1], size[0]))).astype(np.uint16))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def test_preprocessing_matches_torchvision_test_transform(tmp_path):
    from torchvision import transforms

    p = _img(tmp_path / "a.png", (50, 30))
    img = Image.open(p).convert("RGB")
    for size, crop in ((0, False), (20, False), (20, True)):
        steps = ([transforms.Resize(size)] if size else []) + \
            ([transforms.CenterCrop(size)] if crop else []) + [transforms.ToTensor()]
        assert torch.equal(adain_tf.load_tensor(p, size, crop), transforms.Compose(steps)(img))
    assert adain_tf.load_tensor(p, 20).shape == (3, 20, 33)   # shorter side -> 20
    # quantisation exactly as torchvision.utils.save_image (what test.py writes)
    from torchvision.utils import save_image as tv_save

    x = torch.rand(1, 3, 7, 9) * 1.4 - 0.2
    tv_save(x, tmp_path / "tv.png")
    assert np.array_equal(adain_tf.to_uint8(x)[0], np.asarray(Image.open(tmp_path / "tv.png")))



def test_torch_only_preprocessing_is_torchvision_bit_for_bit():
    """Resize / CenterCrop / ToTensor written without torchvision (its import costs ~2 s of
    start-up) give torchvision's exact bits: odd sizes, portrait and landscape, a size the
    image already has, crops larger than the image (zero padding), grey images."""
    from torchvision import transforms
    from torchvision.transforms import functional as TF

    rng = np.random.default_rng(5)
    for w, h in ((50, 30), (30, 50), (31, 31), (224, 224), (97, 301), (257, 256)):
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for size in (7, 20, 31, 224, 255):
            assert adain_tf.resize_shorter(img, size).size == TF.resize(img, size).size
            assert np.array_equal(np.asarray(adain_tf.resize_shorter(img, size)),
                                  np.asarray(TF.resize(img, size)))
            for crop in ((size, size), (h + 3, w + 2), (h + 1, 5)):
                assert np.array_equal(np.asarray(adain_tf.center_crop(img, *crop)),
                                      np.asarray(TF.center_crop(img, list(crop))))
            for crop in (False, True):
                steps = [transforms.Resize(size)] + ([transforms.CenterCrop(size)]
                                                     if crop else []) + [transforms.ToTensor()]
                assert torch.equal(adain_tf.test_transform(size, crop)(img),
                                   transforms.Compose(steps)(img))
        grey = img.convert("L")
        assert torch.equal(adain_tf.pil_to_tensor(grey), TF.to_tensor(grey))


def test_directory_run_names_params_and_bad_files(tmp_path, tiny_files):
    enc, dec = tiny_files
    cdir, sdir = tmp_path / "c", tmp_path / "s"
    _img(cdir / "one.png", seed=1)
    _img(cdir / "grey.png", mode="L", seed=2)
    _img(cdir / "alpha.png", mode="RGBA", seed=3)
    _img(cdir / "cmyk.jpg", mode="CMYK", seed=4)
    _img(cdir / "deep.png", mode="I;16", seed=5)
    (cdir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    _img(sdir / "paint.png", (36, 36), seed=6)
    _img(sdir / "ink.jpg", (30, 44), seed=7)
    out = tmp_path / "out"
    params = StylizeParams(content_dir=str(cdir), style_dir=str(sdir), vgg=str(enc),
                           decoder=str(dec), content_size=24, style_size=24,
                           save_ext=".png", output=str(out), batch_size=3)
    result = drive(stylize_job(params))
    assert [f["source"] for f in result["failed"]] == [str(cdir / "broken.png")]
    assert "not a recognised image format" in result["failed"][0]["reason"]
    names = sorted(p.name for p in out.iterdir())
    expect = sorted(f"{c}_stylized_{s}.png" for c in ("one", "grey", "alpha", "cmyk", "deep")
                    for s in ("paint", "ink"))
    bookkeeping = ["README.md", "dataset.json", "errors.jsonl", "manifest.jsonl", "provenance.jsonl"]
    assert names == sorted(expect + bookkeeping)
    info = json.loads((out / "dataset.json").read_text())
    assert info["num_items"] == 10 and info["fingerprint"]["params"]["alpha"] == 1.0
    assert result["styles_encoded"] == 2   # once each, not once per content
    meta = read_params(out / "grey_stylized_ink.png")
    assert meta["style"] == str(sdir / "ink.jpg") and meta["alpha"] == 1.0
    assert meta["content_size"] == 24 and len(meta["vgg_sha256"]) == 64
    # 40x32 -> 30x24 (shorter side 24); ceil-mode pooling + x8 upsampling -> 32x24, as the
    # reference (outputs are multiples of 8)
    assert Image.open(out / "one_stylized_ink.png").size == (32, 24)

    # the CLI: same flags, exit status 1 when an input failed, dashed spellings too
    rc = main(["stylize", "--content-dir", str(cdir), "--style", str(sdir / "ink.jpg"),
               "--vgg", str(enc), "--decoder", str(dec), "--content_size", "16",
               "--style-size", "0", "--output", str(tmp_path / "cli"), "-q"])
    assert rc == 1
    assert (tmp_path / "cli" / "one_stylized_ink.jpg").is_file()


def test_batched_cached_path_equals_the_per_image_path(tmp_path, tiny_files):
    enc, dec = tiny_files
    cdir = tmp_path / "c"
    for i in range(5):
        _img(cdir / f"c{i}.png", (32, 32), seed=10 + i)
    style = _img(tmp_path / "style.png", (28, 28), seed=20)
    outs = {}
    for bs in (1, 4):
        out = tmp_path / f"bs{bs}"
        drive(stylize_job(StylizeParams(content_dir=str(cdir), style=str(style), vgg=str(enc),
                                        decoder=str(dec), content_size=0, style_size=0,
                                        save_ext=".png", output=str(out), batch_size=bs,
                                        alpha=0.8)))
        outs[bs] = {p.name: np.asarray(Image.open(p)).astype(int) for p in out.glob("*.png")}
    assert outs[1].keys() == outs[4].keys() and len(outs[1]) == 5
    model = AdaINModel.from_files(enc, dec)
    for name, arr in outs[4].items():
        assert np.abs(arr - outs[1][name]).max() <= 1
        c = adain_tf.load_tensor(cdir / f"{name.split('_stylized_')[0]}.png", 0)[None]
        s = adain_tf.load_tensor(style, 0)[None]
        ref = adain_tf.to_uint8(model.stylize(c, s, alpha=0.8))[0].astype(int)
        assert np.abs(arr - ref).max() <= 1


def test_interpolation_and_masks_from_the_command_line(tmp_path, tiny_files):
    enc, dec = tiny_files
    c = _img(tmp_path / "photo.png", (32, 32), seed=1)
    s1, s2 = _img(tmp_path / "s1.png", seed=2), _img(tmp_path / "s2.png", seed=3)
    out = tmp_path / "out"
    common = ["--vgg", str(enc), "--decoder", str(dec), "--content", str(c),
              "--output", str(out), "-q", "--save_ext", ".png"]
    assert main(["stylize", "--style", f"{s1},{s2}",
                 "--style_interpolation_weights", "0.5,1.5", *common]) == 0
    assert read_params(out / "photo_interpolation.png")["weights"] == [0.25, 0.75]
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    m1, m2 = tmp_path / "m1.png", tmp_path / "m2.png"
    Image.fromarray(mask).save(m1)
    Image.fromarray(255 - mask).save(m2)
    # other settings into the same folder: refused, naming what changed; --overwrite redoes
    assert main(["stylize", "--style", f"{s1},{s2}", "--masks", f"{m1},{m2}", *common]) == 2
    assert main(["stylize", "--style", f"{s1},{s2}", "--masks", f"{m1},{m2}", *common,
                 "--overwrite"]) == 0
    assert not (out / "photo_interpolation.png").exists()
    two = np.asarray(Image.open(out / "photo_masked.png"))
    assert main(["stylize", "--style", f"{s1},{s2}", "--masks", str(m1), *common,
                 "--overwrite"]) == 0
    assert np.array_equal(np.asarray(Image.open(out / "photo_masked.png")), two)
    assert main(["stylize", "--style", f"{s1},{s2}", *common]) == 2   # weights or masks needed
    assert main(["stylize", "--style", str(s1), "--preserve_color", *common,
                 "--overwrite"]) == 0
    assert main(["stylize", "--style", str(s1), "--color-method", "luminance", "--alpha",
                 "0.5", *common, "--overwrite"]) == 0
    assert read_params(out / "photo_stylized_s1.png")["preserve_color"] == "luminance"


def test_reference_defaults_and_names():
    args = build_parser().parse_args(["stylize", "--content", "a.jpg", "--style", "b.jpg"])
    assert (args.content_size, args.style_size, args.crop, args.save_ext, args.output,
            args.alpha, args.preserve_color, args.style_interpolation_weights) == \
        (512, 512, False, ".jpg", "output", 1.0, False, [])
    assert output_name(__import__("pathlib").Path("x/cat.png"),
                       __import__("pathlib").Path("y/starry.jpg"), ".jpg") == \
        "cat_stylized_starry.jpg"


def test_missing_decoder_is_a_clear_error(tmp_path, tiny_files, capsys):
    enc, _ = tiny_files
    c = _img(tmp_path / "c.png")
    rc = main(["stylize", "--content", str(c), "--style", str(c), "--vgg", str(enc),
               "--decoder", str(tmp_path / "missing.pth"), "--output", str(tmp_path / "o")])
    assert rc == 2
    assert "missing.pth" in capsys.readouterr().err


def test_compile_option_keeps_every_step_working(monkeypatch):
    """`--compile` compiles encode/decode (the Sequentials are sliced by index, which a
    compiled module refuses); the eager backend checks the wiring without a C compiler."""
    from functools import partial

    from studio.adain.stylize import prepare_model

    monkeypatch.setattr(torch, "compile", partial(torch.compile, backend="eager"))
    torch.manual_seed(0)
    cfg = AdaINConfig("custom", (4, 8, 8, 16), (1, 1, 1, 1))
    plain = AdaINModel(cfg).eval()
    fast = prepare_model(AdaINModel(cfg), torch.device("cpu"), compile=True)
    fast.load_state_dict(plain.state_dict())
    c, s = torch.rand(2, 3, 24, 24), torch.rand(1, 3, 24, 24)
    assert torch.allclose(fast.stylize(c, s), plain.stylize(c, s), atol=1e-5)


def test_fingerprint_keeps_the_weights_as_they_were_written():
    """Folders built when the weights were a string ("1,0.5") still resume; weights that
    the short form would round stay exact."""
    from studio.adain.stylize import _weights_text

    assert _weights_text(StylizeParams(style_interpolation_weights="1,0.5")) == "1,0.5"
    assert _weights_text(StylizeParams()) == ""
    assert _weights_text(StylizeParams(style_interpolation_weights=[0.1234567, 2.0])) == \
        "0.1234567,2"
