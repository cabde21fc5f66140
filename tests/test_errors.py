"""Every failure is one clear line, and the rest goes on (issue 14).

No traceback reaches a user; exit status 0 = all done, 1 = some inputs failed, 2 = usage
or fatal error (none to work on included). Each test here failed on the code before.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _img(path: Path, size=(16, 16), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _one_error_line(err: str) -> str:
    """The single ``studio: error:`` line of stderr (and no traceback)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("studio: error:")]
    assert len(lines) == 1, err
    return lines[0]


def _stylize_args(content_dir: Path, style: Path, out: Path, *extra: str) -> list[str]:
    return ["stylize", "--content_dir", str(content_dir), "--style", str(style),
            "--output", str(out), "--device", "cpu", "--workers", "1", "-q", *extra]


# --------------------------------------------------------------------------------------
# 1. main(): one line per exception, exit statuses


def test_internal_error_is_one_line_and_studio_debug_reraises(monkeypatch, capsys):
    import studio.cli as cli

    def boom(args):
        raise KeyError("boom")

    monkeypatch.setattr(cli, "_cmd_demo", boom)
    assert main(["demo"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == ("studio: error: internal error: KeyError: 'boom' (set STUDIO_DEBUG=1 "
                    "for the traceback)")
    monkeypatch.setenv("STUDIO_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["demo"])


class _FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.fh, name)


def test_disk_full_names_the_file(tmp_path, monkeypatch, capsys):
    real = os.fdopen

    def fdopen(fd, mode="r", *a, **kw):
        fh = real(fd, mode, *a, **kw)
        return _FullDisk(fh) if "w" in mode else fh

    monkeypatch.setattr(os, "fdopen", fdopen)
    out = tmp_path / "world"
    rc = main(["toyworld", "generate", "--out", str(out), "--per-class", "1", "--size", "32",
               "--num-classes", "2", "--workers", "1", "-q"])
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"studio: error: disk full while writing {out}")


def _read_only_folder(tmp_path: Path):
    """A folder nobody may write into: chmod 0555, or (as root, who ignores modes) a
    read-only tmpfs. Returns (folder, cleanup)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if not IS_ROOT:
        ro.chmod(0o555)
        return ro, lambda: ro.chmod(0o755)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"running as root (modes are ignored) and a read-only tmpfs cannot be "
                    f"mounted: {r.stderr.strip()}")
    return ro, lambda: subprocess.run(["umount", str(ro)], check=False)


def test_read_only_output_folder_is_one_line(tmp_path, capsys):
    ro, cleanup = _read_only_folder(tmp_path)
    try:
        rc = main(["toyworld", "generate", "--out", str(ro / "world"), "--per-class", "1",
                   "--size", "32", "--num-classes", "2", "--workers", "1", "-q"])
    finally:
        cleanup()
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(ro / "world") in line
    assert "read-only" in line or "permission denied" in line


@pytest.mark.parametrize("code, expect", [
    (errno.EROFS, "{p}: read-only file system"),
    (errno.EACCES, "{p}: permission denied"),
    (errno.EPERM, "{p}: permission denied"),
    (errno.ENOENT, "{p}: no such file or folder"),
])
def test_os_errors_by_errno(code, expect, tmp_path, monkeypatch, capsys):
    import studio.toyworld.generate as gen

    p = str(tmp_path / "x.png")

    def job(params, token=None):
        raise OSError(code, os.strerror(code), p)
        yield  # pragma: no cover

    monkeypatch.setattr(gen, "generate_job", job)
    assert main(["toyworld", "generate", "--out", str(tmp_path / "o"), "-q"]) == 2
    assert _one_error_line(capsys.readouterr().err).startswith(
        "studio: error: " + expect.format(p=p))


@pytest.mark.parametrize("exc", [
    MemoryError(),
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 8 GiB "
                           "total capacity)"),
    RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1 GiB. "
                 "out of memory"),
])
def test_out_of_memory_is_one_line_with_a_hint(exc, tmp_path, monkeypatch, capsys):
    import studio.toyworld.generate as gen

    def job(params, token=None):
        raise exc
        yield  # pragma: no cover

    monkeypatch.setattr(gen, "generate_job", job)
    assert main(["toyworld", "generate", "--out", str(tmp_path / "o"), "-q"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("studio: error: out of memory")
    assert line.endswith("try a smaller --batch-size / size")


def test_translate_exits_1_when_some_inputs_failed(tmp_path, capsys):
    good = _img(tmp_path / "in" / "good.png", (32, 32))
    bad = tmp_path / "in" / "bad.png"
    bad.write_text("not an image")
    rc = main(["translate", "--model", "toy", str(good), str(bad), "--self-style",
               "--out", str(tmp_path / "o"), "--device", "cpu", "-q"])
    assert rc == 1
    assert (tmp_path / "o" / "good.png").is_file()
    err = capsys.readouterr().err
    assert "bad.png" in err and "Traceback" not in err


def test_empty_input_folder_is_exit_2_with_a_message(tmp_path, capsys):
    style = _img(tmp_path / "style.png")
    (tmp_path / "empty").mkdir()
    rc = main(_stylize_args(tmp_path / "empty", style, tmp_path / "o"))
    assert rc == 2  # nothing to work on is fatal (issue 33; was 1)
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"studio: error: {tmp_path / 'empty'}: no content images in this folder"
    rc = main(["build", "stylized", "--content", str(tmp_path / "empty"), "--styles",
               str(tmp_path / "empty"), "--out", str(tmp_path / "o2"), "--device", "cpu",
               "-q"])
    assert rc == 2
    assert "no class folders with images" in _one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------------
# 2. HOME missing, the filesystem root or read-only


@pytest.fixture
def no_home(monkeypatch, tmp_path):
    import studio.core.paths as paths

    for var in ("STUDIO_CACHE", "XDG_CACHE_HOME", "XDG_DATA_HOME", "STUDIO_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(paths, "_warned", set())
    return tmp_path / "tmp"


@pytest.mark.parametrize("home", ["/nonexistent", "/", ""])
def test_cache_and_data_dirs_without_a_usable_home(home, no_home, monkeypatch, capsys):
    from studio.adain.style_cache import default_cache_root
    from studio.core.paths import default_models_dir
    from studio.gui.workspace import workspace_dir

    monkeypatch.setenv("HOME", home)
    for d in (default_cache_root(), default_models_dir(), workspace_dir()):
        assert d.is_relative_to(no_home), d
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(ln.startswith("studio: warning: ") for ln in err)
    assert "STUDIO_CACHE" in err[0] and str(no_home) in err[0]
    default_cache_root()  # warned once per kind and process
    assert capsys.readouterr().err == ""


def test_unset_home_never_creates_folders_at_the_root(no_home, monkeypatch):
    from studio.adain.style_cache import default_cache_root

    monkeypatch.delenv("HOME", raising=False)
    root = default_cache_root()
    assert root.parts[1] not in (".cache", ".local")  # not /.cache/studio/...
    assert root.is_relative_to(no_home) or not str(root.parent).startswith("/.")


def test_read_only_home_falls_back(no_home, tmp_path, monkeypatch, capsys):
    from studio.adain.style_cache import default_cache_root

    home, cleanup = _read_only_folder(tmp_path)
    try:
        monkeypatch.setenv("HOME", str(home))
        assert default_cache_root().is_relative_to(no_home)
    finally:
        cleanup()
    assert "studio: warning:" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# 3. numbers are checked when parsed, naming the flag


@pytest.mark.parametrize("argv, message", [
    (["stylize", "--batch-size", "0"], "argument --batch-size/--batch_size: must be >= 1, got 0"),
    (["stylize", "--batch_size", "0"], "argument --batch-size/--batch_size: must be >= 1, got 0"),
    (["stylize", "--content-size", "-5"],
     "argument --content-size/--content_size: must be >= 0, got -5"),
    (["stylize", "--alpha", "1.5"], "argument --alpha: must be between 0 and 1, got 1.5"),
    (["build", "stylized", "--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    (["build", "stylized", "--alpha", "-0.5"], "argument --alpha: must be between 0 and 1"),
    (["build", "cue-conflict", "--size", "-5"], "argument --size: must be >= 16, got -5"),
    (["build", "cue-conflict", "--iterations", "0"], "argument --iterations: must be >= 1"),
    (["synthesize", "--num-images", "0"],
     "argument --num-images/--num_total_images: must be >= 1, got 0"),
    (["synthesize", "--batch-size", "0"], "argument --batch-size/--bs: must be >= 1, got 0"),
    (["synthesize", "--bs", "0"], "argument --batch-size/--bs: must be >= 1, got 0"),
    (["synthesize", "--iters_mi", "0"], "argument --iterations/--iters_mi: must be >= 1"),
    (["translate", "--alpha", "2"], "argument --alpha: must be between 0 and 1, got 2"),
    (["train", "classifier", "--batch-size", "0"], "argument --batch-size: must be >= 1"),
    (["toyworld", "generate", "--per-class", "0"], "argument --per-class: must be >= 1, got 0"),
    (["--seed", "-1", "toyworld", "generate"],
     "argument --seed: must be between 0 and 2^63-1, got -1"),
    (["toyworld", "generate", "--seed", str(2**63)], "argument --seed: must be between 0"),
    (["stylize", "--batch-size", "x"], "argument --batch-size/--batch_size: expected a whole "
                                       "number, got 'x'"),
])
def test_numbers_are_checked_when_parsed(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# 4. specific cases: a 1x1 content, --size 20000, an out-of-memory batch


def test_one_pixel_content_is_one_line_and_the_rest_goes_on(tmp_path, capsys):
    _img(tmp_path / "c" / "ok.png", (16, 16))
    _img(tmp_path / "c" / "tiny.png", (1, 1))
    style = _img(tmp_path / "style.png", (16, 16), seed=1)
    rc = main(_stylize_args(tmp_path / "c", style, tmp_path / "o", "--content_size", "0",
                            "--style_size", "0"))
    assert rc == 1
    assert (tmp_path / "o" / "ok_stylized_style.jpg").is_file()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [ln for ln in err.splitlines() if "tiny.png" in ln]
    assert "1x1 is smaller than the 3 px per side the AdaIN encoder (toy, relu2_1) needs" \
        in line


def test_one_pixel_content_in_a_subprocess_no_traceback(tmp_path):
    _img(tmp_path / "c" / "tiny.png", (1, 1))
    style = _img(tmp_path / "style.png", (16, 16), seed=1)
    env = {**os.environ, "STUDIO_MODELS": str(tmp_path / "m")}
    r = subprocess.run([sys.executable, "-m", "studio",
                        *_stylize_args(tmp_path / "c", style, tmp_path / "o",
                                       "--content_size", "0")],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "tiny.png" in r.stderr


def test_cue_conflict_huge_size_refused_before_allocating(tmp_path, monkeypatch, capsys):
    import studio.texture_shape.cue_conflict as cc

    for d in ("shapes", "textures"):
        _img(tmp_path / d / "cat" / "a.png", (16, 16))
    monkeypatch.setattr(cc, "free_memory", lambda device: 8 * 2**30)

    def no_alloc(*a, **kw):
        raise AssertionError("an image was made at the huge size")

    monkeypatch.setattr(cc, "_square", no_alloc)
    rc = main(["build", "cue-conflict", "--shapes", str(tmp_path / "shapes"), "--textures",
               str(tmp_path / "textures"), "--out", str(tmp_path / "o"), "--size", "20000",
               "--model", "toy", "--device", "cpu", "-q"])
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("studio: error: --size 20000 would need about ")
    assert "TiB of memory (adain, toy encoder, batch 16) but cpu has about 8.0 GiB free; " \
           "use --size " in line


def test_out_of_memory_batch_is_split_and_the_rest_goes_on(tmp_path, monkeypatch, capsys):
    from studio.adain.model import AdaINModel
    from studio.adain.ops import StyleStats, calc_mean_std

    real = AdaINModel.encode

    def encode(self, x):
        if x.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return real(self, x)

    monkeypatch.setattr(AdaINModel, "encode", encode)
    for i in range(3):
        _img(tmp_path / "c" / f"c{i}.png", (16, 16), seed=i)
    style = _img(tmp_path / "style.png", (16, 16), seed=9)
    rc = main(_stylize_args(tmp_path / "c", style, tmp_path / "o", "--content_size", "0",
                            "--style_size", "0", "--batch_size", "4"))
    assert rc == 0
    assert len(list((tmp_path / "o").glob("*_stylized_style.jpg"))) == 3
    err = capsys.readouterr().err
    assert "out of memory with a batch of 3; retrying as 1 + 2" in err
    assert "Traceback" not in err

    def never(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    def style_stats(self, s):  # the style still fits; every content batch does not
        return StyleStats(*calc_mean_std(real(self, s)))

    monkeypatch.setattr(AdaINModel, "encode", never)
    monkeypatch.setattr(AdaINModel, "style_stats", style_stats)
    rc = main(_stylize_args(tmp_path / "c", style, tmp_path / "o2", "--content_size", "0",
                            "--style_size", "0", "--batch_size", "1"))
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("out of memory at 16x16 px even alone; try a smaller --content_size") == 3


# --------------------------------------------------------------------------------------
# 5. input scanning: nothing dropped silently; manifest paths stay inside the dataset


def _dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _img(root / "cat" / "a.png")
    _img(root / ".hidden" / "b.png")
    (root / "cat" / "gone.png").symlink_to(root / "nowhere.png")
    return root


def test_scan_reports_broken_links_and_hidden_folders(tmp_path):
    from studio.datasets.folders import scan_image_folder

    root = _dataset(tmp_path)
    scan = scan_image_folder(root)
    assert [s.rel for s in scan.samples] == ["cat/a.png"]
    reasons = dict(scan.skipped)
    assert reasons[str(root / ".hidden")] == "hidden folder"
    assert reasons[str(root / "cat" / "gone.png")] == "broken symbolic link"


def test_list_images_reports_what_it_leaves_out(tmp_path):
    from studio.core.images import list_images

    root = _dataset(tmp_path)
    skipped: list[tuple[str, str]] = []
    found = list_images(root, recursive=True, skipped=skipped)
    assert found == [root / "cat" / "a.png"]
    assert dict(skipped) == {str(root / ".hidden"): "hidden folder",
                             str(root / "cat" / "gone.png"): "broken symbolic link"}


def test_unreadable_folder_is_permission_denied_not_empty(tmp_path, monkeypatch):
    from studio.datasets.folders import scan_image_folder

    root = tmp_path / "data"
    _img(root / "cat" / "a.png")
    _img(root / "dog" / "b.png")
    locked = root / "dog"
    if IS_ROOT:  # root reads any folder: simulate what chmod 000 does for a user
        real = os.scandir

        def scandir(path="."):
            if Path(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        scan = scan_image_folder(root)
    finally:
        locked.chmod(0o755)
    assert scan.classes == ["cat", "dog"]
    assert dict(scan.skipped) == {str(locked): "permission denied"}


@pytest.mark.skipif(IS_ROOT, reason="root reads any file; chmod cannot make one unreadable")
def test_unreadable_file_is_permission_denied_not_corrupt(tmp_path):
    from studio.core.images import ImageError, load_image

    f = _img(tmp_path / "a.png")
    f.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            load_image(f)
    finally:
        f.chmod(0o644)


@pytest.mark.parametrize("file_name", ["../x.png", "/etc/passwd", "cat/../../x.png"])
def test_manifest_paths_that_leave_the_dataset_are_refused(file_name, tmp_path, capsys):
    from studio.datasets.readers import read_source

    _img(tmp_path / "x.png")
    ds = tmp_path / "ds"
    _img(ds / "cat" / "a.png")
    recs = [{"file_name": "cat/a.png", "label": 0}, {"file_name": file_name, "label": 0}]
    (ds / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(ValueError, match="leaves the dataset folder"):
        read_source(ds / "manifest.jsonl")
    rc = main(["train", "classifier", "--data", str(ds / "manifest.jsonl"), "--arch", "toyvgg",
               "--out", str(tmp_path / "o"), "--epochs", "1", "--device", "cpu", "-q"])
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"manifest.jsonl:2: file_name {file_name!r} leaves the dataset folder" in line


# --------------------------------------------------------------------------------------
# 6. recipe paths are relative to the recipe's folder


def test_recipe_paths_resolve_against_the_recipe_folder(tmp_path, monkeypatch):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "recipe.toml").write_text(
        'schema = 1\njob = "toyworld"\n[params]\nout = "world"\nper_class = 1\nsize = 32\n'
        'num_classes = 2\nworkers = 1\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", "../sub/recipe.toml", "-q"]) == 0
    assert (sub / "world" / "manifest.jsonl").is_file()
    assert not (elsewhere / "world").exists()


def test_recipe_absolute_and_home_paths_stay_and_saved_recipes_replay(tmp_path, monkeypatch):
    from studio.recipes import load_recipe, save_recipe
    from studio.toyworld.generate import ToyWorldParams

    (tmp_path / "a.toml").write_text(
        f'schema = 1\njob = "toyworld"\n[params]\nout = "{tmp_path / "abs"}"\n')
    assert load_recipe(tmp_path / "a.toml")[1].out == tmp_path / "abs"
    (tmp_path / "h.toml").write_text('schema = 1\njob = "toyworld"\n[params]\nout = "~/w"\n')
    assert load_recipe(tmp_path / "h.toml")[1].out == Path("~/w")
    # what the GUI saves (a path relative to its working folder) replays the same from
    # anywhere: save_recipe writes it absolute
    monkeypatch.chdir(tmp_path)
    save_recipe(tmp_path / "recipes" / "r.toml", "toyworld", ToyWorldParams(Path("out")))
    assert f'out = "{tmp_path / "out"}"' in (tmp_path / "recipes" / "r.toml").read_text()
    assert load_recipe(tmp_path / "recipes" / "r.toml")[1].out == tmp_path / "out"


def test_stylize_skips_an_extreme_aspect_ratio_before_resizing_it(tmp_path, capsys):
    """A 1x3000 strip at --content_size 512 would become 512 x 1,536,000 px (killed for
    memory, issue 33): it is skipped with its name and size, the other content is made."""
    _img(tmp_path / "c" / "ok.png", (32, 32))
    _img(tmp_path / "c" / "strip.png", (1, 3000))
    style = _img(tmp_path / "style.png", (32, 32), seed=1)
    rc = main(_stylize_args(tmp_path / "c", style, tmp_path / "o", "--content_size", "512",
                            "--save_ext", ".png"))
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert (f"{tmp_path / 'c' / 'strip.png'}: content image skipped: 1x3000 px would be "
            "resized to 512x1536000 "
            "(786,432,000 px, more than the 268,435,456 px an image may have); lower "
            "--content_size or crop it") in err
    assert [p.name for p in (tmp_path / "o").glob("*.png")] == ["ok_stylized_style.png"]


def test_stylize_names_a_non_utf8_content_file_safely(tmp_path, capsys):
    """A content file whose name is not UTF-8 is named with \\x escapes (it stopped the job
    with 'surrogates not allowed' and no file named, issue 33)."""
    import os

    bad = Path(os.fsdecode(bytes(tmp_path / "c") + b"/bad\xff.png"))
    _img(bad, (32, 32))
    style = _img(tmp_path / "style.png", (32, 32), seed=1)
    rc = main(["stylize", "--content", str(bad), "--style", str(style), "--output",
               str(tmp_path / "o"), "--device", "cpu", "-q", "--save_ext", ".png"])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "surrogates" not in line
    assert line == (f"studio: error: {tmp_path / 'c'}/bad\\xff.png: its name is not valid "
                    "UTF-8 (shown with \\x escapes); rename it to use it")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.png"))
