"""The toy world: deterministic, recognisable, correctly labelled."""

import hashlib
import json

import numpy as np
import pytest

from studio.core.jobs import drive
from studio.core.seeding import derive_seed
from studio.toyworld.generate import (
    OWN_TEXTURE,
    PALETTES,
    SHAPES,
    TEXTURES,
    ToyWorldParams,
    generate_job,
    iter_images,
    plan,
    render,
    shape_mask,
    texture_pattern,
)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".png", ".jsonl"):
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    kw = dict(per_class=3, size=32, splits=["train", "test"], test_per_class=1)
    drive(generate_job(ToyWorldParams(tmp_path / "a", seed=5, workers=1, **kw)))
    drive(generate_job(ToyWorldParams(tmp_path / "b", seed=5, workers=2, **kw)))
    drive(generate_job(ToyWorldParams(tmp_path / "c", seed=6, workers=1, **kw)))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_layout_manifest_and_labels(tmp_path):
    summary = drive(generate_job(ToyWorldParams(
        tmp_path, per_class=2, size=48, splits=["train", "test"], test_per_class=1,
        shape_texture_correlation=1.0, workers=1)))
    # labels as torchvision's ImageFolder numbers the sorted class folders; the toy
    # models' own order (circle = 0 ...) stays beside it as teacher_label
    assert summary["num_items"] == 30 and summary["classes"] == sorted(SHAPES)
    assert summary["class_to_idx"] == {c: i for i, c in enumerate(sorted(SHAPES))}
    assert summary["teacher_classes"] == list(SHAPES)
    recs = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(recs) == 30
    for r in recs:
        split, cls, name = r["file_name"].split("/")
        assert split in ("train", "test") and cls == r["class"] == r["shape"]
        assert r["label"] == sorted(SHAPES).index(cls)
        assert r["teacher_label"] == SHAPES.index(cls)
        assert r["texture"] == OWN_TEXTURE[cls]  # correlation 1.0
        assert (tmp_path / r["file_name"]).is_file()


def test_correlation_controls_texture_choice():
    def own_share(c):
        items = plan(ToyWorldParams("x", per_class=200, size=32, shape_texture_correlation=c))
        return np.mean([OWN_TEXTURE[i.category] == i.texture for i in items])

    assert own_share(1.0) == 1.0
    assert abs(own_share(0.5) - 0.5) < 0.05
    assert own_share(0.0) == 0.0


def test_shapes_differ_by_outline_and_textures_by_pattern():
    """Silhouettes of different classes overlap less than two poses of the same class."""
    size = 64
    masks = {s: [shape_mask(s, size, np.random.default_rng(derive_seed(0, s, k)))
                 for k in range(3)] for s in SHAPES}

    def iou(a, b):
        a, b = a > 0.5, b > 0.5
        return (a & b).sum() / max(1, (a | b).sum())

    for s in SHAPES:
        assert masks[s][0].mean() > 0.05, f"{s} too small"
    # each texture's mean colour sits closer to its own instances than to any other texture
    feats = {t: [render("texture", None, t, 32, np.random.default_rng(k)).reshape(-1, 3)
                 .mean(0) for k in range(3)] for t in TEXTURES}
    for t in TEXTURES:
        own = np.linalg.norm(feats[t][0] - feats[t][1])
        other = min(np.linalg.norm(feats[t][0] - feats[u][0]) for u in TEXTURES if u != t)
        assert own < other, t
    assert iou(masks["circle"][0], masks["square"][0]) < 0.9


@pytest.mark.parametrize("kind", ["scene", "shape", "texture", "pattern", "shuffled",
                                  "scene_texture"])
def test_each_kind_renders_in_all_sizes(kind):
    for size in (32, 128):
        item, img = next(iter_images(ToyWorldParams("x", per_class=1, size=size, kind=kind)))
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        assert img.std() > 5  # not a flat picture


def test_shuffled_kind_carries_the_label_only_in_the_outline():
    """Texture-blind training data: inside and outside differ, but neither says the class."""
    p = ToyWorldParams("x", per_class=20, kind="shuffled", seed=3)
    items = plan(p)
    assert {it.texture for it in items} == {None}
    by_class: dict[str, list] = {}
    for item in items:
        rng = np.random.default_rng(derive_seed(p.seed, "draw", item.key))
        mask = shape_mask(item.shape, p.size, rng) > 0.99
        img = render("shuffled", item.shape, None, p.size,
                     np.random.default_rng(derive_seed(p.seed, "draw", item.key)))
        inside, outside = img[mask].astype(float), img[~mask].astype(float)
        assert (np.abs(inside.mean(0) - outside.mean(0)).max() > 20
                or np.abs(inside.std(0) - outside.std(0)).max() > 20), item.key
        by_class.setdefault(item.category, []).append(inside.mean(0))
    # mean colours inside the shape are spread alike in every class (no colour shortcut)
    spread = [np.std(v, axis=0).mean() for v in by_class.values()]
    assert min(spread) > 30


