"""Preferences that persist between sessions (QSettings): layout, last folders, theme.

Job parameters are *not* settings — they are recipes (TOML files) the user saves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

ORG, APP = "Studio", "studio"


def settings() -> QSettings:
    """The application's settings store (an INI file under the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)


def use_settings_dir(path: str | os.PathLike) -> None:
    """Keep settings in ``path`` (self-test and tests: never touch the user's file)."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(path))


def get(key: str, default: Any = None, type_: type | None = None) -> Any:
    s = settings()
    value = s.value(key, default)
    if type_ is bool and isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    if type_ is not None and value is not None:
        try:
            return type_(value)
        except (TypeError, ValueError):
            return default
    return value


def put(key: str, value: Any) -> None:
    settings().setValue(key, value)


def last_dir(key: str) -> str:
    """The folder last used by the file picker named ``key`` (home if none)."""
    d = get(f"folders/{key}", "")
    if d and Path(d).is_dir():
        return str(d)
    from studio.core.paths import home

    return str(home(writable=False) or Path.cwd())


def remember_dir(key: str, path: str | os.PathLike) -> None:
    p = Path(path)
    put(f"folders/{key}", str(p if p.is_dir() else p.parent))
