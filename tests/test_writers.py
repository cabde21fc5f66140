"""Dataset writers: resume, sharding, determinism, safe paths, WebDataset layout."""

import json
import tarfile

import numpy as np
import pytest

from studio.core.distributed import DistInfo
from studio.datasets.folders import UnsafePathError, resolve_inside, safe_relpath, scan_image_folder
from studio.datasets.writers import ImageFolderWriter, OutputItem, WebDatasetWriter, make_writer


def _items(n=7):
    return [OutputItem(f"train/c{i % 2}/img{i:03d}", i % 2, f"c{i % 2}", {"src": f"s{i}"})
            for i in range(n)]


def _img(i):
    return np.full((4, 4, 3), i * 10, np.uint8)


def _write_all(w, items, stop_after=None):
    for n, (i, it) in enumerate(w.pending(items)):
        if stop_after is not None and n >= stop_after:
            return
        w.write(it, _img(i), params={"i": i}, index=i)


def test_imagefolder_resume_finishes_only_the_missing(tmp_path):
    items = _items()
    w = ImageFolderWriter(tmp_path).open()
    _write_all(w, items, stop_after=3)
    w.release()  # the process ends (the OS would drop the lock)
    w2 = ImageFolderWriter(tmp_path).open()  # "restart"
    todo = w2.pending(items)
    assert [i for i, _ in todo] == [3, 4, 5, 6]
    _write_all(w2, items)
    summary = w2.finalize({"seed": 1}, ["c0", "c1"])
    recs = [json.loads(x) for x in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [r["file_name"] for r in recs] == sorted(f"{it.key}.png" for it in items)
    assert recs[0]["src"] == "s0" and summary["num_items"] == 7
    # HF reads provenance.jsonl beside the split's images (the card names it): the
    # same rows, paths relative
    meta = [json.loads(x) for x in (tmp_path / "train" / "provenance.jsonl").read_text()
            .splitlines()]
    assert [m["file_name"] for m in meta] == [r["file_name"][len("train/"):] for r in recs]
    assert all(m["split"] == "train" for m in meta)
    assert not (tmp_path / "provenance.jsonl").exists()
    assert not (tmp_path / ".studio").exists()
    # a rerun after completion has nothing to do and keeps the manifest intact
    w3 = ImageFolderWriter(tmp_path).open()
    assert w3.pending(items) == []
    w3.finalize({"seed": 1}, ["c0", "c1"])
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 7


def test_a_cut_record_line_is_redone(tmp_path):
    items = _items(3)
    w = ImageFolderWriter(tmp_path).open()
    _write_all(w, items)
    with open(w.part_file, "a") as fh:
        fh.write('{"file_name": "train/c0/img0')  # killed mid-line
    w.release()
    assert ImageFolderWriter(tmp_path).open().pending(items) == []


def test_ranks_split_the_work_and_merge_to_the_single_process_result(tmp_path):
    items = _items(9)
    single = ImageFolderWriter(tmp_path / "one").open()
    _write_all(single, items)
    single.finalize({}, ["c0", "c1"])
    for r in (0, 1):
        _write_all(ImageFolderWriter(tmp_path / "two", DistInfo(r, 2)).open(), items)
    ImageFolderWriter(tmp_path / "two", DistInfo(0, 2)).open().finalize({}, ["c0", "c1"])
    for name in ("manifest.jsonl",) + tuple(f"{it.key}.png" for it in items):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_errors_are_reported_once(tmp_path):
    w = make_writer("imagefolder", tmp_path).open()
    w.error("a.jpg", "truncated")
    w.error("a.jpg", "truncated")
    w.error("b.jpg", "not an image")
    w.finalize({}, [])
    errs = [json.loads(x) for x in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert [e["source"] for e in errs] == ["a.jpg", "b.jpg"]


def test_webdataset_shards_are_deterministic_and_resumable(tmp_path):
    items = _items(7)
    w = WebDatasetWriter(tmp_path / "a", shard_size=3).open()
    todo = w.pending(items)
    for i, it in todo[:4]:  # shard 0 complete, shard 1 half-written, then "crash"
        w.write(it, _img(i), params={"i": i}, index=i)
    w._tar_fh.close()  # abandoned .part, as after kill -9
    w.release()
    w2 = WebDatasetWriter(tmp_path / "a", shard_size=3).open()
    assert [i for i, _ in w2.pending(items)] == [3, 4, 5, 6]
    _write_all(w2, items)
    w2.finalize({}, ["c0", "c1"])
    ref = WebDatasetWriter(tmp_path / "b", shard_size=3).open()
    _write_all(ref, items)
    ref.finalize({}, ["c0", "c1"])
    shards = sorted(p.name for p in (tmp_path / "a" / "shards").iterdir())
    assert shards == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    for s in shards:
        assert (tmp_path / "a/shards" / s).read_bytes() == (tmp_path / "b/shards" / s).read_bytes()
    with tarfile.open(tmp_path / "a/shards/train-000000.tar") as tf:
        names = tf.getnames()
        assert names[:3] == ["train__c0__img000.png", "train__c0__img000.cls",
                             "train__c0__img000.json"]
        assert tf.extractfile("train__c1__img001.cls").read() == b"1"
        assert all(m.mtime == 0 and m.uname == "" for m in tf.getmembers())


def test_webdataset_skips_bad_items_without_stalling(tmp_path):
    items = _items(4)
    w = WebDatasetWriter(tmp_path, shard_size=2).open()
    for i, it in w.pending(items):
        if i == 1:
            w.skip(i)
        else:
            w.write(it, _img(i), index=i)
    w.finalize({}, ["c0", "c1"])
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 3
    assert len(list((tmp_path / "shards").glob("*.tar"))) == 2


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "C:/x", "a\\b", ""])
def test_unsafe_names_are_refused(tmp_path, bad):
    with pytest.raises(UnsafePathError):
        resolve_inside(tmp_path, bad)
    w = ImageFolderWriter(tmp_path).open()
    with pytest.raises(UnsafePathError):
        w.write(OutputItem(bad, 0, "x"), _img(0))


