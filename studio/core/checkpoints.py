"""Model files: a registry of known checkpoints, safe loading, import, verify, fetch.

Loading always uses ``torch.load(weights_only=True)``: a checkpoint from the internet
is a pickle and could otherwise run code. What is accepted is a plain ``state_dict``
(name -> tensor); known wrappers (``{"state_dict": ...}`` from texture-vs-shape, DDP's
``module.`` prefix) are unwrapped only when the caller asks for it, so nothing surprising
happens silently. Mismatched keys are reported as missing / unexpected / wrong-shape lists.

A file is what it claims to be: each registry entry names the project's builder of its
network (``ModelSpec.layout``), and import / verify compare the file's keys and shapes with
it (built on the meta device: no weights, no download) through the same
:func:`check_state_dict` the engines load with. A file with no tensors is refused always.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import os
import pickle
import pickletools
import re
import shutil
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.engines import ModelSpec, discover
from studio.core.images import atomic_write
from studio.core.paths import default_models_dir
from studio.core.paths import resources_dir as _resources_dir


class CheckpointError(Exception):
    """A model file cannot be used; the message says which file, why, and what to do."""

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = Path(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class CheckpointMismatch(CheckpointError):
    """The file is a state_dict, but not one for this model.

    ``what`` names what the file was taken for ("an adain-decoder checkpoint"); the reason
    then reads "not <what>: ...". Shape errors name the first mismatching layer with the
    file's shape and the one the model needs.
    """

    def __init__(self, path, missing: list[str], unexpected: list[str],
                 shapes: list[tuple[str, tuple, tuple]], hint: str = "", what: str = ""):
        self.missing, self.unexpected, self.shapes = missing, unexpected, shapes
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_short(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_short(unexpected)}")
        if shapes:
            k, got, need = shapes[0]
            text = f"layer {k!r} has shape {tuple(got)}, the model needs {tuple(need)}"
            if len(shapes) > 1:
                text += (f" ({len(shapes) - 1} more layer(s) of another shape: "
                         f"{_short([s[0] for s in shapes[1:]])})")
            parts.append(text)
        reason = (f"not {what}: " if what else "does not match the model; ") + "; ".join(parts)
        if hint:
            reason += f". {hint}"
        super().__init__(path, reason)


def _short(items: list[str], n: int = 8) -> str:
    head = ", ".join(items[:n])
    return head + (f", ... (+{len(items) - n} more)" if len(items) > n else "")


# ---------------------------------------------------------------------------------------
# Registry


class _ModelTable(MutableMapping[str, ModelSpec]):
    """Every engine's declared model files by name, read from the engine declarations
    (:mod:`studio.core.engines`) when first needed."""

    @functools.cached_property
    def _specs(self) -> dict[str, ModelSpec]:
        return {m.name: m for eng in discover() for m in eng.models}

    def refresh(self) -> None:
        self.__dict__.pop("_specs", None)

    def __getitem__(self, name: str) -> ModelSpec:
        return self._specs[name]

    def __setitem__(self, name: str, spec: ModelSpec) -> None:
        self._specs[name] = spec  # tests; engines declare theirs

    def __delitem__(self, name: str) -> None:
        del self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


#: The known model files (``studio models list``), declared by the engines that load them.
REGISTRY = _ModelTable()


def models_dir() -> Path:
    """Per-user model directory: $STUDIO_MODELS, else $XDG_DATA_HOME/studio/models."""
    env = os.environ.get("STUDIO_MODELS")
    if env:
        return Path(env).expanduser()

    return default_models_dir()


def resources_dir() -> Path:
    """The project's own bundled files (icons, stylesheet, toy checkpoints)."""
    return _resources_dir()


