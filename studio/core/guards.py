"""Guards between a user's files and the work: what one odd input may cost, how to name it.

One bad input must not stop a job, and every line must name the file (DESIGN: "bad inputs
are reported, never silently dropped and never crash a build"). Three kinds of input did:

- **Extreme aspect ratios.** Jobs resize an image before the network sees it; a 1x3000
  strip at ``--content-size 512`` becomes 512 x 1,536,000 px and the process is killed
  for memory (no line, the rest of the folder lost). :class:`ImageBudget` estimates what
  one image would cost at the size it is about to be resized to and gives the reason to
  skip it, before anything is allocated.
- **File names that are not UTF-8.** The file system holds bytes; Python maps the ones
  that are not UTF-8 to surrogates, which cannot be written to a manifest, a fingerprint
  or a log line. :func:`safe_name` shows such a name with ``\\xNN`` escapes and
  :func:`is_utf8_name` lets scanners skip the file with that line.
- **A non-finite loss** mid-run, and an output folder that cannot be written only
  discovered after hours of training: :func:`check_finite_loss`,
  :func:`check_writable_folder`.

Where AdaIN's ``stylize`` (studio/adain/stylize.py) loads a content or style it must call
:meth:`ImageBudget.reason` before ``resize_shorter`` and name files with
:func:`safe_name`; the builders and ``translate`` here already do.

Torch-free (the scanners in core.images and datasets use it); the device's free memory
is read only when a job asks.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.core.jobs import Log

try:
    import resource
except ImportError:  # Windows: no ulimit
    resource = None  # type: ignore[assignment]

#: Most pixels an image may be resized to (the decoder's own limit, about 16k x 16k):
#: larger is refused whatever memory is free, so a build skips the same files everywhere.
MAX_RESIZED_PIXELS = 16384 * 16384
#: Bytes per pixel of a resized RGB image in Pillow (RGB is stored as 4 bytes).
RESIZE_BYTES_PER_PIXEL = 4
#: The reason a scanner gives for a file or folder whose name is not UTF-8.
NOT_UTF8 = "its name is not valid UTF-8 (shown with \\x escapes); rename it to use it"


def safe_name(path: str | os.PathLike) -> str:
    """``path`` as printable UTF-8 text: bytes that are not UTF-8 shown as ``\\xNN``
    (``os.fsencode`` gives back the bytes the file system holds)."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def is_utf8_name(name: str | os.PathLike) -> bool:
    """False when the name holds bytes that are not UTF-8 (surrogates in Python)."""
    try:
        os.fspath(name).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shorter_side_to(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) after resizing the shorter side to ``size`` (torchvision ``Resize(size)``
    arithmetic: the longer side ``int(size * long / short)``); ``size`` 0 keeps it."""
    if not size:
        return width, height
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / max(1, short))
    return (size, new_long) if width <= height else (new_long, size)


def _address_space_headroom() -> int | None:
    """Bytes this process may still map under ``ulimit -v`` (RLIMIT_AS), or None."""
    if resource is None:
        return None
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def free_memory(device: str | object = "cpu") -> int | None:
    """Bytes a job may still allocate on ``device``: free GPU memory, or RAM (within a
    cgroup limit and ``ulimit -v``); None when unknown."""
    from studio.core.devices import available_memory  # noqa: PLC0415 (torch-free module: devices imports torch)

    free = available_memory(device)  # type: ignore[arg-type]
    if str(device).startswith("cpu"):
        cap = _address_space_headroom()
        if cap is not None:
            free = cap if free is None else min(free, cap)
    return free


@dataclass(frozen=True)
class ImageBudget:
    """What one image may cost, fixed once per job (the free memory is measured in the
    main process, so worker processes check against the same number).

    ``free``: bytes free for one image (None: unknown, only the pixel limit applies);
    ``network_bytes_per_pixel``: what the network needs per pixel it sees (0: the job
    crops to a fixed size first, so only the resize counts); ``hint``: what the user can
    do (``"limit --content-size or crop it"``).
    """

    free: int | None
    network_bytes_per_pixel: float = 0.0
    hint: str = "crop or shrink it"
    max_pixels: int = MAX_RESIZED_PIXELS

    def need(self, target: tuple[int, int], network: tuple[int, int] | None = None) -> int:
        """Bytes to resize to ``target`` (w, h) and run the network on ``network`` (w, h;
        default: the resized image itself)."""
        nw, nh = target if network is None else network
        return int(RESIZE_BYTES_PER_PIXEL * target[0] * target[1]
                   + self.network_bytes_per_pixel * nw * nh)

    def reason(self, size: tuple[int, int], target: tuple[int, int],
               network: tuple[int, int] | None = None, verb: str = "resized") -> str | None:
        """Why an image of ``size`` (w, h) resized to ``target`` must be skipped, or None
        when it fits: ``1x3000 px would be resized to 512x1536000 (...); <hint>``."""
        from studio.core.devices import format_bytes  # noqa: PLC0415 (torch-free module)

        tw, th = target
        pixels = tw * th
        need = self.need(target, network)
        head = f"{size[0]}x{size[1]} px would be {verb} to {tw}x{th}"
        if pixels > self.max_pixels:
            return (f"{head} ({pixels:,} px, more than the {self.max_pixels:,} px an image "
                    f"may have); {self.hint}")
        if self.free is not None and need > self.free:
            what = " for the network" if self.network_bytes_per_pixel else ""
            return (f"{head} (about {format_bytes(need)}{what}, {format_bytes(self.free)} "
                    f"free); {self.hint}")
        return None


#: Skipped inputs a build names on screen; every one is in errors.jsonl with its reason.
SHOWN_SKIPS = 10


class SkipReport:
    """Counts the inputs a build skips and names the first :data:`SHOWN_SKIPS` on screen
    (a folder of 10,000 bad files must not flood the terminal; none may go unmentioned):
    ``yield from skips(path, reason)`` per input, ``yield from skips.summary()`` at the
    end (it counts the ones not named; the command line's last line gives the total)."""

    def __init__(self, out: str | os.PathLike):
        self.out, self.n = Path(out), 0

    def __call__(self, path: str | os.PathLike, reason: str | None) -> Iterator[Log]:
        self.n += 1
        if self.n <= SHOWN_SKIPS:
            yield Log(f"skipped {safe_name(path)}: {reason}", "warning")

    def summary(self) -> Iterator[Log]:
        if self.n > SHOWN_SKIPS:
            yield Log(f"and {self.n - SHOWN_SKIPS} more input(s) skipped; every one with its "
                      f"reason in {self.out / 'errors.jsonl'}", "warning")


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: training stops (exit 2), what was written stays."""


def check_finite_loss(value: float, where: str, hint: str = "lower the learning rate") -> None:
    """Stop a job whose loss is NaN/inf at ``where`` ("epoch 2, step 17") before the
    optimiser spreads it into every weight; what was already written is kept."""
    if not math.isfinite(value):
        raise NonFiniteLossError(f"the loss became {value} at {where}; stopped (what was "
                                 f"written before is kept); {hint}")


def check_writable_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and write a probe file in it, so a job that writes only at its
    end (distil, prune) fails in its first second, not after hours of training; raises
    the OSError that names the folder (one line via core.errors)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd, probe = tempfile.mkstemp(prefix=".studio-probe-", dir=folder)
    except OSError as exc:
        exc.filename = str(folder)
        raise
    os.close(fd)
    os.unlink(probe)
    return folder


__all__ = ["ImageBudget", "MAX_RESIZED_PIXELS", "NOT_UTF8", "NonFiniteLossError", "SkipReport",
           "check_finite_loss", "check_writable_folder", "free_memory", "is_utf8_name",
           "safe_name", "shorter_side_to"]
