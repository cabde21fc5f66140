"""The `studio` command.

Each engine package contributes its subcommands through a ``register(groups)`` function
in its ``cli`` module (listed in :data:`COMMAND_MODULES`), so this file stays small and
``studio --help`` starts fast: heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import __version__

#: Modules whose ``register(groups)`` adds subcommands.
COMMAND_MODULES = [
    "studio.toyworld.cli",
    "studio.adain.cli",
    "studio.datasets.cli",
    "studio.evaluate.cli",
    "studio.inversion.cli",
    "studio.tsit.cli",
]


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


def common_options() -> argparse.ArgumentParser:
    """--device / --seed / --quiet, accepted before or after any subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("--device", default=argparse.SUPPRESS,
                   help="auto (first GPU if any, else CPU), cpu, cuda or cuda:N (default auto)")
    g.add_argument("--seed", type=seed_int, default=argparse.SUPPRESS,
                   help="global random seed, 0..2^63-1 (default 0)")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bar or info lines, only warnings and errors")
    g.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print the result as one JSON document on stdout; progress, "
                        "info lines and the human summary go to stderr")
    return p


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


def _group(root: Any, name: str, help: str, common: argparse.ArgumentParser) -> Any:
    p = root.add_parser(name, help=help, description=help, parents=[common])
    sub = p.add_subparsers(dest=f"{name}_command", metavar="WHAT", required=True)
    return sub


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="studio", parents=[common],
        description="Studio: make image datasets that train and probe classifiers "
                    "(AdaIN style transfer, NaturalInversion, TSIT). Without a command, "
                    "opens the window.")
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="run the GUI self-test headless and exit (same as "
                             "`studio gui --self-test`)")
    root = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = CommandGroups(
        root=root,
        build=_group(root, "build", "build a dataset (stylized, cue-conflict, ...)", common),
        train=_group(root, "train", "train a model (adain, classifier, tsit)", common),
        eval=_group(root, "eval", "evaluate models (shape-bias)", common),
        bench=_group(root, "bench", "measure speed against a baseline in the same run",
                     common),
        common=common,
    )
    _register_core(groups)
    for mod in COMMAND_MODULES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                continue  # engine package not present in this build
            raise
        module.register(groups)
    return parser


# ---------------------------------------------------------------------------------------
# Helpers for command handlers


#: ``--overwrite`` on every command that writes an output folder.
OVERWRITE_HELP = ("start afresh when the output folder holds a build made with other "
                  "settings (removes only what Studio wrote there); without it such a "
                  "rerun is refused with the differences named")


def add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


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


def _jsonable(obj: Any) -> Any:
    """``obj`` as strict JSON values: NaN/inf become null, numpy scalars and arrays plain
    numbers and lists, tuples lists, anything else unknown its ``str``."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy / torch scalars and arrays
        try:
            return _jsonable(obj.tolist())
        except Exception:
            pass
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return _jsonable(dataclasses.asdict(obj))
    return str(obj)


def result_json(result: Any) -> str:
    """One line of strict JSON for ``result`` (what ``--json`` prints)."""
    import json

    return json.dumps(_jsonable(result), default=str, allow_nan=False)


def run_cli_job(gen: Any, args: argparse.Namespace) -> Any:
    """Run a job generator with the terminal renderer, honouring --quiet; the job's
    result becomes the command's ``--json`` result."""
    from studio.core.jobs import run_job

    quiet = bool(getattr(args, "quiet", False))
    result = run_job(gen, progress=None if not quiet else False, verbose=not quiet)
    set_result(args, result)
    return result


# ---------------------------------------------------------------------------------------
# Core commands: gui, demo, run, models


#: What ``studio`` / ``studio gui`` say on an install without the ``gui`` extra.
GUI_NEEDS_PYSIDE6 = "the window needs PySide6: pip install 'studio[gui]'"
_QT_PACKAGES = ("PySide6", "shiboken6")


def _qt_missing(exc: BaseException) -> bool:
    """``exc`` says PySide6 (or its shiboken6) is not installed."""
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _QT_PACKAGES


def qt_available() -> bool:
    """Whether PySide6 is installed, found without importing it (a cluster install,
    ``pip install .``, has no Qt: every command but the window works there)."""
    import importlib.util

    try:
        return importlib.util.find_spec("PySide6") is not None
    except (ImportError, ValueError):
        return False


def _cmd_gui(args: argparse.Namespace) -> int:
    if not qt_available():
        raise CLIError(GUI_NEEDS_PYSIDE6)
    try:
        from studio.gui.app import main as gui_main
    except ImportError as exc:
        if _qt_missing(exc):
            raise CLIError(GUI_NEEDS_PYSIDE6) from exc
        raise CLIError(f"the window cannot start: {exc}") from exc
    try:
        return gui_main(self_test=args.self_test, screenshot=args.screenshot)
    except ModuleNotFoundError as exc:
        if _qt_missing(exc):
            raise CLIError(GUI_NEEDS_PYSIDE6) from exc
        raise


