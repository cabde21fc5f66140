"""The `studio` command.

Each engine package contributes its subcommands through a ``register(groups)`` function
in the ``cli`` module its declaration names (``studio.registry``), so this file stays small and
``studio --help`` starts fast: heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import typing
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core.allocator import keep_freed_memory
from studio.core.commands import (
    STRICT_HELP,
    CLIError,
    CommandGroups,
    exit_status,
    json_mode,
    jsonable,
    result_json,
    result_status,
    run_cli_job,
    seed_int,
    set_result,
)
from studio.core.distributed import dist_info
from studio.core.errors import interrupted, stop_on_sigterm


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


def _group(root: Any, name: str, help: str, common: argparse.ArgumentParser) -> Any:
    p = root.add_parser(name, help=help, description=help, parents=[common])
    sub = p.add_subparsers(dest=f"{name}_command", metavar="WHAT", required=True)
    return sub


class StudioParser(argparse.ArgumentParser):
    """argparse as it is (usage and ``prog: error: message`` on stderr, exit status 2),
    with the message kept on the SystemExit so that ``--json`` can print it as the
    command's one document. Subcommand parsers are made of the same class."""

    def error(self, message: str) -> typing.NoReturn:
        try:
            super().error(message)
        except SystemExit as exc:
            exc.usage_error = f"{self.prog}: {message}"  # type: ignore[attr-defined]
            raise
        raise SystemExit(2)  # not reached: argparse's error always exits


def job_of(cls: type) -> str | None:
    """The job type whose params dataclass is ``cls``: by the engines' declarations, and
    where one names the class through a re-export (``studio.trainer.trainer:TrainParams``),
    by importing that reference."""
    from studio.core.engines import resolve
    from studio.registry import job_types

    ref = f"{cls.__module__}:{cls.__qualname__}"
    types = job_types()
    for name, jt in types.items():
        if jt.params_ref == ref or jt.params_ref is cls:
            return name
    for name, jt in types.items():
        r = jt.params_ref
        if isinstance(r, str) and r.rpartition(".")[2].rpartition(":")[2] == cls.__name__:
            try:
                if resolve(r) is cls:
                    return name
            except (ImportError, AttributeError):
                continue
    return None


def _save_recipe(path: Path, job: str, params: Any) -> Path:
    from studio.recipes import save_recipe

    return save_recipe(path, job, params, description=f"saved by studio --save-recipe "
                       f"(studio {__version__})")


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = StudioParser(
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
        job_of=job_of,
        save_recipe=_save_recipe,
    )
    _register_core(groups)
    from studio.registry import cli_modules

    for mod in cli_modules():
        importlib.import_module(mod).register(groups)
    return parser


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
    from studio.recipes import RecipeError, load_recipe

    try:
        jt, params = load_recipe(args.recipe)
    except RecipeError as exc:
        raise CLIError(str(exc)) from exc
    init_distributed()
    result = run_cli_job(jt.fn(params, None), args)
    if isinstance(result, dict) and not getattr(args, "quiet", False) and not json_mode(args):
        import json

        print(json.dumps(jsonable(result), indent=2, default=str))
    return result_status(result)


def _print_logs(gen: Any) -> Any:
    """Drive a model-file job, printing its lines on stdout; return its result."""
    from studio.core.jobs import Log, drive

    return drive(gen, lambda ev: print(ev.message) if isinstance(ev, Log) else None)


def _cmd_models(args: argparse.Namespace) -> int:
    from studio.core import checkpoints as ck
    from studio.core import modelfiles as mf

    action = args.models_command
    mdir = Path(args.dir) if args.dir else ck.models_dir()
    if action == "list":
        print(f"model directory: {mdir}")
        rows = mf.model_states(mdir)
        set_result(args, {"dir": str(mdir), "models": [
            {k: r[k] for k in ("name", "state", "filename", "family", "description",
                               "licence", "url")} for r in rows]})
        w = max((len(r["name"]) for r in rows), default=0)
        for r in rows:
            print(f"  {r['name']:{w}s} {r['state']:8s} {r['filename']}")
            print(f"  {'':{w}s} {r['description']}")
            print(f"  {'':{w}s} licence: {r['licence']}")
            if r["url"] and r["state"] == "missing":
                print(f"  {'':{w}s} source: {r['url']}")
        return 0
    if action == "import":
        params = mf.ModelTaskParams([Path(f) for f in args.files], name=args.name, dest=mdir)
        try:
            res = _print_logs(mf.import_job(params))
        except ck.CheckpointError as exc:
            raise CLIError(str(exc)) from exc
        set_result(args, {"dir": str(mdir), **res})
        return 1 if res["failed"] else 0
    if action == "verify":
        if args.files:
            targets = [Path(f) for f in args.files]
        else:
            if not mdir.is_dir():
                raise CLIError(f"{mdir}: the model folder does not exist, so there is nothing "
                               "to verify (studio models import FILE creates it; or pass "
                               "files)")
            targets = sorted(p for p in mdir.glob("*") if p.is_file())
            if not targets:
                print(f"no model files in {mdir}")
        res = _print_logs(mf.verify_job(mf.ModelTaskParams(targets, sha256=args.sha256)))
        set_result(args, {"files": res["verified"]})
        return 1 if res["failed"] else 0
    if action == "fetch":
        spec = ck.REGISTRY.get(args.name)
        url = args.url or (spec.url if spec else None)
        if not url:
            raise CLIError(f"no download address known for {args.name!r}; pass --url")
        dest = mdir / (spec.filename if spec else Path(url).name)
        params = mf.ModelTaskParams([], name=args.name, url=url, dest=dest,
                                    sha256=args.sha256 or (spec.sha256 if spec else None))
        try:
            run_cli_job(mf.fetch_job(params), args)
        except ck.CheckpointError as exc:
            raise CLIError(str(exc)) from exc
        set_result(args, {"url": url, "dest": str(dest)})
        print(f"fetched {url} -> {dest}")
        return 0
    raise CLIError(f"unknown models action {action!r}")