def find_model(name_or_path: str | os.PathLike) -> Path:
    """Resolve a registry name or a path to an existing file, or explain what is missing."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    spec = REGISTRY.get(str(name_or_path))
    if spec is not None:
        cand = models_dir() / spec.filename
        if cand.is_file():
            return cand
        if spec.bundled:
            cand = resources_dir() / spec.filename
            if cand.is_file():
                return cand
        where = f" Download it from {spec.url}" if spec.url else ""
        raise CheckpointError(
            cand, f"model {spec.name!r} ({spec.description}) is not installed.{where} then run "
            f"`studio models import FILE`, or `studio models fetch {spec.name}` when online.")
    if p.name and not p.is_absolute() and len(p.parts) == 1:
        mdir = models_dir()
        for cand in (mdir / p.name, *sorted(mdir.glob(glob_escape(p.name) + ".*"))):
            if cand.is_file():  # imported by `studio models import` under this name
                return cand
    raise CheckpointError(p, "no such file, and not a known model name or a file in the "
                          f"model folder {models_dir()} (known names: "
                          f"{', '.join(sorted(REGISTRY))})")


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return re.sub(r"([*?\[])", r"[\1]", name)


# ---------------------------------------------------------------------------------------
# Hashes and safe loading


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


_TAMPERED_HINT = ("It is not a plain tensor checkpoint: loading it would execute code "
                  "from the file, which Studio never does (torch.load weights_only=True).")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file and the cause."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise CheckpointError(path, "file is empty (0 bytes)")
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        kind = "a Lua Torch .t7 file? " if path.suffix == ".t7" else ""
        raise CheckpointError(path, f"not a PyTorch checkpoint ({kind}it starts with "
                              f"{head!r}, neither a torch zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():  # a plain pickle: our refusal below says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol",
                                    category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        m = re.search(r"(unsupported GLOBAL [^\n]*|Unsupported global: [^\n]*)", text)
        if m:
            raise CheckpointError(path, f"refused: {_TAMPERED_HINT} ({m.group(1).strip()})"
                                  ) from exc
        code = _foreign_globals(path)
        if code:
            raise CheckpointError(path, f"refused: {_TAMPERED_HINT} (it references "
                                  f"{', '.join(code[:3])})") from exc
        detail = re.search(r"WeightsUnpickler error:\s*([^\n]+(?:\n[^\n]+)?)", text)
        why = detail.group(1).strip() if detail else text.splitlines()[0]
        raise CheckpointError(path, f"not a readable PyTorch checkpoint (corrupt or not a "
                              f"pickle: {why})") from exc
    except Exception as exc:  # torch raises many types on junk (struct.error, KeyError, ...)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        if path.suffix == ".t7":
            first += " — this looks like a Lua Torch .t7 file; convert it first"
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({first})") from exc


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A ``.safetensors`` file: tensors only by design (no pickle, nothing to refuse)."""
    try:
        from safetensors.torch import load_file  # noqa: PLC0415 (optional format)
    except ImportError as exc:
        raise CheckpointError(path, "reading .safetensors needs the safetensors package "
                              "(pip install safetensors)") from exc
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # SafetensorError and friends: a damaged file
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(path, f"not a readable .safetensors file ({first})") from exc


def _foreign_globals(path: Path) -> list[str]:
    """Names a pickle would import that no tensor checkpoint needs (read, never run)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(name) if name else b""
        else:
            data = path.read_bytes()
        found, strings = [], []
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(arg)
            elif op.name == "GLOBAL":
                found.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # not a pickle at all: nothing to report
        return []
    safe = ("torch.", "collections.OrderedDict", "builtins.set", "_codecs.encode",
            "numpy.core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray")
    return [g for g in found if not g.startswith(safe)]


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def load_state_dict(
    path: str | os.PathLike,
    *,
    unwrap: Iterable[str] = (),
    strip_prefixes: Iterable[str] = (),
    map_location: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Load a plain ``state_dict`` (name -> tensor).

    ``unwrap`` names container keys to look inside (e.g. ``("state_dict",)`` for
    texture-vs-shape ``.pth.tar`` files); ``strip_prefixes`` removes prefixes such as
    ``module.`` left by DataParallel. Anything else is refused with an explanation.
    """
    return state_dict_of(load_checkpoint(path, map_location), path, unwrap=unwrap,
                         strip_prefixes=strip_prefixes)


