"""Shared fixtures: a temporary model dir, small toy datasets, headless Qt."""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: shared fixtures of the AdaIN dataset tests (a tiny random AdaIN, one thread)
pytest_plugins = ["tiny_adain"]


@pytest.fixture(autouse=True)
def _isolated_model_dir(tmp_path, monkeypatch):
    """Never touch the user's real model directory from a test."""
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "_models"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "_config"))


@contextlib.contextmanager
def installed_engine(root: Path, package: str, files: dict[str, str]):
    """Install ``package`` (``files``: module name -> source) under ``root`` as a plugin
    engine the way a third party would: a package plus a ``.dist-info`` whose
    ``studio.engines`` entry point names its ``engine:ENGINE``. Nothing in Studio is edited."""
    import importlib

    from studio.core import checkpoints
    from studio.core.engines import refresh

    pkg = root / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, text in files.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(text))
    dist = root / f"{package}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[studio.engines]\n{package} = {package}.engine:ENGINE\n")
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    refresh()
    checkpoints.REGISTRY.refresh()
    try:
        yield pkg
    finally:
        sys.path.remove(str(root))
        for mod in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        refresh()
        checkpoints.REGISTRY.refresh()


@pytest.fixture
def add_engine(tmp_path):
    """``add_engine(package, files)``: a plugin engine for this test (see installed_engine)."""
    with contextlib.ExitStack() as stack:
        yield lambda package, files: stack.enter_context(
            installed_engine(tmp_path / "plugins", package, files))


@contextlib.contextmanager
def main_window(root: Path, size: tuple[int, int], settle: bool = False):
    """The real main window on a fresh workspace and settings folder under ``root``, shown
    at ``size``, once the toy world is ready (and, with ``settle``, its first job done);
    yields (window, Driver) and leaves no job running and the environment as it was."""
    from PySide6.QtWidgets import QApplication

    from studio.gui import settings as prefs
    from studio.gui.app import create_app
    from studio.gui.mainwindow import MainWindow
    from studio.gui.selftest import Driver

    old = os.environ.get("STUDIO_WORKSPACE")
    os.environ["STUDIO_WORKSPACE"] = str(root / "ws")
    prefs.use_settings_dir(root / "cfg")
    create_app()
    w = MainWindow(confirm=lambda text: True)
    w.ctx.headless = True
    w.resize(*size)
    w.show()
    d = Driver(w, log=lambda s: None)
    try:
        d.wait(lambda: w.ctx.toy.ready(), 120, "the toy world")
        if settle:
            d.wait(lambda: not w.ctx.queue.active(), 60, "the toy-world job")
        yield w, d
    finally:
        w.ctx.queue.cancel_all()
        w.ctx.queue.wait_all(30, QApplication.processEvents)
        w.close()
        if old is None:
            os.environ.pop("STUDIO_WORKSPACE", None)
        else:
            os.environ["STUDIO_WORKSPACE"] = old
