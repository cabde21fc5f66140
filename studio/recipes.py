"""Recipes: a job's parameters as a versioned TOML file.

```toml
schema = 1
job = "build-stylized"      # a job type an engine declares (studio.registry)

[params]                    # fields of that job's params dataclass; omitted = default
content_dir = "data/train"
alpha = 1.0
```

The GUI saves what the user clicked together as a recipe, and every job command saves
the recipe of what it runs with ``--save-recipe FILE`` (every setting resolved: a
``--preset``'s values are written, not its name); ``studio run recipe.toml`` replays it
headless (on a cluster, under torchrun). A hand-written recipe may name
``preset = "NAME"`` where the job's command line has a ``--preset`` (see
:func:`apply_preset`). Validation is strict: an unknown key
or a value of the wrong type is an error naming the key, the expected type and the file.

Relative paths in a recipe file (fields typed ``Path``) are relative to the folder the
recipe is in, so ``studio run sub/recipe.toml`` means the same from any working folder;
absolute paths and ``~`` paths stay as they are. :func:`save_recipe` writes paths that
were relative to the working folder as absolute ones, so a saved recipe replays the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import tomli_w

from studio.core.commands import _checked
from studio.core.images import atomic_write
from studio.core.jobs import JobType
from studio.core.params import CHECK, PATH_LIST, PATH_META, SEP
from studio.registry import get_job_type

SCHEMA_VERSION = 1


class RecipeError(ValueError):
    """A recipe file cannot be used; the message names the file and the offending key."""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if tp is type(None):
        return "nothing"
    if tp is Path:
        return "path (string)"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str, base: Path | None = None) -> Any:
    """Check ``value`` (from TOML) against annotation ``tp``; return it converted.

    Raises :class:`RecipeError` with ``where`` (file and key) in the message. A relative
    path is taken relative to ``base`` (the recipe's folder) when one is given.
    """
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(arms) == 1:  # X | None: X's own, more precise message
            return coerce(value, arms[0], where, base)
        for arg in arms:
            try:
                return coerce(value, arg, where, base)
            except RecipeError:
                continue
    elif origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
    elif origin in (list, tuple):
        if isinstance(value, list):
            args = typing.get_args(tp)
            item_tp = args[0] if args else Any
            items = [coerce(v, item_tp, f"{where}[{i}]", base) for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return build_params(tp, value, where, base)
    else:
        ok, out = _scalar(value, tp, where, base)
        if ok:
            return out
    raise RecipeError(f"{where}: expected {_type_name(tp)}, got {_describe(value)}")


def _scalar(value: Any, tp: Any, where: str, base: Path | None) -> tuple[bool, Any]:
    """(accepted?, value) for a bool, int, float, str or Path field."""
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return is_num and isinstance(value, int), value
    if tp is float:
        return is_num, float(value) if is_num else value
    if tp is str:
        return isinstance(value, str), value
    if tp is Path:
        if not isinstance(value, str):
            return False, value
        p = Path(value)
        if base is not None and value and not value.startswith("~") and not p.is_absolute():
            p = base / p
        return True, p
    raise RecipeError(f"{where}: unsupported field type {tp!r}")


def _rebase_text(text: str, kind: str, base: Path, sep: str | None) -> str:
    """A str path field made relative to ``base`` (the recipe's folder)."""
    def one(t: str) -> str:
        t = t.strip()
        if not t or t.startswith("~") or os.path.isabs(t):
            return t
        if kind != "path" and "/" not in t and not Path(t).suffix:
            return t  # a name ("toy", "adain-vgg"), not a file
        return str(base / t)

    return sep.join(one(t) for t in text.split(sep)) if sep else one(text)


def _absolute_text(text: str, kind: str, sep: str | None) -> str:
    """The saving side: relative to the working folder -> absolute (names stay names)."""
    return _rebase_text(text, kind, Path(os.getcwd()), sep)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _split_legacy(value: Any, tp: Any, sep: str, where: str) -> Any:
    """A list field written as one ``sep``-separated string (recipes saved when the field
    was a string, e.g. stylize's ``style = "a.png,b.png"``, ``style_interpolation_weights
    = ""``): its items, numbers parsed; anything else is left to :func:`coerce`."""
    tp = next((a for a in typing.get_args(tp) if a is not type(None)), tp) \
        if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp
    if not isinstance(value, str) or typing.get_origin(tp) is not list:
        return value
    item = (typing.get_args(tp) or (str,))[0]
    out: list[Any] = []
    for i, text in enumerate(t.strip() for t in value.split(sep)):
        if not text:
            continue
        if item in (int, float):
            try:
                out.append(item(text))
            except ValueError:
                raise RecipeError(f"{where}[{i}]: expected {_type_name(item)}, got "
                                  f"{text!r}") from None
        else:
            out.append(text)
    return out


def _check_range(f: dataclasses.Field, tp: Any, value: Any, where: str) -> None:
    """The field's range check (``param(check=...)``), the very one the command line
    applies, so ``alpha = 7.0`` is refused naming the file and the key instead of later,
    as ``--alpha``, by the job."""
    if CHECK not in f.metadata or value is None:
        return
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) in (list, tuple):
        tp = (typing.get_args(tp) or (Any,))[0]
    conv = _checked(f, tp)
    for i, v in enumerate(value if isinstance(value, (list, tuple)) else [value]):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        try:
            conv(repr(v))
        except argparse.ArgumentTypeError as exc:
            at = f"[{i}]" if isinstance(value, (list, tuple)) else ""
            raise RecipeError(f"{where}{at}: {exc}") from None


def build_params(cls: type, table: dict[str, Any], where: str, base: Path | None = None
                 ) -> Any:
    """Instantiate params dataclass ``cls`` from a TOML table, strictly."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in table.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"{where}: unknown key {key!r}{hint}; "
                              f"allowed: {', '.join(sorted(fields))}")
        md = fields[key].metadata
        sep = md.get(SEP) or md.get(PATH_LIST)
        if sep:
            value = _split_legacy(value, hints[key], sep, f"{where}.{key}")
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}", base)
        _check_range(fields[key], hints[key], kwargs[key], f"{where}.{key}")
        kind = md.get(PATH_META)
        if kind and base is not None and isinstance(kwargs[key], str):
            kwargs[key] = _rebase_text(kwargs[key], kind, base, md.get(PATH_LIST))
        elif kind and base is not None and isinstance(kwargs[key], list):
            kwargs[key] = [_rebase_text(v, kind, base, None) if isinstance(v, str) else v
                           for v in kwargs[key]]
    missing = [name for name, f in fields.items()
               if name not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise RecipeError(f"{where}: missing required key(s): {', '.join(missing)}")
    return cls(**kwargs)


def parse_recipe(data: dict[str, Any], source: str = "recipe", base: Path | None = None
                 ) -> tuple[JobType, Any]:
    """Validate a parsed TOML document; return the job type and its params (relative
    paths joined to ``base`` when given)."""
    allowed = {"schema", "job", "params", "description"}
    for key in data:
        if key not in allowed:
            raise RecipeError(f"{source}: unknown top-level key {key!r}; "
                              f"allowed: {', '.join(sorted(allowed))}")
    if "schema" not in data:
        raise RecipeError(f"{source}: missing 'schema' (this Studio writes schema = "
                          f"{SCHEMA_VERSION})")
    schema = data["schema"]
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise RecipeError(f"{source}: schema: expected int, got {_describe(schema)}")
    if schema > SCHEMA_VERSION:
        raise RecipeError(f"{source}: schema {schema} is newer than this Studio supports "
                          f"({SCHEMA_VERSION}); upgrade Studio")
    if schema < 1:
        raise RecipeError(f"{source}: schema must be >= 1, got {schema}")
    job = data.get("job")
    if not isinstance(job, str):
        raise RecipeError(f"{source}: 'job' must name a job type, got {_describe(job)}")
    try:
        jt = get_job_type(job)
    except KeyError as exc:
        raise RecipeError(f"{source}: {exc.args[0]}") from None
    table = data.get("params", {})
    if not isinstance(table, dict):
        raise RecipeError(f"{source}: [params] must be a table, got {_describe(table)}")
    table = apply_preset(jt, table, f"{source}: params")
    return jt, build_params(jt.params, table, f"{source}: params", base)


def apply_preset(jt: JobType, table: dict[str, Any], where: str) -> dict[str, Any]:
    """``preset = "NAME"`` in a recipe of a job whose command line has ``--preset``
    outside its params (``build stylized --preset toy``): the table with the preset's
    values under the recipe's own keys — the command line's order (given, preset,
    default). Where ``preset`` is a params field (``synthesize``) the job reads it
    itself and the table is returned as it is."""
    if "preset" not in table or any(f.name == "preset" for f in dataclasses.fields(jt.params)):
        return table
    presets = jt.presets
    name = table["preset"]
    if not presets:
        raise RecipeError(f"{where}.preset: job {jt.name!r} has no presets")
    if not isinstance(name, str) or name not in presets:
        raise RecipeError(f"{where}.preset: expected one of {', '.join(map(repr, presets))}, "
                          f"got {_describe(name)}")
    rest = {k: v for k, v in table.items() if k != "preset"}
    return {**_to_toml(presets[name]), **rest}


def load_recipe(path: str | os.PathLike) -> tuple[JobType, Any]:
    """Read and validate a recipe file; its relative paths are relative to its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise RecipeError(f"{path}: line {line}: not UTF-8 text (byte 0x"
                          f"{exc.object[exc.start]:02x}); save the recipe as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from exc
    return parse_recipe(data, str(path), Path(os.path.abspath(path.parent)))


def _to_toml(value: Any, absolute: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _to_toml(v, absolute) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None:
                continue
            kind = f.metadata.get(PATH_META)
            if absolute and kind and isinstance(v, str):
                v = _absolute_text(v, kind, f.metadata.get(PATH_LIST))
            elif absolute and kind and isinstance(v, list):
                v = [_absolute_text(x, kind, None) if isinstance(x, str) else x for x in v]
            out[f.name] = _to_toml(v, absolute)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_toml(v, absolute) for v in value]
    if isinstance(value, os.PathLike):
        text = os.fspath(value)
        if absolute and text not in ("", ".") and not text.startswith("~") and \
                not os.path.isabs(text):
            text = os.path.abspath(text)  # relative to the working folder of the saver
        return text
    return value


def recipe_text(job: str, params: Any, description: str | None = None, *,
                absolute_paths: bool = False) -> str:
    """The TOML text of a recipe (fields set to None are omitted: they mean 'default');
    ``absolute_paths`` writes relative paths as absolute ones (see :func:`save_recipe`)."""
    doc: dict[str, Any] = {"schema": SCHEMA_VERSION, "job": job}
    if description:
        doc["description"] = description
    doc["params"] = _to_toml(params, absolute_paths)
    return tomli_w.dumps(doc)


def save_recipe(path: str | os.PathLike, job: str, params: Any,
                description: str | None = None) -> Path:
    """Write a recipe atomically. Paths relative to the working folder are written as
    absolute paths: loading resolves relative ones against the recipe's own folder, so
    this keeps what the caller (the GUI, the demo) ran replayable from anywhere."""
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(recipe_text(job, params, description, absolute_paths=True).encode("utf-8"))
    return path
