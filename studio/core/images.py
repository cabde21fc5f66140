"""One image loader and one writer for the whole project.

Every backend reads pictures through :func:`load_image` so that odd files (CMYK, 16-bit,
palette, alpha, rotated phone photos, truncated downloads, decompression bombs, text
files with an image extension) behave the same everywhere: either a clean RGB image or
a typed :class:`ImageError` that names the file and the reason.

Every output goes through :func:`save_image`, which writes to a temporary file in the
same folder and renames it, so an interrupted job never leaves a truncated file under a
final name, and can embed the job parameters as JSON in a PNG text chunk.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from studio.core.guards import NOT_UTF8, is_utf8_name, safe_name

#: Largest image we decode, in pixels (about 16k x 16k). Larger files are refused
#: before decoding, because a small PNG can expand to many GB (a decompression bomb).
DEFAULT_MAX_PIXELS = 16384 * 16384
#: PNG text-chunk key under which Studio stores its JSON parameters.
PARAMS_KEY = "studio"
#: Extensions torchvision's ImageFolder accepts; directory scans use the same list.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

_UMASK = os.umask(0)
os.umask(_UMASK)

# A truncated file must be an error, never a silently grey-filled picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(Exception):
    """An image could not be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotAnImageError(ImageError):
    """The file is not an image format Pillow understands (or is empty)."""


class TruncatedImageError(ImageError):
    """The file starts like an image but its data is cut short or corrupt."""


class ImageTooLargeError(ImageError):
    """The image exceeds the pixel limit (possible decompression bomb)."""


class ImageTooSmallError(ImageError):
    """The image is smaller than a job's minimum side length."""


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the name has an ImageFolder image extension (content is not checked)."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; alpha is composited on ``background``."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grayscale: scale by the format's range, not by clipping at 255.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr8 = np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr8 = np.clip(np.round(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr), 0, 255)
        return Image.fromarray(arr8.astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "RGBa"):
        base = Image.new("RGB", img.size, background)
        base.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return base
    if mode == "RGB":
        return img
    # L, 1, CMYK, YCbCr, LAB, HSV: Pillow's converters are correct for these.
    return img.convert("RGB")


def load_image(
    path: str | os.PathLike,
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = 0,
) -> Image.Image:
    """Decode ``path`` into an upright 8-bit RGB image.

    EXIF orientation is applied, transparency is composited on ``background`` (white by
    default, stated so results are reproducible), and every failure raises a subclass of
    :class:`ImageError` naming the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotAnImageError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if path.is_dir():
        raise NotAnImageError(path, "is a directory, not an image")
    if size == 0:
        raise NotAnImageError(path, "file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageTooLargeError(
                        path,
                        f"{w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
                        "(possible decompression bomb; raise max_pixels if the file is trusted)",
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img, background)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(path, f"decompression bomb refused ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(path, "not a recognised image format") from exc
    except PermissionError as exc:
        raise NotAnImageError(path, "permission denied (cannot read the file)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise TruncatedImageError(path, f"truncated image data ({msg})") from exc
        raise TruncatedImageError(path, f"corrupt image data ({msg})") from exc
    if min_size and min(rgb.size) < min_size:
        raise ImageTooSmallError(
            path, f"{rgb.size[0]}x{rgb.size[1]} is smaller than the minimum side {min_size} px"
        )
    return rgb


def quantize(images: Any, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Images with values in [low, high] -> uint8 HWC, by torchvision ``save_image``'s rule
    (scale to 0..255, add 0.5, clamp, truncate): the one quantisation Studio writes with,
    the reference tools' own. A torch tensor (N, 3, H, W) or (3, H, W) is quantised where
    it lives (4x less to copy back from a GPU); a float array (..., H, W, 3) likewise."""
    if hasattr(images, "detach"):  # torch tensor, without importing torch here
        import torch  # noqa: PLC0415 (heavy: loaded when used)

        x = images.detach().float()
        if (low, high) != (0.0, 1.0):
            x = (x - low) / (high - low)
        x = x.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
        x = x.permute(0, 2, 3, 1) if x.dim() == 4 else x.permute(1, 2, 0)
        return np.ascontiguousarray(x.cpu().numpy())
    arr = np.asarray(images, dtype=np.float64)
    if (low, high) != (0.0, 1.0):
        arr = (arr - low) / (high - low)
    return np.clip(np.floor(arr * 255.0 + 0.5), 0, 255).astype(np.uint8)


