"""The shipped toy models' quality numbers (studio/resources/toy/README.md), pinned on a fixed set.

Each test runs the project's judges (a texture-blind shape classifier, a shape-blind
texture classifier and a colour-blind pattern classifier) on the fixed 10 x 10 evaluation pairs of studio.texture_shape.toy_quality —
seconds on a CPU. When a toy model is retrained, its README entry and the numbers here
change together.
"""

from __future__ import annotations

import pytest
import torch

from studio.texture_shape import toy_quality as q

TOL = 0.03  # 3 of the 100 pairs: other torch builds may flip a borderline decision


@pytest.fixture(scope="module")
def judges():
    torch.set_num_threads(1)
    return q.load_judges()


def test_eval_set_is_fixed_and_balanced():
    c, cl, s, sl = q.eval_pairs()
    assert c.shape == s.shape == (10, 3, 64, 64)
    assert sorted(cl.tolist()) == sorted(sl.tolist()) == list(range(10))
    c2, *_ = q.eval_pairs()
    assert torch.equal(c, c2)


def test_judges_read_what_they_were_trained_on(judges):
    ref = q.judge_reference(judges)
    assert ref["shape_on_textured_shapes"] >= 0.95    # the shape judge ignores the texture
    assert ref["shape_on_silhouettes"] >= 0.9          # and reads flat fills too
    assert ref["shape_on_shuffled"] >= 0.7             # and outlines on patterned ground
    assert ref["texture_on_patches"] >= 0.97          # the texture judge knows the textures
    assert ref["texture_on_scenes"] >= 0.95           # also on a shape on a plain ground
    assert ref["texture_on_silhouettes"] <= 0.3        # and sees none in a flat silhouette
    # ... but it reads the palette: a pattern in another texture's colours is that texture
    assert ref["texture_follows_palette"] >= 0.6 and ref["texture_follows_pattern"] <= 0.15
    # the pattern judge reads the pattern, whatever its colours, and nothing in a silhouette
    assert ref["pattern_on_patches"] >= 0.97 and ref["pattern_follows_pattern"] >= 0.95
    assert ref["pattern_follows_palette"] <= 0.05 and ref["pattern_on_silhouettes"] <= 0.3


def test_palette_swapped_set_crosses_every_pattern_with_every_other_palette():
    x, pattern, palette = q.palette_swapped()
    assert x.shape == (90, 3, 64, 64) and bool((pattern != palette).all())
    assert sorted(set(zip(pattern.tolist(), palette.tolist()))) == [
        (a, b) for a in range(10) for b in range(10) if a != b]


def test_shipped_toy_adain_numbers(judges):
    r = q.adain_quality(alpha=1.0, judges=judges)
    assert r["n"] == 100
    assert r["texture_accuracy"] == pytest.approx(0.91, abs=TOL)  # target >= 0.80
    assert r["shape_accuracy"] == pytest.approx(0.91, abs=TOL)    # target >= 0.90
    assert r["pattern_accuracy"] == pytest.approx(0.10, abs=TOL)  # the colours, not the pattern
    half = q.adain_quality(alpha=0.5, judges=judges)  # the trade-off: mostly the content
    assert half["shape_accuracy"] == pytest.approx(0.95, abs=TOL)
    assert half["texture_accuracy"] == pytest.approx(0.19, abs=TOL)


def test_shipped_toy_adain_on_textured_scenes(judges):
    r = q.adain_scene_quality(judges=judges)
    assert r["n"] == 90  # every pair: two different textures
    assert r["texture_accuracy"] == pytest.approx(0.92, abs=TOL)      # the style's colours
    assert r["pattern_accuracy"] == pytest.approx(0.11, abs=TOL)      # not its pattern
    assert r["content_pattern_kept"] == pytest.approx(0.27, abs=TOL)  # the content's leftover
    assert r["shape_accuracy"] == pytest.approx(0.92, abs=TOL)


def test_shipped_toy_tsit_numbers(judges):
    r = q.tsit_quality(judges=judges)
    assert r["shape_accuracy"] == pytest.approx(0.94, abs=TOL)    # target >= 0.90
    assert r["texture_accuracy"] == pytest.approx(1.00, abs=TOL)  # target >= 0.70
    assert r["pattern_accuracy"] == pytest.approx(0.22, abs=TOL)
