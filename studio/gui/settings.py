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


def last_dir(key: str = "") -> str:
    """The folder every file picker opens in: the one the user last chose in *any* picker
    (one shared memory; ``key`` is kept for callers that name theirs), else the
    workspace, where the toy world and the outputs are — not a hidden folder to hunt for."""
    d = get("folders/last", "")
    if d and Path(str(d)).is_dir():
        return str(d)
    try:
        from studio.gui.workspace import workspace_dir

        ws = workspace_dir()
        if ws.is_dir():
            return str(ws)
    except Exception:  # no workspace configured yet: home
        pass
    from studio.core.paths import home

    return str(home(writable=False) or Path.cwd())


def remember_dir(key: str, path: str | os.PathLike) -> None:
    """Remember the folder of ``path`` for every picker (see :func:`last_dir`)."""
    p = Path(path)
    put("folders/last", str(p if p.is_dir() else p.parent))


def recent(kind: str = "recipes") -> list[str]:
    """Recently used files of a kind, newest first (missing files left out)."""
    v = get(f"recent/{kind}", [])
    items = [v] if isinstance(v, str) else list(v or [])
    return [str(x) for x in items if x and Path(str(x)).exists()]


def add_recent(kind: str, path: str | os.PathLike, limit: int = 10) -> list[str]:
    p = str(Path(path).resolve())
    items = [p] + [x for x in recent(kind) if x != p]
    put(f"recent/{kind}", items[:limit])
    return items[:limit]


def history_dir() -> Path:
    """Where the Jobs history persists (beside the settings file)."""
    return Path(settings().fileName()).parent / "history"
