"""Dataset writers shared by every builder: ImageFolder and WebDataset, resumable.

A builder plans its outputs as a sorted list of :class:`OutputItem` (stable keys), asks
the writer which are still ``pending`` for this rank, produces each image and hands it to
``write``. Records go to per-rank append-only part files right after the image is in
place, so a restarted build skips exactly what is complete; ``finalize`` (rank 0) merges
the parts into ``manifest.jsonl`` sorted by file name, so the result does not depend on
ranks, batch sizes or resume points.

Layout of an output folder::

    <out>/<split>/<class>/<name>.png      ImageFolder images (or shards/*.tar)
    <out>/manifest.jsonl                  one record per output (HF metadata.jsonl columns)
    <out>/metadata.jsonl                  the same records, for `datasets.load_dataset`
    <out>/errors.jsonl                    inputs that were skipped, with the reason
    <out>/dataset.json                    class map, counts, tool version, params, hashes
    <out>/.studio/parts/*.jsonl           per-rank progress (removed when complete)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core.distributed import DistInfo, dist_info
from studio.core.images import atomic_write, encode_png
from studio.datasets.folders import resolve_inside, safe_relpath

PARTS = ".studio/parts"


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


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    if not path.exists():
        return records
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a crash: everything after it is redone
    return records


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with atomic_write(path) as fh:
        for r in records:
            fh.write((json.dumps(r, sort_keys=True) + "\n").encode("utf-8"))


class DatasetWriter:
    """Common bookkeeping: part files, error reports, the final manifest."""

    kind = "base"

    def __init__(self, out_dir: str | os.PathLike, dist: DistInfo | None = None):
        self.out = Path(out_dir)
        self.dist = dist or dist_info()
        self.out.mkdir(parents=True, exist_ok=True)
        self.parts = self.out / PARTS
        self.part_file = self.parts / f"records-rank{self.dist.rank:05d}.jsonl"
        self.error_file = self.parts / f"errors-rank{self.dist.rank:05d}.jsonl"

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
        """Merge part files into the manifest (rank 0, after all ranks finished)."""
        recs = {r["file_name"]: r for r in self._all_records()}
        records = [recs[k] for k in sorted(recs)]
        errs = {(e["source"], e["reason"]): e for e in self.errors()}
        errors = [errs[k] for k in sorted(errs)]
        write_jsonl(self.out / "manifest.jsonl", records)
        if self.kind == "imagefolder":
            write_jsonl(self.out / "metadata.jsonl", records)
        write_jsonl(self.out / "errors.jsonl", errors)
        summary = {
            "tool": "studio", "version": __version__, "format": self.kind,
            "classes": classes, "class_to_idx": {c: i for i, c in enumerate(classes)},
            "num_items": len(records), "num_errors": len(errors), **info,
        }
        with atomic_write(self.out / "dataset.json") as fh:
            fh.write(json.dumps(summary, indent=2, sort_keys=True, default=str).encode())
        shutil.rmtree(self.out / ".studio", ignore_errors=True)
        return summary


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

    def completed(self) -> set[str]:
        """File names whose record is written and whose file exists."""
        done = set()
        for r in self._all_records():
            if (self.out / r["file_name"]).is_file():
                done.add(r["file_name"])
        return done

    def pending(self, items: list[OutputItem]) -> list[tuple[int, OutputItem]]:
        """(index, item) pairs this rank still has to produce, in plan order."""
        done = self.completed()
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
        rec = {"file_name": name, "label": item.label, "class": item.class_name,
               **item.meta, **(record or {})}
        _append_jsonl(self.part_file, rec)
        return rec


class WebDatasetWriter(DatasetWriter):
    """Tar shards ``shards/<prefix>-NNNNNN.tar`` holding ``key.png``, ``key.cls``, ``key.json``.

    Items are assigned to shards by their position in the sorted plan (``shard_size``
    per shard), and shards to ranks by shard index, so the shard contents never depend on
    how the work was split. A shard is written to a ``.part`` file and renamed when all
    its samples are in; tar headers carry no time or owner, so rebuilds are
    byte-identical.
    """

    kind = "webdataset"

    def __init__(self, out_dir, dist: DistInfo | None = None, shard_size: int = 1000,
                 prefix: str = "shard"):
        super().__init__(out_dir, dist)
        if shard_size < 1:
            raise ValueError("shard_size must be >= 1")
        self.shard_size = shard_size
        self.prefix = prefix
        self._tar: tarfile.TarFile | None = None
        self._tar_fh = None
        self._shard: int | None = None
        self._shard_records: list[dict] = []
        self._expected: dict[int, int] = {}

    def shard_path(self, shard: int) -> Path:
        return self.out / "shards" / f"{self.prefix}-{shard:06d}.tar"

    @staticmethod
    def sample_key(item: OutputItem) -> str:
        """WebDataset keys end at the first dot: replace dots and slashes in the path."""
        return safe_relpath(item.key).replace(".", "_").replace("/", "__")

    def completed_shards(self) -> set[int]:
        done = set()
        for r in self._all_records():
            if self.shard_path(r["shard"]).is_file():
                done.add(r["shard"])
        return done

    def pending(self, items: list[OutputItem]) -> list[tuple[int, OutputItem]]:
        done = self.completed_shards()
        n_shards = (len(items) + self.shard_size - 1) // self.shard_size
        out = []
        for s in range(n_shards):
            if s in done or not self.dist.owns(s):
                continue
            chunk = items[s * self.shard_size:(s + 1) * self.shard_size]
            self._expected[s] = len(chunk)
            out.extend((s * self.shard_size + j, it) for j, it in enumerate(chunk))
        return out

    def skip(self, index: int) -> None:
        """An item of the plan that could not be produced (bad input) still counts."""
        self._advance(index // self.shard_size)
        self._expected[index // self.shard_size] -= 1
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
        shard = index // self.shard_size
        self._advance(shard)
        key = self.sample_key(item)
        rec = {"key": key, "shard": shard, "file_name": f"{self.shard_path(shard).name}/{key}.png",
               "label": item.label, "class": item.class_name, **item.meta, **(record or {})}
        self._add(f"{key}.png", png if png is not None else encode_png(image, params))
        self._add(f"{key}.cls", str(item.label).encode("ascii"))
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
                _append_jsonl(self.part_file, {"file_name": f"{self.shard_path(self._shard).name}/",
                                               "shard": self._shard, "empty": True})
        else:
            os.unlink(self._tmp)
        self._tar = None
        self._shard = None

    def finalize(self, info: dict[str, Any], classes: list[str]) -> dict[str, Any]:
        self.close()
        # drop the markers of all-bad shards from the manifest
        for p in sorted(self.parts.glob("records-rank*.jsonl")) if self.parts.is_dir() else []:
            recs = [r for r in _read_jsonl(p) if not r.get("empty")]
            write_jsonl(p, recs)
        return super().finalize(info, classes)


def make_writer(fmt: str, out_dir: str | os.PathLike, *, shard_size: int = 1000,
                dist: DistInfo | None = None) -> DatasetWriter:
    """``imagefolder`` or ``webdataset``."""
    if fmt == "imagefolder":
        return ImageFolderWriter(out_dir, dist)
    if fmt == "webdataset":
        return WebDatasetWriter(out_dir, dist, shard_size=shard_size)
    raise ValueError(f"unknown output format {fmt!r}: use imagefolder or webdataset")
