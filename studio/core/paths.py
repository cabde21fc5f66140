"""Per-user folders (models, caches, the GUI workspace) that always exist somewhere sane.

A cluster job or a container often runs with ``HOME`` unset, set to ``/`` or to a
folder that does not exist or is read-only. ``~/.cache`` then means ``/.cache``: a
folder at the filesystem root, or a crash on the first write. Every default folder is
therefore chosen here, once: ``$XDG_*_HOME`` or the usual place under the home folder
when it can be written, else a private folder under the system's temporary folder, with
a one-line warning on stderr (once per kind of folder and process) saying what to set.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import sys
import tempfile
from pathlib import Path

#: Kinds of folder already warned about in this process.
_warned: set[str] = set()


def home(*, writable: bool = True) -> Path | None:
    """The user's home folder, or None when there is none fit for use.

    None when ``HOME`` (``USERPROFILE`` on Windows, else the password database) names
    nothing, the filesystem root, a relative path or a missing folder, or — with
    ``writable`` — a folder this process cannot write into.
    """
    try:
        text = os.path.expanduser("~")
    except (KeyError, RuntimeError, OSError):
        return None
    if not text or text.startswith("~"):
        return None
    p = Path(text)
    if not p.is_absolute() or _is_root(p) or not p.is_dir():
        return None
    if writable and not os.access(p, os.W_OK | os.X_OK):
        return None
    return p


def _is_root(p: Path) -> bool:
    p = Path(os.path.abspath(p))
    return p == Path(p.anchor)


def can_create(path: str | os.PathLike) -> bool:
    """True when ``path`` is a writable folder, or can be made below an existing writable
    folder that is not the filesystem root (so it never creates ``/.cache`` and the like).
    """
    p = Path(os.path.abspath(path))
    if _is_root(p):
        return False
    q = p
    while not q.exists():
        if q.parent == q:
            return False
        q = q.parent
    if q != p and _is_root(q):
        return False
    return q.is_dir() and os.access(q, os.W_OK | os.X_OK)


def temp_root() -> Path:
    """``<tmp>/studio-<user>``: the private fallback folder (made with mode 0700)."""
    try:
        user = str(os.getuid())  # type: ignore[attr-defined]
    except AttributeError:  # Windows
        user = os.environ.get("USERNAME", "user")
    root = Path(tempfile.gettempdir()) / f"studio-{user}"
    with contextlib.suppress(OSError):
        root.mkdir(mode=0o700, exist_ok=True)
    if not (root.is_dir() and os.access(root, os.W_OK | os.X_OK)):
        root = Path(tempfile.mkdtemp(prefix="studio-"))
    return root


def warn(message: str, key: str | None = None) -> None:
    """One ``studio: warning: ...`` line on stderr, once per ``key`` and process."""
    key = key or message
    if key in _warned:
        return
    _warned.add(key)
    print(f"studio: warning: {message}", file=sys.stderr, flush=True)


def _user_dir(xdg_var: str, under_home: tuple[str, ...], parts: tuple[str, ...], what: str,
              env: str | None, kind: str) -> Path:
    xdg = os.environ.get(xdg_var)
    if xdg and os.path.isabs(xdg) and not _is_root(Path(xdg)) and \
            can_create(Path(xdg).joinpath(*parts)):
        return Path(xdg).joinpath(*parts)
    h = home()
    if h is not None:
        cand = h.joinpath(*under_home, *parts)
        if can_create(cand):
            return cand
        why = f"{cand} cannot be written"
    else:
        raw = os.environ.get("HOME")
        why = ("HOME is not set" if raw is None else
               f"the home folder {raw or '(empty)'} is missing, the filesystem root or "
               "read-only")
    fallback = temp_root().joinpath(kind, *parts)
    hint = f" (set {env} to choose)" if env else ""
    warn(f"{why}; {what} go under {fallback}{hint}", key=f"{xdg_var}:{'/'.join(parts)}")
    return fallback


def data_dir(*parts: str, what: str = "data files", env: str | None = None) -> Path:
    """``$XDG_DATA_HOME/<parts>`` or ``~/.local/share/<parts>``, else
    ``<tmp>/studio-<user>/data/<parts>``."""
    return _user_dir("XDG_DATA_HOME", (".local", "share"), parts, what, env, "data")


def cache_dir(*parts: str, what: str = "cached files", env: str | None = None) -> Path:
    """``$XDG_CACHE_HOME/<parts>`` or ``~/.cache/<parts>``, else
    ``<tmp>/studio-<user>/cache/<parts>``."""
    return _user_dir("XDG_CACHE_HOME", (".cache",), parts, what, env, "cache")


def default_models_dir() -> Path:
    """Where model files go without ``$STUDIO_MODELS``: ``<data dir>/studio/models``."""
    return data_dir("studio", "models", what="model files", env="STUDIO_MODELS")


__all__ = ["home", "can_create", "temp_root", "warn", "data_dir", "cache_dir",
           "default_models_dir"]


def resources_dir() -> Path:
    """The project's own bundled files (icons, stylesheet, toy checkpoints); torch-free,
    so that the window's theme and workspace can name it before torch is loaded.

    ``$STUDIO_RESOURCES`` when set (a retrained set, tests); else ``studio/resources``,
    package data of the ``studio`` package, found through :mod:`importlib.resources` — the
    same folder in a checkout, an editable install, an installed wheel and the desktop
    bundle (PyInstaller collects ``studio``'s data files under ``_internal/studio``).
    """
    env = os.environ.get("STUDIO_RESOURCES")
    if env:
        return Path(env)
    frozen = getattr(sys, "_MEIPASS", None)  # PyInstaller bundle
    if frozen:
        return Path(frozen) / "studio" / "resources"
    root = importlib.resources.files("studio") / "resources"
    if isinstance(root, Path):
        return root
    return Path(__file__).resolve().parents[1] / "resources"  # e.g. a zip import
