"""The demo's --retrain plan: every toy model rebuilt with valid, recipe-able parameters."""

import os
import shutil
import tomllib

from studio.core.checkpoints import resources_dir
from studio.demo import QUICK, Demo
from studio.recipes import parse_recipe, recipe_text


def test_retrain_runs_every_training_job_with_valid_recipes(tmp_path, monkeypatch):
    calls = []
    demo = Demo(tmp_path, QUICK, 0, "cpu", True, True)
    monkeypatch.setattr(demo, "job", lambda name, params, label=None: calls.append((name, params)))
    monkeypatch.setattr(shutil, "copyfile", lambda a, b: None)
    # registered with monkeypatch so the variable the demo sets is undone afterwards
    monkeypatch.setenv("STUDIO_RESOURCES", str(resources_dir()))
    result = demo.s_retrain()
    names = [n for n, _ in calls]
    assert names.count("train-classifier") == 2 and names.count("adain.train") == 5
    assert names.count("texture-bias-experiment") == 1  # classifier B on AdaIN-stylised data
    first, exemplar, alpha, relu2, texture = (p for n, p in calls if n == "adain.train")
    # each stage fine-tunes the previous stage's last decoder; then on matched triplets
    for before, after in ((first, exemplar), (exemplar, alpha), (relu2, texture)):
        assert after.decoder == str(before.save_dir / f"decoder_iter_{before.max_iter}.pth")
    assert exemplar.exemplar_weight > 0 and exemplar.target_dir and not first.target_dir
    assert alpha.exemplar_alpha > 0 == exemplar.exemplar_alpha
    # B's world builder at relu3_1; the shipped toy AdaIN at relu2_1, from scratch
    assert {first.layer, exemplar.layer, alpha.layer} == {"relu3_1"}
    assert relu2.layer == "" and not relu2.decoder and relu2.target_dir == exemplar.target_dir
    assert texture.exemplar_texture_weight > 0 == relu2.exemplar_texture_weight
    b = next(p for n, p in calls if n == "texture-bias-experiment")
    assert b.style_pool == "texture"  # the styles the exemplar stage was trained on
    assert b.adain_decoder.name == "adain_decoder_relu3_1.pth"
    assert len(names) - 1 - names[::-1].index("adain.train") < names.index(
        "texture-bias-experiment")
    assert names[-1] == "train-tsit" and "toyworld" in names
    for name, params in calls:  # each would replay through `studio run`
        jt, back = parse_recipe(tomllib.loads(recipe_text(name, params)), name)
        assert back == params
    assert demo.toy == tmp_path / "retrain" / "resources" / "toy"
    assert isinstance(result["models"], list)
    assert os.environ["STUDIO_RESOURCES"] == str(tmp_path / "retrain" / "resources")
