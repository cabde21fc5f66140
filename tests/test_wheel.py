"""The sdist and wheel as a user gets them: built, installed into a fresh virtual
environment, and run from a folder outside the checkout (``STUDIO_TEST_WHEEL=1``).

``pip install .`` once left out ``resources/`` (the toy models, stylesheet and icons), so
every toy workflow failed outside a checkout while the wheel looked clean. This builds the
sdist from the checkout and the wheel from the unpacked sdist (as ``python -m build`` does,
so a file missing from the sdist is missing from the wheel too), checks both for the
resources, installs the wheel with ``pip install --no-deps --no-index`` into a new venv and
runs ``studio models list``, a toy ``studio stylize`` and ``studio synthesize --teacher
toy`` there, with ``STUDIO_RESOURCES`` unset.

Offline and without a download of torch: the new venv is made from the base interpreter
without pip or packages, the wheel is installed by this interpreter's pip (``--python``),
and only then a ``.pth`` file adds the site-packages folders that hold the dependencies
(torch, numpy, ...). A ``.pth`` line only extends ``sys.path``: the editable install of the
checkout that may live in that folder (its ``__editable__*.pth`` finder) is not activated,
and the venv's own site-packages comes first, so ``studio`` is the installed wheel — which
the test asserts. ``--system-site-packages`` is not used because the interpreter running
the tests is often itself a venv, whose packages it would not see.

``STUDIO_LOWER_BOUNDS_WHEELS=DIR`` (a folder holding the wheels of the lowest declared
numpy, Pillow and matplotlib, see ``LOWER_BOUNDS``) also runs the same commands against
those versions; without it that smoke test is skipped, as the suite never downloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from studio import __version__

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "studio" / "resources"
#: The lowest version of each dependency pyproject.toml declares that a smoke test installs.
LOWER_BOUNDS = {"numpy": "1.26.0", "pillow": "10.0.0", "matplotlib": "3.8.0"}

pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(os.environ.get("STUDIO_TEST_WHEEL") != "1",
                       reason="builds the sdist and wheel and installs it into a new venv "
                              "(~1-2 min); set STUDIO_TEST_WHEEL=1 (make test does)"),
]


def _run(args, *, cwd: Path, env: dict | None = None, timeout: int = 600
         ) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _resource_files() -> set[str]:
    """``studio/resources/...`` of every resource file in the checkout."""
    return {f"studio/resources/{p.relative_to(RESOURCES).as_posix()}"
            for p in RESOURCES.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # The PEP 517 hook itself (what `python -m build --sdist --no-isolation` calls), with
    # the installed setuptools: no `build` package, no network.
    proc = _run([sys.executable, "-c",
                 "import sys; from setuptools import build_meta as b; "
                 "print(b.build_sdist(sys.argv[1]))", out], cwd=ROOT)
    sdist = out / proc.stdout.strip().splitlines()[-1]
    src = tmp_path_factory.mktemp("sdist-src")
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.11.4+
            tar.extractall(src, filter="data")
        else:
            tar.extractall(src)
    (tree,) = src.iterdir()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", tree, "-w", out], cwd=src)
    (wheel,) = out.glob("studio-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_wheel_carries_resources_license_and_metadata(dists):
    wheel = dists["wheel"]
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(f"studio-{__version__}.dist-info/METADATA").decode()
    want = _resource_files()
    for rel in ("toy/teacher.pth", "toy/adain_encoder.pth", "toy/adain_decoder.pth",
                "toy/tsit_toy_G.pth", "toy/README.md", "style/studio.qss",
                "style/light.colors", "icons/app.svg", "icons/stylize.svg"):
        assert f"studio/resources/{rel}" in want, rel  # the checkout still has it
    assert want <= names, sorted(want - names)
    assert "studio/texture_shape/imagenet16_indices.json" in names
    assert not any(n.startswith(("resources/", "tests/", "docs/")) for n in names)
    assert f"studio-{__version__}.dist-info/licenses/LICENSE" in names
    headers = [line for line in meta.splitlines() if ": " in line]
    assert "License-Expression: MIT" in headers
    assert "Requires-Python: >=3.11" in headers
    assert "Requires-Dist: numpy>=1.26" in headers
    # The toy checkpoints are most of it: 26 MB, not the 0.4 MB wheel that left them out.
    assert wheel.stat().st_size > 10e6


def test_sdist_carries_resources_docs_tests_and_license(dists):
    with tarfile.open(dists["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert _resource_files() <= names, sorted(_resource_files() - names)
    for rel in ("LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", "constraints.txt",
                "Makefile", "docs/gui.md", "tests/test_wheel.py", "installer/studio.spec"):
        assert rel in names, rel
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def _venv(root: Path) -> tuple[Path, Path]:
    """A new, empty venv (no pip, no packages): (its python, its site-packages)."""
    base = getattr(sys, "_base_executable", sys.executable)
    venv = root / "venv"
    _run([base, "-m", "venv", "--without-pip", venv], cwd=root)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return py, Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         cwd=root).stdout.strip())


def _install(py: Path, site: Path, root: Path, *wheels: Path) -> None:
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "-q", *wheels], cwd=root)
    # After the install, so that pip never sees (nor offers to replace) the checkout's
    # editable studio in these folders.
    import matplotlib
    import numpy
    import PIL
    import safetensors
    import tomli_w
    import torch
    import torchvision

    dirs = dict.fromkeys(str(Path(m.__file__).resolve().parents[1]) for m in
                         (torch, torchvision, numpy, PIL, matplotlib, tomli_w, safetensors))
    (site / "_studio_test_deps.pth").write_text("".join(f"{d}\n" for d in dirs))


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("STUDIO_RESOURCES", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                        "STUDIO_MODELS", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONNOUSERSITE="1", HOME=str(root / "home"),
               XDG_DATA_HOME=str(root / "data"), XDG_CACHE_HOME=str(root / "cache"),
               XDG_CONFIG_HOME=str(root / "config"), OMP_NUM_THREADS="2")
    (root / "home").mkdir(exist_ok=True)
    return env


def _smoke(py: Path, site: Path, root: Path, *, plot: bool = False) -> dict[str, str]:
    """The installed package: where it was imported from, models list, toy stylize, toy
    synthesize (and with ``plot`` an evaluation that draws its confusion matrix with
    matplotlib), each exiting 0 and writing its files. Returns the dependency versions."""
    work = root / "work"
    work.mkdir()
    env = _env(root)
    studio = py.parent / ("studio.exe" if os.name == "nt" else "studio")
    where = json.loads(_run([py, "-c", (
        "import json, studio, numpy, PIL, matplotlib, torch\n"
        "from studio.core.paths import resources_dir\n"
        "print(json.dumps({'studio': studio.__file__, 'resources': str(resources_dir()),\n"
        "  'numpy': numpy.__version__, 'pillow': PIL.__version__,\n"
        "  'matplotlib': matplotlib.__version__, 'torch': torch.__version__}))")],
        cwd=work, env=env).stdout)
    assert Path(where["studio"]).resolve().is_relative_to(site.resolve()), where
    res = Path(where["resources"]).resolve()
    assert res == (site / "studio" / "resources").resolve(), where
    assert not res.is_relative_to(ROOT.resolve())

    listed = json.loads(_run([studio, "models", "list", "--json"], cwd=work, env=env).stdout)
    toy = {m["name"]: m["state"] for m in listed["models"] if m["name"].startswith("toy")}
    assert len(toy) >= 8 and set(toy.values()) == {"bundled"}, toy

    _run([studio, "toyworld", "generate", "--out", "toy/shapes", "--per-class", "1",
          "--kind", "shape", "-q"], cwd=work, env=env)
    _run([studio, "toyworld", "generate", "--out", "toy/textures", "--per-class", "1",
          "--kind", "texture", "-q"], cwd=work, env=env)
    content = next((work / "toy/shapes/circle").glob("*.png"))
    style = next((work / "toy/textures/square").glob("*.png"))
    _run([studio, "stylize", "--content", content, "--style", style, "--content_size", "0",
          "--style_size", "0", "--alpha", "0.8", "--save_ext", ".png", "--output", "stylized",
          "-q"], cwd=work, env=env)
    assert list((work / "stylized").glob("*.png")), list((work / "stylized").iterdir())

    _run([studio, "synthesize", "--teacher", "toy", "--method", "deep", "--preset", "toy",
          "--num-images", "4", "--batch-size", "4", "--iterations", "2", "--out", "synth",
          "-q"], cwd=work, env=env)
    images = list((work / "synth").rglob("*.png"))
    assert len(images) == 4, images
    assert (work / "synth" / "manifest.jsonl").is_file()

    if plot:
        _run([studio, "eval", "classifier", "--images", "toy/shapes", "--model", "toy-teacher",
              "--out", "eval", "-q"], cwd=work, env=env)
        with Image.open(work / "eval" / "confusion.png") as im:
            assert im.width > 100 and im.height > 100
        assert json.loads((work / "eval" / "eval.json").read_text())
    return where


def test_installed_wheel_runs_the_toy_workflows(dists, tmp_path):
    py, site = _venv(tmp_path)
    _install(py, site, tmp_path, dists["wheel"])
    _smoke(py, site, tmp_path)


def test_declared_lower_bounds_smoke(dists, tmp_path):
    """numpy, Pillow and matplotlib at the lowest versions pyproject.toml allows."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, version in LOWER_BOUNDS.items():
        assert f"{name}>={version.removesuffix('.0')}" in deps, (name, deps)
    given = os.environ.get("STUDIO_LOWER_BOUNDS_WHEELS")
    if not given:
        pytest.skip("set STUDIO_LOWER_BOUNDS_WHEELS=DIR, a folder filled by `pip download "
                    "--no-deps -d DIR " + " ".join(f"{n}=={v}" for n, v in LOWER_BOUNDS.items())
                    + "`")
    wheels = []
    for name, version in LOWER_BOUNDS.items():
        found = sorted(p for p in Path(given).glob("*.whl")  # Pillow-10.0.0-...: any case
                       if p.name.lower().startswith(f"{name}-{version}-"))
        assert found, f"no {name} {version} wheel in {given}"
        wheels.append(found[0])
    py, site = _venv(tmp_path)
    _install(py, site, tmp_path, dists["wheel"], *wheels)
    versions = _smoke(py, site, tmp_path, plot=True)
    assert {k: versions[k] for k in LOWER_BOUNDS} == LOWER_BOUNDS, versions
