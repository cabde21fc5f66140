"""Cue-conflict builder: naming, same-category marking, AdaIN and Gatys, resume, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from studio.adain.model import AdaINConfig, AdaINModel
from studio.core.images import read_params
from studio.core.jobs import Preview, drive
from studio.texture_shape.cue_conflict import (
    CueConflictParams,
    ToyCueConflictParams,
    cue_conflict_job,
    toy_cue_conflict_job,
)
from studio.texture_shape.gatys import (
    GatysConfig,
    default_layers,
    gram,
    layer_names,
    style_transfer,
    taps_for,
)
from studio.texture_shape.shape_bias import scan_stimuli

TINY = AdaINConfig(name="tiny", encoder_widths=(4, 8, 8, 8), encoder_convs=(1, 1, 1, 1))


@pytest.fixture()
def tiny_adain(tmp_path):
    torch.manual_seed(0)
    m = AdaINModel(TINY)
    enc, dec = tmp_path / "enc.pth", tmp_path / "dec.pth"
    torch.save(m.encoder.state_dict(), enc)
    torch.save(m.decoder.state_dict(), dec)
    return enc, dec


def _folders(root, cats=("cat", "dog"), n_shape=2, n_tex=1, size=20):
    rng = np.random.default_rng(1)
    for kind, n in (("shapes", n_shape), ("textures", n_tex)):
        for c in cats:
            (root / kind / c).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 255, (size, size + 6, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / kind / c / f"img{i}.png")
    return root / "shapes", root / "textures"


def test_adain_builds_every_pair_in_reference_naming(tmp_path, tiny_adain):
    shapes, textures = _folders(tmp_path)
    (textures / "dog" / "zz_broken.png").write_bytes(b"\x89PNG not really")
    (shapes / "cat" / "readme.txt").write_text("x")
    enc, dec = tiny_adain
    params = CueConflictParams(shapes=shapes, textures=textures, out=tmp_path / "out",
                               size=16, vgg=enc, decoder=dec, device="cpu", batch_size=3)
    events = []
    summary = drive(cue_conflict_job(params), events.append)
    out = tmp_path / "out"
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    # 4 shapes x 2 good textures; the broken texture's pairs are reported, not written
    assert names == ["cat/cat1-cat1.png", "cat/cat1-dog1.png", "cat/cat2-cat1.png",
                     "cat/cat2-dog1.png", "dog/dog1-cat1.png", "dog/dog1-dog1.png",
                     "dog/dog2-cat1.png", "dog/dog2-dog1.png"]
    assert summary["num_items"] == 8 and summary["num_same_category"] == 6
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    reasons = " ".join(e["reason"] for e in errors)
    assert "zz_broken.png" in reasons and "not an image" in reasons
    recs = {r["file_name"]: r for r in map(json.loads,
                                           (out / "manifest.jsonl").read_text().splitlines())}
    assert recs["cat/cat1-cat1.png"]["same_category"] is True
    assert recs["cat/cat1-dog1.png"]["same_category"] is False
    assert recs["cat/cat1-dog1.png"]["texture_source"].endswith("dog/img0.png")
    assert Image.open(out / "cat/cat2-dog1.png").size == (16, 16)
    assert read_params(out / "cat/cat2-dog1.png")["method"] == "adain"
    assert any(isinstance(e, Preview) for e in events)
    # the stimuli are readable by the shape-bias scanner
    stim, cats, skipped = scan_stimuli(out)
    assert cats == ["cat", "dog"] and len(stim) == 8 and not skipped

    # equal to the engine's own stylize() for one pair
    m = AdaINModel.from_files(enc, dec)
    from studio.core.images import load_image
    from studio.texture_shape.cue_conflict import _square

    c = _square(load_image(shapes / "cat" / "img1.png"), 16)[None]
    s = _square(load_image(textures / "dog" / "img0.png"), 16)[None]
    ref = m.stylize(c, s).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    got = np.asarray(Image.open(out / "cat/cat2-dog1.png"))
    assert np.array_equal(ref[0].permute(1, 2, 0).numpy(), got)

    # resume: delete one file, rebuild: only that one is redone, bytes identical
    before = (out / "dog/dog2-cat1.png").read_bytes()
    (out / "dog/dog2-cat1.png").unlink()
    ev2 = []
    drive(cue_conflict_job(params), ev2.append)
    assert (out / "dog/dog2-cat1.png").read_bytes() == before
    progress = [e for e in ev2 if type(e).__name__ == "Progress"]
    # pending: the deleted stimulus + the 4 pairs of the unreadable texture (retried)
    assert progress[-1].step == progress[-1].total == 5
    assert len(list(out.rglob("*.png"))) == 8


def test_exclude_same_category(tmp_path, tiny_adain):
    shapes, textures = _folders(tmp_path, n_shape=1)
    enc, dec = tiny_adain
    params = CueConflictParams(shapes=shapes, textures=textures, out=tmp_path / "o",
                               size=16, vgg=enc, decoder=dec, device="cpu",
                               include_same_category=False)
    summary = drive(cue_conflict_job(params))
    assert summary["num_items"] == 2 and summary["num_same_category"] == 0


def test_gatys_previews_and_loss_decreases(tmp_path, tiny_adain):
    shapes, textures = _folders(tmp_path, n_shape=1)
    enc, dec = tiny_adain
    params = CueConflictParams(shapes=shapes, textures=textures, out=tmp_path / "g",
                               method="gatys", size=16, vgg=enc, decoder=dec, device="cpu",
                               iterations=6, preview_every=2, style_weight=1e3,
                               include_same_category=False)
    events = []
    summary = drive(cue_conflict_job(params), events.append)
    assert summary["num_items"] == 2
    previews = [e for e in events if isinstance(e, Preview)]
    assert len(previews) == 2 * 3 and previews[0].image.shape == (16, 16, 3)
    losses = [e.values["loss"] for e in events if type(e).__name__ == "Metrics"]
    assert losses[2] < losses[0]  # the first pair's loss went down (iteration 6 vs 2)


def test_layer_names_official_and_toy():
    from studio.adain.model import vgg_normalised
    from studio.toyworld.models import ToyVGG

    names = layer_names(vgg_normalised())
    # pytorch-AdaIN taps: relu1_1=3, relu2_1=10, relu3_1=17, relu4_1=30 (child indices)
    assert (names["relu1_1"], names["relu2_1"], names["relu3_1"], names["relu4_1"]) == \
        (3, 10, 17, 30)
    assert names["relu4_2"] == 33 and names["relu5_1"] == 43
    assert default_layers(vgg_normalised()) == (
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), ("relu4_2",))
    toy = ToyVGG()
    assert default_layers(toy.features) == (("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
                                            ("relu3_1",))


def test_gram_and_style_transfer_matches_style_statistics():
    f = torch.arange(12.0).reshape(1, 3, 2, 2)
    g = gram(f)
    flat = f.reshape(3, 4)
    assert torch.allclose(g[0], flat @ flat.T / 12)
    torch.manual_seed(0)
    enc = AdaINModel(TINY).encoder
    taps = taps_for(enc, ("relu1_1", "relu2_1"), ("relu2_1",))
    c, s = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    cfg = GatysConfig(iterations=10, style_layers=("relu1_1", "relu2_1"),
                      content_layers=("relu2_1",), content_weight=0.0, style_weight=1e3,
                      preview_every=0)
    steps = list(style_transfer(taps, c, s, cfg))
    assert len(steps) == 1 and steps[0].iteration == 10
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(gram(taps(c)["relu1_1"]), gram(taps(s)["relu1_1"]))
        after = torch.nn.functional.mse_loss(gram(taps(steps[0].image)["relu1_1"]),
                                             gram(taps(s)["relu1_1"]))
    assert after < 0.5 * before


def test_toy_procedural_stimuli(tmp_path):
    summary = drive(toy_cue_conflict_job(ToyCueConflictParams(out=tmp_path, num_classes=3)))
    assert summary["num_items"] == 9
    stim, cats, _ = scan_stimuli(tmp_path)
    assert cats == ["circle", "square", "triangle"]
    assert sum(s.conflict for s in stim) == 6
    assert (tmp_path / "circle" / "circle1-square1.png").is_file()
