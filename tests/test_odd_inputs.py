"""The last faults of issue 33: memory guards, odd names, poisoned runs, messages that name
the file.

Each case asserts the exact line a user sees, the exit status, and that what was already
written is unchanged (or, where an input is skipped, that the other outputs are the same
bytes as a build without it). Cases that need a mount, a memory cap or a kill run in the
fault suite (STUDIO_TEST_FAULTS=1, as `make test` sets).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_errors import _FullDisk  # one helper: a file whose writes fail as on a full disk

from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAULTS = os.environ.get("STUDIO_TEST_FAULTS") == "1"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
GiB = 2 ** 30


def _img(path: Path, size: tuple[int, int] = (40, 40), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
        path, format="PNG")
    return path


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _images(out: Path) -> dict[str, bytes]:
    return {k: v for k, v in _tree(out).items() if k.endswith(".png")}


def _lines(err: str, start: str) -> list[str]:
    assert "Traceback" not in err, err
    return [ln for ln in err.splitlines() if ln.startswith(start)]


def _one_error_line(err: str) -> str:
    lines = _lines(err, "studio: error:")
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def world(tmp_path) -> Path:
    """Two classes of 40 px pictures and two styles."""
    for c in ("cat", "dog"):
        for i in range(2):
            _img(tmp_path / "W" / c / f"{c}{i}.png", seed=hash((c, i)) % 1000)
    for j in range(2):
        _img(tmp_path / "T" / f"s{j}.png", seed=100 + j)
    return tmp_path


def _stylized(world: Path, out: str, *extra: str) -> list[str]:
    return ["build", "stylized", "--content", str(world / "W"), "--styles", str(world / "T"),
            "--out", str(world / out), "--model", "toy", "--device", "cpu",
            "--content-size", "36", "--crop", "32", "--style-size", "32",
            "--min-style-size", "32", "--assignment", "hash", "--workers", "0",
            "--cache-dir", "none", "-q", *extra]


# --------------------------------------------------------------------------------------
# 1. Extreme aspect ratios: estimated per image before resizing, skipped with one line


def test_build_stylized_skips_an_image_whose_resize_would_not_fit(world, monkeypatch, capsys):
    import studio.texture_shape.stylized as st

    assert main(_stylized(world, "ref")) == 0
    capsys.readouterr()
    _img(world / "W" / "cat" / "wide.png", (1, 3000))
    _img(world / "W" / "dog" / "flat.png", (20000, 1))
    monkeypatch.setattr(st, "free_memory", lambda device: GiB // 2)
    rc = main(_stylized(world, "out", "--content-size", "256"))
    assert rc == 1
    err = capsys.readouterr().err
    assert _lines(err, "warning: skipped") == [
        f"warning: skipped {world}/W/cat/wide.png: 1x3000 px would be resized to 256x768000 "
        "(about 750 MiB, 512 MiB free); lower --content-size or crop the image",
        f"warning: skipped {world}/W/dog/flat.png: 20000x1 px would be resized to "
        "5120000x256 (1,310,720,000 px, more than the 268,435,456 px an image may have); "
        "lower --content-size or crop the image"]
    assert f"studio: 2 input(s) could not be used, listed in {world}/out/errors.jsonl" in err
    errors = [json.loads(x) for x in (world / "out" / "errors.jsonl").read_text().splitlines()]
    assert sorted(Path(e["source"]).name for e in errors) == ["flat.png", "wide.png"]
    # the other images are made, byte for byte as without the strips (content size aside)
    assert sorted(_images(world / "out")) == sorted(_images(world / "ref"))


def test_build_stylized_names_the_first_ten_skipped_files_and_counts_all(world, capsys):
    for i in range(12):
        (world / "W" / "cat" / f"junk{i:02d}.png").write_text("not an image")
    assert main(_stylized(world, "out")) == 1
    err = capsys.readouterr().err
    named = _lines(err, "warning: skipped")
    assert len(named) == 10 and named[0].startswith(f"warning: skipped {world}/W/cat/junk00.png")
    assert (f"warning: and 2 more input(s) skipped; every one with its reason in "
            f"{world}/out/errors.jsonl") in err
    assert len((world / "out" / "errors.jsonl").read_text().splitlines()) == 12


def test_translate_skips_an_image_that_would_not_fit(world, monkeypatch, capsys):
    import studio.tsit.translate as tt

    wide = _img(world / "in" / "wide.png", (1, 3000))
    ok = _img(world / "in" / "ok.png", (64, 64))
    monkeypatch.setattr(tt, "free_memory", lambda device: 64 * 2**20)
    rc = main(["translate", "--model", "toy", str(ok), str(wide), "--self-style", "--out",
               str(world / "o"), "--device", "cpu", "-q"])
    assert rc == 1
    [line] = _lines(capsys.readouterr().err, "error: skipped")
    assert line == (f"error: skipped {wide}: 1x3000 px would be resized to 64x3008 (about "
                    "81.3 MiB for the network, 64.0 MiB free); crop or shrink it (every output "
                    "using it is skipped)")
    assert sorted(p.name for p in (world / "o").glob("*.png")) == ["ok.png"]


def test_build_translated_skips_an_image_that_would_not_fit(world, monkeypatch, capsys):
    import studio.tsit.translate as tt

    _img(world / "W" / "dog" / "flat.png", (3000, 1))
    monkeypatch.setattr(tt, "free_memory", lambda device: 64 * 2**20)
    rc = main(["build", "translated", "--model", "toy", "--content", str(world / "W"),
               "--style", str(world / "T"), "--out", str(world / "o"), "--device", "cpu",
               "-q"])
    assert rc == 1
    [line] = _lines(capsys.readouterr().err, "error: skipped")
    assert line == (f"error: skipped dog/flat.png: {world}/W/dog/flat.png: 3000x1 px would be "
                    "resized to 3008x64 (about 81.3 MiB for the network, 64.0 MiB free); crop or "
                    "shrink it")
    assert sorted(_images(world / "o")) == ["cat/cat0.png", "cat/cat1.png", "dog/dog0.png",
                                            "dog/dog1.png"]


def test_cue_conflict_squares_before_resizing_so_strips_cost_nothing(world, capsys):
    """A strip is cropped to its square first: no per-image guard is needed, and the
    up-front estimate reads the same free memory (ulimit -v included)."""
    for d, name in (("shapes", "cat"), ("textures", "cat")):
        _img(world / d / name / "a.png", (32, 32))
    _img(world / "shapes" / "cat" / "wide.png", (1, 3000))
    _img(world / "textures" / "cat" / "flat.png", (20000, 1))
    rc = main(["build", "cue-conflict", "--shapes", str(world / "shapes"), "--textures",
               str(world / "textures"), "--out", str(world / "o"), "--size", "32",
               "--model", "toy", "--device", "cpu", "-q"])
    assert rc == 0, capsys.readouterr().err
    assert len(_images(world / "o")) == 4


def test_under_a_memory_cap_the_image_that_would_not_fit_is_named(world):
    """ulimit -v: the estimate reads the address space left, so the strip is skipped with
    its line instead of a MemoryError (or the kernel's kill) somewhere in the resize."""
    if not FAULTS:
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    import resource

    probe = subprocess.run(
        [sys.executable, "-c", "import studio.texture_shape.stylized, studio.adain.model, "
         "torch; print(open('/proc/self/status').read().split('VmPeak:')[1].split()[0])"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        check=True)
    cap = (int(probe.stdout) + 500 * 1024) * 1024  # what the engine maps, + 500 MiB
    _img(world / "W" / "cat" / "wide.png", (1, 3000))

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    r = subprocess.run([sys.executable, "-m", "studio",
                        *_stylized(world, "out", "--content-size", "256")],
                       env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert r.returncode == 1, r.stderr
    [line] = _lines(r.stderr, "warning: skipped")
    assert line.startswith(f"warning: skipped {world}/W/cat/wide.png: 1x3000 px would be "
                           "resized to 256x768000 (about 750 MiB, ")
    assert line.endswith(" free); lower --content-size or crop the image")
    assert len(_images(world / "out")) == 4


# --------------------------------------------------------------------------------------
# 2. A non-finite loss mid-run stops the job with one line naming the step; exit 2; what
#    was written before stays


def _nan_after(n_ok: int, fn):
    """``fn`` whose calls after the first ``n_ok`` give NaN (a loss gone bad mid-run)."""
    calls = {"n": 0}

    def wrapped(*a, **kw):
        calls["n"] += 1
        out = fn(*a, **kw)
        return out * float("nan") if calls["n"] > n_ok else out

    return wrapped


def test_synthesize_stops_at_a_nan_loss_and_keeps_the_batches_written(tmp_path, monkeypatch,
                                                                      capsys):
    import studio.inversion.synthesize as syn

    cmd = ["synthesize", "--teacher", "toy", "--method", "deep", "--num-images", "4",
           "--batch-size", "2", "--iterations", "2", "--device", "cpu", "-q"]
    assert main([*cmd, "--out", str(tmp_path / "ref")]) == 0
    real, made = syn.make_engine, []

    def make_engine(*a, **kw):
        eng = real(*a, **kw)
        made.append(eng)
        if len(made) == 2:  # the second batch's loss turns NaN at its second step
            step, calls = eng.step, []

            def poisoned():
                calls.append(1)
                terms = step()
                return {**terms, "loss": float("nan")} if len(calls) > 1 else terms

            eng.step = poisoned
        return eng

    monkeypatch.setattr(syn, "make_engine", make_engine)
    capsys.readouterr()
    rc = main([*cmd, "--out", str(tmp_path / "out")])
    assert rc == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "studio: error: the loss became nan at batch 1, iteration 1; stopped (what was "
        "written before is kept); lower the learning rate or check the teacher")
    ref, out = _images(tmp_path / "ref"), _images(tmp_path / "out")
    assert len(out) == 2 and all(ref[k] == v for k, v in out.items())  # batch 0, intact
    monkeypatch.undo()
    assert main([*cmd, "--out", str(tmp_path / "out")]) == 0  # the same command finishes it
    assert _images(tmp_path / "out") == ref



@pytest.fixture
def colours(tmp_path) -> Path:
    """The three-colour world of the distillation tests and its teacher file."""
    from colour_world import colour_folder, colour_teacher

    from studio.core.checkpoints import save_state_dict

    save_state_dict(colour_teacher(tmp_path / "teacher-data").model, tmp_path / "t.pth")
    colour_folder(tmp_path / "syn", 4, 3)
    return tmp_path


def test_distill_stops_at_a_nan_loss_and_the_earlier_student_stays(colours, monkeypatch,
                                                                   capsys):
    import studio.compression.distill as kd

    cmd = ["distill", "--synthetic", str(colours / "syn"), "--teacher", str(colours / "t.pth"),
           "--epochs", "1", "--batch-size", "6", "--student", "toyvgg_small", "--out",
           str(colours / "kd"), "--device", "cpu", "-q"]
    assert main(cmd) == 0
    before = _tree(colours / "kd")
    monkeypatch.setattr(kd, "kd_loss", _nan_after(1, kd.kd_loss))
    capsys.readouterr()
    assert main(cmd) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "studio: error: the loss became nan at distill epoch 1, step 2; stopped (what was "
        "written before is kept); lower the learning rate")
    assert _tree(colours / "kd") == before


def test_prune_stops_at_a_nan_loss_and_keeps_the_pruned_models_written(colours, monkeypatch,
                                                                      capsys):
    import studio.compression.distill as kd

    cmd = ["prune", "--synthetic", str(colours / "syn"), "--teacher", str(colours / "t.pth"),
           "--method", "global-magnitude", "--sparsities", "0.0", "0.5", "--epochs", "1",
           "--batch-size", "6", "--device", "cpu", "-q"]
    assert main([*cmd, "--out", str(colours / "ref")]) == 0
    monkeypatch.setattr(kd, "kd_loss", _nan_after(2, kd.kd_loss))
    capsys.readouterr()
    assert main([*cmd, "--out", str(colours / "p")]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "studio: error: the loss became nan at sparsity 0.5 epoch 1, step 1; stopped (what "
        "was written before is kept); lower the learning rate")
    kept = "pruned_global-magnitude_0.pth"
    assert sorted(_tree(colours / "p")) == [kept]
    assert (colours / "p" / kept).read_bytes() == (colours / "ref" / kept).read_bytes()


def test_train_classifier_stops_at_a_nan_loss_and_its_checkpoint_stays(tmp_path, monkeypatch,
                                                                      capsys):
    import studio.trainer.trainer as tr

    assert main(["toyworld", "generate", "--out", str(tmp_path / "w"), "--per-class", "4",
                 "--size", "32", "--num-classes", "3", "--workers", "1", "-q"]) == 0
    cmd = ["train", "classifier", "--data", str(tmp_path / "w"), "--arch", "toyvgg",
           "--epochs", "2", "--batch-size", "4", "--image-size", "32", "--workers", "0",
           "--out", str(tmp_path / "run"), "--device", "cpu", "-q"]
    assert main([*cmd, "--max-steps", "3"]) == 0  # epoch 1 and its checkpoint
    before = _tree(tmp_path / "run")
    monkeypatch.setattr(tr, "soft_cross_entropy", _nan_after(0, tr.soft_cross_entropy))
    capsys.readouterr()
    with warnings.catch_warnings():  # and no warning of torch's before it
        warnings.simplefilter("error")
        assert main(cmd) == 2  # resumes at step 3, whose loss is NaN
    assert _one_error_line(capsys.readouterr().err) == (
        "studio: error: loss became nan at step 3; lower the learning rate")
    assert _tree(tmp_path / "run") == before


# --------------------------------------------------------------------------------------
# 3. File names that are not UTF-8: that file is skipped with a line showing its name
#    safely (\xNN escapes), the rest goes on


def _bytes_name(folder: Path, raw: bytes) -> Path:
    """A path whose last part is ``raw`` (bytes that are not UTF-8), as the disk holds it."""
    return folder / os.fsdecode(raw)


NOT_UTF8 = "its name is not valid UTF-8 (shown with \\x escapes); rename it to use it"


def test_build_stylized_skips_files_and_classes_whose_names_are_not_utf8(world, capsys):
    assert main(_stylized(world, "ref")) == 0
    _img(_bytes_name(world / "W" / "cat", b"bad\xff.png"), seed=7)
    _img(_bytes_name(world / "W", b"cl\xfdss") / "x.png", seed=8)
    _img(_bytes_name(world / "T", b"st\xfeyle.png"), seed=9)
    capsys.readouterr()
    assert main(_stylized(world, "out")) == 1
    assert _lines(capsys.readouterr().err, "warning: skipped") == [
        f"warning: skipped {world}/W/cl\\xfdss: {NOT_UTF8}",
        f"warning: skipped {world}/W/cat/bad\\xff.png: {NOT_UTF8}",
        f"warning: skipped {world}/T/st\\xfeyle.png: style {NOT_UTF8}"]
    assert _images(world / "out") == _images(world / "ref")
    errors = (world / "out" / "errors.jsonl").read_text()
    assert "bad\\\\xff.png" in errors and "st\\\\xfeyle.png" in errors  # JSON of the safe name


def test_cue_conflict_skips_a_shape_whose_name_is_not_utf8(world, capsys):
    for d in ("shapes", "textures"):
        _img(world / d / "cat" / "a.png", (32, 32))
    bad = _img(_bytes_name(world / "shapes" / "cat", b"b\xff.png"), (32, 32))
    rc = main(["build", "cue-conflict", "--shapes", str(world / "shapes"), "--textures",
               str(world / "textures"), "--out", str(world / "o"), "--size", "32",
               "--model", "toy", "--device", "cpu", "-q"])
    assert rc == 1
    assert _lines(capsys.readouterr().err, "warning: skipped") == [
        f"warning: skipped {world}/shapes/cat/b\\xff.png: {NOT_UTF8}"]
    assert bad.is_file() and sorted(_images(world / "o")) == ["cat/cat1-cat1.png"]


def test_translate_skips_a_file_whose_name_is_not_utf8(world, capsys):
    _img(world / "in" / "ok.png", (64, 64))
    bad = _img(_bytes_name(world / "in", b"b\xff.png"), (64, 64))
    rc = main(["translate", "--model", "toy", str(world / "in"), str(bad), "--self-style",
               "--out", str(world / "o"), "--device", "cpu", "-q"])
    assert rc == 1
    assert _lines(capsys.readouterr().err, "warning: skipped") == [
        f"warning: skipped {world}/in/b\\xff.png: {NOT_UTF8}"] * 2  # in the folder, and named
    assert sorted(p.name for p in (world / "o").glob("*.png")) == ["ok.png"]


def test_build_translated_skips_a_content_whose_name_is_not_utf8(world, capsys):
    _img(_bytes_name(world / "W" / "dog", b"d\xff.png"))
    rc = main(["build", "translated", "--model", "toy", "--content", str(world / "W"),
               "--style", str(world / "T"), "--out", str(world / "o"), "--device", "cpu",
               "-q"])
    assert rc == 1
    assert _lines(capsys.readouterr().err, "warning: skipped") == [
        f"warning: skipped {world}/W/dog/d\\xff.png: {NOT_UTF8}"]
    assert len(_images(world / "o")) == 4


def test_readers_skip_a_file_whose_name_is_not_utf8(world, tmp_path, capsys):
    from studio.datasets.readers import read_source

    _img(_bytes_name(world / "W" / "dog", b"d\xff.png"))
    src = read_source(world / "W")
    assert len(src.items) == 4
    assert src.skipped == [(f"{world}/W/dog/d\\xff.png", NOT_UTF8)]
    rc = main(["train", "classifier", "--data", str(world / "W"), "--arch", "toyvgg",
               "--epochs", "1", "--batch-size", "4", "--image-size", "32", "--workers", "0",
               "--out", str(tmp_path / "run"), "--device", "cpu", "-q"])
    assert rc == 0
    assert _lines(capsys.readouterr().err, "warning: skipped") == [
        f"warning: skipped {world}/W/dog/d\\xff.png: {NOT_UTF8}"]


# --------------------------------------------------------------------------------------
# 4. A class folder named a\b: that class is skipped with a line naming the input folder


def test_a_class_folder_with_a_backslash_is_skipped_not_the_build(world, capsys):
    assert main(_stylized(world, "ref")) == 0
    _img(world / "W" / "a\\b" / "star00001.png", seed=5)
    _img(world / "W" / "cat" / "c\\d.png", seed=6)
    capsys.readouterr()
    assert main(_stylized(world, "out")) == 1
    assert _lines(capsys.readouterr().err, "warning: skipped") == [
        f"warning: skipped {world}/W/a\\b: class folder 'a\\\\b' has a backslash, which "
        "cannot name an output; rename it to use it",
        f"warning: skipped {world}/W/cat/c\\d.png: file name 'cat/c\\\\d.png' has a "
        "backslash, which cannot name an output; rename it to use it"]
    assert _images(world / "out") == _images(world / "ref")
    info = json.loads((world / "out" / "dataset.json").read_text())
    assert info["classes"] == ["cat", "dog"]


# --------------------------------------------------------------------------------------
# 5. A recipe that is not UTF-8 or holds an out-of-range value: the file and the key


@pytest.mark.parametrize("body, says", [
    (b'job = "adain.stylize"\n[params]\nalpha = 7.0\n',
     "params.alpha: must be between 0 and 1, got 7"),
    (b'job = "translate"\n[params]\nseeds = [1, -1]\n',
     "params.seeds[1]: must be between 0 and 2^63-1, got -1"),
    (b'job = "synthesize"\n[params]\nbatch_size = 0\n',
     "params.batch_size: must be >= 1, got 0"),
    (b'job = "adain.stylize"\n# caf\xe9\n[params]\nalpha = 0.5\n',
     "line 3: not UTF-8 text (byte 0xe9); save the recipe as UTF-8"),
])
def test_a_bad_recipe_names_the_file_and_the_key(body, says, tmp_path, capsys):
    recipe = tmp_path / "recipe.toml"
    recipe.write_bytes(b"schema = 1\n" + body + f'out = "{tmp_path / "o"}"\n'.encode())
    assert main(["run", str(recipe), "-q"]) == 2
    assert _one_error_line(capsys.readouterr().err) == f"studio: error: {recipe}: {says}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.toml"]  # nothing written


