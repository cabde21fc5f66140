"""Turning any exception into one line a user can act on, and the exit status that goes
with it (the CLI's ``studio: error: ...``; the GUI can show the same text).

Exit statuses, the same for every command: 0 all done, 1 some inputs failed (the rest
was done), 2 a usage or fatal error — nothing to work on (an empty input folder) is one.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_FATAL = 2
#: Stopped by SIGTERM (128 + 15, the shell's convention); Ctrl-C is 130.
EXIT_TERMINATED = 143

OOM_HINT = "try a smaller --batch-size / size"


class NoInputError(ValueError):
    """A job found nothing to work on (an empty input folder): exit status 2, a fatal
    error as the README says (it was 1, which reads as "some inputs could not be used")."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: the job unwinds as on Ctrl-C (finished files
    kept, records flushed, locks released) and the process says so in one line."""


def stop_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` (the default action kills the process without
    a word). torchrun sends it to every other rank when one fails, schedulers before
    SIGKILL; a second SIGTERM kills at once."""
    if threading.current_thread() is not threading.main_thread():
        return

    def raise_terminated(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    signal.signal(signal.SIGTERM, raise_terminated)


def interrupted(exc: KeyboardInterrupt) -> tuple[str, int]:
    """(the one line, the exit status) of a command stopped by Ctrl-C or SIGTERM; a
    torchrun rank names itself, since torchrun's own report follows."""
    if not isinstance(exc, Terminated):
        return "interrupted", 130
    from studio.core.distributed import dist_info  # noqa: PLC0415 (kept out of --version's path)

    info = dist_info()
    if info.world_size > 1:
        return (f"rank {info.rank} of {info.world_size} stopped by SIGTERM (torchrun stops "
                "every rank when one fails; its report names that rank); finished files are "
                "kept: run the same command again to resume"), EXIT_TERMINATED
    return ("stopped by SIGTERM; finished files are kept: run the same command again to "
            "resume"), EXIT_TERMINATED


def _peer_gone(exc: BaseException) -> bool:
    """A collective (barrier, all-reduce) failed because another torchrun rank died."""
    dist = sys.modules.get("torch.distributed")
    backend = getattr(dist, "DistBackendError", None) if dist is not None else None
    text = str(exc)
    return (backend is not None and isinstance(exc, backend)) or (
        isinstance(exc, RuntimeError) and any(s in text for s in (
            "Connection closed by peer", "Connection reset by peer", "ProcessGroupGloo")))


def one_line(text: str) -> str:
    """``text`` with its lines joined by "; " (a message must never span lines)."""
    lines = [t.strip() for t in str(text).splitlines() if t.strip()]
    return "; ".join(lines)


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError, an allocator RuntimeError, ENOMEM."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom is not None and isinstance(exc, oom):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(s in text for s in ("out of memory", "can't allocate memory",
                                       "cannot allocate memory", "failed to allocate"))
    return False


def out_of_memory_message(exc: BaseException) -> str:
    detail = one_line(str(exc))
    first = detail.split(". ")[0].strip().rstrip(".")
    if len(first) > 160:
        first = first[:157] + "..."
    return f"out of memory ({first}); {OOM_HINT}" if first else f"out of memory; {OOM_HINT}"


def os_error_message(exc: OSError) -> str:
    """``<path>: <reason>`` for an OSError, by errno, in words a user recognises."""
    code = exc.errno
    name = exc.filename
    if name is not None and not isinstance(name, str):
        name = str(name, "utf-8", "replace") if isinstance(name, bytes) else str(name)
    if code is None:
        return one_line(str(exc)) or type(exc).__name__
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        what = "disk full" if code == errno.ENOSPC else "disk quota exceeded"
        return f"{what} while writing {name}" if name else f"{what} (no space left to write)"
    if code == errno.EROFS:
        return f"{name}: read-only file system" if name else "read-only file system"
    if code in (errno.EACCES, errno.EPERM):
        return (f"{name}: permission denied (read-only or another user's)" if name
                else "permission denied")
    reasons = {errno.ENOENT: "no such file or folder", errno.ENOTDIR: "not a folder",
               errno.EISDIR: "is a folder, not a file", errno.EEXIST: "already exists",
               errno.ENAMETOOLONG: "name too long", errno.EPIPE: "output closed (broken pipe)",
               getattr(errno, "ELOOP", -1): "too many levels of symbolic links"}
    reason = reasons.get(code) or (exc.strerror or str(exc)).strip()
    if exc.filename2 is not None:
        return f"{name} -> {exc.filename2}: {reason}"
    return f"{name}: {reason}" if name else reason


def _user_error_types() -> tuple[type, ...]:
    """Exceptions whose message is already written for users (they name file and cause);
    FloatingPointError is a trainer's "the loss became nan at step N" (core.guards)."""
    types: list[type] = [ValueError, FloatingPointError]
    for mod, name in (("studio.core.images", "ImageError"),
                      ("studio.core.checkpoints", "CheckpointError")):
        cls = getattr(sys.modules.get(mod), name, None)
        if cls is not None:
            types.append(cls)
    return tuple(types)


def describe(exc: BaseException) -> tuple[str, int, bool]:
    """(one-line message, exit status, internal?) for an exception a command raised."""
    if isinstance(exc, NoInputError):
        return one_line(str(exc)), EXIT_FATAL, False
    if is_out_of_memory(exc):
        return out_of_memory_message(exc), EXIT_FATAL, False
    if isinstance(exc, OSError):
        return os_error_message(exc), EXIT_FATAL, False
    if _peer_gone(exc):
        first = one_line(str(exc))[:160]
        return (f"another rank of this torchrun job stopped ({first}); finished files are "
                "kept: run the same command again to resume"), EXIT_FATAL, False
    if isinstance(exc, _user_error_types()):
        return one_line(str(exc)) or type(exc).__name__, EXIT_FATAL, False
    msg = one_line(str(exc))
    return (f"internal error: {type(exc).__name__}: {msg} (set STUDIO_DEBUG=1 for the "
            "traceback)"), EXIT_FATAL, True


def result_status(result: object) -> int:
    """Exit status of a finished job from its result: 1 when it reports failed or skipped
    inputs (``failed``, ``num_errors``: what errors.jsonl lists), else 0."""
    if not isinstance(result, dict):
        return EXIT_OK
    for key in ("failed", "num_errors"):
        v = result.get(key)
        n = len(v) if isinstance(v, (list, tuple, dict, set)) else int(v or 0)
        if n:
            return EXIT_SOME_FAILED
    return EXIT_OK


__all__ = ["EXIT_OK", "EXIT_SOME_FAILED", "EXIT_FATAL", "EXIT_TERMINATED", "NoInputError",
           "Terminated", "describe", "interrupted", "is_out_of_memory", "os_error_message",
           "result_status", "one_line", "stop_on_sigterm"]
