"""The `studio` command: help everywhere, version, devices, models."""

import subprocess
import sys

import pytest
import torch

from studio import __version__
from studio.cli import build_parser, main
from studio.core.checkpoints import save_state_dict
from studio.core.devices import resolve_device


def _all_parsers(parser, prefix=()):
    yield prefix, parser
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, prefix + (name,))


def test_help_on_every_level(capsys):
    paths = [p for p, _ in _all_parsers(build_parser())]
    assert ("models", "fetch") in paths and ("toyworld", "generate") in paths
    for path in paths:
        with pytest.raises(SystemExit) as exc:
            main([*path, "--help"])
        assert exc.value.code == 0
        assert "usage: studio" in capsys.readouterr().out


def test_version():
    r = subprocess.run([sys.executable, "-m", "studio", "--version"], capture_output=True,
                       text=True, check=True)
    assert r.stdout.strip() == f"studio {__version__}"


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_models_list_import_verify(tmp_path, capsys):
    from studio.adain.model import decoder

    f = save_state_dict(decoder(), tmp_path / "decoder.pth")  # the official layout
    mdir = tmp_path / "models"
    assert main(["models", "list", "--dir", str(mdir)]) == 0
    out = capsys.readouterr().out
    assert "adain-vgg" in out and "missing" in out and "pytorch-AdaIN" in out
    assert main(["models", "import", str(f), "--dir", str(mdir)]) == 0
    assert (mdir / "decoder.pth").is_file()
    main(["models", "list", "--dir", str(mdir)])
    assert "adain-decoder            present" in capsys.readouterr().out
    # a classifier renamed to the encoder's file name is not an encoder
    wrong = save_state_dict(torch.nn.Linear(2, 2), tmp_path / "vgg_normalised.pth")
    assert main(["models", "import", str(wrong), "--dir", str(mdir)]) == 2
    assert "not an adain-vgg checkpoint" in capsys.readouterr().err
    assert not (mdir / "vgg_normalised.pth").exists()
    assert main(["models", "verify", "--dir", str(mdir)]) == 0
    assert "no published hash" in capsys.readouterr().out
    assert main(["models", "verify", str(f), "--sha256", "0" * 64]) == 1
    bad = tmp_path / "bad.pth"
    bad.write_text("junk")
    assert main(["models", "import", str(bad), "--dir", str(mdir)]) == 2
    assert "bad.pth" in capsys.readouterr().err


def test_fetch_without_address_is_a_clear_error(capsys, tmp_path):
    assert main(["models", "fetch", "cifar10-resnet34", "--dir", str(tmp_path)]) == 2
    assert "no download address known" in capsys.readouterr().err
