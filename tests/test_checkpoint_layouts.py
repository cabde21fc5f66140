"""Checkpoints are what they claim to be: import and verify check the registry layout.

Files are made in the official layouts from the project's own model code (random
weights), then renamed, reshaped or emptied; nothing is downloaded.
"""

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from studio.cli import main
from studio.core import checkpoints as ck

DECODER = "adain-decoder"


@pytest.fixture(scope="module")
def decoder_sd():
    from studio.adain.model import decoder

    return decoder().state_dict()


@pytest.fixture
def good_decoder(tmp_path, decoder_sd):
    return ck.save_state_dict(decoder_sd, tmp_path / "in" / "decoder.pth")


@pytest.fixture
def classifier_as_decoder(tmp_path):
    from studio.toyworld.models import ToyVGG

    return ck.save_state_dict(ToyVGG(), tmp_path / "in" / "decoder.pth")


@pytest.fixture
def misshapen_decoder(tmp_path, decoder_sd):
    sd = dict(decoder_sd)
    sd["14.weight"] = torch.zeros(256, 512, 3, 3)  # the model needs (128, 256, 3, 3)
    return ck.save_state_dict(sd, tmp_path / "in" / "decoder.pth")


def test_every_registry_entry_has_a_layout_built_without_weights():
    for spec in ck.REGISTRY.values():
        net = ck.expected_layout(spec)
        assert net is not None, f"{spec.name}: no layout"
        assert all(t.device.type == "meta" for t in net.state_dict().values()), spec.name
    # the counts and shapes of shared/reference (adain.md, tsit.md)
    vgg = ck.layout_of(ck.REGISTRY["adain-vgg"])
    assert len(vgg) == 34 and vgg["0.weight"] == (3, 3, 1, 1) and vgg["51.weight"] == (
        512, 512, 3, 3)
    assert sum(torch.Size(s).numel() for s in vgg.values()) == 20_024_396
    dec = ck.layout_of(ck.REGISTRY[DECODER])
    assert len(dec) == 18 and dec["1.weight"] == (256, 512, 3, 3)
    assert dec["14.weight"] == (128, 256, 3, 3) and dec["28.weight"] == (3, 64, 3, 3)
    assert sum(torch.Size(s).numel() for s in dec.values()) == 3_505_219
    assert len(ck.layout_of(ck.REGISTRY["tsit-summer2winter"])) == 356
    rn = ck.layout_of(ck.REGISTRY["resnet50-sin"])
    assert rn["fc.weight"] == (1000, 2048) and rn["conv1.weight"] == (64, 3, 7, 7)
    assert ck.layout_of(ck.REGISTRY["cifar10-resnet34"])["linear.weight"] == (10, 512)


