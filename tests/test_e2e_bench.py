"""`studio bench e2e`: what it runs and what it reports (never how fast: no timed asserts)."""

from __future__ import annotations

import json

import pytest

from studio import e2e_bench
from studio.cli import main


def test_report_structure_with_stand_in_processes(tmp_path, monkeypatch):
    """Every part's numbers, ratios, fixed-cost fit and load averages, with the process
    runs replaced by stand-ins (the real runs are the next test)."""
    calls: list[list[str]] = []

    def fake_timed(cmd, env=None, watch=None, suffix="", timeout=3600):
        calls.append(cmd)
        slow = "studio.adain.reference" in cmd or "baseline" in cmd
        n = 6.0 if "--help" in cmd or cmd[-1] == "import torch" else (4.0 if slow else 2.0)
        return {"seconds": n, "first_file_s": 1.5 if watch else None, "stdout": ""}

    monkeypatch.setattr(e2e_bench, "timed", fake_timed)
    o = e2e_bench.E2EOptions(contents=10, build_contents=3, styles=2, size=32,
                             preview_size=32, repeats=2,
                             parts=["stylize", "build", "startup", "preview"],
                             out=str(tmp_path / "bench"))
    r = e2e_bench.run_e2e(o, say=lambda s: None)
    assert r["stylize"]["ratio"] == 2.0 and r["build"]["ratio"] == 2.0
    assert r["stylize"]["reference"]["runs"] == [4.0, 4.0]
    assert r["stylize"]["studio_first_image"]["best"] == 1.5
    s = r["startup"]
    for key in ("help", "stylize_help", "import_torch", "first_image", "one_image",
                "few_images"):
        assert len(s[key]["runs"]) == 2, key
    assert s["few_images_n"] == 8
    f = r["stylize"]["fixed_cost"]
    assert f["few_images"] == 8 and len(f["fixed_s"]["runs"]) == 2
    assert f["minus_import_torch_s"]["best"] == 2.0 - 6.0  # stand-in times: fit, then - torch
    for name in ("toy", "vgg19"):
        assert r["preview"][name]["alpha_rerender"]["best"] > 0
        assert r["preview"][name]["encoder_runs"] == 2  # the slider re-ran the decoder only
    assert len(r["load_before"]) == 3 and len(r["stylize"]["load_after"]) == 3
    text = r["text"]
    for needle in ("test.py loop", "studio build stylized", "ratio x2.00", "import torch",
                   "fixed cost of studio stylize", "alpha re-render at 32 px, toy",
                   "load average"):
        assert needle in text, needle
    ref = [c for c in calls if "studio.adain.reference" in c][0]
    ours = [c for c in calls if "stylize" in c and "--content_dir" in c][0]
    for flag in ("--vgg", "--decoder", "--content_size", "--style_size"):
        assert flag in ref and flag in ours


def test_unknown_part_is_refused(capsys):
    assert main(["bench", "e2e", "--parts", "stylize,nonsense", "-q"]) == 2
    assert "nonsense" in capsys.readouterr().err


@pytest.mark.slow
def test_e2e_runs_the_real_commands_on_a_tiny_size(tmp_path, capsys):
    """The real processes at 32 px: both sides write the same images, and the JSON file
    holds the printed numbers."""
    out = tmp_path / "e2e.json"
    assert main(["bench", "e2e", "--parts", "stylize,build", "--contents", "2",
                 "--build-contents", "2", "--styles", "1", "--size", "32", "--repeats", "1",
                 "--json-out", str(out)]) == 0
    text = capsys.readouterr().out
    r = json.loads(out.read_text())
    for key in ("stylize", "build"):
        w = r[key]
        assert w["reference"]["best"] > 0 and w["studio"]["best"] > 0 and w["ratio"] > 0
        assert w["max_pixel_diff"] <= 1  # same images (channels-last may move one LSB)
    assert "pytorch-AdaIN test.py loop vs studio stylize" in text and "ratio x" in text


def test_the_loaded_note_discounts_the_benchmarks_own_threads():
    r = {"machine": {"cpus": 2, "threads": 2, "torch": "x"}, "load_before": [0.3, 0, 0],
         "load_after": [2.2, 0, 0], "device": "cpu"}
    assert e2e_bench.other_load(r) == 0.3            # its own 2 threads are not "other work"
    assert "other work loaded" not in e2e_bench.summary(r)
    r["load_after"] = [4.5, 0, 0]
    assert e2e_bench.other_load(r) == 2.5
    assert "other work loaded the machine (2.50 CPUs" in e2e_bench.summary(r)
    r["other_cpus"] = 0.1                            # measured from CPU time: preferred
    assert e2e_bench.other_load(r) == 0.1
