"""The command line as torchrun and scripts see it: exit statuses and ``--json``.

A finished distributed build that skipped some inputs is a success to torchrun (exit 0 on
every rank: no ChildFailedError, no restart under ``--max-restarts``); ``--strict`` makes
skipped inputs a failure everywhere; a crash stays a failure. ``--json`` prints one
document per run (rank 0's), usage errors included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.core.commands import exit_status, set_result

ROOT = Path(__file__).resolve().parent.parent


def _args(result: object, **kw: object) -> argparse.Namespace:
    args = argparse.Namespace(**kw)
    set_result(args, result)
    return args


def _ranks(monkeypatch, rank: int, world: int) -> None:
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))


def test_skipped_inputs_fail_a_plain_run_but_not_a_torchrun_job(monkeypatch, tmp_path, capsys):
    (tmp_path / "errors.jsonl").write_text('{"source": "bad.png", "reason": "unreadable"}\n')
    skipped = {"num_items": 5, "num_errors": 1, "out": str(tmp_path)}
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert exit_status(_args(skipped), 1) == 1             # plain: as the README says
    assert f"listed in {tmp_path / 'errors.jsonl'}" in capsys.readouterr().err
    assert exit_status(_args(skipped, strict=True), 1) == 1
    assert exit_status(_args({"num_items": 5, "num_errors": 0}, strict=True), 0) == 0
    _ranks(monkeypatch, 0, 2)
    assert exit_status(_args(skipped), 1) == 0             # torchrun: the job is complete
    err = capsys.readouterr().err
    assert "1 input(s) could not be used" in err and "--strict makes it 1" in err
    assert exit_status(_args(skipped, strict=True), 1) == 1
    assert exit_status(_args(skipped), 2) == 2             # a crash still fails the job
    capsys.readouterr()
    _ranks(monkeypatch, 1, 2)
    assert exit_status(_args({"failed": 1}), 1) == 0
    assert capsys.readouterr().err == ""                   # rank 0 reports, the others not
    assert exit_status(_args({"failed": 1}, strict=True), 1) == 1


def test_a_usage_error_prints_one_json_document(monkeypatch, capsys):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["--json", "toyworld", "generate", "--per-class", "0"])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)  # exactly one document
    assert doc == {"error": "studio toyworld generate: argument --per-class: must be >= 1, "
                            "got 0", "exit_status": 2}
    assert "usage: studio toyworld generate" in err        # people still get argparse's text
    with pytest.raises(SystemExit):
        main(["nonsense", "--json"])
    assert json.loads(capsys.readouterr().out)["exit_status"] == 2
    _ranks(monkeypatch, 1, 2)  # under torchrun only rank 0 prints the document
    with pytest.raises(SystemExit):
        main(["--json", "toyworld", "generate", "--per-class", "0"])
    assert capsys.readouterr().out == ""


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("STUDIO_TEST_DDP") != "1",
                    reason="starts two torchrun jobs of two ranks (~40 s on 2 cores); "
                           "run with STUDIO_TEST_DDP=1")
def test_torchrun_with_a_bad_input_succeeds_and_strict_fails(tmp_path):
    """torchrun --nproc_per_node 2, one unreadable content image: exit 0, no traceback,
    one JSON document; the same with --strict: torchrun reports the failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    studio = [sys.executable, "-m", "studio"]
    for what, extra in (("world", ["--per-class", "2"]),
                        ("textures", ["--per-class", "1", "--kind", "texture"])):
        subprocess.run([*studio, "toyworld", "generate", "--out", str(tmp_path / what),
                        "--size", "64", "--num-classes", "3", "-q", *extra], env=env,
                       check=True, timeout=120)
    (tmp_path / "world" / "circle" / "broken.png").write_bytes(b"not a png")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", "-m", "studio", "build", "stylized", "--preset", "toy",
                "--content", str(tmp_path / "world"), "--styles", str(tmp_path / "textures"),
                "--cache-dir", "none", "--workers", "0", "--device", "cpu"]
    r = subprocess.run([*torchrun, "--out", str(tmp_path / "a"), "--json"], env=env,
                       capture_output=True, text=True, timeout=300)
    both = r.stdout + r.stderr
    assert r.returncode == 0, both[-3000:]
    assert "Traceback" not in both and "ChildFailedError" not in both, both[-3000:]
    docs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(docs) == 1, r.stdout                         # rank 0's, for the whole run
    assert docs[0]["num_items"] == 6 and docs[0]["num_errors"] == 1
    errors = tmp_path / "a" / "errors.jsonl"
    assert "broken.png" in errors.read_text()
    assert f"1 input(s) could not be used, listed in {errors}" in r.stderr
    s = subprocess.run([*torchrun, "--out", str(tmp_path / "b"), "--strict", "-q"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert s.returncode != 0, s.stderr[-3000:]
    assert json.loads((tmp_path / "b" / "dataset.json").read_text())["num_items"] == 6
