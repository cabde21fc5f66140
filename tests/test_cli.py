"""The `studio` command: help everywhere, version, devices, models."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio import __version__
from studio.cli import build_parser, main
from studio.core.checkpoints import save_state_dict
from studio.core.devices import resolve_device

ROOT = Path(__file__).resolve().parents[1]


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


def test_every_option_of_every_command_has_help():
    """Each option says what it does (and argparse shows its default); hidden spellings
    (``--num_images`` beside ``--num-images``) are the only ones without."""
    import argparse

    missing = []
    for path, parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if action.help == argparse.SUPPRESS:
                assert all("_" in o or o.startswith("--no") for o in action.option_strings), \
                    f"{' '.join(path)}: {action.option_strings} hidden"
                continue
            if not (action.help or "").strip():
                missing.append(f"studio {' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help:\n" + "\n".join(missing)


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
    rows = [ln.split()[:2] for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert ["adain-decoder", "present"] in rows
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


# --------------------------------------------------------------------------------------
# --json: one JSON document on stdout, everything human on stderr


def test_json_prints_one_document_on_stdout_and_the_human_lines_on_stderr(tmp_path, capsys):
    import json

    out = tmp_path / "w"
    argv = ["toyworld", "generate", "--out", str(out), "--per-class", "2", "--num-classes",
            "2", "--size", "32", "--workers", "1"]
    assert main([*argv, "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)  # exactly one document: json.loads refuses trailing data
    assert cap.out.count("\n") == 1 and doc["num_items"] == 4
    assert f"4 images in {out}" in cap.err  # the human summary moved to stderr
    # without --json the summary is on stdout as before
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert f"4 images in {out}" in cap.out
    # --json before the command, with -q: still only the document on stdout
    assert main(["--json", "-q", *argv]) == 0
    assert json.loads(capsys.readouterr().out)["num_items"] == 4


def test_json_for_commands_without_a_job_and_for_errors(tmp_path, capsys):
    import json

    mdir = tmp_path / "models"
    assert main(["models", "list", "--dir", str(mdir), "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["dir"] == str(mdir)
    assert {"name": "adain-vgg", "state": "missing"}.items() <= next(
        m for m in doc["models"] if m["name"] == "adain-vgg").items()
    assert "model directory:" in cap.err
    # a failing command still prints one document, and the error line on stderr
    assert main(["models", "fetch", "cifar10-resnet34", "--dir", str(tmp_path), "--json"]) == 2
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["exit_status"] == 2 and "no download address known" in doc["error"]
    assert "studio: error: no download address known" in cap.err


def test_json_values_are_strict_json():
    import json
    from pathlib import PurePosixPath

    import numpy as np

    from studio.core.commands import result_json

    text = result_json({"nan": float("nan"), "np": np.float32(0.5), "i": np.int64(3),
                        "arr": np.arange(3), "path": PurePosixPath("/x/y"), "t": (1, 2)})
    assert json.loads(text) == {"nan": None, "np": 0.5, "i": 3, "arr": [0, 1, 2],
                                "path": "/x/y", "t": [1, 2]}


def test_run_recipe_json_is_whole(tmp_path, capsys, add_engine):
    import json

    add_engine("big_result_engine", {"engine": """
        from dataclasses import dataclass
        from studio.core.engines import Engine, JobSpec
        from studio.core.jobs import Progress

        @dataclass
        class Big:
            n: int = 3000

        def big(params, token=None):
            yield Progress(1, 1)
            return {"items": [f"item-{i}" for i in range(params.n)]}

        ENGINE = Engine("big", "test", jobs=(JobSpec(
            "_test-big-result", "big_result_engine.engine:Big",
            "big_result_engine.engine:big", "test job with a large result"),))
    """})
    r = tmp_path / "big.toml"
    r.write_text('schema = 1\njob = "_test-big-result"\n[params]\nn = 3000\n')
    assert main(["run", str(r), "--json"]) == 0
    cap = capsys.readouterr()
    assert len(cap.out) > 20000
    assert json.loads(cap.out)["items"][-1] == "item-2999"
    # the human view (no --json) is whole too: no cut at 4,000 characters
    assert main(["run", str(r)]) == 0
    assert json.loads(capsys.readouterr().out)["items"][-1] == "item-2999"


# --------------------------------------------------------------------------------------
# A cluster install (`pip install .`, no Qt): every command works, the window says what
# it needs. PySide6 is made unimportable rather than uninstalled.

NEEDS_QT = "studio: error: the window needs PySide6: pip install 'studio[gui]'\n"


def test_window_without_pyside6_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "PySide6", None)  # `import PySide6` now fails
    monkeypatch.setenv("DISPLAY", ":0")
    for argv in ([], ["gui"], ["gui", "--self-test"], ["--self-test"]):
        assert main(argv) == 2, argv
        cap = capsys.readouterr()
        assert cap.err == NEEDS_QT and cap.out == "", argv
    monkeypatch.delenv("DISPLAY")
    assert main([]) == 2  # headless too: `studio` means the window
    assert capsys.readouterr().err == NEEDS_QT


def test_window_when_the_qt_import_itself_fails(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_qt(name, *args, **kwargs):
        if name.split(".")[0] in ("PySide6", "shiboken6"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_qt)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["gui"]) == 2
    assert capsys.readouterr().err == NEEDS_QT


_NO_QT_SCRIPT = r'''
import importlib, sys
from pathlib import Path
sys.modules["PySide6"] = None
sys.modules["shiboken6"] = None
import studio
from studio.cli import main
root = Path(studio.__file__).parent
names = sorted(".".join(("studio",) + p.relative_to(root).with_suffix("").parts)
               .removesuffix(".__init__") for p in root.rglob("*.py")
               if p.relative_to(root).parts[0] != "gui" and p.name != "__main__.py")
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6")
                and sys.modules[m] is not None)
assert not loaded, loaded
assert not any(m.startswith("studio.gui") for m in sys.modules), "studio.gui imported"
out = sys.argv[1]
rc = main(["toyworld", "generate", "--out", out, "--per-class", "1", "--num-classes", "2",
           "--size", "32", "--workers", "1", "-q"])
assert rc == 0, rc
rc = main(["models", "list", "--json"])
assert rc == 0, rc
rc = main([])
print("EXIT", rc, len(names))
'''


def test_every_cli_command_without_pyside6(tmp_path):
    """Nothing outside studio/gui imports PySide6 when imported, every command parses, and
    a command runs; `studio` alone gives the one line and status 2."""
    r = subprocess.run([sys.executable, "-c", _NO_QT_SCRIPT, str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[-1].startswith("EXIT 2 ")
    assert NEEDS_QT in r.stderr
    assert len(list((tmp_path / "w").rglob("*.png"))) == 2
    assert int(r.stdout.split()[-1]) > 50  # modules imported


def test_packaging_lower_bounds_extras_and_the_tested_set():
    import re
    import tomllib
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.version import Version

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    deps = [Requirement(d) for d in project["dependencies"]]
    extras = {k: [Requirement(d) for d in v] for k, v in project["optional-dependencies"].items()}
    assert {"gui", "dev", "test"} <= set(extras)
    for r in deps + [r for v in extras.values() for r in v]:
        assert all(s.operator == ">=" for s in r.specifier), f"{r}: lower bounds only"
    assert not any(r.name.lower().startswith("pyside6") for r in deps)  # Qt is an extra
    assert [r.name for r in extras["gui"]] == ["PySide6-Essentials"]
    assert {r.name for r in extras["test"]} == {"datasets", "webdataset", "tensorboard"}
    assert [r.name for r in extras["track"]] == ["tensorboard"]
    pins = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, ver = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = ver
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    for r in deps + [r for v in extras.values() for r in v]:
        name = re.sub(r"[-_.]+", "-", r.name).lower()
        assert name in pins, f"{r.name} not in constraints.txt"
        assert r.specifier.contains(pins[name]), f"{r} excludes the tested {pins[name]}"
    # the environment the suite runs in is the tested set (scripts/setup.sh installs it)
    for name, ver in pins.items():
        try:
            have = Version(version(name)).public
        except PackageNotFoundError:
            continue
        assert have == ver, f"{name} {have} installed, constraints.txt says {ver}"


def test_every_help_and_version_answer_without_importing_torch():
    """`studio --help` and every `studio X --help` build the parser from torch-free params
    modules (torch alone takes seconds to import)."""
    code = r'''
import argparse, contextlib, io, sys
from studio.cli import build_parser, main
def walk(p, prefix):
    yield prefix
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                yield from walk(sp, prefix + [name])
cmds = list(walk(build_parser(), []))
for c in cmds + [["--version"]]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(c + (["--help"] if c != ["--version"] else []))
print(len(cmds), sorted(m for m in ("torch", "torchvision", "PySide6") if m in sys.modules))
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    n, loaded = r.stdout.split(" ", 1)
    assert int(n) >= 30 and loaded.strip() == "[]", r.stdout + r.stderr[-2000:]
