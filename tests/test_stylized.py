"""Stylized dataset builder: reference preparation, determinism, resume, errors, formats."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_adain import ROOT, S
from tiny_adain import picture as _picture

from studio.adain.model import AdaINConfig, AdaINModel
from studio.adain.ops import calc_mean_std
from studio.adain.style_cache import StyleStatsCache, style_key
from studio.core.checkpoints import save_state_dict
from studio.core.images import ImageError, read_params
from studio.core.jobs import CancelToken, Progress, drive
from studio.texture_shape.stylized import (
    StyleNet,
    StylizedParams,
    assign_styles,
    build_stylized,
    count_flops,
    load_style_net,
    prepare_content,
    prepare_style,
    reference_order,
    to_tensor,
)
from studio.texture_shape.stylized_bench import baseline

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """train/ and val/ with 3 classes; 6 styles, one of them too small."""
    root = tmp_path_factory.mktemp("stylized-data")
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for c in ("cat", "dog", "owl"):
            d = root / "content" / split / c
            d.mkdir(parents=True)
            for i in range(n):
                _picture(rng, 40 + i, 44).save(d / f"{c}{i}.jpg", quality=90)
    (root / "styles").mkdir()
    for j in range(5):
        _picture(rng, 50 + 3 * j, 40).save(root / "styles" / f"s{j}.png")
    _picture(rng, 20, 60).save(root / "styles" / "tiny.png")
    return root


def _params(data: Path, out: Path, **kw) -> StylizedParams:
    base = dict(content=data / "content", styles=data / "styles", out=out, content_size=36,
                crop=S, style_size=S, min_style_size=S, workers=0, batch_size=4,
                cache_dir=str(out.parent / f"{out.name}-cache"), seed=7)
    base.update(kw)
    return StylizedParams(**base)


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "dataset.json"}


# ---------------------------------------------------------------------------------------
# Preparation as the reference does it


def test_prepare_style_is_centre_square_then_lanczos(tmp_path):
    rng = np.random.default_rng(1)
    img = _picture(rng, 301, 250)
    img.save(tmp_path / "s.png")
    got = prepare_style(tmp_path / "s.png", 224, 224)
    # crop box of crop_square_and_downsample: left = int((301 - 250) / 2) = 25
    want = img.crop((25, 0, 275, 250)).resize((224, 224), Image.Resampling.LANCZOS)
    assert got.shape == (224, 224, 3)
    assert np.array_equal(got, np.asarray(want))


def test_prepare_style_rejects_small_and_threshold_is_an_option(tmp_path):
    _picture(np.random.default_rng(2), 230, 200).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match="smaller than the minimum style size 224"):
        prepare_style(tmp_path / "small.png", 224, 224)
    # min_size 0: accepted, square crop kept at 200 (thumbnail never enlarges)
    assert prepare_style(tmp_path / "small.png", 224, 0).shape == (200, 200, 3)


def test_prepare_content_is_torchvision_resize_centercrop(tmp_path):
    from torchvision import transforms

    img = _picture(np.random.default_rng(3), 90, 70)
    img.save(tmp_path / "c.png")
    ref = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(56),
                              transforms.ToTensor()])(img)
    ours = to_tensor([prepare_content(tmp_path / "c.png", 64, 56)])[0]
    assert torch.equal(ours, ref)


# ---------------------------------------------------------------------------------------
# Style assignment


def test_stream_assignment_equals_reference_batches(data):
    from studio.datasets.folders import scan_image_folder

    samples = scan_image_folder(data / "content").samples
    got = assign_styles(samples, 5, 49809, "stream")
    # the reference: RandomState(49809), randint per batch of 4, val loader before train
    rs = np.random.RandomState(49809)
    order = [i for i, s in enumerate(samples) if s.split == "val"] + \
            [i for i, s in enumerate(samples) if s.split == "train"]
    assert order == reference_order(samples)
    draws = np.concatenate([rs.randint(low=0, high=5, size=4) for _ in range(5)])
    want = {i: int(draws[k]) for k, i in enumerate(order)}
    assert got == [want[i] for i in range(len(samples))]


def test_hash_assignment_is_stable_when_files_are_added(data):
    from studio.datasets.folders import scan_image_folder

    samples = scan_image_folder(data / "content").samples
    a = assign_styles(samples, 5, 3, "hash")
    b = assign_styles(samples[:5] + samples[6:], 5, 3, "hash")
    assert b == a[:5] + a[6:]
    assert len(set(a)) > 1


# ---------------------------------------------------------------------------------------
# Building


def test_build_layout_manifest_params_and_errors(data, tmp_path, net):
    out = tmp_path / "out"
    res = drive(build_stylized(_params(data, out), net=net))
    assert res["made"] == 18 and res["num_items"] == 18
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs[0] == "train/cat/cat0.png" and "val/owl/owl1.png" in pngs and len(pngs) == 18
    assert Image.open(out / "train/cat/cat0.png").size == (S, S)
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    rec = manifest[0]
    assert rec["file_name"] == "train/cat/cat0.png" and rec["label"] == 0
    assert rec["content"] == "train/cat/cat0.jpg" and rec["style"].startswith("s")
    assert rec["seed"] == 7 and rec["alpha"] == 1.0
    assert rec["encoder_sha256"] == net.encoder_sha256
    for split in ("train", "val"):  # HF metadata beside each split's images
        meta = (out / split / "provenance.jsonl").read_text().splitlines()
        assert len(meta) == sum(r["file_name"].startswith(split + "/") for r in manifest)
    params = read_params(out / "train/cat/cat0.png")
    assert params["content"] == "train/cat/cat0.jpg" and params["style"] == rec["style"]
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert [(Path(e["source"]).name, e["kind"]) for e in errors] == [("tiny.png", "style")]
    assert "smaller than the minimum style size 32" in errors[0]["reason"]
    # the tiny style is not among those used
    assert all(r["style"] != "tiny.png" for r in manifest)
    info = json.loads((out / "dataset.json").read_text())
    assert info["classes"] == ["cat", "dog", "owl"] and info["num_styles"] == 5
    assert not (out / ".studio").exists()


def test_output_equals_the_reference_loop(data, tmp_path, net):
    """Same pixels as the sequential reference loop (style re-encoded, one at a time)."""
    out = tmp_path / "out"
    drive(build_stylized(_params(data, out, seed=49809), net=net))
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    styles = []
    for p in sorted((data / "styles").glob("s*.png")):  # the usable ones, sorted
        Image.fromarray(prepare_style(p, S, S)).save(prepared / p.name)
        styles.append(prepared / p.name)
    n = baseline(data / "content", styles, tmp_path / "ref", net.model, torch.device("cpu"),
                 49809, 36, S)
    assert n == 18
    for p in sorted((tmp_path / "ref").rglob("*.png")):
        a = np.asarray(Image.open(p), dtype=int)
        b = np.asarray(Image.open(out / p.relative_to(tmp_path / "ref")), dtype=int)
        assert np.abs(a - b).max() <= 1, p


def test_bytes_do_not_depend_on_workers_batch_size_or_resume(data, tmp_path, net):
    ref = tmp_path / "a"
    drive(build_stylized(_params(data, ref, batch_size=4, workers=0), net=net))
    want = _files(ref)
    other = tmp_path / "b"
    drive(build_stylized(_params(data, other, batch_size=1, workers=2), net=net))
    assert _files(other) == want
    # interrupted (cancelled after a few images), then resumed with another batch size
    third = tmp_path / "c"
    token = CancelToken()
    gen = build_stylized(_params(data, third, batch_size=3, workers=1), token, net=net)
    with pytest.raises(Exception) as exc:
        for ev in gen:
            if isinstance(ev, Progress) and "stylised" in ev.message and ev.step >= 5:
                token.cancel()
    assert type(exc.value).__name__ == "Cancelled"
    made = list(third.rglob("*.png"))
    assert 5 <= len(made) < 18
    drive(build_stylized(_params(data, third, batch_size=5, workers=0), net=net))
    assert _files(third) == want


def test_bad_inputs_are_reported_and_odd_modes_are_handled(tmp_path, net):
    rng = np.random.default_rng(5)
    c = tmp_path / "content"
    for d in ("a", "b", "empty"):
        (c / d).mkdir(parents=True)
    _picture(rng, 40, 40).save(c / "a" / "good.jpg")
    _picture(rng, 40, 40).save(c / "a" / "good.png")  # same stem: both kept, apart
    _picture(rng, 40, 40).convert("CMYK").save(c / "a" / "cmyk.jpg")
    Image.fromarray((rng.integers(0, 65535, (40, 40))).astype(np.uint16)).save(c / "a" / "gray16.png")
    _picture(rng, 40, 40).convert("RGBA").save(c / "b" / "alpha.png")
    (c / "b" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    buf = io.BytesIO()
    _picture(rng, 40, 40).save(buf, "JPEG")
    (c / "b" / "truncated.jpg").write_bytes(buf.getvalue()[:300])
    (c / "b" / "notes.txt").write_text("not an image")
    st = tmp_path / "styles"
    st.mkdir()
    _picture(rng, 40, 40).save(st / "ok.png")
    (st / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _picture(rng, 10, 40).save(st / "small.png")
    out = tmp_path / "out"
    res = drive(build_stylized(StylizedParams(
        content=c, styles=st, out=out, content_size=S, crop=S, style_size=S,
        min_style_size=S, workers=1, cache_dir="none"), net=net))
    assert res["made"] == 5 and res["failed"] == 2
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert made == ["a/cmyk.png", "a/good_jpg.png", "a/good_png.png", "a/gray16.png",
                    "b/alpha.png"]
    errors = {Path(e["source"]).name: e["reason"]
              for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert set(errors) == {"empty", "corrupt.jpg", "truncated.jpg", "notes.txt", "broken.png",
                           "small.png"}
    assert "empty class folder" in errors["empty"]
    assert "truncated" in errors["truncated.jpg"]
    assert "not an image" in errors["notes.txt"]
    assert "smaller than the minimum style size" in errors["small.png"]


def test_webdataset_shards_hold_the_same_pngs(data, tmp_path, net):
    folder = tmp_path / "folder"
    drive(build_stylized(_params(data, folder), net=net))
    wds = tmp_path / "wds"
    drive(build_stylized(_params(data, wds, format="webdataset", shard_size=5, workers=1),
                         net=net))
    shards = sorted((wds / "shards").glob("*.tar"))
    # one shard set per split: 12 train samples in 3 shards of 5, 6 val samples in 2
    assert [s.name for s in shards] == ["train-000000.tar", "train-000001.tar",
                                        "train-000002.tar", "val-000000.tar", "val-000001.tar"]
    members = {}
    for s in shards:
        with tarfile.open(s) as tf:
            for m in tf.getmembers():
                members[m.name] = tf.extractfile(m).read()
    assert members["train__cat__cat0.png"] == (folder / "train/cat/cat0.png").read_bytes()
    assert members["train__cat__cat0.cls"] == b"0"
    owl = json.loads(members["val__owl__owl1.json"])
    assert owl["content"] == "val/owl/owl1.jpg" and owl["split"] == "val"
    assert sum(k.endswith(".png") for k in members) == 18
    info = json.loads((wds / "dataset.json").read_text())
    assert info["shard_patterns"] == {"train": "shards/train-{000000..000002}.tar",
                                      "val": "shards/val-{000000..000001}.tar"}
    assert [s["samples"] for s in info["shards"]] == [5, 5, 2, 5, 1]


def test_style_statistics_are_cached_and_exact(data, tmp_path, net):
    out = tmp_path / "out"
    p = _params(data, out)
    drive(build_stylized(p, net=net))
    cache_root = Path(p.cache_dir)
    chunks = sorted(cache_root.rglob("chunk-*.npz"))
    assert chunks
    info = json.loads(next(cache_root.rglob("info.json")).read_text())
    cache = StyleStatsCache(cache_root, info)
    key = style_key(data / "styles" / "s2.png")
    mean, std = cache.gather([key])
    x = to_tensor([prepare_style(data / "styles" / "s2.png", S, S)] * 2)
    with torch.inference_mode():
        m, s = calc_mean_std(net.model.encode(x))
    assert torch.allclose(mean, m[:1], atol=1e-6) and torch.allclose(std, s[:1], atol=1e-6)
    assert style_key(data / "styles" / "tiny.png") in cache.rejected
    # a second build with another output reads the cache and writes no new chunk
    drive(build_stylized(_params(data, tmp_path / "again", cache_dir=str(cache_root)), net=net))
    assert sorted(cache_root.rglob("chunk-*.npz")) == chunks


def test_dry_run_prints_plan_and_writes_nothing(data, tmp_path, net):
    out = tmp_path / "never"
    logs = []
    res = drive(build_stylized(_params(data, out, dry_run=True), net=net),
                lambda ev: logs.append(getattr(ev, "message", "")))
    assert res["contents"] == 18 and res["to_make"] == 18 and res["classes"] == 3
    assert res["per_split"] == {"train": 12, "val": 6}
    assert res["styles_listed"] == 6 and res["styles_to_encode"] == 6
    assert res["flops_total"] > 0 and res["estimated_seconds"] > 0
    assert any("FLOPs per image" in m for m in logs)
    assert not out.exists()


def test_official_flops_match_the_published_cost():
    """About 73 GFLOP per 224 px image, a third of it the style encoding."""
    f = count_flops(StyleNet(AdaINModel(), "official", "", ""), 224, 224)
    assert sum(f.values()) == pytest.approx(73e9, rel=0.01)
    assert f["encode_style"] / sum(f.values()) == pytest.approx(1 / 3, rel=0.01)


def test_cli_preset_sin_and_explicit_options(tmp_path):
    from studio.cli import build_parser
    from studio.texture_shape.cli import stylized_params

    args = build_parser().parse_args(
        ["build", "stylized", "--content", "c", "--styles", "s", "--out", "o",
         "--preset", "sin", "--min-style-size", "64"])
    p = stylized_params(args)
    assert p.seed == 49809 and p.model == "official" and p.min_style_size == 64
    assert (p.content_size, p.crop, p.style_size, p.alpha) == (256, 224, 224, 1.0)
    args = build_parser().parse_args(
        ["build", "stylized", "--content", "c", "--styles", "s", "--out", "o", "--seed", "3"])
    assert stylized_params(args).seed == 3 and stylized_params(args).model == "auto"


# ---------------------------------------------------------------------------------------
# Out of process: kill -9 and torchrun


def _model_files(tmp_path: Path, net: StyleNet) -> tuple[Path, Path]:
    enc, dec = tmp_path / "enc.pth", tmp_path / "dec.pth"
    save_state_dict(net.model.encoder, enc)
    save_state_dict(net.model.decoder, dec)
    return enc, dec


def _cli(data: Path, out: Path, enc: Path, dec: Path, *extra: str) -> list[str]:
    return ["build", "stylized", "--content", str(data / "content"),
            "--styles", str(data / "styles"), "--out", str(out), "--model", str(enc),
            "--decoder", str(dec), "--content-size", "36", "--crop", str(S),
            "--style-size", str(S), "--min-style-size", str(S), "--seed", "7",
            "--cache-dir", "none", "--device", "cpu", "-q", *extra]


def _run(*args: str, timeout: int = 120, returncode: int = 0) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, *args], env=env, timeout=timeout, capture_output=True,
                       text=True)
    assert r.returncode == returncode, r.stderr[-3000:]


def _same_build(data: Path, out: Path, net: StyleNet, **kw) -> None:
    """The in-process equivalent of :func:`_cli` (same options)."""
    drive(build_stylized(_params(data, out, cache_dir="none", **kw), net=net))


@pytest.mark.slow
def test_kill_9_then_rerun_gives_the_uninterrupted_dataset(data, tmp_path):
    # a network heavy enough (tens of ms per image) that the kill lands mid-build
    torch.manual_seed(1)
    mid = StyleNet.from_model(AdaINModel(AdaINConfig("mid", (64, 128, 256, 512), (2, 2, 1, 1))))
    enc, dec = _model_files(tmp_path, mid)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "studio", *_cli(
        data, out, enc, dec, "--batch-size", "1", "--workers", "0")], env=env)
    parts = out / ".studio" / "parts" / "records-rank00000.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if parts.is_file() and parts.read_text().count("\n") >= 2:
            break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(list(out.rglob("*.png"))) < 18  # it really was cut short
    # resume (in this process, another batch size) and build the reference uninterrupted
    loaded = load_style_net(str(enc), decoder=str(dec))
    _same_build(data, out, loaded, batch_size=4, workers=1)
    ref = tmp_path / "ref"
    _same_build(data, ref, loaded)
    assert _files(out) == _files(ref)
    assert not list(out.rglob("*.part"))


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(data, tmp_path, net):
    enc, dec = _model_files(tmp_path, net)
    two = tmp_path / "two"
    cache = tmp_path / "cache"
    # styles/tiny.png is rejected (too small): listed in errors.jsonl; under torchrun a
    # finished build with skipped inputs exits 0 (--strict would make it 1)
    _run("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "studio", *_cli(data, two, enc, dec, "--cache-dir", str(cache)), timeout=300,
         returncode=0)
    # each rank encoded half of the styles into the shared cache: one chunk each
    assert len(list(cache.rglob("chunk-*.npz"))) == 2
    one = tmp_path / "one"
    _same_build(data, one, load_style_net(str(enc), decoder=str(dec)))
    assert _files(two) == _files(one)
    assert json.loads((two / "dataset.json").read_text())["num_items"] == 18


def test_toy_preset_builds_the_toy_world_with_the_toy_adain(tmp_path, monkeypatch, capsys):
    """`studio build stylized --preset toy` on toy-world scenes and texture patches."""
    from studio.adain.model import TOY
    from studio.cli import main
    from studio.core.jobs import drive as run
    from studio.toyworld.generate import generate_job
    from studio.toyworld.standard import textures_params, world_params

    torch.manual_seed(2)
    toy = AdaINModel(TOY)
    (tmp_path / "res" / "toy").mkdir(parents=True)
    save_state_dict(toy.encoder, tmp_path / "res" / "toy" / "adain_encoder.pth")
    save_state_dict(toy.decoder, tmp_path / "res" / "toy" / "adain_decoder.pth")
    monkeypatch.setenv("STUDIO_RESOURCES", str(tmp_path / "res"))
    run(generate_job(world_params(tmp_path / "world", per_class=1, test_per_class=1)))
    run(generate_job(textures_params(tmp_path / "textures", per_class=1)))
    out = tmp_path / "out"
    code = main(["build", "stylized", "--preset", "toy", "--content", str(tmp_path / "world"),
                 "--styles", str(tmp_path / "textures"), "--out", str(out), "--workers", "0",
                 "--cache-dir", "none", "--split", "train", "--device", "cpu", "-q"])
    assert code == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["model"] == "toy" and info["num_items"] == len(info["classes"])
    assert info["params"]["content_size"] == 64 and info["params"]["splits"] == ["train"]
    first = next(iter(sorted((out / "train").rglob("*.png"))))
    assert Image.open(first).size == (64, 64)
    assert read_params(first)["model"] == "toy"


def test_refuses_missing_folders_and_output_inside_content(data, tmp_path, net):
    with pytest.raises(ValueError, match="content folder is not set"):
        drive(build_stylized(StylizedParams(styles=data / "styles"), net=net))
    with pytest.raises(FileNotFoundError, match="style folder does not exist"):
        drive(build_stylized(_params(data, tmp_path / "o", styles=tmp_path / "nope"), net=net))
    with pytest.raises(ValueError, match="output folder is inside the content input"):
        drive(build_stylized(_params(data, data / "content" / "out"), net=net))


def test_recipe_round_trip_runs_the_same_build(data, tmp_path, net):
    from studio.recipes import load_recipe, save_recipe

    p = _params(data, tmp_path / "a", splits=["val"])
    save_recipe(tmp_path / "r.toml", "build-stylized", p)
    jt, loaded = load_recipe(tmp_path / "r.toml")
    assert jt.name == "build-stylized" and loaded == p
    res = drive(jt.fn(loaded, None, net=net))
    assert res["num_items"] == 6  # val only


def test_bench_compares_both_paths_on_the_same_pixels():
    from studio.texture_shape.stylized_bench import run_bench

    r = run_bench(contents=4, styles=2, size=32, workers=[0], batch_size=3, repeats=2)
    base, builder = r["rows"]
    assert base["ratio"] == 1.0 and base["max_pixel_diff"] is None
    assert builder["max_pixel_diff"] == 0      # the builder makes the reference's pixels
    assert builder["images_per_s"] > 0 and builder["ratio"] == pytest.approx(
        builder["images_per_s"] / base["images_per_s"])
    assert "best of 2" in r["text"] and "x1.00" in r["text"]
