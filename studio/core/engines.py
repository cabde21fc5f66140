"""How an engine declares itself, and where those declarations are found.

Every engine package holds one torch-free module, ``<package>/engine.py``, with a module
attribute ``ENGINE`` (an :class:`Engine`): its jobs (by ``"module:function"``), their
params classes (in torch-free modules), the module that adds its CLI commands, the model
files it knows and its window pages. Nothing else lists engines: the application builds
the job registry, the command line and the window from :func:`discover`, and
``core.checkpoints`` its model table. Code outside Studio adds an engine through the
``studio.engines`` entry-point group (``name = "package.engine:ENGINE"``).

``core`` names no engine: discovery scans Studio's own sub-packages for an ``engine``
module and reads the entry points, importing only those declaration modules.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from typing import Any

#: The entry-point group of engines installed from other distributions.
ENTRY_POINT_GROUP = "studio.engines"


@dataclass(frozen=True)
class ModelSpec:
    """A model file users may bring: where it comes from and how to recognise it."""

    name: str
    filename: str
    description: str
    url: str | None = None
    sha256: str | None = None
    licence: str = "unknown"
    family: str = ""
    #: Bundled with Studio (in resources/) rather than brought by the user.
    bundled: bool = False
    #: The network the file holds, as ``"module:attr[.attr][(literal args)]"``: called on
    #: the meta device it gives the keys and shapes the file must have, without weights or
    #: a download (see ``core.checkpoints.expected_layout``). None: the layout is not checked.
    layout: str | None = None
    #: How the published file wraps its weights: container keys to look inside
    #: (``state_dict`` of a ``.pth.tar``) and key prefixes to drop (DataParallel's
    #: ``module.``), as the engine that loads it reads them.
    unwrap: tuple[str, ...] = ()
    strip_prefixes: tuple[str, ...] = ()
    #: A classifier file's architecture (the zoo's name, ``--arch``) and the data it was
    #: trained on: a data preset name (image size, mean/std, class names; ``--data``).
    #: The normalisation travels with the file, so no command has to guess it.
    arch: str | None = None
    data: str | None = None

    @property
    def kind(self) -> str:
        """What a file of this spec is, with its article: "an adain-decoder checkpoint"."""
        return f"{'an' if self.name[:1] in 'aeiou' else 'a'} {self.name} checkpoint"


@dataclass(frozen=True)
class JobSpec:
    """A job by reference: importing its run function (and torch) waits until it runs."""

    name: str
    #: ``"module:Class"`` of the params dataclass, in a torch-free module.
    params: str
    #: ``"module:function"``: ``fn(params, token) -> generator of events``.
    run: str
    description: str = ""
    #: ``"module:attr"`` of the command line's ``--preset`` table, where the job has one
    #: that is not a params field (``{name: {field: value}}``): a recipe may then name
    #: ``preset = "NAME"`` in its ``[params]``, resolved as the command line does.
    presets: str | None = None


@dataclass(frozen=True)
class PageSpec:
    """A window page by reference (``"studio.gui.pages.x:XPage"``); ``order`` sorts the
    sidebar. The engine never imports it: only the GUI does."""

    ref: str
    order: int = 100


@dataclass(frozen=True)
class Engine:
    """One engine's declaration: everything the application needs to offer it."""

    name: str
    title: str
    jobs: tuple[JobSpec, ...] = ()
    #: Module with ``register(groups: core.commands.CommandGroups)`` adding its commands.
    cli: str | None = None
    models: tuple[ModelSpec, ...] = ()
    pages: tuple[PageSpec, ...] = ()
    #: Where the declaration came from (set by :func:`discover`).
    origin: str = field(default="", compare=False)


def resolve(ref: str) -> Any:
    """The object a ``"module:attr[.attr]"`` reference names (imports the module)."""
    mod, _, attr = ref.partition(":")
    if not attr:
        raise ValueError(f"not a 'module:attribute' reference: {ref!r}")
    obj: Any = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _builtin_declarations() -> list[str]:
    """``studio.<pkg>.engine`` for every sub-package of Studio that has one (sorted)."""
    import studio

    refs = []
    for info in sorted(pkgutil.iter_modules(studio.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        mod = f"studio.{info.name}.engine"
        if importlib.util.find_spec(mod) is not None:
            refs.append(f"{mod}:ENGINE")
    return refs


def _plugin_declarations() -> list[str]:
    try:
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # a broken distribution's metadata must not stop Studio
        return []
    return [ep.value for ep in sorted(eps, key=lambda e: e.name)]


@functools.cache
def discover() -> tuple[Engine, ...]:
    """Every declared engine: Studio's own (by package name), then installed plugins.

    A declaration that fails to import or is not an :class:`Engine` raises, naming it:
    a broken engine is a bug to see, not a command that silently disappears.
    """
    engines: list[Engine] = []
    seen: dict[str, str] = {}
    for ref in _builtin_declarations() + _plugin_declarations():
        try:
            eng = resolve(ref)
        except Exception as exc:
            raise RuntimeError(f"engine declaration {ref} cannot be loaded: "
                               f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(eng, Engine):
            raise RuntimeError(f"engine declaration {ref} is a {type(eng).__name__}, "
                               f"not a studio.core.engines.Engine")
        if eng.name in seen:
            raise RuntimeError(f"two engines are named {eng.name!r}: {seen[eng.name]} "
                               f"and {ref}")
        seen[eng.name] = ref
        engines.append(Engine(eng.name, eng.title, eng.jobs, eng.cli, eng.models, eng.pages,
                              origin=ref))
    return tuple(engines)


def refresh() -> None:
    """Forget what :func:`discover` found (tests add and remove plugins)."""
    discover.cache_clear()