def _cmd_demo(args: argparse.Namespace) -> int:
    from studio.demo import run_demo

    status = run_demo(args)
    out = Path(args.out)
    result: dict[str, Any] = {"out": str(out), "report": str(out / "report.html"),
                              "metrics_file": str(out / "metrics.json")}
    try:
        import json

        result["metrics"] = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        pass
    set_result(args, result)
    return status


def _cmd_run(args: argparse.Namespace) -> int:
    from studio.core.distributed import init_distributed
    from studio.core.recipes import RecipeError, load_recipe

    try:
        jt, params = load_recipe(args.recipe)
    except RecipeError as exc:
        raise CLIError(str(exc)) from exc
    init_distributed()
    result = run_cli_job(jt.fn(params, None), args)
    if isinstance(result, dict) and not getattr(args, "quiet", False) and not json_mode(args):
        import json

        print(json.dumps(_jsonable(result), indent=2, default=str))
    return result_status(result)


def _cmd_models(args: argparse.Namespace) -> int:
    from studio.core import checkpoints as ck

    action = args.models_command
    mdir = Path(args.dir) if args.dir else ck.models_dir()
    if action == "list":
        print(f"model directory: {mdir}")
        listed: list[dict[str, Any]] = []
        set_result(args, {"dir": str(mdir), "models": listed})
        for spec in sorted(ck.REGISTRY.values(), key=lambda s: (s.family, s.name)):
            here = mdir / spec.filename
            if here.is_file():
                state = "present"
            elif spec.bundled and (ck.resources_dir() / spec.filename).is_file():
                state = "bundled"
            else:
                state = "missing"
            listed.append({"name": spec.name, "state": state, "filename": spec.filename,
                           "family": spec.family, "description": spec.description,
                           "licence": spec.licence, "url": spec.url})
            print(f"  {spec.name:24s} {state:8s} {spec.filename}")
            print(f"  {'':24s} {spec.description}")
            print(f"  {'':24s} licence: {spec.licence}")
            if spec.url and state == "missing":
                print(f"  {'':24s} source: {spec.url}")
        return 0
    if action == "import":
        imported: list[dict[str, Any]] = []
        set_result(args, {"dir": str(mdir), "imported": imported})
        for f in args.files:
            notes: list[str] = []
            try:
                dest = ck.import_model(f, mdir, args.name, report=notes.append)
            except ck.CheckpointError as exc:
                raise CLIError(str(exc)) from exc
            imported.append({"file": str(f), "dest": str(dest), "notes": notes})
            print(f"imported {f} -> {dest}" + "".join(f"; {n}" for n in notes))
        return 0
    if action == "verify":
        if args.files:
            targets = [Path(f) for f in args.files]
        else:
            targets = sorted(p for p in mdir.glob("*") if p.is_file()) if mdir.is_dir() else []
        bad = 0
        checked: list[dict[str, Any]] = []
        set_result(args, {"files": checked})
        for p in targets:
            try:
                r = ck.verify(p, args.sha256)  # hash and layout (keys, shapes)
            except (ck.CheckpointError, OSError) as exc:
                print(f"FAIL {p}: {exc}")
                checked.append({"file": str(p), "ok": False, "error": str(exc)})
                bad += 1
                continue
            bad += not r.ok
            checked.append({"file": str(p), "ok": bool(r.ok), "sha256": r.sha256,
                            "expected": r.expected, "hash_ok": r.hash_ok,
                            "model": r.spec.name if r.spec else None,
                            "layout": r.layout, "error": r.error})
            print(r.line())
        return 1 if bad else 0
    if action == "fetch":
        spec = ck.REGISTRY.get(args.name)
        url = args.url or (spec.url if spec else None)
        if not url:
            raise CLIError(f"no download address known for {args.name!r}; pass --url")
        dest = mdir / (spec.filename if spec else Path(url).name)
        from studio.core.jobs import Progress, ProgressBar

        bar = ProgressBar(enabled=None if not getattr(args, "quiet", False) else False)
        try:
            ck.fetch(url, dest, args.sha256 or (spec.sha256 if spec else None),
                     progress=lambda done, total: bar.update(Progress(done, total, "bytes")))
        except ck.CheckpointError as exc:
            raise CLIError(str(exc)) from exc
        finally:
            bar.close()
        set_result(args, {"url": url, "dest": str(dest)})
        print(f"fetched {url} -> {dest}")
        return 0
    raise CLIError(f"unknown models action {action!r}")


