"""The output-folder contract: a folder holds what one recipe made.

Resume only under the same fingerprint, one build per folder, inputs never written over,
resume checks what is there (truncated outputs, torn record lines), distinct inputs never
share an output name. Each case failed on the code before the contract existed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_adain import ROOT, TINY, S
from tiny_adain import picture as _picture

from studio.adain.model import AdaINModel
from studio.cli import main
from studio.core.checkpoints import save_state_dict
from studio.core.jobs import CancelToken, Progress, drive
from studio.datasets.writers import (
    BuildLocked,
    FingerprintMismatch,
    FolderLock,
    ImageFolderWriter,
    OutputFolderError,
    OutputItem,
    fingerprint_diff,
    make_fingerprint,
)
from studio.texture_shape.stylized import StylizedParams, build_stylized

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contract-data")
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        d = root / "W" / "train" / c
        d.mkdir(parents=True)
        for i in range(4):
            _picture(rng, 40, 40).save(d / f"{c}{i}.png")
    for folder in ("T", "T2"):
        (root / folder).mkdir()
        for j in range(3):
            _picture(rng, 40, 40).save(root / folder / f"s{j}.png")
    # another folder of like-named, equal-sized files, made at another time
    for f in (root / "T2").iterdir():
        os.utime(f, (f.stat().st_atime, f.stat().st_mtime - 3600))
    return root


def _params(data: Path, out: Path, **kw) -> StylizedParams:
    base = dict(content=data / "W", styles=data / "T", out=out, content_size=36, crop=S,
                style_size=S, min_style_size=S, workers=0, batch_size=4, cache_dir="none",
                seed=7)
    base.update(kw)
    return StylizedParams(**base)


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------
# Resume only what the same recipe would make


@pytest.mark.parametrize("change, named", [
    ({"alpha": 0.5}, "alpha: 1.0 -> 0.5"),
    ({"seed": 8}, "seed: 7 -> 8"),
    ({"styles": "T2"}, "inputs.styles: 3 files"),
])
def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(data, tmp_path, net,
                                                                    change, named):
    out = tmp_path / "res"
    drive(build_stylized(_params(data, out), net=net))
    before = _tree(out)
    if "styles" in change:
        change = {"styles": data / change["styles"]}
    with pytest.raises(FingerprintMismatch, match="resume refused") as exc:
        drive(build_stylized(_params(data, out, **change), net=net))
    assert named in str(exc.value) and "--overwrite" in str(exc.value)
    assert _tree(out) == before  # nothing touched


def test_overwrite_starts_afresh_and_the_folder_says_what_made_it(data, tmp_path, net):
    out = tmp_path / "res"
    drive(build_stylized(_params(data, out), net=net))
    (out / "notes.txt").write_text("mine")  # a file Studio did not write is kept
    drive(build_stylized(_params(data, out, alpha=0.5, overwrite=True), net=net))
    fresh = tmp_path / "fresh"
    drive(build_stylized(_params(data, fresh, alpha=0.5), net=net))
    got, want = _tree(out), _tree(fresh)
    assert got.pop("notes.txt") == b"mine"
    assert {k: v for k, v in got.items() if k != "dataset.json"} == \
        {k: v for k, v in want.items() if k != "dataset.json"}
    info = json.loads((out / "dataset.json").read_text())
    assert info["params"]["alpha"] == 0.5 and info["fingerprint"]["params"]["alpha"] == 0.5
    assert "pixels are byte-identical at equal thread counts" in info["determinism"]
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["alpha"] for r in rows} == {0.5} and len(rows) == 8


def test_same_settings_resume_and_the_irrelevant_ones_may_change(data, tmp_path, net):
    out = tmp_path / "res"
    drive(build_stylized(_params(data, out), net=net))
    before = _tree(out)
    # batch size and worker count never change a byte: a resume with them is fine
    res = drive(build_stylized(_params(data, out, batch_size=2, workers=1), net=net))
    assert res["made"] == 0
    assert {k: v for k, v in _tree(out).items() if k != "dataset.json"} == \
        {k: v for k, v in before.items() if k != "dataset.json"}


def test_cancelled_then_resumed_with_other_settings_is_refused(data, tmp_path, net):
    out = tmp_path / "res"
    token = CancelToken()
    with pytest.raises(Exception) as exc:
        for ev in build_stylized(_params(data, out, batch_size=1), token, net=net):
            if isinstance(ev, Progress) and "stylised" in ev.message and ev.step >= 3:
                token.cancel()
    assert type(exc.value).__name__ == "Cancelled"
    partial = _tree(out)
    assert 3 <= sum(k.endswith(".png") for k in partial) < 8
    with pytest.raises(FingerprintMismatch, match="alpha: 1.0 -> 0.5"):
        drive(build_stylized(_params(data, out, alpha=0.5), net=net))
    assert _tree(out) == partial
    drive(build_stylized(_params(data, out), net=net))  # same settings: finishes
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 8


def test_a_folder_of_foreign_files_is_refused_even_with_overwrite(data, tmp_path, net):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"not ours")
    for overwrite in (False, True):
        with pytest.raises(OutputFolderError, match="not empty and holds no Studio build"):
            drive(build_stylized(_params(data, out, overwrite=overwrite), net=net))
    assert sorted(p.name for p in out.iterdir()) == ["holiday.jpg"]


def test_fingerprint_diff_names_each_change():
    a = make_fingerprint("j", {"alpha": 1.0, "seed": 0, "out": "x"}, ignore=("out",),
                         models={"m": "aa"})
    b = make_fingerprint("j", {"alpha": 0.5, "seed": 0, "out": "y"}, ignore=("out",),
                         models={"m": "bb"})
    assert fingerprint_diff(a, b) == [("alpha", 1.0, 0.5), ("models.m", "aa", "bb")]
    assert fingerprint_diff(a, json.loads(json.dumps(a))) == []


def test_other_builders_refuse_changed_settings(tmp_path, capsys):
    """toyworld, toy cue-conflict and synthesize through the CLI, as users run them."""
    world = tmp_path / "world"
    args = ["toyworld", "generate", "--out", str(world), "--per-class", "1", "--size", "32",
            "-q"]
    assert main(args) == 0
    assert main(args[:-1] + ["--seed", "3", "-q"]) == 2
    assert "seed: 0 -> 3" in capsys.readouterr().err
    assert main(args[:-1] + ["--seed", "3", "--overwrite", "-q"]) == 0
    cc = tmp_path / "cc"
    assert main(["build", "toy-cue-conflict", "--out", str(cc), "--size", "32", "-q"]) == 0
    assert main(["build", "toy-cue-conflict", "--out", str(cc), "--size", "40", "-q"]) == 2
    assert "size: 32 -> 40" in capsys.readouterr().err
    syn = tmp_path / "syn"
    common = ["synthesize", "--teacher", "toy", "--method", "deep", "--num-images", "2",
              "--batch-size", "2", "--out", str(syn), "--device", "cpu", "-q"]
    assert main([*common, "--iterations", "1"]) == 0
    before = _tree(syn)
    assert main([*common, "--iterations", "2"]) == 2
    assert "iterations: 1 -> 2" in capsys.readouterr().err
    assert _tree(syn) == before


def test_a_trainer_resumes_only_its_own_run(tmp_path, capsys):
    from studio.toyworld.generate import generate_job
    from studio.toyworld.standard import world_params

    drive(generate_job(world_params(tmp_path / "w", per_class=2, test_per_class=1)))
    out = tmp_path / "clf"
    common = ["train", "classifier", "--data", str(tmp_path / "w"), "--arch", "toyvgg",
              "--image-size", "64", "--epochs", "1", "--batch-size", "4", "--workers", "0",
              "--out", str(out), "--device", "cpu", "-q"]
    assert main(common) == 0
    ckpt = (out / "checkpoint.pth").read_bytes()
    assert main([*common, "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "lr: 0.1 -> 0.5" in err and "--no-resume" in err
    assert (out / "checkpoint.pth").read_bytes() == ckpt
    assert main([*common, "--lr", "0.5", "--no-resume"]) == 0


# ---------------------------------------------------------------------------------------
# One build per folder


def test_a_second_build_into_a_busy_folder_is_refused_with_the_pid(data, tmp_path, net):
    out = tmp_path / "busy"
    holder = ImageFolderWriter(out).open()
    try:
        with pytest.raises(BuildLocked, match=f"PID {os.getpid()} on "):
            drive(build_stylized(_params(data, out), net=net))
    finally:
        holder.release()
    drive(build_stylized(_params(data, out), net=net))  # free again: builds


def test_the_lock_is_held_across_processes_and_dies_with_its_holder(tmp_path):
    code = ("import sys, time; from pathlib import Path; "
            "from studio.datasets.writers import FolderLock; "
            "lock = FolderLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(BuildLocked, match=f"PID {proc.pid} on "):
            FolderLock(tmp_path).acquire()
    finally:
        proc.kill()  # kill -9: the OS releases the lock
        proc.wait()
    lock = FolderLock(tmp_path)
    lock.acquire()
    assert lock.held
    lock.release()


# ---------------------------------------------------------------------------------------
# Resume validates what is already there


def test_truncated_or_unrecorded_outputs_are_made_again(data, tmp_path, net):
    out = tmp_path / "res"
    drive(build_stylized(_params(data, out), net=net))
    want = _tree(out)
    png = out / "train" / "cat" / "cat1.png"
    png.write_bytes(png.read_bytes()[:100])          # cut by a full disk
    rows = (out / "manifest.jsonl").read_text().splitlines()
    (out / "manifest.jsonl").write_text("\n".join(r for r in rows if "dog2" not in r) + "\n")
    gen = build_stylized(_params(data, out), net=net)
    logs = []
    res = drive(gen, lambda ev: logs.append(getattr(ev, "message", "")))
    assert res["made"] == 2  # cat1 (truncated) and dog2 (its record was missing)
    assert any("truncated or undecodable" in m for m in logs)
    got = _tree(out)
    assert {k: v for k, v in got.items() if k != "dataset.json"} == \
        {k: v for k, v in want.items() if k != "dataset.json"}


def test_a_torn_record_line_is_repaired_not_the_rest_lost(tmp_path):
    """A kill mid-line, then a resume: before, the next run's first record was glued to
    the fragment and everything after the tear vanished from the manifest."""
    items = [OutputItem(f"c/img{i:03d}", 0, "c") for i in range(100)]
    img = np.zeros((4, 4, 3), np.uint8)
    w = ImageFolderWriter(tmp_path).open()
    for _, it in w.pending(items)[:40]:
        w.write(it, img)
    with open(w.part_file, "a") as fh:
        fh.write('{"file_name": "c/img040.png", "la')  # killed mid-line, no newline
    w.release()
    w2 = ImageFolderWriter(tmp_path).open()
    assert any("dropped 1 line" in n for n in w2.notes)
    todo = w2.pending(items)
    assert [i for i, _ in todo] == list(range(40, 100))
    for _, it in todo:
        w2.write(it, img)
    w2.finalize({}, ["c"])
    rows = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert len(rows) == 100 and all(json.loads(r)["file_name"] for r in rows)


def test_a_glued_record_is_recovered_when_reading(tmp_path):
    from studio.datasets.writers import _read_jsonl

    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 1}\n{"cut": tr{"a": 2}\n{"a": 3}\n')
    torn: list[int] = []
    assert _read_jsonl(f, torn) == [{"a": 1}, {"a": 2}, {"a": 3}] and torn == [2]


# ---------------------------------------------------------------------------------------
# Never write over an input


def test_output_inside_or_around_an_input_is_refused(data, tmp_path, net):
    before = _tree(data)
    cases = [
        _params(data, data / "W", content=data / "W" / "train"),   # out contains the input
        _params(data, data / "W" / "out"),                          # out inside the input
        _params(data, data / "T" / "out"),                          # inside the styles
        _params(data, data),                                        # contains both
    ]
    for p in cases:
        with pytest.raises(OutputFolderError, match="choose an output folder outside it"):
            drive(build_stylized(p, net=net))
    assert _tree(data) == before


def test_cue_conflict_stylize_and_translate_refuse_their_input_folder(tmp_path, capsys):
    from studio.toyworld.generate import generate_job
    from studio.toyworld.standard import shapes_params, textures_params

    drive(generate_job(shapes_params(tmp_path / "S", per_class=1)))
    drive(generate_job(textures_params(tmp_path / "X", per_class=1)))
    before = _tree(tmp_path)
    assert main(["build", "cue-conflict", "--shapes", str(tmp_path / "S"), "--textures",
                 str(tmp_path / "X"), "--out", str(tmp_path / "S"), "--model", "toy",
                 "--size", "32", "--device", "cpu", "-q"]) == 2
    assert "the shapes input" in capsys.readouterr().err
    circle = tmp_path / "S" / "circle"
    assert main(["stylize", "--content_dir", str(circle), "--style",
                 str(next((tmp_path / "X").rglob("*.png"))), "--output", str(circle),
                 "--device", "cpu", "-q"]) == 2
    assert "inside the content input" in capsys.readouterr().err
    assert main(["translate", str(circle), "--model", "toy", "--self-style", "--out", str(circle),
                 "--device", "cpu", "-q"]) == 2
    assert "input" in capsys.readouterr().err
    # evaluators and trainers too: their reports and checkpoints never land in an input
    for cmd in (["eval", "shape-bias", "--stimuli", str(tmp_path / "S"), "--model",
                 "toyvgg=toy-teacher", "--out", str(tmp_path / "S" / "sb")],
                ["train", "classifier", "--data", str(tmp_path / "S"), "--arch", "toyvgg",
                 "--out", str(tmp_path / "S")],
                ["distill", "--synthetic", str(tmp_path / "X"), "--teacher", "toy",
                 "--out", str(tmp_path)]):
        assert main([*cmd, "--device", "cpu", "-q"]) == 2, cmd
        assert "choose an output folder outside it" in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_distinct_inputs_never_share_an_output_name(tmp_path):
    from studio.adain.stylize import StylizeParams, stylize_job

    torch.manual_seed(0)
    model = AdaINModel(TINY)
    enc, dec = tmp_path / "enc.pth", tmp_path / "dec.pth"
    save_state_dict(model.encoder, enc)
    save_state_dict(model.decoder, dec)
    rng = np.random.default_rng(1)
    c, s = tmp_path / "c", tmp_path / "s"
    c.mkdir()
    s.mkdir()
    for ext in ("png", "tiff", "webp"):
        _picture(rng, 24, 24).save(c / f"img.{ext}")
    for ext in ("png", "jpg"):
        _picture(rng, 24, 24).save(s / f"paint.{ext}")
    res = drive(stylize_job(StylizeParams(content_dir=str(c), style_dir=str(s), vgg=str(enc),
                                          decoder=str(dec), content_size=0, style_size=0,
                                          save_ext=".png", output=str(tmp_path / "o"),
                                          device="cpu")))
    names = sorted(p.name for p in (tmp_path / "o").glob("*.png"))
    assert res["written"] == 6 and len(names) == 6
    assert "img_tiff_stylized_paint_jpg.png" in names


# ---------------------------------------------------------------------------------------
# Determinism as users run it: torchrun (1 thread per rank) vs a plain run (all cores)


@pytest.mark.slow
def test_torchrun_and_a_plain_run_at_default_threads(data, tmp_path, net):
    enc, dec = tmp_path / "enc.pth", tmp_path / "dec.pth"
    save_state_dict(net.model.encoder, enc)
    save_state_dict(net.model.decoder, dec)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    cli = ["build", "stylized", "--content", str(data / "W"), "--styles", str(data / "T"),
           "--model", str(enc), "--decoder", str(dec), "--content-size", "36", "--crop",
           str(S), "--style-size", str(S), "--min-style-size", str(S), "--seed", "7",
           "--cache-dir", "none", "--device", "cpu", "-q"]
    for name, launcher in (("two", ["-m", "torch.distributed.run", "--standalone",
                                    "--nproc_per_node", "2", "-m", "studio"]),
                           ("one", ["-m", "studio"])):
        r = subprocess.run([sys.executable, *launcher, *cli, "--out", str(tmp_path / name)],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    one, two = tmp_path / "one", tmp_path / "two"
    for f in ("manifest.jsonl", "train/provenance.jsonl", "errors.jsonl", "README.md"):
        assert (one / f).read_bytes() == (two / f).read_bytes()
    a, b = json.loads((one / "dataset.json").read_text()), json.loads(
        (two / "dataset.json").read_text())
    assert a["fingerprint"] == b["fingerprint"] and a["determinism"] == b["determinism"]
    pngs = sorted(p.relative_to(one) for p in one.rglob("*.png"))
    assert pngs == sorted(p.relative_to(two) for p in two.rglob("*.png")) and len(pngs) == 8
    diff = [np.abs(np.asarray(Image.open(one / p), dtype=int) -
                   np.asarray(Image.open(two / p), dtype=int)) for p in pngs]
    assert max(d.max() for d in diff) <= 1  # the stated guarantee: within 1 level


def test_resume_after_kill_at_random_points_of_every_builder_is_complete(tmp_path):
    """kill -9 at a seeded random moment, resume with the same command, compare with an
    uninterrupted run (gated: several processes)."""
    if os.environ.get("STUDIO_TEST_FAULTS") != "1":
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    rng = np.random.default_rng(int(time.time()) % 1000)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    from studio.toyworld.generate import generate_job
    from studio.toyworld.standard import shapes_params, textures_params

    drive(generate_job(shapes_params(tmp_path / "S", per_class=2)))
    drive(generate_job(textures_params(tmp_path / "X", per_class=1)))
    builders = {
        "toyworld": ["toyworld", "generate", "--per-class", "40", "--size", "48",
                     "--workers", "1"],
        "cue-conflict": ["build", "cue-conflict", "--shapes", str(tmp_path / "S"),
                         "--textures", str(tmp_path / "X"), "--model", "toy", "--size", "48",
                         "--batch-size", "2"],
        "synthesize": ["synthesize", "--teacher", "toy", "--method", "deep", "--num-images",
                       "8", "--batch-size", "2", "--iterations", "3"],
        "translated": ["build", "translated", "--model", "toy", "--content",
                       str(tmp_path / "S"), "--style", str(tmp_path / "X")],
        "stylized": ["build", "stylized", "--preset", "toy", "--content", str(tmp_path / "S"),
                     "--styles", str(tmp_path / "X"), "--cache-dir", "none", "--batch-size", "2",
                     "--workers", "0"],
    }
    report, n_cut = [], 0
    for name, cmd in builders.items():
        ref, cut = tmp_path / f"{name}-ref", tmp_path / f"{name}-cut"
        full = [sys.executable, "-m", "studio", *cmd, "--device", "cpu", "-q"]
        r = subprocess.run([*full, "--out", str(ref)], env=env, capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0 and "TSIT" in r.stderr + r.stdout:
            report.append(f"{name}: skipped ({r.stderr.strip()[-200:]})")
            continue
        assert r.returncode == 0, r.stderr[-2000:]
        proc = subprocess.Popen([*full, "--out", str(cut)], env=env)
        parts = cut / ".studio" / "parts"
        while proc.poll() is None and not any(parts.glob("records-*")):
            time.sleep(0.005)  # the first output is in place: from here a kill costs data
        time.sleep(float(rng.uniform(0.0, 0.05)))
        proc.kill()
        proc.wait()
        interrupted = not (cut / "dataset.json").is_file()
        r = subprocess.run([*full, "--out", str(cut)], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        a = {k: v for k, v in _tree(ref).items() if k != "dataset.json"}
        b = {k: v for k, v in _tree(cut).items() if k != "dataset.json"}
        assert a == b, name
        report.append(f"{name}: {'killed mid-build' if interrupted else 'finished first'}, "
                      f"resumed to {len(a)} identical files")
        n_cut += interrupted
    print("\n".join(report))
    assert n_cut >= 3, report  # most kills landed mid-build


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs (root only): a disk that really fills up, or turns read-only."""
    if os.environ.get("STUDIO_TEST_FAULTS") != "1":
        pytest.skip("the fault suite runs with STUDIO_TEST_FAULTS=1 (make test sets it)")
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; a full disk is then simulated by "
                    "test_errors.py only")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _studio(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "studio", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_full_disk_and_a_read_only_folder_are_one_line_and_cost_nothing(small_fs, tmp_path):
    gen = ["toyworld", "generate", "--per-class", "40", "--size", "48", "--workers", "1", "-q"]
    out = small_fs / "world"
    r = _studio(*gen, "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("studio: error: disk full while writing")
    written = sorted(p for p in out.rglob("*.png"))
    assert 0 < len(written) < 400  # it really ran out of space
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], check=True)
    assert _studio(*gen, "--out", str(out)).returncode == 0  # resumed after space was freed
    ref = tmp_path / "ref"
    assert _studio(*gen, "--out", str(ref)).returncode == 0
    want = {k: v for k, v in _tree(ref).items() if k != "dataset.json"}
    assert {k: v for k, v in _tree(out).items() if k != "dataset.json"} == want
    # read-only: refused in one line, the finished dataset untouched
    before = _tree(out)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = _studio(*gen, "--seed", "2", "--overwrite", "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "read-only file system" in r.stderr.strip().splitlines()[-1]
    assert _tree(out) == before


def test_a_huge_synthesis_plan_starts_at_once(tmp_path):
    """10^12 planned images: nothing is listed up front, the first batch is written, and
    cancelling leaves it complete (before: a list of 10^12 items was built first)."""
    import tracemalloc

    from studio.core.jobs import Cancelled, Log
    from studio.inversion.synthesize import SynthesizeParams, synthesize_job

    token = CancelToken()
    tracemalloc.start()
    gen = synthesize_job(SynthesizeParams(out=tmp_path / "huge", method="noise",
                                          num_images=10**12, batch_size=4, device="cpu"),
                         token)
    with pytest.raises(Cancelled):
        for ev in gen:
            if isinstance(ev, Log) and ev.message.startswith("batch 0:"):
                token.cancel()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(list((tmp_path / "huge").rglob("*.png"))) == 4
    assert peak < 200 * 2**20  # the plan costs nothing (tens of MB are the model)
