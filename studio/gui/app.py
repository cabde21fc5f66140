"""Start the window: ``studio``, ``studio gui``, ``studio gui --self-test|--screenshot DIR``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from studio.gui import settings as prefs


def _headless() -> bool:
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and \
        sys.platform not in ("win32", "darwin")


def create_app():
    """The QApplication with Studio's names, icon and theme (reused when one exists)."""
    from PySide6.QtWidgets import QApplication

    from studio.gui import theme

    # Hand the GIL to the GUI thread quickly while a worker runs Python-heavy steps.
    sys.setswitchinterval(0.002)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "studio"])
    app.setOrganizationName(prefs.ORG)
    app.setApplicationName("Studio")
    app.setApplicationDisplayName("Studio")
    app.setDesktopFileName("studio")
    app.setWindowIcon(theme.app_icon())
    theme.apply(app, str(prefs.get("theme", "system")))
    return app


def main(self_test: bool = False, screenshot: str | None = None) -> int:
    """Open the window, or run the headless self-test / screenshots; return an exit code."""
    if (self_test or screenshot) and _headless():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if self_test or screenshot:
        # Never touch the user's settings, workspace or models from a test run.
        tmp = Path(tempfile.mkdtemp(prefix="studio-selftest-"))
        os.environ["STUDIO_WORKSPACE"] = str(tmp / "workspace")
        os.environ["STUDIO_MODELS"] = str(tmp / "models")
        prefs.use_settings_dir(tmp / "config")
    app = create_app()
    from studio.gui.mainwindow import MainWindow

    if self_test or screenshot:
        from studio.gui import selftest

        win = MainWindow()
        win.resize(1280, 800)
        win.show()
        failures = selftest.run(win, screenshot)
        win.close()
        if screenshot:
            print(f"screenshots in {screenshot}")
        return 1 if failures else 0
    from studio.gui.startup import StartupProbe, probe_path

    win = MainWindow(defer_pages=True)  # on screen first; torch and the engines behind it
    probe = StartupProbe(win, path) if (path := probe_path()) else None
    win.show()
    if probe is not None:
        probe.attach()
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main("--self-test" in sys.argv))
