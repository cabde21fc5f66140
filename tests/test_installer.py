"""The desktop bundle (installer/): build it with PyInstaller and run the frozen app.

Building takes 15-35 minutes and ~15 GB of disk, so the frozen-app tests run only with
``STUDIO_TEST_INSTALLER=1``. ``STUDIO_INSTALLER_BUNDLE=dist/installer/studio`` tests an
already built bundle instead of building one; ``STUDIO_INSTALLER_BUILD_ARGS`` passes options
to installer/build.sh (e.g. ``--reuse-venv``). The static checks of the installer files at
the top are cheap and always run.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio import __version__

ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "installer"
DIST = ROOT / os.environ.get("STUDIO_INSTALLER_DIST", "dist/installer")  # as build.sh
BUILD_ASKED = os.environ.get("STUDIO_TEST_INSTALLER") == "1"
needs_build = pytest.mark.skipif(
    not BUILD_ASKED,
    reason="builds the PyInstaller bundle (15-35 min, ~15 GB disk); "
           "set STUDIO_TEST_INSTALLER=1 to run")


# ---------------------------------------------------------------------------------------
# Static checks (fast, always run)


def test_build_script_is_valid_bash_and_pins_pyinstaller():
    script = INSTALLER / "build.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "pyinstaller==6.22.3" in text and "pyinstaller-hooks-contrib==2026.9" in text
    # PyInstaller is a build tool only: it must not leak into the app's dependencies.
    assert "pyinstaller" not in (ROOT / "pyproject.toml").read_text().lower()


def test_desktop_entry_names_the_app_the_gui_sets():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive in .desktop files
    entry.read(INSTALLER / "studio.desktop")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "Studio"
    assert d["Exec"] == "studio gui" and d["Icon"] == "studio"
    # studio.gui.app sets QApplication.setDesktopFileName("studio"): the window manager
    # matches the running window to this entry by that name.
    assert d["StartupWMClass"] == "studio"
    assert d["Categories"].endswith(";")
    if shutil.which("desktop-file-validate"):  # freedesktop's validator, where installed
        proc = subprocess.run(["desktop-file-validate", str(INSTALLER / "studio.desktop")],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout
    assert (ROOT / "studio" / "resources" / "icons" / "app.svg").is_file()


def test_entry_point_calls_freeze_support_before_the_cli():
    src = (INSTALLER / "studio_entry.py").read_text()
    main_block = src[src.index('if __name__ == "__main__":'):]
    assert main_block.index("multiprocessing.freeze_support()") < main_block.index("main()")


def test_spec_bundles_resources_and_keeps_docstrings():
    spec = (INSTALLER / "studio.spec").read_text()
    # studio/resources (icons, stylesheet, toy checkpoints) is package data: collected once,
    # with the package's other data files, where resources_dir() looks when frozen.
    assert 'collect_data_files("studio")' in spec
    assert '"resources")' not in spec
    assert "optimize=0" in spec
    assert 'collect_submodules("studio")' in spec


# ---------------------------------------------------------------------------------------
# The frozen app (STUDIO_TEST_INSTALLER=1)


@pytest.fixture(scope="module")
def bundle() -> Path:
    given = os.environ.get("STUDIO_INSTALLER_BUNDLE")
    if given:
        path = Path(given).resolve()
        assert (path / "studio").is_file(), f"{path} holds no studio executable"
        return path
    args = shlex.split(os.environ.get("STUDIO_INSTALLER_BUILD_ARGS", ""))
    proc = subprocess.run(["bash", str(INSTALLER / "build.sh"), *args], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"build.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return DIST / "studio"


def _frozen(bundle: Path, *args: str, tmp: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH", "STUDIO_RESOURCES")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp), STUDIO_MODELS=str(tmp / "models"),
               XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"))
    return subprocess.run([str(bundle / "studio"), *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.installer
@needs_build
def test_frozen_version(bundle, tmp_path):
    proc = _frozen(bundle, "--version", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"studio {__version__}"


@pytest.mark.installer
@needs_build
def test_frozen_bundle_check_torchscript_spawn_resources(bundle, tmp_path):
    proc = _frozen(bundle, "--bundle-check", tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in ("torchscript", "torchvision", "spawn", "resources", "device"):
        assert any(line.startswith(f"ok   {name}:") for line in lines), proc.stdout
    # Resources come from inside the bundle, never from the source tree.
    assert str(bundle) in next(line for line in lines if "resources:" in line)
    # torch's own sources are shipped for TorchScript (hooks-contrib "pyz+py").
    assert (bundle / "_internal" / "torch" / "nn" / "modules" / "conv.py").is_file()


@pytest.mark.installer
@needs_build
def test_frozen_gui_self_test_offscreen(bundle, tmp_path):
    proc = _frozen(bundle, "--self-test", tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


@pytest.mark.installer
@needs_build
def test_frozen_cli_generates_toy_world_and_lists_models(bundle, tmp_path):
    out = tmp_path / "toy"
    proc = _frozen(bundle, "toyworld", "generate", "--out", str(out), "--per-class", "1",
                   "--size", "32", "--quiet", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "dataset.json").read_text())
    pngs = sorted(out.rglob("*.png"))
    assert pngs and len(pngs) == len((out / "manifest.jsonl").read_text().splitlines())
    assert info  # the writer's dataset description
    proc = _frozen(bundle, "models", "list", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    teacher = next(line for line in proc.stdout.splitlines() if "toy-teacher" in line)
    assert "bundled" in teacher


@pytest.mark.installer
@needs_build
def test_bundle_carries_desktop_integration(bundle, tmp_path):
    for name in ("studio.desktop", "studio.svg", "install-desktop.sh"):
        assert (bundle / name).is_file(), name
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    subprocess.run(["bash", str(bundle / "install-desktop.sh")], env=env, check=True,
                   capture_output=True)
    entry = (tmp_path / "data" / "applications" / "studio.desktop").read_text()
    assert f'Exec="{bundle}/studio" gui' in entry
    assert (tmp_path / "data" / "icons" / "hicolor" / "scalable" / "apps" / "studio.svg").is_file()
    assert (tmp_path / ".local" / "bin" / "studio").resolve() == (bundle / "studio").resolve()
    subprocess.run(["bash", str(bundle / "install-desktop.sh"), "--uninstall"], env=env,
                   check=True, capture_output=True)
    assert not (tmp_path / "data" / "applications" / "studio.desktop").exists()


@pytest.mark.installer
@needs_build
def test_tarball_unpacks_to_the_bundle(bundle):
    info_file = bundle.parent / "build-info.json"
    if not info_file.is_file():
        pytest.skip(f"no {info_file}: the bundle was not made by installer/build.sh")
    info = json.loads(info_file.read_text())
    if not info["tarball"]:
        pytest.skip("bundle built with --no-tarball")
    # Read the first members only (GNU tar detects gzip/zstd itself): listing all of a
    # ~2 GB archive takes minutes.
    proc = subprocess.Popen(["tar", "-tf", str(ROOT / info["tarball"])], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    names = []
    for line in proc.stdout:
        names.append(line.strip().rstrip("/"))
        if len(names) >= 50:
            break
    proc.kill()
    proc.wait()
    assert names and names[0] == "studio"
    assert all(n == "studio" or n.startswith("studio/") for n in names)
    assert info["bundle_bytes"] > info["tarball_bytes"] > 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
