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


@dataclass
class CommandGroups:
    """The subparser collections engine modules add their commands to."""

    root: Any
    build: Any
    train: Any
    eval: Any
    bench: Any
    common: argparse.ArgumentParser

    def add(self, group: Any, name: str, help: str, func: Callable[[argparse.Namespace], int],
            **kwargs: Any) -> argparse.ArgumentParser:
        p = group.add_parser(name, help=help, description=kwargs.pop("description", help),
                             parents=[self.common],
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kwargs)
        p.set_defaults(func=func)
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
    """0 when the job used every input, 1 when its result reports failed inputs."""
    from studio.core.errors import result_status as status

    return status(result)


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

#: Numeric fields checked when parsed (argparse then names the flag and exits 2).
_POSITIVE_INT = ("num_images", "batch_size", "iterations", "epochs", "eval_every",
                 "shard_batches", "num_noise", "max_images", "bins", "distill_epochs",
                 "distill_eval_every", "distill_batch_size")
_NONNEG_INT = ("preview_every", "metrics_every", "jitter", "adi_student_epochs")
_POSITIVE_FLOAT = ("lr", "distill_lr", "temperature")
_NONNEG_FLOAT = ("r_feature", "var_scale", "l2_scale", "adi_scale", "kd_weight",
                 "ce_weight", "weight_decay")
_UNIT_FLOAT = ("sparsities",)


def _checked(name: str, tp: Any) -> Any:
    """The argparse type for field ``name`` of type ``tp`` (range-checked where known)."""
    if tp is int:
        if name in _POSITIVE_INT:
            return positive_int
        if name in _NONNEG_INT:
            return nonneg_int
    if tp is float:
        for names, conv in ((_POSITIVE_FLOAT, positive_float),
                            (_NONNEG_FLOAT, nonneg_float), (_UNIT_FLOAT, unit_float)):
            if name in names:
                return conv
    return tp


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def add_params(parser: argparse.ArgumentParser, cls: type, help_: dict[str, str] | None = None
               ) -> None:
    """One ``--option`` per dataclass field (booleans as ``--x/--no-x``)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in _COMMON:
            continue
        tp, _ = _base_type(hints[f.name])
        opt = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        h = (help_ or {}).get(f.name, " ")
        origin = typing.get_origin(tp)
        if tp is bool:
            parser.add_argument(opt, action=argparse.BooleanOptionalAction, default=default,
                                help=h)
        elif origin is typing.Literal:
            parser.add_argument(opt, choices=list(typing.get_args(tp)), default=default,
                                required=required, help=h)
        elif origin is list:
            (inner,) = typing.get_args(tp)
            parser.add_argument(opt, type=_checked(f.name, inner), nargs="+", default=default,
                                required=required, help=h)
        else:
            conv = Path if tp is Path else _checked(f.name, tp)
            parser.add_argument(opt, type=conv, default=default, required=required, help=h)


def params_from_args(cls: type, args: argparse.Namespace) -> Any:
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in _COMMON}
    names = {f.name for f in dataclasses.fields(cls)}
    if "seed" in names:
        kw["seed"] = seed_arg(args)
    if "device" in names:
        kw["device"] = device_arg(args)
    return cls(**kw)
