"""The toy texture-bias experiment runs end to end and reports what the demo shows."""

from __future__ import annotations

import json

import pytest
import torch

from studio.adain.model import AdaINConfig, AdaINModel
from studio.core.jobs import drive
from studio.texture_shape.experiment import ExperimentParams, texture_bias_experiment


def test_experiment_small(tmp_path):
    torch.manual_seed(0)
    m = AdaINModel(AdaINConfig(name="tiny", encoder_widths=(4, 8, 8, 8),
                               encoder_convs=(1, 1, 1, 1)))
    enc, dec = tmp_path / "enc.pth", tmp_path / "dec.pth"
    torch.save(m.encoder.state_dict(), enc)
    torch.save(m.decoder.state_dict(), dec)
    params = ExperimentParams(out=tmp_path / "run", per_class=2, test_per_class=1,
                              style_per_class=1, epochs=1, batch_size=4, adain_encoder=enc,
                              adain_decoder=dec, methods=["procedural"], device="cpu")
    report = drive(texture_bias_experiment(params))
    saved = json.loads((tmp_path / "run" / "experiment.json").read_text())
    assert set(saved["test_accuracy"]) == {"texture-trained (A)", "stylised-trained (B)"}
    # the shipped teacher is texture-biased on procedural conflicts
    a = report["shape_bias"]["procedural"]["texture-trained (A)"]
    assert a["n_conflict"] == 360 and a["shape_bias"] < 0.1
    assert set(a["per_category"]) == {"circle", "square", "triangle", "star", "cross",
                                      "hexagon", "ring", "crescent", "arrow", "heart"}
    stylized = json.loads((tmp_path / "run" / "stylized" / "dataset.json").read_text())
    assert stylized["num_items"] == 20
    pool = json.loads((tmp_path / "run" / "toy" / "style_scenes" / "dataset.json").read_text())
    assert pool["params"]["kind"] == "scene" and pool["num_items"] == 10  # SIN's paintings
    assert (tmp_path / "run" / "shape_bias_procedural" / "shape_bias.png").is_file()


def test_b_is_trained_on_one_toy_stylisation_and_tested_on_another(tmp_path, monkeypatch):
    """By default B's world is stylised by the relu3_1 toy decoder and the AdaIN stimuli
    come from the shipped toy AdaIN (relu2_1), as the paper trained on AdaIN images and
    tested on another stylisation; given files replace the world builder only."""
    from studio.adain.model import TOY, TOY_RELU3_1
    from studio.texture_shape import cue_conflict, experiment

    net = experiment._adain_net(ExperimentParams(out=tmp_path))
    assert net.model.config == TOY_RELU3_1 and net.name == "toy relu3_1"
    seen = []

    def stop(params, token=None):
        seen.append(params)
        raise RuntimeError("stop")

    monkeypatch.setattr(cue_conflict, "cue_conflict_job", stop)
    params = ExperimentParams(out=tmp_path / "run", per_class=1, test_per_class=1,
                              style_per_class=1, methods=["adain"], device="cpu",
                              stylized_model=tmp_path / "b.pth")
    with pytest.raises(RuntimeError, match="stop"):
        drive(texture_bias_experiment(params))
    assert seen[0].vgg is None and seen[0].decoder is None and seen[0].model == "toy"
    assert cue_conflict.load_adain(seen[0]).config == TOY
    for half in ({"stimuli_encoder": tmp_path / "e.pth"}, {"adain_decoder": tmp_path / "d.pth"}):
        with pytest.raises(ValueError, match="go together: give both files or neither"):
            drive(texture_bias_experiment(ExperimentParams(out=tmp_path / "x", **half)))