def state_dict_of(obj: Any, path: str | os.PathLike | None = None, *,
                  unwrap: Iterable[str] = (), strip_prefixes: Iterable[str] = ()
                  ) -> dict[str, torch.Tensor]:
    """The plain ``state_dict`` in an object :func:`load_checkpoint` returned (see
    :func:`load_state_dict`); ``path`` only names the file in errors."""
    for key in unwrap:
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if isinstance(obj, nn.Module):  # only possible with a custom allow-list; be explicit
        raise CheckpointError(path, "contains a whole pickled model, not a state_dict")
    if not _is_tensor_dict(obj):
        if isinstance(obj, Mapping):
            keys = list(obj)[:6]
            nested = [k for k, v in obj.items() if _is_tensor_dict(v)]
            hint = (f" It holds a dict with keys {keys}; the weights seem to be under "
                    f"{nested[0]!r}." if nested else f" It holds a dict with keys {keys}.")
        else:
            hint = f" It holds a {type(obj).__name__}."
        raise CheckpointError(path, "not a plain state_dict (name -> tensor)." + hint)
    sd = dict(obj)
    check_finite(sd, path)
    for prefix in strip_prefixes:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def check_finite(obj: Any, path: str | os.PathLike | None = None, _key: str = "") -> None:
    """Refuse weights with NaN or inf, naming the first such tensor: a diverged or
    damaged file would otherwise only make black images with exit status 0."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and obj.device.type != "meta" and not bool(
                torch.isfinite(obj).all()):
            bad = int((~torch.isfinite(obj)).sum())
            raise CheckpointError(path, f"tensor {_key!r} holds {bad} non-finite value(s) "
                                  "(NaN or inf): the weights are damaged or diverged")
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            check_finite(v, path, f"{_key}.{k}" if _key else str(k))


def check_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor],
                     path: str | os.PathLike | None = None, hint: str = "",
                     what: str = "") -> None:
    """Raise :class:`CheckpointMismatch` unless ``sd`` fits ``model`` key for key and shape.

    ``model`` may live on the meta device (only its keys and shapes are read).
    """
    own = model.state_dict()
    missing = sorted(k for k in own if k not in sd and not _counter(k))
    unexpected = sorted(k for k in sd if k not in own and not _counter(k))
    shapes = [(k, tuple(sd[k].shape), tuple(own[k].shape)) for k in own
              if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointMismatch(path, missing, unexpected, shapes, hint, what)


def _counter(key: str) -> bool:
    """BatchNorm's step counter: files from before torch 0.4.1 lack it, and it is not a
    weight, so it never makes a file the wrong one."""
    return key.endswith("num_batches_tracked")


def fill_bn_counters(model: nn.Module, sd: Mapping[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
    """``sd`` with the BatchNorm counters the model has and the file lacks (set to 0), and
    without counters the model does not have, so a strict load accepts older files."""
    own = model.state_dict()
    out = {k: v for k, v in sd.items() if not (_counter(k) and k not in own)}
    for k, v in own.items():
        if _counter(k) and k not in out:
            out[k] = torch.zeros_like(v, device="cpu")
    return out


def load_into(model: nn.Module, path: str | os.PathLike, *, hint: str = "",
              **load_kwargs: Any) -> nn.Module:
    """Load ``path`` into ``model`` strictly; mismatches are reported key by key."""
    sd = fill_bn_counters(model, load_state_dict(path, **load_kwargs))
    check_state_dict(model, sd, path, hint)
    model.load_state_dict(sd, strict=True)
    return model


def save_state_dict(model_or_sd: nn.Module | Mapping[str, torch.Tensor],
                    path: str | os.PathLike) -> Path:
    """Save a plain CPU state_dict atomically (the format we also load)."""
    sd = model_or_sd.state_dict() if isinstance(model_or_sd, nn.Module) else model_or_sd
    sd = {k: v.detach().cpu().contiguous() for k, v in sd.items()}
    path = Path(path)
    with atomic_write(path) as fh:
        torch.save(sd, fh)
    return path


def save_zeros(path: str | os.PathLike, shapes: Mapping[str, tuple[int, ...]]) -> Path:
    """A checkpoint of zero tensors with these keys and shapes: what self-tests import
    to check the import path without any real weights."""
    return save_state_dict({k: torch.zeros(*shape) for k, shape in shapes.items()}, path)


# ---------------------------------------------------------------------------------------
# Import, verify, fetch


def expected_layout(spec: ModelSpec) -> nn.Module | None:
    """The network ``spec`` holds, built on the meta device (no weights, no download), or
    None when the registry does not know its layout.

    ``spec.layout`` is ``"module:attr[.attr]"`` (called without arguments) or
    ``"module:attr(literal, key=literal)"``; the module is imported only now, so the
    registry costs nothing at import time and core imports no engine.
    """
    if not spec.layout:
        return None
    return _build_layout(spec.layout)


@functools.lru_cache(maxsize=32)
def _build_layout(ref: str) -> nn.Module:
    module, _, target = ref.partition(":")
    try:
        expr = ast.parse(target.strip(), mode="eval").body
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if isinstance(expr, ast.Call):
            args = [ast.literal_eval(a) for a in expr.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in expr.keywords if k.arg}
            expr = expr.func
        obj: Any = importlib.import_module(module)
        for part in ast.unparse(expr).split("."):
            obj = getattr(obj, part)
        with torch.device("meta"):
            net = obj(*args, **kwargs)
    except Exception as exc:  # a registry bug, not the user's file
        raise RuntimeError(f"model layout {ref!r} cannot be built: {exc}") from exc
    if not isinstance(net, nn.Module):
        raise RuntimeError(f"model layout {ref!r} gave a {type(net).__name__}, not a module")
    return net


def layout_of(spec: ModelSpec) -> dict[str, tuple[int, ...]] | None:
    """The state_dict layout (key -> shape) a file of ``spec`` must have, or None."""
    net = expected_layout(spec)
    return None if net is None else {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _count_tensors(obj: Any, depth: int = 0) -> int:
    if isinstance(obj, torch.Tensor):
        return 1
    if depth > 8:
        return 0
    if isinstance(obj, Mapping):
        return sum(_count_tensors(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_count_tensors(v, depth + 1) for v in obj)
    return 0


def _what_it_holds(obj: Any) -> str:
    if isinstance(obj, Mapping):
        if not obj:
            return "an empty dict"
        return f"a dict with keys {_short([repr(k) for k in obj], 6)}"
    return f"a {type(obj).__name__}"


def check_layout(obj: Any, spec: ModelSpec | None, path: str | os.PathLike | None = None
                 ) -> str:
    """Check a loaded checkpoint (what :func:`load_checkpoint` returned) against ``spec``.

    Raises :class:`CheckpointError` when it holds no tensors at all, and
    :class:`CheckpointMismatch` when its keys or shapes are not those of the registry
    entry's network. Returns what was checked, for one line of output: "layout OK
    (adain-decoder, 18 tensors)" or "layout not checked (...)".
    """
    n = _count_tensors(obj)
    if n == 0:
        raise CheckpointError(path, f"not model weights: it holds no tensors ("
                              f"{_what_it_holds(obj)})")
    tensors = f"{n} tensor{'s' if n != 1 else ''}"
    check_finite(obj, path)
    if spec is None:
        return f"layout not checked (no registry entry has this file name; {tensors})"
    try:
        net = expected_layout(spec)
    except RuntimeError as exc:  # say so rather than pass silently
        return f"layout not checked ({exc}; {tensors})"
    if net is None:
        return f"layout not checked (the registry has no layout for {spec.name}; {tensors})"
    try:
        sd = state_dict_of(obj, path, unwrap=spec.unwrap, strip_prefixes=spec.strip_prefixes)
    except CheckpointError as exc:
        raise CheckpointError(path, f"not {spec.kind}: {exc.reason}") from None
    check_state_dict(net, sd, path, what=spec.kind)
    return f"layout OK ({spec.name}, {len(sd)} tensors)"


@dataclass
class VerifyResult:
    """What ``verify`` found: the hash (against the published one, when known) and whether
    the contents are the registry entry's network."""

    path: Path
    sha256: str
    expected: str | None
    spec: ModelSpec | None
    #: "layout OK (...)" / "layout not checked (...)"; empty when the contents failed.
    layout: str = ""
    #: Why the contents are refused (unreadable, no tensors, wrong keys or shapes).
    error: str | None = None
    #: Tensors in the file (0 when it could not be read).
    tensors: int = 0
    #: The torch.hub hash prefix in the file name (``resnet20-12fca82f.th``), if any.
    prefix: str | None = None

    @property
    def hash_ok(self) -> bool | None:
        """True/False when a hash (or the file name's hash prefix) is known, None when
        there is nothing to compare to."""
        if self.expected is not None:
            return self.sha256 == self.expected
        return None if self.prefix is None else self.sha256.startswith(self.prefix)

    @property
    def ok(self) -> bool:
        """The file is usable as what it claims to be: its contents pass and its hash does
        not contradict the published one."""
        return self.error is None and self.hash_ok is not False

    def line(self) -> str:
        """One line of output: OK / FAIL, the file, its hash and the layout result."""
        if self.expected is None and self.prefix is not None:
            hash_note = (f" (matches the hash prefix {self.prefix} in its name)" if self.hash_ok
                         else f" (its name says the hash starts with {self.prefix})")
        else:
            hash_note = {True: " (matches the published hash)",
                         False: f" (expected {self.expected})",
                         None: " (no published hash to compare)"}[self.hash_ok]
        return (f"{'OK  ' if self.ok else 'FAIL'} {self.path} sha256={self.sha256}{hash_note}; "
                f"{self.error or self.layout}")