# --------------------------------------------------------------------------------------
# 6. Disk full while a trainer saves its checkpoint: "disk full while writing <file>",
#    and the checkpoint already there is intact


def _toy_world(root: Path) -> Path:
    assert main(["toyworld", "generate", "--out", str(root), "--per-class", "4", "--size",
                 "32", "--num-classes", "3", "--workers", "1", "-q"]) == 0
    return root


def test_disk_full_during_a_checkpoint_save_names_the_file(tmp_path, monkeypatch, capsys):
    world = _toy_world(tmp_path / "w")
    run = tmp_path / "run"
    cmd = ["train", "classifier", "--data", str(world), "--arch", "toyvgg", "--epochs", "2",
           "--batch-size", "4", "--image-size", "32", "--workers", "0", "--out", str(run),
           "--device", "cpu", "-q"]
    assert main([*cmd, "--max-steps", "3"]) == 0  # epoch 1 and its checkpoint
    before = _tree(run)
    real = os.fdopen

    def fdopen(fd, mode="r", *a, **kw):  # the checkpoint's temporary file hits a full disk
        fh = real(fd, mode, *a, **kw)
        return _FullDisk(fh) if ".checkpoint.pth." in os.readlink(f"/proc/self/fd/{fd}") \
            else fh

    monkeypatch.setattr(os, "fdopen", fdopen)
    capsys.readouterr()
    assert main(cmd) == 2
    assert _one_error_line(capsys.readouterr().err) == \
        f"studio: error: disk full while writing {run}/checkpoint.pth"
    assert _tree(run) == before  # the old checkpoint intact, no temporary file left


