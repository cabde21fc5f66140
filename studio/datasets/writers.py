"""Dataset writers shared by every builder: ImageFolder and WebDataset, resumable.

A builder plans its outputs as a sorted list of :class:`OutputItem` (stable keys), asks
the writer which are still ``pending`` for this rank, produces each image and hands it to
``write``. Records go to per-rank append-only part files right after the image is in
place, so a restarted build skips exactly what is complete; ``finalize`` (rank 0) merges
the parts into ``manifest.jsonl`` sorted by file name, so the result does not depend on
ranks, batch sizes or resume points.

Layout of an output folder::

    <out>/<split>/<class>/<name>.png      ImageFolder images (or shards/*.tar)
    <out>/manifest.jsonl                  one record per output (every provenance column)
    <out>/<split>/provenance.jsonl        the same records per split, paths relative to it:
                                          the HF metadata the dataset card names
    <out>/README.md                       the dataset card: splits, features, ClassLabels
    <out>/errors.jsonl                    inputs that were skipped, with the reason
    <out>/dataset.json                    class map, counts, tool version, params, hashes,
                                          and the build's fingerprint
    <out>/.studio/parts/*.jsonl           per-rank progress (removed when complete)
    <out>/.studio/fingerprint.json        what decides the outputs (while building)
    <out>/.studio/lock-rankNNNNN          held by the live process building this rank

An output folder is a contract: it holds what one recipe made. :meth:`DatasetWriter.open`
enforces it before anything is written — the folder must not contain or sit inside an
input, only one build may write into it at a time (a lock the OS releases when the holder
dies), and a rerun resumes only under the same fingerprint (parameters, input file lists,
model hashes, the software that decides the pixels); otherwise it is refused with each
difference named, or started afresh with ``overwrite``. Resume trusts nothing it has not
checked: an output that is truncated, or whose record is missing, is made again, and a
record file cut mid-line by a kill or a full disk is repaired, never silently shortened.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image

from studio import __version__
from studio.core.distributed import DistInfo, barrier, dist_info
from studio.core.images import atomic_write, encode_png
from studio.datasets.folders import SPLIT_NAMES, resolve_inside, safe_relpath

PARTS = ".studio/parts"
FINGERPRINT = ".studio/fingerprint.json"
#: Files a build writes at the top of its folder (everything else is under class folders).
_TOP_FILES = ("dataset.json", "manifest.jsonl", "provenance.jsonl", "errors.jsonl",
              "README.md", "metadata.jsonl")
#: The per-split metadata rows HF reads through the dataset card. Not HF's default name
#: (``metadata.jsonl``): with that file present ``load_dataset("imagefolder",
#: data_dir=out)`` stops inferring ``label`` from the class folders and gives the plain
#: int column instead of a ClassLabel; under this name it infers the ClassLabel, and
#: ``load_dataset(out)`` reads the rows because the card lists the name.
HF_METADATA = "provenance.jsonl"
#: The name Studio wrote before: removed when a build is finalised or wiped.
_LEGACY_METADATA = "metadata.jsonl"
#: WebDataset shards per split by default (enough for a DataLoader with 8 workers)
DEFAULT_SHARDS = 8
#: What the fingerprint says about pixels across processes (README, docs, dataset.json).
DETERMINISM = ("plan, style/seed assignments and manifests are identical for any number of "
               "ranks, threads, workers, batch sizes and resume points; pixels are "
               "byte-identical at equal thread counts (torch.get_num_threads) and software, "
               "and may differ by 1 level in a few values (~0.01 %) otherwise")


class OutputFolderError(ValueError):
    """The output folder cannot take this build (one line, names the folder)."""


class FingerprintMismatch(OutputFolderError):
    """The folder holds a build made with other settings; ``diffs`` = (key, old, new)."""

    def __init__(self, out: Path, diffs: list[tuple[str, Any, Any]],
                 remedy: str = "pass --overwrite to start afresh"):
        self.out = Path(out)
        self.diffs = diffs
        named = {k for k, _, _ in diffs}
        # a resolved default that moved with its option says nothing new
        diffs = [d for d in diffs if not (d[0].startswith("config.") and d[0][7:] in named)]
        shown = "; ".join(f"{k}: {_short_value(a)} -> {_short_value(b)}" for k, a, b in diffs[:8])
        more = f"; and {len(diffs) - 8} more" if len(diffs) > 8 else ""
        super().__init__(f"{out}: holds a build made with other settings ({shown}{more}); "
                         f"resume refused: {remedy}, or choose another output folder")


class BuildLocked(OutputFolderError):
    """Another live process is building into the same folder."""


class DamagedRecord(FingerprintMismatch):
    """The folder's ``dataset.json`` (or running fingerprint) is damaged: the build's
    settings cannot be compared with this run's, so it is not resumed; its images and
    ``manifest.jsonl`` are intact (it was reported as "made by an older Studio or
    unfinished")."""

    def __init__(self, out: Path, path: Path, why: str):
        self.out, self.path = Path(out), Path(path)
        self.diffs = [("fingerprint", f"(damaged: {path.name})", "this build")]
        OutputFolderError.__init__(
            self, f"{path}: damaged ({why}), so this build's settings cannot be checked "
            "and it is not resumed; its images and manifest.jsonl are intact (load the "
            "dataset through manifest.jsonl), or pass --overwrite to rebuild the folder")


def _short_value(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) or not v else v
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------
# Fingerprints: everything that decides a build's outputs


def file_list_digest(files: Iterable[str | os.PathLike], root: str | os.PathLike | None = None
                     ) -> dict[str, Any]:
    """Count and SHA-256 of a sorted input file list: names, sizes and whole-second mtimes.

    Names are taken relative to ``root``, and mtimes survive ``mv`` and ``rsync -a``, so
    a dataset moved to another folder or machine keeps its fingerprint; another folder of
    like-named files, or a replaced file, changes it. Contents are not read: a resume must
    not cost a pass over ImageNet.
    """
    h = hashlib.sha256()
    n = 0
    base = Path(root) if root is not None else None
    for f in sorted(Path(x) for x in files):
        rel = f.relative_to(base).as_posix() if base is not None else f.name
        try:
            st = f.stat()
            size, mtime = st.st_size, int(st.st_mtime)
        except OSError:
            size = mtime = -1
        # a name that is not UTF-8 hashes as the bytes the file system holds
        h.update(f"{rel}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
        n += 1
    return {"files": n, "sha256": h.hexdigest()}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def software_versions() -> dict[str, str]:
    """The packages whose version can change output bytes (convolutions, PNG encoding)."""
    return {"studio": __version__, "torch": _version("torch"), "pillow": _version("pillow"),
            "numpy": _version("numpy")}


def make_fingerprint(job: str, params: Mapping[str, Any], *, ignore: Sequence[str] = (),
                     inputs: Mapping[str, dict[str, Any]] | None = None,
                     models: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What decides a build's outputs: the job, its parameters less ``ignore`` (paths,
    devices, worker counts: what does not change a byte), input file lists
    (:func:`file_list_digest`), model hashes and the software versions."""
    ignored = set(ignore) | {"overwrite"}
    return {"job": job,
            "params": {k: v for k, v in sorted(params.items()) if k not in ignored},
            "inputs": dict(sorted((inputs or {}).items())),
            "models": dict(sorted((models or {}).items())),
            "software": software_versions()}


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict) and set(d) == {"files", "sha256"}:  # an input list: one value
        return {prefix[:-1]: f"{d['files']} files (list sha256 {str(d['sha256'])[:12]})"}
    if isinstance(d, dict) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def fingerprint_diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for every difference, parameters first; keys lose the ``params.``
    prefix."""
    a, b = _flatten(json.loads(json.dumps(old, default=str))), _flatten(
        json.loads(json.dumps(new, default=str)))
    diffs = []
    for k in sorted(set(a) | set(b), key=lambda k: (not k.startswith("params."), k)):
        if a.get(k, "(not set)") != b.get(k, "(not set)"):
            name = k[len("params."):] if k.startswith("params.") else k
            diffs.append((name, a.get(k, "(not set)"), b.get(k, "(not set)")))
    return diffs


# ---------------------------------------------------------------------------------------
# Inputs and outputs never overlap


def check_separate(out: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None]
                   ) -> None:
    """Refuse an output folder that is, contains, or sits inside any input folder or file.

    Otherwise a build would overwrite its inputs' files, or its outputs would become
    inputs of the next run.
    """
    out_abs = Path(out).resolve()
    for what, inp in inputs.items():
        if inp is None or str(inp) in ("", "."):
            continue
        in_abs = Path(inp).resolve()
        if in_abs == out_abs or in_abs in out_abs.parents:
            raise OutputFolderError(
                f"{out}: the output folder is inside the {what} input {inp}; its files "
                "would become inputs or overwrite them: choose an output folder outside it")
        if out_abs in in_abs.parents:
            raise OutputFolderError(
                f"{out}: the output folder contains the {what} input {inp}; a build would "
                "write over its own input: choose an output folder outside it")


# ---------------------------------------------------------------------------------------
# One build per folder


class FolderLock:
    """An exclusive ``flock`` on ``<out>/.studio/lock-rankNNNNN``, held while building.

    The OS drops it when the holder dies (kill -9 included), so a crashed build never
    blocks the resume; a second live build into the same folder is refused with the PID
    of the first. One file per rank, so the ranks of one ``torchrun`` build do not
    exclude each other while two builds always collide on rank 0.
    """

    def __init__(self, out: Path, rank: int = 0):
        self.path = Path(out) / ".studio" / f"lock-rank{rank:05d}"
        self._fh: Any = None

    def acquire(self) -> None:
        try:
            import fcntl  # noqa: PLC0415 (optional dependency)
        except ImportError:  # Windows: no advisory locks; one build at a time is on you
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise BuildLocked(f"{self.path.parent.parent}: another build is writing into this "
                              f"folder (PID {holder}); wait for it to finish or choose "
                              "another output folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        self._fh = fh

    def release(self, tidy: bool = False) -> None:
        """Drop the lock; ``tidy`` also removes ``.studio/`` when it holds nothing but
        lock files (a refused run must leave a finished dataset as it was)."""
        if self._fh is None:
            return
        with contextlib.suppress(OSError):
            self._fh.close()
        self._fh = None
        state = self.path.parent
        if tidy and state.is_dir() and all(p.name.startswith("lock-") for p in state.iterdir()):
            with contextlib.suppress(OSError):
                for p in state.iterdir():
                    p.unlink()
                state.rmdir()

    @property
    def held(self) -> bool:
        return self._fh is not None


def claim_run_folder(out: str | os.PathLike, fingerprint: dict[str, Any], *, resuming: bool,
                     rank: int = 0) -> FolderLock:
    """A training run's folder: one run at a time, and a checkpoint is resumed only by the
    run that made it (same fingerprint); ``resuming=False`` starts afresh (--no-resume).

    Returns the held lock; release it when the run ends.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(out, rank)
    lock.acquire()
    path = out / FINGERPRINT
    try:
        if resuming:
            try:
                old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            except (OSError, ValueError):
                old = None
            diffs = fingerprint_diff(old, fingerprint) if old is not None else [(
                "fingerprint", "(none: made by an older Studio)", "this run")]
            if diffs:
                raise FingerprintMismatch(out, diffs, "pass --no-resume to start afresh")
        if rank == 0:
            with atomic_write(path) as fh:
                fh.write(json.dumps(fingerprint, indent=2, sort_keys=True, default=str).encode())
    except BaseException:
        lock.release(tidy=True)
        raise
    return lock


# ---------------------------------------------------------------------------------------
# Validating what a resume finds


_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def output_is_complete(path: Path) -> bool:
    """Cheap check that a finished output is whole: PNG signature and IEND trailer (what
    truncation destroys); other formats are decoded by Pillow's ``verify``."""
    try:
        size = path.stat().st_size
        if path.suffix.lower() == ".png":
            if size < len(_PNG_SIG) + len(_PNG_END):
                return False
            with open(path, "rb") as fh:
                head = fh.read(8)
                fh.seek(-12, os.SEEK_END)
                return head == _PNG_SIG and fh.read(12) == _PNG_END

        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # unreadable or undecodable: made again
        return False


@dataclass(frozen=True)
class OutputItem:
    """A planned output: ``key`` is its relative path without extension."""

    key: str
    label: int
    class_name: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _append_jsonl(path: Path, record: dict) -> None:
    # One write() of a whole line: a killed process leaves at most one cut line, which
    # _read_jsonl drops (the item is then redone).
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")


def _parse_line(line: str) -> tuple[list[dict], bool]:
    """Records in one line and whether it was torn.

    A kill or a full disk can cut a line without its newline; the next run's first record
    is then glued to the fragment. The fragment is dropped (its item is redone) and the
    glued record recovered, so no later record is lost.
    """
    try:
        rec = json.loads(line)
        return ([rec] if isinstance(rec, dict) else []), not isinstance(rec, dict)
    except json.JSONDecodeError:
        pass
    start = line.find('{"', 1)
    while start != -1:
        try:
            rec = json.loads(line[start:])
            if isinstance(rec, dict):
                return [rec], True
        except json.JSONDecodeError:
            pass
        start = line.find('{"', start + 1)
    return [], True


def _read_jsonl(path: Path, torn: list[int] | None = None) -> list[dict]:
    """Every record of a JSON-lines file; ``torn`` collects the numbers of cut lines."""
    records: list[dict] = []
    if not path.exists():
        return records
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            recs, cut = _parse_line(line)
            records.extend(recs)
            if cut and torn is not None:
                torn.append(n)
    return records


def repair_jsonl(path: Path) -> int:
    """Rewrite a record file without its torn fragments; returns how many were dropped."""
    torn: list[int] = []
    records = _read_jsonl(path, torn)
    if torn:
        write_jsonl(path, records)
    return len(torn)


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with atomic_write(path) as fh:
        for r in records:
            fh.write((json.dumps(r, sort_keys=True) + "\n").encode("utf-8"))


def split_of(rel: str) -> str | None:
    """The split a relative output path belongs to (its first folder, if a split name)."""
    first = rel.split("/", 1)[0]
    return first if "/" in rel and first in SPLIT_NAMES else None


def _hf_feature(values: list[Any]) -> dict[str, Any] | None:
    """The `datasets` feature (card YAML) of a metadata column from its values."""
    seen = [v for v in values if v is not None]
    if not seen:
        return {"dtype": "string"}
    if all(isinstance(v, bool) for v in seen):
        return {"dtype": "bool"}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
        return {"dtype": "int64"}
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
        return {"dtype": "float64"}
    if all(isinstance(v, str) for v in seen):
        return {"dtype": "string"}
    if all(isinstance(v, list) for v in seen):
        inner = _hf_feature([x for v in seen for x in v])
        return {"list": inner["dtype"]} if inner and "dtype" in inner else None
    if all(isinstance(v, dict) for v in seen):
        keys = sorted({k for v in seen for k in v})
        fields = []
        for k in keys:
            f = _hf_feature([v.get(k) for v in seen])
            if f is None:
                return None
            fields.append({"name": k, **f})
        return {"struct": fields}
    return None


def _class_label(names: list[str]) -> dict[str, Any]:
    return {"dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(names)}}}}


def _column_features(records: list[dict], classes: list[str],
                     teacher_classes: list[str] | None, skip: tuple[str, ...] = ()
                     ) -> list[dict[str, Any]]:
    """The typed record columns (less ``skip``): ``label`` and ``teacher_label`` as
    ClassLabels with their class names; a column no type fits is left out."""
    columns: dict[str, list[Any]] = {}
    for r in records:
        for k, v in r.items():
            if k not in skip:
                columns.setdefault(k, []).append(v)
    features: list[dict[str, Any]] = []
    for k in columns:
        if k == "label" and classes:
            f = _class_label(classes)
        elif k == "teacher_label" and teacher_classes:
            f = _class_label(teacher_classes)
        else:
            f = _hf_feature(columns[k])
        if f is not None:
            features.append({"name": k, **f})
    return features


def dataset_card(records: list[dict], classes: list[str], splits: list[str],
                 teacher_classes: list[str] | None, title: str, *,
                 fmt: str = "imagefolder") -> str:
    """README.md with the `datasets` header, so ``load_dataset(out)`` needs no arguments
    and picks the right builder whatever else lies in the folder (``dataset.json``,
    ``manifest.jsonl``, ``errors.jsonl`` would otherwise outvote a few shards and make
    HF choose its JSON builder). The header is JSON, which YAML parsers read as it is.

    ImageFolder (``fmt="imagefolder"``): named splits, the images and the per-split
    :data:`HF_METADATA` rows, ``label`` a ClassLabel and every provenance column typed.
    WebDataset: the split's shards; ``png``, ``cls`` (the label, a ClassLabel) and
    ``json`` (the record, its ``label``/``teacher_label`` ClassLabels)."""
    if fmt == "webdataset":  # the sample's json is the whole record, file_name included
        columns = _column_features(records, classes, teacher_classes)
        prefixes = splits or ["data"]
        files = [{"split": sp if splits else "train", "path": f"shards/{sp}-*.tar"}
                 for sp in prefixes]
        features: list[dict[str, Any]] = [
            {"name": "png", "dtype": "image"},
            {"name": "cls", **(_class_label(classes) if classes else {"dtype": "int64"})},
            {"name": "json", "struct": columns},
            {"name": "__key__", "dtype": "string"}, {"name": "__url__", "dtype": "string"}]
        config: dict[str, Any] = {"config_name": "default", "data_files": files}
        columns_text = ("`png` is the image, `cls` the label (a ClassLabel) and `json` the "
                        "record with every provenance column")
    else:
        columns = _column_features(records, classes, teacher_classes, skip=("file_name",))
        features = [{"name": "image", "dtype": "image"}, *columns]
        files = [{"split": sp, "path": f"{sp}/**"} for sp in splits] or [
            {"split": "train", "path": "**"}]
        config = {"config_name": "default", "data_files": files, "features": features,
                  "drop_labels": True, "metadata_filenames": [HF_METADATA]}
        columns_text = (f"`{HF_METADATA}` beside the images holds every provenance column; "
                        "`datasets.load_dataset(\"imagefolder\", data_dir=...)` gives the "
                        "image and `label` alone")
    header = {"configs": [config], "dataset_info": {"features": features}}
    names = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
    return ("---\n" + json.dumps(header, indent=2) + "\n---\n\n"
            f"# {title}\n\nMade by Studio {__version__}. `label` is the index "
            "torchvision's ImageFolder assigns (sorted class folders): "
            f"{names}.\n" + ("`teacher_label` is the class index of the model that made "
                             "or is meant to classify the images.\n" if teacher_classes
                             else "") +
            f"{columns_text}. `dataset.json` holds the recipe, its fingerprint and the "
            "class map; `manifest.jsonl` every record.\n\n```python\nimport datasets\n"
            "ds = datasets.load_dataset(\"path/to/this/folder\")\n```\n")


class DatasetWriter:
    """Common bookkeeping: the folder contract, part files, error reports, the manifest."""

    kind = "base"

    def __init__(self, out_dir: str | os.PathLike, dist: DistInfo | None = None):
        self.out = Path(out_dir)
        self.dist = dist or dist_info()
        self.parts = self.out / PARTS
        self.part_file = self.parts / f"records-rank{self.dist.rank:05d}.jsonl"
        self.error_file = self.parts / f"errors-rank{self.dist.rank:05d}.jsonl"
        self.lock = FolderLock(self.out, self.dist.rank)
        self.fingerprint: dict[str, Any] | None = None
        self.opened = False
        self._validated: Any = None
        self.notes: list[str] = []
        #: ImageFolder's classes (sorted names) and the builder's own order, where it differs
        self.classes: list[str] | None = None
        self.teacher_classes: list[str] | None = None
        self._index: dict[str, int] = {}  # what open() repaired or remade, for the job's log

    # -- the folder contract -------------------------------------------------------
    def open(self, fingerprint: dict[str, Any] | None = None, *,
             inputs: Mapping[str, str | os.PathLike | None] | None = None,
             overwrite: bool = False) -> DatasetWriter:
        """Claim the folder for this build; call before :meth:`pending`.

        Refuses an output that overlaps an input, a folder another live build holds, a
        folder of foreign files, and a Studio build made under another fingerprint (all
        :class:`OutputFolderError`); ``overwrite`` removes the earlier build's outputs
        first (only files Studio wrote). ``fingerprint=None`` skips the comparison.
        """
        check_separate(self.out, inputs or {})
        if self.out.exists() and not self.out.is_dir():
            raise OutputFolderError(f"{self.out}: exists and is not a folder")
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            old = self.stored_fingerprint()
            if (fingerprint is not None and old is None and not self._has_build()
                    and self._foreign_entries()):
                names = ", ".join(sorted(self._foreign_entries())[:3])
                raise OutputFolderError(
                    f"{self.out}: the folder is not empty and holds no Studio build "
                    f"({names}); choose an empty or new output folder")
            if overwrite and self.dist.is_main:
                self._wipe()
            elif not overwrite and fingerprint is not None:
                if old is None and self._has_build() and self._damaged is not None:
                    raise DamagedRecord(self.out, *self._damaged)
                if old is None and self._has_build():
                    raise FingerprintMismatch(self.out, [(
                        "fingerprint", "(none: made by an older Studio or unfinished)",
                        "this build")])
                if old is not None:
                    diffs = fingerprint_diff(old, fingerprint)
                    if diffs:
                        raise FingerprintMismatch(self.out, diffs)
            if fingerprint is not None and (overwrite or old != fingerprint):
                # every rank writes the same bytes, so no rank waits for another here
                with atomic_write(self.out / FINGERPRINT) as fh:
                    fh.write(json.dumps(fingerprint, indent=2, sort_keys=True,
                                        default=str).encode())
            for f in (self.part_file, self.error_file):
                dropped = repair_jsonl(f) if f.is_file() else 0
                if dropped:
                    self.notes.append(f"repaired {f.relative_to(self.out)}: dropped "
                                      f"{dropped} line(s) cut by an earlier crash (their "
                                      "items are made again)")
        except BaseException:
            self.lock.release(tidy=True)
            raise
        self.fingerprint = fingerprint
        self.opened = True
        barrier()  # rank 0's wipe and fingerprint are in place before anyone plans
        self._validated = self._validate()  # what is there and whole, noted before planning
        return self

    def _validate(self) -> Any:
        return None

    def survey(self) -> DatasetWriter:
        """Read-only access for plans and dry runs: no lock, nothing written."""
        self.opened = True
        self._validated = self._validate()
        return self

    def release(self) -> None:
        """Give up the folder (done, failed or cancelled)."""
        self.lock.release()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def stored_fingerprint(self) -> dict[str, Any] | None:
        """The fingerprint of the build already in the folder (running or finished); a
        file there that cannot be read is remembered in ``_damaged`` (path, why)."""
        self._damaged: tuple[Path, str] | None = None
        for path, pick in ((self.out / FINGERPRINT, lambda d: d),
                           (self.out / "dataset.json", lambda d: d.get("fingerprint"))):
            if path.is_file():
                try:
                    found = pick(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, AttributeError) as exc:
                    self._damaged = self._damaged or (path, (
                        "not JSON: " if isinstance(exc, json.JSONDecodeError) else "") + (
                        str(exc) if not isinstance(exc, AttributeError) else "not a table"))
                    continue
                if isinstance(found, dict):
                    return found
        return None

    def _has_build(self) -> bool:
        return any((self.out / f).is_file() for f in _TOP_FILES) or self.parts.is_dir()

    def _foreign_entries(self) -> list[str]:
        return [p.name for p in self.out.iterdir() if p.name != ".studio"]

    def _wipe(self) -> None:
        """Remove what an earlier build wrote here: recorded outputs, shards, bookkeeping."""
        for rec in self._all_records():
            name = rec.get("file_name", "")
            if rec.get("shard") is not None or not name:
                continue
            with contextlib.suppress(ValueError, OSError):
                resolve_inside(self.out, name).unlink(missing_ok=True)
        shutil.rmtree(self.out / "shards", ignore_errors=True)
        for f in _TOP_FILES:
            (self.out / f).unlink(missing_ok=True)
        for sp in SPLIT_NAMES:
            for name in (HF_METADATA, _LEGACY_METADATA):
                (self.out / sp / name).unlink(missing_ok=True)
        for p in self.out.rglob(".*.part"):
            p.unlink(missing_ok=True)
        for entry in (self.out / ".studio").iterdir():  # parts, fingerprint, job state
            if not entry.name.startswith("lock-"):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        for d in sorted((p for p in self.out.rglob("*") if p.is_dir()), reverse=True):
            if d.name != ".studio" and not any(d.iterdir()):
                d.rmdir()
        self.notes.append(f"--overwrite: removed the earlier build in {self.out}")

    def _remove_stale_temp_files(self) -> None:
        """Temporary files a killed run left beside its outputs (atomic_write's
        ``.NAME.*.part``, unfinished shards); their items were made again."""
        for p in self.out.rglob("*.part"):
            if p.is_file() and (p.name.startswith(".") or p.name.endswith(".tar.part")):
                p.unlink(missing_ok=True)

    def _require_open(self) -> None:
        if not self.opened:
            raise RuntimeError("DatasetWriter.open() must be called before planning or "
                               "writing (it checks inputs, lock and fingerprint)")

    # -- labels ------------------------------------------------------------------------
    def set_classes(self, items: Sequence[OutputItem] | None = None,
                    own_order: Sequence[str] | None = None) -> None:
        """One labelling rule for every export: ``label`` is the index torchvision's
        ImageFolder (and HF ``imagefolder``) assigns, i.e. the position among the sorted
        class folders the plan fills; the builder's own index (a teacher's class order),
        where it differs, is kept as ``teacher_label``. ``own_order`` names the classes by
        the builder's index; without it the order is read off the planned items."""
        if own_order is None:
            by_label = {it.label: it.class_name for it in items or []}
            present = sorted({n for n in by_label.values() if n})
            own = [by_label[k] for k in sorted(by_label)]
        else:
            own = list(own_order)
            present = sorted({it.class_name for it in items if it.class_name}) if items \
                is not None else sorted(set(own))
        self.classes = present
        index = self._index = {c: i for i, c in enumerate(present)}
        if own_order is not None:
            differs = any(index.get(c, i) != i for i, c in enumerate(own))
        else:
            differs = any(index.get(n) != k for k, n in by_label.items() if n)
        self.teacher_classes = own if differs else None

    def _record(self, item: OutputItem, record: dict | None, **extra: Any) -> dict:
        if self.classes is None:
            self.set_classes([item])
        label = self._index.get(item.class_name, item.label) if item.class_name else item.label
        rec = {**extra, "label": label, "class": item.class_name, **item.meta,
               **(record or {})}
        if self.teacher_classes is not None:
            rec["teacher_label"] = item.label
        return rec

    # -- progress records ------------------------------------------------------------
    def _all_records(self) -> list[dict]:
        """Records of a finished earlier run (manifest) plus this run's part files."""
        recs: list[dict] = _read_jsonl(self.out / "manifest.jsonl")
        if self.parts.is_dir():
            for p in sorted(self.parts.glob("records-rank*.jsonl")):
                recs.extend(_read_jsonl(p))
        return recs

    def error(self, source: str, reason: str, **extra: Any) -> None:
        """Record an input that could not be used; the build goes on."""
        _append_jsonl(self.error_file, {"source": str(source), "reason": reason, **extra})

    def errors(self) -> list[dict]:
        errs: list[dict] = _read_jsonl(self.out / "errors.jsonl")
        if self.parts.is_dir():
            for p in sorted(self.parts.glob("errors-rank*.jsonl")):
                errs.extend(_read_jsonl(p))
        return errs

    def finalize(self, info: dict[str, Any], classes: list[str]) -> dict[str, Any]:
        """Merge part files into the manifest (rank 0, after all ranks finished).

        ``classes`` are the builder's own class names in its index order; ``label`` and
        ``dataset.json`` follow ImageFolder's order (see :meth:`set_classes`).
        """
        self._require_open()
        self._remove_stale_temp_files()
        recs = {r["file_name"]: r for r in self._all_records()}
        records = [recs[k] for k in sorted(recs)]
        errs = {(e["source"], e["reason"]): e for e in self.errors()}
        errors = [errs[k] for k in sorted(errs)]
        if self.classes is None:
            self.set_classes(own_order=[c for c in classes if c])
        elif self.teacher_classes is not None and classes:
            self.teacher_classes = list(classes)  # the model's full class list
        for r in records:
            sp = self._split_of_record(r)
            if sp is not None:
                r.setdefault("split", sp)
        write_jsonl(self.out / "manifest.jsonl", records)
        splits = sorted({r["split"] for r in records if r.get("split")})
        extra = self._write_loaders(records, splits, info)
        write_jsonl(self.out / "errors.jsonl", errors)
        summary = {
            "tool": "studio", "version": __version__, "format": self.kind,
            "classes": self.classes, "class_to_idx": dict(self._index),
            "label_rule": "label = index among the sorted class folders (torchvision "
                          "ImageFolder, HF imagefolder)",
            "splits": splits, "num_items": len(records), "num_errors": len(errors),
            **extra, **info,
        }
        if self.teacher_classes is not None:
            summary["teacher_classes"] = self.teacher_classes
            summary["teacher_class_to_idx"] = {c: i for i, c in
                                               enumerate(self.teacher_classes)}
        if self.fingerprint is not None:
            summary["fingerprint"] = self.fingerprint
            summary["determinism"] = DETERMINISM
        with atomic_write(self.out / "dataset.json") as fh:
            fh.write(json.dumps(summary, indent=2, sort_keys=True, default=str).encode())
        self.release()
        shutil.rmtree(self.out / ".studio", ignore_errors=True)
        return summary

    def _split_of_record(self, rec: dict) -> str | None:
        return split_of(rec.get("file_name", ""))

    def _write_loaders(self, records: list[dict], splits: list[str], info: dict[str, Any]
                       ) -> dict[str, Any]:
        """What the users' own loaders need beside the files (per format)."""
        return {}


class ImageFolderWriter(DatasetWriter):
    """``<out>/<key>.png`` files, one per item, written atomically with embedded params."""

    kind = "imagefolder"

    def __init__(self, out_dir, dist: DistInfo | None = None, ext: str = ".png"):
        super().__init__(out_dir, dist)
        self.ext = ext

    def file_name(self, item: OutputItem) -> str:
        return safe_relpath(safe_relpath(item.key) + self.ext)

    def skip(self, index: int) -> None:
        """An item that could not be produced: nothing to do for loose files."""

    def _validate(self) -> set[str]:
        return self.completed()

    def completed(self) -> set[str]:
        """File names whose record is written and whose file is whole (made otherwise);
        checked once, when the folder is opened."""
        self._require_open()
        if self._validated is not None:
            return self._validated
        done, remade = set(), 0
        for r in self._all_records():
            name = r.get("file_name", "")
            try:
                path = resolve_inside(self.out, name)
            except ValueError:
                continue
            if name in done:
                continue
            if output_is_complete(path):
                done.add(name)
            elif path.exists():
                remade += 1
        if remade:
            self.notes.append(f"{remade} earlier output(s) are truncated or undecodable: "
                              "made again")
        return done

    def pending(self, items: list[OutputItem]) -> list[tuple[int, OutputItem]]:
        """(index, item) pairs this rank still has to produce, in plan order."""
        done = self.completed()
        if self.classes is None:
            self.set_classes(items)
        return [(i, it) for i, it in enumerate(items)
                if self.dist.owns(i) and self.file_name(it) not in done]

    def write(self, item: OutputItem, image: Any, params: dict | None = None,
              record: dict | None = None, png: bytes | None = None, index: int = 0) -> dict:
        """Place the image under its final name, then record it (``index`` is unused)."""
        name = self.file_name(item)
        path = resolve_inside(self.out, name)
        data = png if png is not None else encode_png(image, params)
        with atomic_write(path, fsync=False) as fh:
            fh.write(data)
        rec = self._record(item, record, file_name=name)
        _append_jsonl(self.part_file, rec)
        return rec

    def _write_loaders(self, records: list[dict], splits: list[str], info: dict[str, Any]
                       ) -> dict[str, Any]:
        """HF ``imagefolder``: :data:`HF_METADATA` in every split folder (at the top
        without splits) and a dataset card that names it and types every column."""
        columns = sorted({k for r in records for k in r})
        rows = [{k: r.get(k) for k in columns} for r in records]  # same columns per split
        for sp in ["", *splits]:  # what an earlier Studio or layout left would shadow it
            (self.out / sp / _LEGACY_METADATA).unlink(missing_ok=True)
        if splits:
            (self.out / HF_METADATA).unlink(missing_ok=True)
            for sp in splits:
                part = [{**r, "file_name": r["file_name"][len(sp) + 1:]} for r in rows
                        if r.get("split") == sp]
                write_jsonl(self.out / sp / HF_METADATA, part)
        else:
            write_jsonl(self.out / HF_METADATA, rows)
        with atomic_write(self.out / "README.md") as fh:
            fh.write(dataset_card(rows, self.classes or [], splits, self.teacher_classes,
                                  _card_title(info)).encode())
        return {"metadata_files": [f"{sp}/{HF_METADATA}" for sp in splits]
                or [HF_METADATA]}


def _card_title(info: dict[str, Any]) -> str:
    return str(info.get("job") or info.get("builder") or info.get("generator")
               or "Studio dataset")


class WebDatasetWriter(DatasetWriter):
    """Tar shards ``shards/<split>-NNNNNN.tar`` (``data-`` without splits) holding
    ``key.png``, ``key.cls`` (the ImageFolder label) and ``key.json`` (the record, with
    its ``split``).

    Each split has its own shard set, so a loader never mixes test into train. Items are
    assigned to shards by their position in the sorted plan of their split (``shard_size``
    per shard; 0 = about :data:`DEFAULT_SHARDS` shards per split, so a DataLoader with
    several workers has a shard for each), and shards to ranks by their global index, so
    shard contents never depend on how the work was split. A shard is written to a
    ``.part`` file and renamed when all its samples are in; tar headers carry no time or
    owner, so rebuilds are byte-identical.
    """

    kind = "webdataset"

    def __init__(self, out_dir, dist: DistInfo | None = None, shard_size: int = 0,
                 shards: int = DEFAULT_SHARDS, align: int = 1):
        super().__init__(out_dir, dist)
        if shard_size < 0 or shards < 1:
            raise ValueError("shard_size must be >= 0 (0 = automatic) and shards >= 1")
        self.shard_size = shard_size
        self.target_shards = shards
        self.align = max(1, align)  # automatic shard sizes are multiples or divisors of it
        self._tar: tarfile.TarFile | None = None
        self._tar_fh = None
        self._shard: int | None = None
        self._shard_records: list[dict] = []
        self._expected: dict[int, int] = {}
        self._names: list[str] = []        # shard id -> file name
        self._splits: list[str | None] = []  # shard id -> split
        self._shard_of: dict[int, int] = {}  # plan index -> shard id

    def shard_path(self, shard: int) -> Path:
        return self.out / "shards" / self._names[shard]

    @staticmethod
    def sample_key(item: OutputItem) -> str:
        """WebDataset keys end at the first dot: replace dots and slashes in the path."""
        return safe_relpath(item.key).replace(".", "_").replace("/", "__")

    def size_for(self, n: int) -> int:
        """Samples per shard for a split of ``n``: the explicit size, or about
        ``target_shards`` shards (whole multiples or divisors of ``align``)."""
        if self.shard_size:
            return self.shard_size
        want = max(1, -(-n // self.target_shards))
        if want >= self.align:
            return want - want % self.align
        return max(d for d in range(1, self.align + 1) if self.align % d == 0 and d <= want)

    def _validate(self) -> set[str]:
        return self.completed_shards()

    def completed_shards(self) -> set[str]:
        """Names of the shards whose records are written and whose tar holds all of them
        (checked once, when the folder is opened)."""
        self._require_open()
        if self._validated is not None:
            return self._validated
        expected: dict[str, int] = {}
        for r in self._all_records():
            name = str(r.get("file_name", "")).split("/", 1)[0]
            if r.get("shard") is not None and name.endswith(".tar"):
                expected[name] = expected.get(name, 0) + (0 if r.get("empty") else 1)
        done = set()
        for name, n in expected.items():
            try:
                with tarfile.open(self.out / "shards" / name) as tf:
                    members = len(tf.getmembers())
            except (OSError, tarfile.TarError, EOFError):
                continue
            if members == 3 * n:
                done.add(name)
            else:
                self.notes.append(f"{name} is incomplete: made again")
        return done

    def plan_shards(self, items: Sequence[OutputItem]) -> None:
        """Split the plan into per-split shard sets (the table every rank derives alike)."""
        by_split: dict[str | None, list[int]] = {}
        for i, it in enumerate(items):
            by_split.setdefault(split_of(safe_relpath(it.key) + ".png"), []).append(i)
        self._names, self._splits, self._shard_of = [], [], {}
        for sp in sorted(by_split, key=lambda x: (x is None, x or "")):
            idx = by_split[sp]
            size = self.size_for(len(idx))
            for k in range(0, len(idx), size):
                sid = len(self._names)
                self._names.append(f"{sp or 'data'}-{k // size:06d}.tar")
                self._splits.append(sp)
                for i in idx[k:k + size]:
                    self._shard_of[i] = sid

    def pending(self, items: Sequence[OutputItem]) -> list[tuple[int, OutputItem]]:
        done = self.completed_shards()
        if self.classes is None:
            self.set_classes(items)
        self.plan_shards(items)
        members: dict[int, list[int]] = {}
        for i, sid in self._shard_of.items():
            members.setdefault(sid, []).append(i)
        out = []
        for sid, idx in sorted(members.items()):
            if self._names[sid] in done or not self.dist.owns(sid):
                continue
            self._expected[sid] = len(idx)
            out.extend((i, items[i]) for i in idx)
        return sorted(out, key=lambda t: t[0])

    def skip(self, index: int) -> None:
        """An item of the plan that could not be produced (bad input) still counts."""
        sid = self._shard_of[index]
        self._advance(sid)
        self._expected[sid] -= 1
        self._maybe_close()

    def _advance(self, shard: int) -> None:
        if self._shard == shard:
            return
        self.close()
        path = self.shard_path(shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(path.name + ".part")
        # both stay open across write() calls until the shard is complete
        self._tar_fh = open(self._tmp, "wb")  # noqa: SIM115
        self._tar = tarfile.open(fileobj=self._tar_fh, mode="w",  # noqa: SIM115
                                 format=tarfile.USTAR_FORMAT)
        self._shard = shard
        self._shard_records = []

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(data))

    def write(self, item: OutputItem, image: Any, params: dict | None = None,
              record: dict | None = None, png: bytes | None = None, index: int = 0) -> dict:
        shard = self._shard_of[index]
        self._advance(shard)
        key = self.sample_key(item)
        rec = self._record(item, record, key=key, shard=shard, split=self._splits[shard],
                           file_name=f"{self._names[shard]}/{key}.png")
        self._add(f"{key}.png", png if png is not None else encode_png(image, params))
        self._add(f"{key}.cls", str(rec["label"]).encode("ascii"))
        self._add(f"{key}.json", json.dumps(rec, sort_keys=True).encode("utf-8"))
        self._shard_records.append(rec)
        self._expected[shard] -= 1
        self._maybe_close()
        return rec

    def _maybe_close(self) -> None:
        if self._shard is not None and self._expected.get(self._shard, 1) <= 0:
            self.close(complete=True)

    def close(self, complete: bool = False) -> None:
        """Finish the open shard (rename + record) or, if incomplete, discard it."""
        if self._tar is None:
            return
        self._tar.close()
        self._tar_fh.flush()
        self._tar_fh.close()
        if complete:
            os.replace(self._tmp, self.shard_path(self._shard))
            for rec in self._shard_records:
                _append_jsonl(self.part_file, rec)
            if not self._shard_records:  # all inputs bad: remember the shard as done
                _append_jsonl(self.part_file, {"file_name": f"{self._names[self._shard]}/",
                                               "shard": self._shard, "empty": True})
        else:
            os.unlink(self._tmp)
        self._tar = None
        self._shard = None

    def _split_of_record(self, rec: dict) -> str | None:
        return rec.get("split")

    def _write_loaders(self, records: list[dict], splits: list[str], info: dict[str, Any]
                       ) -> dict[str, Any]:
        """The shard list, brace patterns and per-shard counts (what ``wds.WebDataset``
        and a DataLoader's worker count need), and the dataset card that makes
        ``load_dataset(out)`` read the shards (see :func:`dataset_card`)."""
        counts: dict[str, int] = {}
        for r in records:
            counts[r["file_name"].split("/", 1)[0]] = counts.get(
                r["file_name"].split("/", 1)[0], 0) + 1
        names = sorted(p.name for p in (self.out / "shards").glob("*.tar")) \
            if (self.out / "shards").is_dir() else []
        sets: dict[str, list[str]] = {}
        for n in names:
            sets.setdefault(n.rsplit("-", 1)[0], []).append(n)
        patterns = {}
        for prefix, group in sets.items():
            last = len(group) - 1
            patterns[prefix] = (f"shards/{prefix}-{{000000..{last:06d}}}.tar" if last
                                else f"shards/{group[0]}")
        if sets:  # the card names the shard sets that exist (a pattern must match)
            with atomic_write(self.out / "README.md") as fh:
                fh.write(dataset_card(records, self.classes or [],
                                      sorted(p for p in sets if p != "data"),
                                      self.teacher_classes, _card_title(info),
                                      fmt="webdataset").encode())
        else:
            (self.out / "README.md").unlink(missing_ok=True)
        return {"shards": [{"name": f"shards/{n}", "samples": counts.get(n, 0),
                            "split": None if n.startswith("data-") else n.rsplit("-", 1)[0]}
                           for n in names],
                "shard_patterns": patterns}

    def finalize(self, info: dict[str, Any], classes: list[str]) -> dict[str, Any]:
        self.close()
        # drop the markers of all-bad shards from the manifest
        for p in sorted(self.parts.glob("records-rank*.jsonl")) if self.parts.is_dir() else []:
            recs = [r for r in _read_jsonl(p) if not r.get("empty")]
            write_jsonl(p, recs)
        return super().finalize(info, classes)


def make_writer(fmt: str, out_dir: str | os.PathLike, *, shard_size: int = 0,
                shards: int = DEFAULT_SHARDS, align: int = 1,
                dist: DistInfo | None = None) -> DatasetWriter:
    """``imagefolder`` or ``webdataset`` (``shard_size`` 0 = about ``shards`` per split)."""
    if fmt == "imagefolder":
        return ImageFolderWriter(out_dir, dist)
    if fmt == "webdataset":
        return WebDatasetWriter(out_dir, dist, shard_size=shard_size, shards=shards,
                                align=align)
    raise ValueError(f"unknown output format {fmt!r}: use imagefolder or webdataset")