def test_core_imports_no_engine_for_its_registry():
    code = ("import sys, json; import studio.core.checkpoints; print(json.dumps(sorted("
            "m for m in sys.modules if m.startswith(('studio.adain', 'studio.tsit', "
            "'studio.inversion', 'studio.toyworld', 'studio.texture_shape', 'studio.compression', 'studio.trainer', 'studio.models', 'torchvision')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == []


def test_a_correct_decoder_imports(good_decoder, tmp_path):
    notes = []
    dest = ck.import_model(good_decoder, tmp_path / "models", report=notes.append)
    assert dest == tmp_path / "models" / "decoder.pth" and dest.is_file()
    assert notes == ["layout OK (adain-decoder, 18 tensors)"]


def test_a_classifier_saved_as_decoder_is_refused_naming_the_keys(classifier_as_decoder,
                                                                   tmp_path):
    with pytest.raises(ck.CheckpointMismatch) as err:
        ck.import_model(classifier_as_decoder, tmp_path / "models")
    e = err.value
    msg = str(e)
    assert msg.startswith(f"{classifier_as_decoder}: not an adain-decoder checkpoint: "
                          "18 missing key(s): 1.bias, 1.weight, ")
    # BatchNorm step counters are not weights: never counted as missing or unexpected
    assert "; 32 unexpected key(s): fc.bias, fc.weight, features.bn1_1.bias" in msg
    assert not any(k.endswith("num_batches_tracked") for k in e.unexpected)
    assert len(e.missing) == 18 and not e.shapes
    assert not (tmp_path / "models" / "decoder.pth").exists()


def test_a_decoder_with_a_wrong_shaped_layer_is_refused_naming_it(misshapen_decoder,
                                                                  tmp_path):
    with pytest.raises(ck.CheckpointMismatch) as err:
        ck.import_model(misshapen_decoder, tmp_path / "models")
    assert str(err.value) == (
        f"{misshapen_decoder}: not an adain-decoder checkpoint: layer '14.weight' has shape "
        "(256, 512, 3, 3), the model needs (128, 256, 3, 3)")
    assert not (tmp_path / "models").exists()
    # --name says what the file is, whatever it is called
    renamed = misshapen_decoder.with_name("my_decoder.pth")
    misshapen_decoder.rename(renamed)
    with pytest.raises(ck.CheckpointMismatch, match="layer '14.weight' has shape"):
        ck.import_model(renamed, tmp_path / "models", name=DECODER)


@pytest.mark.parametrize("name", ["decoder.pth", "anything.pth"])
def test_a_dict_without_tensors_is_refused_by_import_and_verify(tmp_path, name):
    p = tmp_path / name
    torch.save({"epoch": 3, "arch": "resnet50", "best": [1, 2]}, p)
    with pytest.raises(ck.CheckpointError) as err:
        ck.import_model(p, tmp_path / "models")
    assert str(err.value) == (f"{p}: not model weights: it holds no tensors (a dict with "
                              "keys 'epoch', 'arch', 'best')")
    r = ck.verify(p)
    assert r.ok is False and r.error == err.value.reason and r.tensors == 0
    assert r.line().startswith(f"FAIL {p} sha256=")
    assert not (tmp_path / "models").exists()


def test_unknown_files_and_entries_without_a_layout_say_not_checked(tmp_path, monkeypatch):
    p = ck.save_state_dict(nn.Linear(2, 3), tmp_path / "mine.pth")
    notes = []
    ck.import_model(p, tmp_path / "models", report=notes.append)
    assert notes == ["layout not checked (no registry entry has this file name; 2 tensors)"]
    monkeypatch.setitem(ck.REGISTRY, "_nolayout", ck.ModelSpec("_nolayout", "mine.pth", "t"))
    r = ck.verify(p)
    assert r.ok and r.layout == ("layout not checked (the registry has no layout for "
                                 "_nolayout; 2 tensors)")
    assert "layout not checked" in r.line() and r.line().startswith("OK")


def test_wrappers_and_prefixes_are_read_as_the_engine_reads_them(tmp_path, monkeypatch):
    spec = ck.ModelSpec("_wrapped", "wrapped.pth.tar", "t", layout="torch.nn:Linear(4, 2)",
                        unwrap=("state_dict",), strip_prefixes=("module.",))
    monkeypatch.setitem(ck.REGISTRY, spec.name, spec)
    sd = {f"module.{k}": v for k, v in nn.Linear(4, 2).state_dict().items()}
    p = tmp_path / "wrapped.pth.tar"
    torch.save({"epoch": 60, "arch": "x", "state_dict": sd}, p)
    assert ck.verify(p).layout == "layout OK (_wrapped, 2 tensors)"
    # the real texture-vs-shape entry: a 16-class head is not the ImageNet model's
    tvs = ck.REGISTRY["resnet50-sin"]
    p = tmp_path / tvs.filename
    torch.save({"epoch": 60, "state_dict": {"module.fc.weight": torch.zeros(16, 2048)}}, p)
    r = ck.verify(p)
    assert not r.ok and r.error.startswith("not a resnet50-sin checkpoint: 266 missing key(s)")
    assert "layer 'fc.weight' has shape (16, 2048), the model needs (1000, 2048)" in r.error
    torch.save({"epoch": 60, "weights": sd}, p)
    r = ck.verify(p)
    assert r.error.startswith("not a resnet50-sin checkpoint: not a plain state_dict")


def test_the_toy_checkpoints_verify_ok(capsys):
    toy = sorted((ck.resources_dir() / "toy").glob("*.pth"))
    assert toy
    assert main(["models", "verify", *map(str, toy)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(toy) and all(line.startswith("OK") for line in lines)
    declared = sum(1 for s in ck.REGISTRY.values() if s.bundled and s.layout)
    assert declared >= 6 and sum("layout OK (toy-" in line for line in lines) == declared


def test_cli_verify_prints_fail_for_a_wrong_layout_and_exits_1(misshapen_decoder, capsys):
    assert main(["models", "verify", str(misshapen_decoder)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"FAIL {misshapen_decoder} sha256=")
    assert out[0].endswith("not an adain-decoder checkpoint: layer '14.weight' has shape "
                           "(256, 512, 3, 3), the model needs (128, 256, 3, 3)")


def test_cli_verify_and_import_of_good_and_bad_files(tmp_path, decoder_sd,
                                                     classifier_as_decoder, capsys):
    good = ck.save_state_dict(decoder_sd, tmp_path / "good" / "decoder.pth")
    mdir = tmp_path / "models"
    assert main(["models", "verify", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK   {good} sha256=") and "layout OK (adain-decoder" in out
    assert main(["models", "import", str(classifier_as_decoder), "--dir", str(mdir)]) == 2
    err = capsys.readouterr().err
    assert "not an adain-decoder checkpoint: 18 missing key(s)" in err
    assert not (mdir / "decoder.pth").exists()
    assert main(["models", "import", str(good), "--dir", str(mdir)]) == 0
    assert "layout OK (adain-decoder, 18 tensors)" in capsys.readouterr().out
    assert main(["models", "verify", str(good), str(classifier_as_decoder)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line[:4] for line in lines] == ["OK  ", "FAIL"]


def test_import_job_yields_the_refusal_as_one_error_log(misshapen_decoder, tmp_path):
    """The job the CLI and the Models page share."""
    from studio.core.jobs import Log
    from studio.core.modelfiles import ModelTaskParams, import_job, verify_job

    gen = import_job(ModelTaskParams([misshapen_decoder], dest=tmp_path / "models"))
    events = []
    with pytest.raises(ck.CheckpointError) as err:
        while True:
            events.append(next(gen))
    errors = [e.message for e in events if isinstance(e, Log) and e.level == "error"]
    expected = (f"{misshapen_decoder}: not an adain-decoder checkpoint: layer '14.weight' "
                "has shape (256, 512, 3, 3), the model needs (128, 256, 3, 3)")
    assert errors == [expected] and str(err.value) == expected
    gen = verify_job(ModelTaskParams([misshapen_decoder]))
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        result = stop.value
    logs = [e for e in events if isinstance(e, Log)]
    assert len(logs) == 1 and logs[0].level == "error" and logs[0].message.startswith("FAIL")
    assert result["failed"] == 1 and "14.weight" in result["verified"][0]["error"]