@pytest.fixture
def small_fs(tmp_path):
    """A small tmpfs (root only, fault suite): a disk that really fills up."""
    if not FAULTS:
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    if not IS_ROOT:
        pytest.skip("mounting a small tmpfs needs root; the full disk is simulated above")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _studio(*args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "studio", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_really_full_disk_during_a_checkpoint_save(small_fs, tmp_path):
    world = _toy_world(tmp_path / "w")
    run = small_fs / "run"
    cmd = ["train", "classifier", "--data", str(world), "--arch", "toyvgg", "--epochs", "2",
           "--batch-size", "4", "--image-size", "32", "--workers", "0", "--out", str(run),
           "--device", "cpu", "-q"]
    assert _studio(*cmd, "--max-steps", "3").returncode == 0
    st = os.statvfs(small_fs)
    size = (run / "checkpoint.pth").stat().st_size
    (small_fs / "filler").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - size // 2))
    before = _tree(run)
    r = _studio(*cmd)
    assert r.returncode == 2, r.stderr
    assert _one_error_line(r.stderr) == \
        f"studio: error: disk full while writing {run}/checkpoint.pth"
    after = _tree(run)
    lock = ".studio/lock-rank00000"  # the folder lock names the last process's PID
    assert after.pop(lock) != before.pop(lock) and after == before


# --------------------------------------------------------------------------------------
# 7. The model folder a file, read-only or another user's; a code pickle: one line each,
#    in our words


@pytest.fixture
def teacher_file(tmp_path) -> Path:
    from studio.core.checkpoints import resources_dir

    f = tmp_path / "teacher.pth"
    f.write_bytes((resources_dir() / "toy" / "teacher.pth").read_bytes())
    return f


def test_studio_models_pointing_at_a_file(teacher_file, tmp_path, monkeypatch, capsys):
    mfile = tmp_path / "models"
    mfile.write_text("not a folder")
    monkeypatch.setenv("STUDIO_MODELS", str(mfile))
    assert main(["models", "import", str(teacher_file)]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        f"studio: error: model folder {mfile} is a file, not a folder; set STUDIO_MODELS (or "
        "--dir) to a folder")
    assert mfile.read_text() == "not a folder"


def test_a_model_folder_that_cannot_be_written(teacher_file, tmp_path, monkeypatch, capsys):
    import studio.core.guards as guards

    mdir = tmp_path / "models"
    mdir.mkdir()
    (mdir / "mine.pth").write_bytes(b"kept")

    def denied(*a, dir=None, **kw):  # what chmod 555 or another user's folder gives
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / ".tmp"))

    monkeypatch.setattr(guards.tempfile, "mkstemp", denied)
    assert main(["models", "import", "--dir", str(mdir), str(teacher_file)]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        f"studio: error: model folder {mdir}: permission denied (read-only or another "
        "user's); set STUDIO_MODELS (or --dir) to a folder you can write")
    assert _tree(mdir) == {"mine.pth": b"kept"}