def spec_for_file(path: str | os.PathLike) -> ModelSpec | None:
    """The registry entry a file is, by its name (``toy/...`` entries by their folder too)."""
    p = Path(path)
    for spec in REGISTRY.values():
        if spec.filename == p.name or ("/" in spec.filename
                                       and p.as_posix().endswith("/" + spec.filename)):
            return spec
    return None


def hub_prefix(filename: str) -> str | None:
    """The hash prefix torch.hub reads from a file name (``name-<hex>.ext``), if any."""
    m = re.search(r"-([a-f0-9]{8,64})\.", filename)
    return m.group(1) if m else None


def verify(path: str | os.PathLike, expected: str | None = None) -> VerifyResult:
    """Hash a file, compare with ``expected`` or the registry's hash for its name, and
    check its contents are the registry entry's network (keys and shapes).

    Problems with the contents are reported in the result (``ok`` False, ``error``);
    only a missing file raises.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    spec = spec_for_file(path)
    expected = (expected or (spec.sha256 if spec else None) or None)
    result = VerifyResult(path, sha256_file(path), expected and expected.lower(), spec,
                          prefix=hub_prefix(path.name))
    try:
        obj = load_checkpoint(path)
        result.tensors = _count_tensors(obj)
        result.layout = check_layout(obj, spec, path)
    except CheckpointError as exc:
        result.error = exc.reason
    return result


def import_model(src: str | os.PathLike, dest_dir: str | os.PathLike | None = None,
                 name: str | None = None, *, report: Callable[[str], None] | None = None
                 ) -> Path:
    """Copy a model file into the model directory after checking it.

    The file must load safely (``weights_only``), hold tensors, match the published hash
    when one is known, and, when it is (or ``name`` says it is) a registry entry, hold that
    entry's network key for key and shape. ``report`` receives the layout result ("layout
    OK (...)" or "layout not checked (...)"). Nothing is copied when a check fails.
    """
    src = Path(src)
    spec = REGISTRY.get(name) if name else spec_for_file(src)
    if name and spec is None and (Path(name).name != name or name.startswith(".")):
        raise CheckpointError(src, f"--name {name!r} must be a plain file name (no folders)")
    obj = load_checkpoint(src)  # refuses pickles with code and non-checkpoints
    note = check_layout(obj, spec, src)
    del obj
    got = sha256_file(src)
    if spec and spec.sha256 and got != spec.sha256:
        raise CheckpointError(src, f"SHA-256 {got} does not match the published "
                              f"{spec.sha256} of {spec.name}")
    prefix = hub_prefix(spec.filename if spec else src.name)
    if prefix and not got.startswith(prefix):
        raise CheckpointError(src, f"SHA-256 {got} does not start with {prefix}, the hash "
                              "prefix its name promises (a damaged or different file)")
    dest_dir = Path(dest_dir) if dest_dir else models_dir()
    if spec:
        dest = dest_dir / spec.filename
    else:  # a name of the user's own: the file is then found by it (`--teacher NAME`)
        dest = dest_dir / (name if name and Path(name).suffix else (name or src.stem) + src.suffix)
    if dest.is_file():
        if sha256_file(dest) == got:
            if report is not None:
                report(f"{note}; already in the model folder (identical)")
            return dest
        raise CheckpointError(src, f"{dest} already holds a different file (sha256 "
                              f"{sha256_file(dest)[:12]}…); remove it first or import under "
                              "another --name")
    with open(src, "rb") as fin, atomic_write(dest) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    if report is not None:
        report(note)
    return dest


class FetchError(CheckpointError):
    """A download failed or did not match its hash; no file is left under the final name."""


def fetch(url: str, dest: str | os.PathLike, sha256: str | None = None, *,
          progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 30.0, chunk: int = 1 << 16) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``dest.part`` with an HTTP Range.

    The data goes to ``dest.part``; only after the SHA-256 matches (when given) is it
    renamed to ``dest``. A hash mismatch deletes the partial file, so the next attempt
    starts clean.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "studio-fetch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            resp = None
        else:
            raise FetchError(dest, f"download of {url} failed: HTTP {exc.code} {exc.reason}"
                             ) from exc
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        offline = isinstance(why, OSError) and not isinstance(why, TimeoutError)
        raise FetchError(dest, f"download of {url} failed: {why}" + (
            " (no network connection? get the file elsewhere and run `studio models "
            "import FILE`)" if offline else "")) from exc
    if resp is not None:
        with resp:
            status = getattr(resp, "status", 200)
            if have and status != 206:
                have = 0  # server ignored the Range header: start over
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with open(part, "ab" if have else "wb") as fh:
                done = have
                try:
                    while True:
                        block = resp.read(chunk)
                        if not block:
                            break
                        fh.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                except (OSError, urllib.error.URLError) as exc:
                    raise FetchError(dest, f"download interrupted at {done} bytes ({exc}); "
                                     "run again to resume") from exc
                fh.flush()
                os.fsync(fh.fileno())
            if total is not None and done < total:
                raise FetchError(dest, f"download incomplete ({done} of {total} bytes); "
                                 "run again to resume")
    prefix = None if sha256 else hub_prefix(dest.name)
    if sha256 or prefix:
        got = sha256_file(part)
        if not got.startswith((sha256 or prefix or "").lower()) or (sha256 and got != sha256.lower()):
            part.unlink(missing_ok=True)
            want = sha256.lower() if sha256 else f"a hash starting with {prefix} (its name)"
            raise FetchError(dest, f"SHA-256 mismatch: got {got}, expected {want}; "
                             "the partial download was deleted")
    os.replace(part, dest)
    return dest


def state_sha256(module: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a module's weights (names and bytes): the provenance of in-memory models.

    Takes a module or its ``state_dict()``; hashes the tensors' memory without copying it
    (hashlib releases the GIL, so a thread can run this beside other start-up work)."""
    sd = module.state_dict() if isinstance(module, nn.Module) else module
    h = hashlib.sha256()
    for k, v in sorted(sd.items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy())
    return h.hexdigest()
