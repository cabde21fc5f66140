"""`studio demo --quick` end to end (every engine on the toy world); a few minutes.

Runs in `make test` (STUDIO_TEST_DEMO=1); skipped in a bare `pytest` for a fast loop.
"""

import json
import os
import re

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("STUDIO_TEST_DEMO") != "1",
                                reason="end-to-end demo (minutes); `make test` runs it "
                                       "with STUDIO_TEST_DEMO=1")


def test_quick_demo_runs_every_stage_and_writes_a_self_contained_report(tmp_path, capsys):
    from studio.cli import main

    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    failed = {k: v.get("error") for k, v in metrics["stages"].items() if not v["ok"]}
    assert rc == 0 and not failed, failed
    assert len(metrics["stages"]) == 8 and "studio demo finished" in printed
    sb = metrics["stages"]["3. Texture bias: cue-conflict stimuli and shape bias"]["shape_bias"]
    proc = sb["procedural"]
    teacher, other = proc["teacher (toy world)"], next(v for k, v in proc.items()
                                                       if k != "teacher (toy world)")
    assert teacher < 0.2 < 0.8 < other  # the paper's direction, clearly
    judged = metrics["stages"]["2. Style transfer (AdaIN)"]["quality"]
    assert judged["texture_accuracy"] > 0.5 and 0 <= judged["shape_accuracy"] <= 1
    assert "quality" in metrics["stages"]["8. Image-to-image translation (TSIT)"]
    effects = {t["effect"]: t for t in metrics["targets"]}
    assert effects["toy AdaIN (alpha 1) takes the style's texture (judge classifier)"]["met"]
    html = (out / "report.html").read_text()
    assert "<img src=\"data:image/png;base64," in html
    assert not re.search(r'src="(?!data:)', html)  # nothing external
    for recipe in ("toyworld-world", "synthesize-natural", "distill-deep", "translate"):
        assert f"studio run {out / 'recipes' / recipe}.toml" in html
        assert (out / "recipes" / f"{recipe}.toml").is_file()