def test_a_read_only_model_folder_really_mounted(teacher_file, tmp_path, monkeypatch):
    if not FAULTS:
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    ro = tmp_path / "ro"
    ro.mkdir()
    if IS_ROOT:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs: {r.stderr.strip()}")
        undo = ["umount", "-l", str(ro)]
        reason = "read-only file system"
    else:
        ro.chmod(0o555)
        undo = ["chmod", "755", str(ro)]
        reason = "permission denied (read-only or another user's)"
    try:
        r = _studio("models", "import", str(teacher_file), STUDIO_MODELS=str(ro))
    finally:
        subprocess.run(undo, check=False)
    assert r.returncode == 2
    assert _one_error_line(r.stderr) == (
        f"studio: error: model folder {ro}: {reason}; set STUDIO_MODELS (or --dir) to a "
        "folder you can write")
    assert r.stderr.count("\n") == 1


def test_a_code_pickle_is_refused_in_one_line_without_torchs_warning(tmp_path, capsys):
    import pickle

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"w": _Code()}, protocol=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["models", "import", "--dir", str(tmp_path / "m"), str(evil)]) == 2
    assert [str(w.message) for w in caught] == []
    assert _one_error_line(capsys.readouterr().err) == (
        f"studio: error: {evil}: refused: It is not a plain tensor checkpoint: loading it "
        "would execute code from the file, which Studio never does (torch.load "
        "weights_only=True). (it references posix.system)")


