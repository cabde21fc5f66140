"""The params schema: a job's dataclass is the one description of its settings.

Each field may carry, in its metadata, the help users read (``--help``, the window's
tooltips), the extra flag spellings of the reference tools people know
(DeepInversion's ``--bs``, TSIT's ``--batchSize``), and the path markers recipes use to
resolve relative paths. The command line (``core.commands.add_params``), the window's
forms and recipe coercion all read it from here, so a setting is written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: Metadata keys. ``PATH_META`` marks a ``str`` field that holds paths: "path" (always a
#: path) or "path-or-name" (a path when it looks like one, a folder part or a file suffix,
#: else a registry name such as "toy"); ``PATH_LIST`` names the separator of a list of
#: paths. Recipes resolve them against the recipe's folder.
PATH_META = "path"
PATH_LIST = "path_list"
HELP = "help"
FLAGS = "flags"
CHECK = "check"
VALUES = "values"
SEP = "sep"

__all__ = ["CHECK", "FLAGS", "HELP", "SEP", "VALUES", "PATH_LIST", "PATH_META", "flags_of", "help_of", "norm_param", "param"]


def param(default: Any = dataclasses.MISSING, help: str = "", *spellings: str,
          flags: tuple[str, ...] = (), factory: Callable[[], Any] | None = None, path: str | None = None,
          path_list: str | None = None, check: str | tuple[float, float | None] | None = None,
          values: dict[str, str] | None = None, sep: str | None = None) -> Any:
    """A dataclass field with its help, extra flag spellings (``"--bs"``), path marker
    (``path="path"`` or ``"path-or-name"``, also on a ``list[str]``; ``path_list=","``: the
    separator of a list written as one string, as older recipes and the reference tools
    do), range check (``check="positive"``, ``"nonneg"``, ``"unit"`` or ``(lo, hi)``, hi
    None for no upper bound: argparse names the flag on a bad value) and other tools' names
    for choices (``values={"steplr": "step"}``). ``sep=","``: a list field that recipes
    may also give as one separated string (how it was stored before it was a list)."""
    md: dict[str, Any] = {HELP: help}
    flags = tuple(spellings) + tuple(flags)
    if values:
        md[VALUES] = dict(values)
    if check is not None:
        md[CHECK] = tuple(check) if isinstance(check, (tuple, list)) else check
    if flags:
        bad = [f for f in flags if not f.startswith("-")]
        if bad:
            raise ValueError(f"flag spellings must start with '-': {bad}")
        md[FLAGS] = tuple(flags)
    if path:
        md[PATH_META] = path
    if path_list:
        md[PATH_LIST] = path_list
    if sep:
        md[SEP] = sep
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=md)
    return dataclasses.field(default=default, metadata=md)


def norm_param(which: str, default_is: str = "the model's, from the registry or --data") -> Any:
    """The ``--mean`` / ``--std`` override every command that takes a classifier has: a
    model's normalisation travels with it (registry, architecture), this replaces it."""
    return param(None, f"input normalisation {which}, R G B or one value (default: "
                 f"{default_is})")


def log_dir_param(*spellings: str) -> Any:
    """The ``--log_dir`` every training command has (the reference tools' spelling): the
    run folder's metrics.jsonl is written either way (studio.core.tracking)."""
    return param("", "TensorBoard event files here (needs the tensorboard package; the "
                 "run folder's metrics.jsonl has the same records either way); empty = none",
                 "--log_dir", *spellings, path="path")


def help_of(f: dataclasses.Field) -> str:
    """The field's help text ("" when it has none)."""
    return str(f.metadata.get(HELP, "") or "")


def flags_of(f: dataclasses.Field) -> tuple[str, ...]:
    """The extra flag spellings of a field (the reference tools')."""
    return tuple(f.metadata.get(FLAGS, ()))
