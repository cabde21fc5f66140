"""What every command module shares: argument types that name the flag in their errors,
the command groups engines add their commands to, and the helpers that run a job and
record its result for ``--json``. Torch-free, so ``studio --help`` stays fast; the
application (``studio.cli``) builds the parser, engines' ``cli`` modules fill it."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.params import CHECK, VALUES, flags_of, help_of


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------
# Argument types: numbers are checked when parsed, so argparse names the flag
# ("argument --batch-size: must be >= 1, got 0") and exits with status 2.


def _parse_int(text: str) -> int:
    try:
        return int(str(text).strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _parse_float(text: str) -> float:
    import math

    try:
        v = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def int_range(lo: int, hi: int | None = None, name: str | None = None
              ) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``lo`` (and <= ``hi``)."""
    def conv(text: str) -> int:
        v = _parse_int(text)
        if hi is None and v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        if hi is not None and not lo <= v <= hi:
            top = "2^63-1" if hi == 2**63 - 1 else str(hi)
            raise argparse.ArgumentTypeError(f"must be between {lo} and {top}, got {v}")
        return v

    conv.__name__ = name or (f"int_{lo}_{hi}" if hi is not None else f"int_ge_{lo}")
    return conv


def float_range(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False,
                name: str | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] (``open_lo``: > lo)."""
    def fmt(x: float) -> str:
        return f"{x:g}"

    def conv(text: str) -> float:
        v = _parse_float(text)
        low = lo is not None and (v <= lo if open_lo else v < lo)
        if lo is not None and hi is not None and (low or v > hi):
            raise argparse.ArgumentTypeError(f"must be between {fmt(lo)} and {fmt(hi)}, "
                                             f"got {fmt(v)}")
        if low:
            raise argparse.ArgumentTypeError(f"must be {'>' if open_lo else '>='} {fmt(lo)}, "
                                             f"got {fmt(v)}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"must be <= {fmt(hi)}, got {fmt(v)}")
        return v

    conv.__name__ = name or "number"
    return conv


#: >= 1: batch sizes, image counts, iterations, sides.
positive_int = int_range(1, name="positive_int")
#: >= 0: sizes where 0 means "keep", worker counts, intervals where 0 means "off".
nonneg_int = int_range(0, name="nonneg_int")
#: A random seed: 0 .. 2^63-1 (what every generator here accepts).
seed_int = int_range(0, 2**63 - 1, name="seed_int")
#: A fraction in [0, 1]: --alpha, probabilities.
unit_float = float_range(0.0, 1.0, name="unit_float")
#: A finite number >= 0: loss weights, learning-rate decay.
nonneg_float = float_range(0.0, name="nonneg_float")
#: A finite number > 0: learning rates, minutes.
positive_float = float_range(0.0, open_lo=True, name="positive_float")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (a required
    option, off, empty, or None when the help says what None means)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        d = action.default
        if action.required or d is None or d is False or (isinstance(d, (str, list)) and not d):
            return action.help
        return super()._get_help_string(action)


#: ``job_of(params_class)``: the job type name a params dataclass belongs to (None: none).
JobOf = Callable[[type], "str | None"]
#: ``save(path, job, params)``: writes a recipe file.
RecipeSaver = Callable[[Path, str, Any], Any]


@dataclass
class CommandGroups:
    """The subparser collections engine modules add their commands to.

    ``job_of`` and ``save_recipe`` come from the application (``core`` knows no job
    registry and no recipe format): with them, every command whose options
    :func:`add_params` generates from a job's params also gets ``--save-recipe`` and
    ``--strict``."""

    root: Any
    build: Any
    train: Any
    eval: Any
    bench: Any
    common: argparse.ArgumentParser
    job_of: JobOf | None = None
    save_recipe: RecipeSaver | None = None

    def add(self, group: Any, name: str, help: str, func: Callable[[argparse.Namespace], int],
            **kwargs: Any) -> argparse.ArgumentParser:
        p = group.add_parser(name, help=help, description=kwargs.pop("description", help),
                             parents=[self.common],
                             formatter_class=HelpFormatter, **kwargs)
        p.set_defaults(func=func, _job_of=self.job_of, _recipe_saver=self.save_recipe)
        return p


# ---------------------------------------------------------------------------------------
# Helpers for command handlers


#: ``--overwrite`` on every command that writes an output folder.
OVERWRITE_HELP = ("start afresh when the output folder holds a build made with other "
                  "settings (removes only what Studio wrote there); without it such a "
                  "rerun is refused with the differences named")


def add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def bool_option(p: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    """``--name`` / ``--no-name`` for a setting that is on or off."""
    p.add_argument(f"--{name}", dest=name.replace("-", "_"),
                   action=argparse.BooleanOptionalAction, default=default, help=help)


def comma_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; None or "" -> ``[]``."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def device_arg(args: argparse.Namespace) -> str:
    return getattr(args, "device", None) or "auto"


def seed_arg(args: argparse.Namespace, default: int = 0) -> int:
    seed = getattr(args, "seed", None)
    return default if seed is None else seed


def result_status(result: Any) -> int:
    """0 when the job used every input, 1 when its result reports failed inputs (the
    dispatcher then settles the command's status: :func:`exit_status`)."""
    from studio.core.errors import result_status as status

    return status(result)


STRICT_HELP = ("exit with status 1 when any input was skipped (listed in errors.jsonl), "
               "under torchrun too; without it a torchrun job that finished with skipped "
               "inputs exits 0, so torchrun reports success and never restarts it")


def skipped_inputs(result: Any) -> int:
    """How many inputs the job's result says were skipped: ``num_errors`` (the whole
    build's, on rank 0) or else its ``failed`` list or count."""
    if not isinstance(result, dict):
        return 0
    for key in ("num_errors", "failed"):
        v = result.get(key)
        n = len(v) if isinstance(v, (list, tuple, dict, set)) else v
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return 0


def _errors_file(args: argparse.Namespace, result: dict) -> Path | None:
    """The ``errors.jsonl`` of the command's output folder, if it wrote one."""
    for out in (result.get("out"), result.get("output"), getattr(args, "out", None),
                getattr(args, "output", None)):
        if out and isinstance(out, (str, Path)) and (Path(out) / "errors.jsonl").is_file():
            return Path(out) / "errors.jsonl"
    return None


def exit_status(args: argparse.Namespace, status: int) -> int:
    """The command's exit status from its handler's ``status`` and its result.

    Skipped inputs (a finished job whose result reports failed inputs): the handler's
    status in a plain run (1, the README's "some inputs could not be used"), 0 under
    torchrun — the dataset is complete, and a non-zero rank would make torchrun print a
    ChildFailedError and "FAILED" (and restart the job under ``--max-restarts``) — and 1
    anywhere with ``--strict``.
    Rank 0 (or the one process) says on stderr how many and where they are listed. Any
    other status (2: usage or fatal, 130: interrupted) stands as it is."""
    from studio.core.distributed import dist_info

    result = getattr(args, "_result", None)
    n = skipped_inputs(result)
    if status not in (0, 1) or not n:
        return status
    info = dist_info()
    strict = bool(getattr(args, "strict", False))
    if info.is_main:
        where = _errors_file(args, result)
        listed = f"listed in {where}" if where else "listed above"
        rule = ("" if info.world_size == 1 and not strict else
                " (--strict: exit status 1)" if strict else
                "; exit status 0 under torchrun (--strict makes it 1)")
        import sys

        print(f"studio: {n} input(s) could not be used, {listed}{rule}", file=sys.stderr,
              flush=True)
    if strict:
        return 1
    return 0 if info.world_size > 1 else status


def json_mode(args: argparse.Namespace) -> bool:
    """True under ``--json``: stdout carries only the result document."""
    return bool(getattr(args, "json", False))


def set_result(args: argparse.Namespace, result: Any) -> None:
    """Record the command's result: what ``--json`` prints on stdout when it returns.
    :func:`run_cli_job` records each job's result; a handler calls this for anything else
    (or to replace it)."""
    args._result = result


def jsonable(obj: Any) -> Any:
    """``obj`` as strict JSON values: NaN/inf become null, numpy scalars and arrays plain
    numbers and lists, tuples lists, anything else unknown its ``str``."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy / torch scalars and arrays
        try:
            return jsonable(obj.tolist())
        except Exception:
            pass
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return jsonable(dataclasses.asdict(obj))
    return str(obj)


def result_json(result: Any) -> str:
    """One line of strict JSON for ``result`` (what ``--json`` prints)."""
    import json

    return json.dumps(jsonable(result), default=str, allow_nan=False)


def run_cli_job(gen: Any, args: argparse.Namespace) -> Any:
    """Run a job generator with the terminal renderer, honouring --quiet; the job's
    result becomes the command's ``--json`` result."""
    from studio.core.jobs import run_job

    quiet = bool(getattr(args, "quiet", False))
    result = run_job(gen, progress=None if not quiet else False, verbose=not quiet)
    set_result(args, result)
    return result


# ---------------------------------------------------------------------------------------
# Options generated from a params dataclass

_COMMON = ("seed", "device")

#: ``param(..., check=...)``: the argparse type that range-checks a number when parsed.
_CHECKS: dict[str, Callable[[str], Any]] = {
    "positive": positive_int, "nonneg": nonneg_int, "positive_float": positive_float,
    "nonneg_float": nonneg_float, "unit": unit_float}


def _checked(f: dataclasses.Field, tp: Any) -> Any:
    """The argparse type for field ``f`` of type ``tp`` (range-checked when it says so)."""
    check = f.metadata.get(CHECK)
    if check is None:
        return Path if tp is Path else tp
    if isinstance(check, tuple):  # (lo, hi): a closed range, hi None for none
        lo, hi = check
        if tp is int:
            return int_range(int(lo), None if hi is None else int(hi))
        return float_range(lo, hi)
    if check not in _CHECKS:
        raise ValueError(f"{f.name}: unknown check {check!r} (known: {', '.join(_CHECKS)})")
    conv = _CHECKS[check]
    if check in ("positive", "nonneg") and tp is float:
        conv = positive_float if check == "positive" else nonneg_float
    return conv


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _choice_alias(values: dict[str, str]) -> Callable[[str], str]:
    def conv(text: str) -> str:
        return values.get(text.strip().lower(), text.strip())
    return conv


def _comma_items(conv: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """A list item may itself be comma-separated: ``--classes a,b c`` is [a, b, c]."""
    def split(text: str) -> list[Any]:
        return [conv(t) for t in comma_list(text)]
    split.__name__ = getattr(conv, "__name__", "item")
    return split


def option_strings(f: dataclasses.Field) -> list[str]:
    """``--num-images`` for ``num_images``, then ``--output`` beside ``--out`` and the
    field's reference spellings (``param(..., "--bs")``)."""
    opts = ["--" + f.name.replace("_", "-")]
    if f.name == "out":
        opts.append("--output")
    opts += [o for o in flags_of(f) if o not in opts]
    return opts


def field_default(f: dataclasses.Field) -> Any:
    """The field's default value (its factory's result; None when it has none)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _add_switch(parser: Any, f: dataclasses.Field, opts: list[str], default: Any,
                h: str) -> None:
    """A bool field: ``--x/--no-x``; a field named ``no_x`` is the one switch ``--no-x``
    (never ``--no-no-x``). Other spellings are switches of their own: ``--no_flip`` (a
    spelling that starts with --no) turns the setting off, any other one turns it on."""
    main, extra = opts[0], opts[1:]
    if f.name.startswith("no_"):
        parser.add_argument(main, *extra, dest=f.name, action="store_true", default=default,
                            help=h)
        return
    parser.add_argument(main, dest=f.name, action=argparse.BooleanOptionalAction,
                        default=default, help=h)
    for o in extra:
        off = o.startswith(("--no_", "--no-"))
        parser.add_argument(o, dest=f.name, action="store_false" if off else "store_true",
                            default=argparse.SUPPRESS,
                            help=f"same as --{'no-' if off else ''}{main[2:]}")


def add_params(parser: Any, cls: type, *, skip: tuple[str, ...] = (),
               unset: bool = False, require: tuple[str, ...] = ()) -> None:
    """One option per field of the params dataclass ``cls``, with the field's help and
    spellings (booleans as ``--x/--no-x``; the underscore spelling ``--num_images`` is
    accepted too, unlisted). A field without help is a bug: it raises.

    ``skip``: fields the command adds itself. ``unset``: options default to None (not
    given), so a command can layer a preset between them and the dataclass defaults; the
    help still shows the dataclass default. ``require``: fields the command line must
    give although the dataclass has a default."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in _COMMON or f.name in skip:
            continue
        tp, _ = _base_type(hints[f.name])
        h = help_of(f)
        if not h:
            raise ValueError(f"{cls.__name__}.{f.name} has no help (param(..., help=...))")
        default = field_default(f)
        required = (f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING) or f.name in require
        if unset and not required:
            if default not in (None, "", []):
                shown = ",".join(map(str, default)) if isinstance(default, list) else default
                h = f"{h} (default: {shown})"
            default = None
        origin = typing.get_origin(tp)
        if tp is bool:
            kw: dict[str, Any] = dict(action=argparse.BooleanOptionalAction)
        elif origin is typing.Literal:
            kw = dict(choices=list(typing.get_args(tp)), required=required)
            if f.metadata.get(VALUES):
                kw["type"] = _choice_alias(f.metadata[VALUES])
        elif origin is list:
            (inner,) = typing.get_args(tp)
            conv = _checked(f, inner)
            kw = dict(type=conv if inner is Path else _comma_items(conv), nargs="+",
                      required=required)
        else:
            kw = dict(type=_checked(f, tp), required=required)
        opts = option_strings(f)
        if tp is bool:
            _add_switch(parser, f, opts, default, h)
            opts = opts[:1]
        else:
            parser.add_argument(*opts, dest=f.name, default=default, help=h, **kw)
        under = "--" + f.name
        if under not in opts and "_" in f.name:
            kw.pop("required", None)
            if tp is bool:
                kw = dict(action="store_true" if f.name.startswith("no_")
                          else argparse.BooleanOptionalAction)
            parser.add_argument(under, dest=f.name, default=argparse.SUPPRESS,
                                help=argparse.SUPPRESS, **kw)
    # every command whose options come from a params dataclass runs a job; which one is
    # looked up when a recipe is saved (finding it may import the engine, e.g. torch)
    job_of = parser.get_default("_job_of") if hasattr(parser, "get_default") else None
    if callable(job_of) and not _has_option(parser, "--save-recipe"):
        parser.add_argument("--save-recipe", metavar="FILE", dest="save_recipe",
                            type=Path, default=None, help=SAVE_RECIPE_HELP)
        parser.add_argument("--strict", action="store_true", help=STRICT_HELP)


SAVE_RECIPE_HELP = ("also write the recipe of exactly this run to FILE (TOML: every setting "
                    "resolved, a --preset's values included; `studio run FILE` replays it); "
                    "--overwrite, --dry-run and --no-resume are not written")
#: Settings of one invocation, not of what it makes: a saved recipe keeps their
#: defaults, so replaying it resumes a build (never wipes it) and really builds.
_ONE_SHOT = ("overwrite", "dry_run", "resume")


def _has_option(parser: Any, option: str) -> bool:
    return option in getattr(parser, "_option_string_actions", {})


def params_from_args(cls: type, args: argparse.Namespace, *,
                     preset: dict[str, Any] | None = None, **values: Any) -> Any:
    """The params dataclass from options :func:`add_params` made. An option left unset
    (None) takes the ``preset``'s value, else the dataclass default; ``values`` (what the
    command worked out itself) win over both."""
    kw: dict[str, Any] = dict(preset or {})
    for f in dataclasses.fields(cls):
        if f.name in _COMMON or not hasattr(args, f.name):
            continue
        v = getattr(args, f.name)
        if isinstance(v, list) and any(isinstance(x, list) for x in v):
            v = [y for x in v for y in (x if isinstance(x, list) else [x])]  # comma items
        if v is not None:
            kw[f.name] = v
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if "seed" in fields:
        kw["seed"] = seed_arg(args, kw.get("seed", field_default(fields["seed"]) or 0))
    if "device" in fields:
        kw["device"] = device_arg(args)
    kw.update(values)
    params = cls(**kw)
    if getattr(args, "save_recipe", None):
        save_cli_recipe(args, params)
    return params


def save_cli_recipe(args: argparse.Namespace, params: Any) -> Path | None:
    """``--save-recipe FILE``: write the recipe of ``params`` (what this command is about
    to run) through the application's saver, less :data:`_ONE_SHOT` settings; rank 0
    only under torchrun. Returns the file written (None on other ranks)."""
    from studio.core.distributed import dist_info

    path = Path(args.save_recipe)
    job_of, saver = getattr(args, "_job_of", None), getattr(args, "_recipe_saver", None)
    job = job_of(type(params)) if callable(job_of) else None
    if not job or not callable(saver):
        raise CLIError(f"--save-recipe: no job type runs {type(params).__name__}")
    fields = {f.name: f for f in dataclasses.fields(params)}
    reset = {k: field_default(fields[k]) for k in _ONE_SHOT if k in fields}
    recipe = dataclasses.replace(params, **reset) if reset else params
    if not dist_info().is_main:
        return None
    saver(path, job, recipe)
    if not getattr(args, "quiet", False):
        print(f"recipe: {path} (studio run {path} replays this run)", flush=True)
    return path
