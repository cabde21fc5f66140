"""Light and dark themes: a Fusion palette plus ``studio/resources/style/studio.qss``.

The stylesheet is one template; ``light.colors`` / ``dark.colors`` fill its ``colour names``,
so both themes keep the same spacing and only the colours differ. Icons are line SVGs
drawn in ``currentColor`` and recoloured for the theme.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from studio.core.paths import resources_dir

THEMES = ("light", "dark")


def style_dir() -> Path:
    return resources_dir() / "style"


def icon_dir() -> Path:
    return resources_dir() / "icons"


@cache
def colors(theme: str) -> dict[str, str]:
    """The named colours of a theme (``name: #rrggbb`` lines)."""
    out: dict[str, str] = {}
    path = style_dir() / f"{theme}.colors"
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("/*")[0].strip()
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def stylesheet(theme: str) -> str:
    """``studio.qss`` with the theme's colours filled in (unknown names are an error)."""
    template = (style_dir() / "studio.qss").read_text(encoding="utf-8")
    c = dict(colors(theme))
    c["icons"] = icon_dir().as_posix()

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in c:
            raise KeyError(f"{style_dir() / 'studio.qss'}: colour {{{name}}} is not defined "
                           f"in {theme}.colors")
        return c[name]

    return re.sub(r"\{([a-z_]+)\}", sub, template)


def palette(theme: str) -> QPalette:
    c = {k: QColor(v) for k, v in colors(theme).items()}
    p = QPalette()
    R = QPalette.ColorRole
    p.setColor(R.Window, c["window"])
    p.setColor(R.WindowText, c["text"])
    p.setColor(R.Base, c["base"])
    p.setColor(R.AlternateBase, c["base_alt"])
    p.setColor(R.Text, c["text"])
    p.setColor(R.Button, c["button"])
    p.setColor(R.ButtonText, c["text"])
    p.setColor(R.ToolTipBase, c["base"])
    p.setColor(R.ToolTipText, c["text"])
    p.setColor(R.Highlight, c["accent"])
    p.setColor(R.HighlightedText, c["accent_text"])
    p.setColor(R.PlaceholderText, c["muted"])
    p.setColor(R.Link, c["accent"])
    p.setColor(R.Mid, c["border"])
    for role in (R.WindowText, R.Text, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, c["muted"])
    return p


def system_theme() -> str:
    hints = QGuiApplication.styleHints()
    try:
        return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"
    except AttributeError:  # pragma: no cover - older Qt
        return "light"


def apply(app: QApplication, theme: str) -> str:
    """Apply ``light``, ``dark`` or ``system``; returns the theme actually used."""
    if theme not in THEMES:
        theme = system_theme()
    app.setStyle("Fusion")
    app.setPalette(palette(theme))
    app.setStyleSheet(stylesheet(theme))
    _icon_pixmap.cache_clear()
    app.setProperty("studioTheme", theme)
    return theme


def current(app: QApplication | None = None) -> str:
    app = app or QApplication.instance()
    t = app.property("studioTheme") if app is not None else None
    return t if t in THEMES else "light"


@cache
def _icon_pixmap(name: str, colour: str, size: int) -> QPixmap:
    path = icon_dir() / f"{name}.svg"
    svg = path.read_text(encoding="utf-8").replace("currentColor", colour)
    r = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    pix = QPixmap(QSize(size, size))
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    r.render(p, QRectF(0, 0, size, size))
    p.end()
    return pix


def icon(name: str, colour: str | None = None) -> QIcon:
    """A page icon drawn in the theme's text colour (and white when selected)."""
    if not (icon_dir() / f"{name}.svg").is_file():
        return QIcon()
    c = colors(current())
    ic = QIcon()
    for size in (16, 24, 32, 48):
        ic.addPixmap(_icon_pixmap(name, colour or c["text"], size), QIcon.Mode.Normal)
        ic.addPixmap(_icon_pixmap(name, c["accent_text"], size), QIcon.Mode.Selected)
    return ic


def app_icon() -> QIcon:
    path = icon_dir() / "app.svg"
    ic = QIcon()
    if path.is_file():
        for size in (16, 24, 32, 48, 64, 128, 256):
            ic.addPixmap(_icon_pixmap("app", "#000000", size))
    return ic
