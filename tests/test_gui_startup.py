"""The window on screen first: the shell and a loading page, pages once the engines load;
the start-up probe `studio bench e2e` reads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication

from studio.gui import settings as prefs


def test_importing_the_window_imports_no_torch():
    """The shell is shown before torch loads, so its modules must not need torch."""
    code = ("import sys; import studio.gui.app, studio.gui.mainwindow, studio.gui.startup; "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_deferred_window_shows_loading_then_the_same_pages(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "ws"))
    prefs.use_settings_dir(tmp_path / "cfg")
    from studio.gui.app import create_app
    from studio.gui.mainwindow import MainWindow
    from studio.gui.startup import LoadingPage, StartupProbe

    create_app()
    probe_file = tmp_path / "probe.jsonl"
    w = MainWindow(defer_pages=True, confirm=lambda text: True)
    qtbot.addWidget(w)
    probe = StartupProbe(w, str(probe_file), timeout_s=600)
    assert isinstance(w.stack.currentWidget(), LoadingPage) and not w.pages
    w.show()
    probe.attach()
    qtbot.waitUntil(lambda: bool(w.pages), timeout=120_000)
    assert w.page_keys() == ["stylize", "build", "texture", "synthesize", "evaluate",
                             "translate", "toyworld", "models", "jobs"]
    assert w.stack.count() == len(w.pages)          # the loading page is gone
    assert not any(isinstance(w.stack.widget(i), LoadingPage) for i in range(w.stack.count()))
    assert w.shortcuts()["page-stylize"] == "Ctrl+1"
    events = [json.loads(line)["event"] for line in probe_file.read_text().splitlines()]
    assert "engines_ready" in events
    probe._timer.stop()
    w.ctx.queue.cancel_all()
    w.ctx.queue.wait_all(20, QApplication.processEvents)