def test_pattern_kind_keeps_the_pattern_and_randomises_the_palette():
    """A colour-blind judge's data: the texture's own pattern, never its palette."""
    p = ToyWorldParams("x", per_class=6, kind="pattern", seed=5)
    items = plan(p)
    assert {(it.shape, it.texture) for it in items} == {(None, t) for t in TEXTURES}
    for item in items[:12]:
        img = render("pattern", None, item.texture, p.size,
                     np.random.default_rng(derive_seed(p.seed, "draw", item.key)))
        colours = np.unique(img.reshape(-1, 3), axis=0)
        assert len(colours) == 2 and np.abs(colours[0].astype(int) - colours[1]).max() >= 76
        own = np.array(PALETTES[item.texture])
        assert not any((np.abs(colours - c).max(1) < 10).any() for c in own), item.key
    # the binary pattern is the texture's own one, drawn from the same RNG stream
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    img = render("pattern", None, "stripes", 64, rng_a)
    pat = texture_pattern("stripes", 64, rng_b) > 0.5
    fg = img[pat][0]
    assert (np.all(img == fg, axis=-1) == pat).all()


def test_exemplar_triplets_share_silhouette_and_texture():
    """shape, scene and scene_texture of one seed and name: the silhouette, pose and
    background of the first two coincide, and the third wears the scene's texture in
    another phase (the (content, target, style) triplets of `studio train tsit --target`)."""
    kw = {"per_class": 2, "seed": 4, "shape_texture_correlation": 0.1}
    worlds = [dict(iter_images(ToyWorldParams("x", kind=k, **kw)))
              for k in ("shape", "scene", "scene_texture")]
    keys = [sorted(it.key for it in w) for w in worlds]
    assert keys[0] == keys[1] == keys[2]
    textures = [{it.key: it.texture for it in w} for w in worlds[1:]]
    assert textures[0] == textures[1] and len(set(textures[0].values())) > 3
    for (c_it, content), (_, scene), (t_it, patch) in zip(*(sorted(
            w.items(), key=lambda kv: kv[0].key) for w in worlds)):
        same = np.all(content == scene, axis=-1)
        assert 0.5 < same.mean() < 0.98, c_it.key  # all but the figure
        fg, bg = (np.array(c) for c in PALETTES[t_it.texture])
        near = lambda img, c: (np.abs(img.astype(int) - c).max(-1) < 30).mean()  # noqa: E731
        assert near(patch, fg) + near(patch, bg) > 0.9
        assert near(scene[~same], fg) + near(scene[~same], bg) > 0.8
        assert not np.array_equal(texture_pattern(t_it.texture, 64, np.random.default_rng(0)),
                                  patch)


def test_scenes_filed_by_texture_give_a_shape_blind_label():
    p = ToyWorldParams("x", per_class=20, seed=6, shape_texture_correlation=0.1,
                       label="texture")
    items = plan(p)
    assert all(it.category == SHAPES[TEXTURES.index(it.texture)] for it in items)
    assert all(it.key.startswith(f"{it.category}/{it.shape}") for it in items)
    shapes_in = {c: {it.shape for it in items if it.category == c} for c in SHAPES}
    assert min(len(v) for v in shapes_in.values()) >= 6  # every label wears many shapes
    with pytest.raises(ValueError, match="--file-by texture needs"):
        plan(ToyWorldParams("x", kind="shape", label="texture"))


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="between 32 and 128"):
        plan(ToyWorldParams("x", size=16))
    with pytest.raises(ValueError, match="correlation"):
        plan(ToyWorldParams("x", shape_texture_correlation=1.5))


def test_cli_generate(tmp_path, capsys):
    from studio.cli import main

    rc = main(["toyworld", "generate", "--out", str(tmp_path), "--per-class", "1",
               "--size", "32", "--seed", "3", "--workers", "1", "-q"])
    assert rc == 0 and "10 images" in capsys.readouterr().out
    assert json.loads((tmp_path / "dataset.json").read_text())["params"]["seed"] == 3
