"""The toy texture-bias experiment runs end to end and reports what the demo shows."""

from __future__ import annotations

import json

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
