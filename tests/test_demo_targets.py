"""The demo report's targets table: each effect of issue 19 with its number and its bar."""

from __future__ import annotations

from studio.demo import FULL, QUICK, SYNTH_PRESET, targets
from studio.inversion.natural import NATURAL_PRESETS


def _metrics(ni=0.97, di=1.0, s_ni=0.9, s_di=0.72, s_noise=0.2, b=0.85, other=0.1,
             adain=(0.92, 0.85, 0.2), tsit=(0.5, 0.1)):
    return {"stages": {
        "2. Style transfer (AdaIN)": {"quality": {"shape_accuracy": adain[0],
                                                  "texture_accuracy": adain[1],
                                                  "pattern_accuracy": adain[2]}},
        "8. Image-to-image translation (TSIT)": {"quality": {"shape_accuracy": tsit[0],
                                                             "texture_accuracy": tsit[1]}},
        "3. Texture bias: cue-conflict stimuli and shape bias": {
            "shape_bias": {"adain": {"teacher (toy world)": 0.0, "stylised toy world": b}},
            "decisions": {"adain": {"stylised toy world": {"shape": 0.5, "texture": 0.4,
                                                           "other": other}}}},
        "5. How in-distribution is the synthetic data?": {
            "natural": {"teacher_accuracy": ni}, "deep": {"teacher_accuracy": di}},
        "6. Knowledge distillation on synthetic data only": {
            "student_real_top1": {"natural": s_ni, "deep": s_di, "noise": s_noise},
            "teacher_real_acc": 0.978}}}


def test_full_demo_is_held_to_the_issue_values():
    rows = {r["effect"]: r for r in targets(_metrics(), quick=False)}
    ni = rows["teacher top-1 on its NaturalInversion images"]
    assert ni["measured"] == "0.970" and ni["target"] == ">= 0.95" and ni["met"] is True
    gap = rows["student on NaturalInversion images minus student on noise (real top-1)"]
    assert gap["measured"] == "0.700" and gap["met"] is True
    ratio = rows["student on DeepInversion images / teacher (real top-1)"]
    assert ratio["met"] is False                     # 0.72 / 0.978 < 0.8
    assert rows["'other' decisions of classifier B on toy-AdaIN stimuli"]["met"] is True
    assert rows["shape bias of classifier B (stylised world) on them (after)"]["met"] is True


def test_quick_demo_is_held_to_above_chance_and_missing_stages_are_na():
    rows = {r["effect"]: r for r in targets(_metrics(ni=0.3, s_ni=0.25), quick=True)}
    assert rows["teacher top-1 on its NaturalInversion images"]["met"] is True  # > chance
    m = _metrics()
    del m["stages"]["5. How in-distribution is the synthetic data?"]
    na = {r["effect"]: r for r in targets(m, quick=False)}
    assert na["teacher top-1 on its DeepInversion images"]["met"] is None
    assert na["teacher top-1 on its DeepInversion images"]["measured"] == "n/a"
    # "other" on the quick run's 270 conflicts: mostly shape or texture; the full: <= 0.20
    key = "'other' decisions of classifier B on toy-AdaIN stimuli"
    q23 = {r["effect"]: r for r in targets(_metrics(other=0.23), quick=True)}[key]
    f23 = {r["effect"]: r for r in targets(_metrics(other=0.23), quick=False)}[key]
    assert q23["met"] is True and q23["target"].startswith("< 0.50") and f23["met"] is False
    assert {r["effect"]: r for r in targets(_metrics(other=0.6), quick=True)}[key]["met"] is False


def test_demo_synthesis_uses_the_toy_preset_within_budget():
    assert SYNTH_PRESET == "toy"
    assert FULL.synth_iterations == NATURAL_PRESETS["toy"]["iterations"] == 80
    assert QUICK.synth_iterations <= FULL.synth_iterations


def test_style_transfer_judges_are_in_the_table():
    rows = {r["effect"]: r for r in targets(_metrics(), quick=False)}
    shape = rows["toy AdaIN (alpha 1) keeps the content's shape (judge classifier)"]
    assert shape["measured"] == "0.920" and shape["target"] == ">= 0.90" and shape["met"]
    tex = rows["toy AdaIN (alpha 1) takes the style's texture (judge classifier)"]
    assert tex["target"] == ">= 0.80" and tex["met"] is True
    # the colour-blind reading is held to the same bar: colours alone do not pass
    pattern = "toy AdaIN (alpha 1) takes the style's pattern, colours aside (judge classifier)"
    assert rows[pattern]["measured"] == "0.200" and rows[pattern]["met"] is False
    tsit_pattern = rows["toy TSIT takes the style's pattern, colours aside (judge classifier)"]
    assert tsit_pattern["measured"] == "n/a" and tsit_pattern["met"] is None
    tsit = rows["toy TSIT takes the style's texture (judge classifier)"]
    assert tsit["target"] == ">= 0.70" and tsit["met"] is False
    quick = {r["effect"]: r for r in targets(_metrics(), quick=True)}
    assert quick["toy TSIT takes the style's texture (judge classifier)"]["met"] is False
    assert quick["toy TSIT keeps the content's shape (judge classifier)"]["met"] is True