def to_uint8_array(image: Any) -> np.ndarray:
    """Return an (H, W, 3) uint8 array from a PIL image, array or (3, H, W) tensor in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if hasattr(image, "detach"):
        if image.dim() == 4:
            if image.shape[0] != 1:
                raise ValueError(f"expected one image, got a batch of {image.shape[0]}")
            image = image[0]
        return quantize(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = quantize(arr)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return arr


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = True
                 ) -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    The temporary name starts with a dot and ends in ``.part`` so scanners skip it; it is
    removed if the block raises. A killed process can therefore never leave a partial file
    under the final name. ``fsync`` additionally makes the data durable before the rename
    (power loss); dataset builders writing thousands of small files turn it off.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        exc.filename = str(path)  # the file the user asked for, not the temporary name
        raise
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get normal modes
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        inner = exc if isinstance(exc, OSError) else (
            _os_error_within(exc) if isinstance(exc, RuntimeError) else None)
        if inner is not None and inner.filename is None:
            inner.filename = str(path)
        if inner is not None and inner is not exc:
            # torch.save reports a full disk as "RuntimeError: [enforce fail at
            # inline_container.cc:672] . unexpected pos"; the file's own OSError says it
            raise inner from None
        raise


def _os_error_within(exc: BaseException) -> OSError | None:
    """The OSError a writer (torch.save's zip stream) turned into its own exception."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError):
            return e
        e = e.__cause__ or e.__context__
    return None


def encode_png(image: Any, params: dict | None = None) -> bytes:
    """PNG bytes of ``image`` with ``params`` as a JSON ``studio`` text chunk.

    Deterministic: the same pixels and parameters give the same bytes (keys are sorted,
    no timestamps), which makes rebuilt datasets byte-identical.
    """
    img = Image.fromarray(to_uint8_array(image), "RGB")
    info = None
    if params is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PARAMS_KEY, json.dumps(params, sort_keys=True, default=str))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def encode_image(image: Any, ext: str, *, params: dict | None = None, quality: int = 95
                 ) -> bytes:
    """File bytes of ``image`` in the format of ``ext``; PNGs carry ``params`` (JSON)."""
    ext = ext.lower()
    if ext == ".png":
        return encode_png(image, params)
    img = Image.fromarray(to_uint8_array(image), "RGB")
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
           ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM"}.get(ext)
    if fmt is None:
        raise ValueError(f"unsupported output extension {ext!r}")
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def save_image(
    image: Any,
    path: str | os.PathLike,
    *,
    params: dict | None = None,
    quality: int = 95,
) -> Path:
    """Write ``image`` atomically; PNGs carry ``params`` (JSON) in a text chunk.

    The format follows the extension (.png, .jpg/.jpeg, .webp, .bmp, .tif); parameters
    can only be embedded in PNG, other formats get none.
    """
    path = Path(path)
    try:
        data = encode_image(image, path.suffix, params=params, quality=quality)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    with atomic_write(path) as fh:
        fh.write(data)
    return path


def read_params(path: str | os.PathLike) -> dict | None:
    """The JSON parameters Studio embedded in a PNG, or None when there are none."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            text = img.text.get(PARAMS_KEY) if hasattr(img, "text") else None
    except (OSError, UnidentifiedImageError) as exc:
        raise NotAnImageError(path, f"cannot read parameters ({exc})") from exc
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImageError(path, f"embedded parameters are not valid JSON ({exc})") from exc


def walk_images(folder: str | os.PathLike, *, recursive: bool = True,
                skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    """Image files under ``folder``, sorted by path, and what was left out and why.

    Nothing is dropped silently: when ``skipped`` is a list, every entry that is not used
    is appended to it as ``(path, reason)``: a broken symbolic link, a hidden folder
    (``.name``, with all it holds), a hidden image file, a folder or file that cannot be
    read ("permission denied"), a file without an image extension, something that is not
    a regular file, a file or folder whose name is not UTF-8 (it could not be written to a
    manifest or a log; its path is given with ``\\xNN`` escapes). Symbolic links to folders are followed (once). A ``folder`` that
    cannot be listed raises :class:`PermissionError` / :class:`FileNotFoundError`.
    """
    folder = Path(folder)
    out: list[Path] = []
    seen: set[str] = set()

    def note(p: str, reason: str) -> None:
        if skipped is not None:
            skipped.append((safe_name(p), reason))

    def visit(d: Path, top: bool) -> None:
        real = os.path.realpath(d)
        if real in seen:
            return
        seen.add(real)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            if top:
                raise
            note(str(d), "permission denied")
            return
        for e in entries:
            p = d / e.name
            if not is_utf8_name(e.name):
                note(str(p), NOT_UTF8)
                continue
            try:
                is_dir, is_file = e.is_dir(), e.is_file()
            except OSError:
                is_dir = is_file = False
            if e.is_symlink() and not os.path.exists(p):
                note(str(p), "broken symbolic link")
            elif is_dir:
                if not recursive:
                    continue  # a non-recursive listing takes the files of this folder only
                if e.name.startswith("."):
                    note(str(p), "hidden folder")
                else:
                    visit(p, False)
            elif not is_file:
                if not e.name.startswith("."):
                    note(str(p), "not a regular file")
            elif e.name.startswith("."):
                if is_image_file(e.name):
                    note(str(p), "hidden file")
            elif not is_image_file(e.name):
                note(str(p), "not an image file (extension)")
            elif not os.access(p, os.R_OK):
                note(str(p), "permission denied")
            else:
                out.append(p)

    visit(folder, True)
    return sorted(out)


def relative_key(path: Path, roots: list[Path]) -> Path:
    """``path`` relative to the first of ``roots`` that holds it, without its suffix: the
    key that pairs files across folders (a content image with its style and target)."""
    root = next(r for r in roots if path.is_relative_to(r))
    return path.relative_to(root).with_suffix("")


def list_images(folder: str | os.PathLike, *, recursive: bool = False,
                skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    """Image files in ``folder`` sorted by name (the order every job relies on).

    Pass a list as ``skipped`` to learn what was left out and why (see
    :func:`walk_images`); a missing ``folder`` gives an empty list.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return walk_images(folder, recursive=recursive, skipped=skipped)


def image_grid(images: list[Any], ncols: int | None = None, pad: int = 2,
               background: int = 255) -> np.ndarray:
    """Tile images (anything :func:`to_uint8_array` takes, same size) into one RGB array."""
    arrs = [to_uint8_array(im) for im in images]
    if not arrs:
        raise ValueError("image_grid needs at least one image")
    h, w = arrs[0].shape[:2]
    if any(a.shape[:2] != (h, w) for a in arrs):
        raise ValueError("image_grid: all images must have the same size")
    ncols = ncols or int(np.ceil(np.sqrt(len(arrs))))
    nrows = (len(arrs) + ncols - 1) // ncols
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), background, np.uint8)
    for i, a in enumerate(arrs):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = a
    return grid