class _Code:
    """Pickles as a call of os.system: what a poisoned checkpoint holds."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


# --------------------------------------------------------------------------------------
# 8. A damaged dataset.json in a finished build: said so, and how to recover


def test_a_damaged_dataset_json_is_named_with_the_way_out(tmp_path, capsys):
    from studio.datasets.readers import read_source

    out = tmp_path / "world"
    cmd = ["toyworld", "generate", "--out", str(out), "--per-class", "2", "--size", "32",
           "--num-classes", "2", "--workers", "1", "-q"]
    assert main(cmd) == 0
    fresh = _tree(out)
    (out / "dataset.json").write_text('{"classes": ["circle", "squ')  # cut short
    before = _tree(out)
    capsys.readouterr()
    assert main(cmd) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        f"studio: error: {out}/dataset.json: damaged (not JSON: Unterminated string starting "
        "at: line 1 column 24 (char 23)), so this build's settings cannot be checked and it "
        "is not resumed; its images and manifest.jsonl are intact (load the dataset through "
        "manifest.jsonl), or pass --overwrite to rebuild the folder")
    assert _tree(out) == before
    assert len(read_source(out / "manifest.jsonl").items) == 4  # the way the line offers
    assert main([*cmd, "--overwrite"]) == 0
    assert _tree(out) == fresh


# --------------------------------------------------------------------------------------
# 9. distill / prune with an output folder that cannot be written: refused before training


@pytest.mark.parametrize("command", ["distill", "prune"])
def test_an_unwritable_output_is_refused_before_training(command, colours, monkeypatch,
                                                         capsys):
    import studio.compression.distill as kd
    import studio.compression.prune as pr
    import studio.core.guards as guards

    out = colours / "out"

    def denied(*a, dir=None, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / ".tmp"))

    def never(*a, **kw):
        raise AssertionError("trained before checking the output folder")

    monkeypatch.setattr(guards.tempfile, "mkstemp", denied)
    monkeypatch.setattr(kd, "train_epochs", never)
    monkeypatch.setattr(pr, "train_epochs", never)
    extra = ["--sparsities", "0.5"] if command == "prune" else []
    assert main([command, "--synthetic", str(colours / "syn"), "--teacher",
                 str(colours / "t.pth"), "--out", str(out), "--device", "cpu", "-q",
                 *extra]) == 2
    assert _one_error_line(capsys.readouterr().err) == \
        f"studio: error: {out}: permission denied (read-only or another user's)"


def test_distill_into_a_read_only_mount_fails_at_once(colours, tmp_path):
    if not FAULTS:
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    if not IS_ROOT:
        pytest.skip("mounting a read-only tmpfs needs root; simulated above")
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {r.stderr.strip()}")
    try:
        r = _studio("distill", "--synthetic", str(colours / "syn"), "--teacher",
                    str(colours / "t.pth"), "--epochs", "50", "--out", str(ro / "kd"),
                    "--device", "cpu", "-q")
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    assert r.returncode == 2
    assert _one_error_line(r.stderr) == f"studio: error: {ro}/kd: read-only file system"
    assert "distill epoch" not in r.stdout + r.stderr  # not one epoch ran


# --------------------------------------------------------------------------------------
# 10. Nothing to work on is a fatal error: exit 2, as the README says (was 1)


def test_an_empty_content_folder_and_distill_on_an_empty_folder_exit_2(colours, capsys):
    empty = colours / "empty"
    empty.mkdir()
    rc = main(["build", "stylized", "--content", str(empty), "--styles", str(colours / "syn"),
               "--out", str(colours / "o"), "--model", "toy", "--device", "cpu", "-q"])
    assert rc == 2
    assert _one_error_line(capsys.readouterr().err) == \
        f"studio: error: {empty}: no class folders with images"
    rc = main(["distill", "--synthetic", str(empty), "--teacher", str(colours / "t.pth"),
               "--out", str(colours / "kd"), "--device", "cpu", "-q"])
    assert rc == 2
    assert _one_error_line(capsys.readouterr().err) == \
        f"studio: error: {empty}: no class folders with images"
    assert not (colours / "o").exists()


# --------------------------------------------------------------------------------------
# 11. One torchrun rank killed: torchrun's own report, one line from each of our ranks,
#     and the same command resumes


def _torchrun_ranks(pid: int) -> dict[int, int]:
    """{RANK: pid} of torchrun's worker processes."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if int((d / "stat").read_text().split()[3]) != pid:
                continue
            env = (d / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        for e in env:
            if e.startswith(b"RANK="):
                found[int(e[5:])] = int(d.name)
    return found


def test_a_killed_torchrun_rank_and_the_resume(tmp_path):
    if not FAULTS:
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    if not Path("/proc/self/environ").exists():
        pytest.skip("finding torchrun's ranks needs /proc")
    import signal
    import time

    from studio.core.jobs import drive
    from studio.toyworld.generate import generate_job
    from studio.toyworld.standard import shapes_params, textures_params

    drive(generate_job(shapes_params(tmp_path / "S", per_class=6)))
    drive(generate_job(textures_params(tmp_path / "X", per_class=1)))
    build = ["build", "stylized", "--preset", "toy", "--content", str(tmp_path / "S"),
             "--styles", str(tmp_path / "X"), "--cache-dir", "none", "--batch-size", "2",
             "--workers", "0", "--device", "cpu", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", "-m", "studio", *build, "--out", str(tmp_path / "out")]
    p = subprocess.Popen(torchrun, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    parts = tmp_path / "out" / ".studio" / "parts"
    t0 = time.time()
    while p.poll() is None and not any(parts.glob("records-rank00001*")) \
            and time.time() - t0 < 240:
        time.sleep(0.02)  # rank 1 has written its first image: kill it mid-build
    os.kill(_torchrun_ranks(p.pid)[1], signal.SIGKILL)
    _out, err = p.communicate(timeout=300)
    assert p.returncode != 0
    assert "ChildFailedError" in err and "Signal 9 (SIGKILL) received by PID" in err
    ours = [ln for ln in err.splitlines() if ln.startswith("studio:")]
    assert ours == [
        "studio: rank 0 of 2 stopped by SIGTERM (torchrun stops every rank when one fails; "
        "its report names that rank); finished files are kept: run the same command again "
        "to resume"]
    # the same command resumes and finishes what a run without the kill makes
    r = subprocess.run(torchrun, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ref = subprocess.run([sys.executable, "-m", "studio", *build, "--out",
                          str(tmp_path / "ref")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    got = {k: v for k, v in _tree(tmp_path / "out").items() if k != "dataset.json"}
    assert got == {k: v for k, v in _tree(tmp_path / "ref").items() if k != "dataset.json"}


def test_sigterm_and_a_lost_peer_are_one_line_in_our_words(monkeypatch):
    from studio.core.errors import Terminated, describe, interrupted

    assert interrupted(KeyboardInterrupt()) == ("interrupted", 130)
    assert interrupted(Terminated()) == (
        "stopped by SIGTERM; finished files are kept: run the same command again to resume",
        143)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert interrupted(Terminated())[0].startswith("rank 1 of 4 stopped by SIGTERM (torchrun")
    gloo = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection "
                        "closed by peer [127.0.0.1]:29500")
    assert describe(gloo) == (
        "another rank of this torchrun job stopped ([../third_party/gloo/gloo/transport/tcp/"
        "pair.cc:534] Connection closed by peer [127.0.0.1]:29500); finished files are kept: "
        "run the same command again to resume", 2, False)


def test_sigterm_stops_a_build_with_one_line_and_the_same_command_resumes(tmp_path):
    if not FAULTS:
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    import signal
    import time

    cmd = [sys.executable, "-m", "studio", "toyworld", "generate", "--per-class", "40",
           "--size", "48", "--workers", "1", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "w"
    p = subprocess.Popen([*cmd, "--out", str(out)], env=env, stderr=subprocess.PIPE, text=True)
    while p.poll() is None and not any((out / ".studio" / "parts").glob("records-*")):
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    _out, err = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip("the build finished before the signal arrived")
    assert p.returncode == 143
    assert err.splitlines() == ["studio: stopped by SIGTERM; finished files are kept: run "
                                "the same command again to resume"]
    assert subprocess.run([*cmd, "--out", str(out)], env=env).returncode == 0
    assert subprocess.run([*cmd, "--out", str(tmp_path / "ref")], env=env).returncode == 0
    assert {k: v for k, v in _tree(out).items() if k != "dataset.json"} == \
        {k: v for k, v in _tree(tmp_path / "ref").items() if k != "dataset.json"}


def test_shape_bias_stimuli_whose_names_are_not_utf8_are_skipped(tmp_path):
    from studio.texture_shape.shape_bias import scan_stimuli

    _img(tmp_path / "cat" / "cat1-dog1.png", (16, 16))
    _img(tmp_path / "dog" / "dog1-cat1.png", (16, 16))
    _img(_bytes_name(tmp_path / "dog", b"dog2-cat\xff.png"), (16, 16))
    stim, cats, skipped = scan_stimuli(tmp_path)
    assert len(stim) == 2 and cats == ["cat", "dog"]
    assert skipped == [(f"{tmp_path}/dog/dog2-cat\\xff.png", NOT_UTF8)]