def test_safe_names_pass():
    assert safe_relpath("train/n01440764/x.JPEG") == "train/n01440764/x.JPEG"


def test_scan_image_folder_with_splits_and_bad_entries(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("b", "a"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (4, 4)).save(tmp_path / split / cls / "x.png")
    (tmp_path / "train" / "a" / "readme.txt").write_text("hi")
    (tmp_path / "val" / "c").mkdir()
    scan = scan_image_folder(tmp_path)
    assert scan.classes == ["a", "b", "c"]
    assert [s.rel for s in scan.samples] == ["train/a/x.png", "train/b/x.png",
                                             "val/a/x.png", "val/b/x.png"]
    assert [s.label for s in scan.samples] == [0, 1, 0, 1]
    reasons = dict(scan.skipped)
    assert reasons[str(tmp_path / "train/a/readme.txt")].startswith("not an image")
    assert reasons[str(tmp_path / "val/c")].startswith("empty class folder")
    with pytest.raises(FileNotFoundError):
        scan_image_folder(tmp_path / "nope")


def test_a_damaged_image_inside_a_shard_is_an_image_error_naming_the_member(tmp_path):
    """A member that does not decode is skipped like a bad file, with the shard and its
    offset named (it raised a TypeError from the error itself)."""
    from studio.core.images import ImageError
    from studio.datasets.readers import Item

    shard = tmp_path / "data-000000.tar"
    shard.write_bytes(b"\0" * 512 + b"not a png at all" + b"\0" * 496)
    item = Item(shard, "cat", None, offset=512, size=16)
    with pytest.raises(ImageError) as err:
        item.load()
    assert err.value.path == tmp_path / "data-000000.tar@512"
    assert err.value.reason.startswith("cannot decode image (")