def _register_core(g: CommandGroups) -> None:
    p = g.add(g.root, "gui", "open the Studio window", _cmd_gui)
    p.add_argument("--self-test", action="store_true",
                   help="drive every page headless with the toy world; exit non-zero on failure")
    p.add_argument("--screenshot", metavar="DIR", help="save a PNG of every page to DIR")

    p = g.add(g.root, "demo", "run the toy-world experiment end to end and write a report",
              _cmd_demo)
    p.add_argument("--out", default="studio-demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="smaller run (under two minutes)")
    p.add_argument("--retrain", action="store_true",
                   help="retrain the toy models from scratch instead of using the shipped ones")

    p = g.add(g.root, "run", "run a recipe file (TOML) headless", _cmd_run)
    p.add_argument("recipe", help="recipe .toml file")

    models = g.root.add_parser("models", help="list, import, verify or fetch model files",
                               description="Manage model files (official and toy).",
                               parents=[g.common])
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    for name, help_text in (("list", "show known models and whether they are present"),
                            ("import", "copy model files you already have into the model dir"),
                            ("verify", "check SHA-256 and that files load safely"),
                            ("fetch", "download a known model (resumes, verifies)")):
        p = msub.add_parser(name, help=help_text, description=help_text, parents=[g.common])
        p.add_argument("--dir", help="model directory (default: $STUDIO_MODELS or "
                                     "~/.local/share/studio/models)")
        if name == "import":
            p.add_argument("files", nargs="+", help="model files")
            p.add_argument("--name", help="registry name the file is (checks its hash)")
        elif name == "verify":
            p.add_argument("files", nargs="*", help="files (default: everything in the dir)")
            p.add_argument("--sha256", help="expected hash")
        elif name == "fetch":
            p.add_argument("name", help="registry name (see `studio models list`)")
            p.add_argument("--url", help="download from this address instead")
            p.add_argument("--sha256", help="expected SHA-256 (overrides the registry)")
        p.set_defaults(func=_cmd_models)


def _debug() -> bool:
    return os.environ.get("STUDIO_DEBUG", "").strip() not in ("", "0")


def report_error(exc: BaseException) -> int:
    """Print ``exc`` as one ``studio: error: ...`` line; return the exit status."""
    msg, status = _error_message(exc)
    print(f"studio: error: {msg}", file=sys.stderr, flush=True)
    return status


def _error_message(exc: BaseException) -> tuple[str, int]:
    from studio.core.errors import describe, one_line

    if isinstance(exc, CLIError):
        return one_line(str(exc)), 2
    msg, status, _internal = describe(exc)
    return msg, status


def main(argv: list[str] | None = None) -> int:
    """The `studio` command. No traceback reaches the user: every exception becomes one
    ``studio: error: ...`` line (``STUDIO_DEBUG=1`` re-raises instead). Exit status: 0 all
    done, 1 some inputs failed, 2 usage or fatal error, 130 interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answer without importing the engines (torch takes seconds)
        print(f"studio {__version__}")
        return 0
    state: dict[str, Any] = {}
    try:
        return _main(argv, state)
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return _json_error(state, "interrupted", 130)
    except Exception as exc:
        from studio.core.jobs import Cancelled

        if isinstance(exc, Cancelled):
            print("studio: cancelled", file=sys.stderr)
            return _json_error(state, "cancelled", 130)
        if _debug() and not isinstance(exc, CLIError):
            raise
        if isinstance(exc, BrokenPipeError):
            # the reader went away (`studio models list | head`): no message, and no
            # second error when Python flushes stdout at exit
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            return 2
        status = report_error(exc)
        return _json_error(state, _error_message(exc)[0], status)


def _json_error(state: dict[str, Any], message: str, status: int) -> int:
    """Under ``--json``, a failed command still prints one document on stdout."""
    out = state.pop("json_stdout", None)
    if out is not None:
        try:
            out.write(result_json({"error": message, "exit_status": status}) + "\n")
            out.flush()
        except (OSError, ValueError):
            pass
    return status


def _main(argv: list[str], state: dict[str, Any] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if json_mode(args):
        return _run_json(args, state if state is not None else {})
    return _dispatch(parser, args)


def _run_json(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """``--json``: run the command with everything it prints sent to stderr, then print
    its result as one JSON document on stdout (``{"exit_status": N}`` for a command
    without one; ``main`` prints ``{"error": ..., "exit_status": N}`` when it fails)."""
    import contextlib

    stdout = sys.stdout
    state["json_stdout"] = stdout
    with contextlib.redirect_stdout(sys.stderr):
        status = _dispatch(None, args)
    result = getattr(args, "_result", None)
    if result is None:
        result = {"exit_status": status}
    text = result_json(result)
    state.pop("json_stdout", None)  # printed below: an error after this is not reported twice
    stdout.write(text + "\n")
    stdout.flush()
    return status


def _dispatch(parser: argparse.ArgumentParser | None, args: argparse.Namespace) -> int:
    if args.command is None:
        if not qt_available():  # `studio` means the window
            raise CLIError(GUI_NEEDS_PYSIDE6)
        if args.self_test:
            args.screenshot = None
            return _cmd_gui(args)
        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in (
                "win32", "darwin"):
            args.self_test, args.screenshot = False, None
            return _cmd_gui(args)
        if parser is None:
            parser = build_parser()
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
