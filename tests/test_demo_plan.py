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
    assert names.count("train-classifier") == 2 and names.count("adain.train") == 1
    assert names.count("texture-bias-experiment") == 1  # classifier B on AdaIN-stylised data
    assert names.index("adain.train") < names.index("texture-bias-experiment")
    assert names[-1] == "train-tsit" and "toyworld" in names
    for name, params in calls:  # each would replay through `studio run`
        jt, back = parse_recipe(tomllib.loads(recipe_text(name, params)), name)
        assert back == params
    assert demo.toy == tmp_path / "retrain" / "resources" / "toy"
    assert isinstance(result["models"], list)
    assert os.environ["STUDIO_RESOURCES"] == str(tmp_path / "retrain" / "resources")