def _register_core(g: CommandGroups) -> None:
    from studio.e2e_bench import register as register_bench_e2e

    register_bench_e2e(g)
    p = g.add(g.root, "gui", "open the Studio window", _cmd_gui)
    p.add_argument("--self-test", action="store_true",
                   help="drive every page headless with the toy world; exit non-zero on failure")
    p.add_argument("--screenshot", metavar="DIR", help="save a PNG of every page to DIR")

    p = g.add(g.root, "demo", "run the toy-world experiment end to end and write a report",
              _cmd_demo)
    p.add_argument("--out", "--output", default="studio-demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="smaller run (under two minutes)")
    p.add_argument("--retrain", action="store_true",
                   help="retrain the toy models from scratch instead of using the shipped ones")

    p = g.add(g.root, "run", "run a recipe file (TOML) headless", _cmd_run)
    p.add_argument("recipe", help="recipe .toml file")
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)

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
    done, 1 some inputs failed, 2 usage or fatal error, 130 interrupted, 143 SIGTERM."""
    if argv is None:  # the program itself, not a caller (tests) that goes on running
        keep_freed_memory()
        stop_on_sigterm()  # a torchrun rank stopped for another's failure says so
        status = main(sys.argv[1:])
        _quick_exit_after_torch()
        return status
    argv = list(argv)
    if argv == ["--version"]:  # answer without importing the engines (torch takes seconds)
        print(f"studio {__version__}")
        return 0
    state: dict[str, Any] = {}
    if _json_requested(argv) and dist_info().is_main:  # one document for the whole run
        state["json_stdout"] = sys.stdout
    try:
        return _main(argv, state)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        usage = getattr(exc, "usage_error", None)
        if usage is not None:
            _json_error(state, usage, 2)
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C (130), SIGTERM (143)
        message, code = interrupted(exc)
        print(f"studio: {message}", file=sys.stderr)
        return _json_error(state, message, code)
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


def _quick_exit_after_torch() -> None:
    """Let the interpreter's exit skip the cyclic garbage collection through every object
    torch created: with torch loaded, exiting took 0.3-1.2 s after the work was done (a
    command's last image to the prompt); frozen, 0.03-0.4 s. Everything Studio writes is
    closed by then; only garbage in reference cycles is left unfinalised at exit."""
    if "torch" in sys.modules:
        import contextlib
        import gc

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        gc.freeze()


def _json_requested(argv: list[str]) -> bool:
    """``--json`` among the options (before a ``--``), known before parsing succeeds."""
    head = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in head


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
    if state is None:
        state = {"json_stdout": sys.stdout} if (
            _json_requested(argv) and dist_info().is_main) else {}
    args = parser.parse_args(argv)
    if json_mode(args):
        return _run_json(args, state)
    return _dispatch(parser, args)


def _run_json(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """``--json``: run the command with everything it prints sent to stderr, then print
    its result as one JSON document on stdout (``{"exit_status": N}`` for a command
    without one; ``main`` prints ``{"error": ..., "exit_status": N}`` when it fails).
    Under torchrun only rank 0 prints it: one document for the whole run."""
    import contextlib

    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        status = _dispatch(None, args)
    if state.pop("json_stdout", None) is None:  # another rank: rank 0 speaks for the run
        return status
    result = getattr(args, "_result", None)
    if result is None:
        result = {"exit_status": status}
    stdout.write(result_json(result) + "\n")
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
    if not dist_info().is_main:  # torchrun: rank 0 reports, the others only warn
        import contextlib

        args.quiet = True
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            return exit_status(args, int(args.func(args) or 0))
    return exit_status(args, int(args.func(args) or 0))


if __name__ == "__main__":
    raise SystemExit(main())
