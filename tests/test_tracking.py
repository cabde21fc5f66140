"""metrics.jsonl and TensorBoard events: one record per step, appendable across resumes."""

from __future__ import annotations

import json

import pytest
from tracking_read import hide_tensorboard, tb_scalars

from studio.core.jobs import Log, Metrics, drive
from studio.core.tracking import MetricsLog, open_metrics, read_metrics


def test_records_append_and_a_resume_drops_what_came_after_its_checkpoint(tmp_path):
    with MetricsLog(tmp_path) as log:
        ev = log(1, {"loss": 2.5, "acc": None, "bad": float("nan"), "n": 3})
        log(2, {"loss": 2.0})
        log(3, {"loss": 1.5})
    assert isinstance(ev, Metrics) and ev.values == {"loss": 2.5, "n": 3.0}
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "loss"')  # a run killed mid-line
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]
    # resumed from the checkpoint at step 2: step 3 is redone, so its old line goes
    with MetricsLog(tmp_path, resume_step=2) as log:
        log(3, {"loss": 1.4})
    recs = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["loss"]) for r in recs] == [(1, 2.5), (2, 2.0), (3, 1.4)]
    assert all(isinstance(r["time"], float) for r in recs)
    # a new run (no resume) starts the file afresh; a non-zero rank writes nothing
    MetricsLog(tmp_path).close()
    assert read_metrics(tmp_path) == []
    MetricsLog(tmp_path / "rank1", tmp_path / "tb1", enabled=False).close()
    assert not (tmp_path / "rank1").exists() and not (tmp_path / "tb1").exists()


def test_tensorboard_events_purged_on_resume(tmp_path):
    pytest.importorskip("tensorboard")
    with MetricsLog(tmp_path / "run", tmp_path / "tb") as log:
        for s in (1, 2, 3):
            log(s, {"loss": 1.0 / s})
    with MetricsLog(tmp_path / "run", tmp_path / "tb", resume_step=2) as log:
        log(3, {"loss": 0.25})
        log(4, {"loss": 0.2})
    got = tb_scalars(tmp_path / "tb")
    assert [(s, round(v, 4)) for s, v in got["loss"]] == [(1, 1.0), (2, 0.5), (3, 0.25),
                                                          (4, 0.2)]


def test_log_dir_without_tensorboard_is_one_warning(tmp_path, monkeypatch):
    hide_tensorboard(monkeypatch)
    events = []

    def job():
        log = yield from open_metrics(tmp_path / "run", tmp_path / "tb")
        with log:
            yield log(1, {"loss": 1.0})

    drive(job(), events.append)
    warn = [e for e in events if isinstance(e, Log)]
    assert len(warn) == 1 and warn[0].level == "warning"
    assert str(tmp_path / "tb") in warn[0].message and "pip install tensorboard" in warn[0].message
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text())["loss"] == 1.0
    assert not (tmp_path / "tb").exists()


def test_a_staged_log_replaces_the_folders_records_only_when_the_run_finishes(tmp_path):
    with MetricsLog(tmp_path) as log:
        log(1, {"loss": 1.0})
    before = (tmp_path / "metrics.jsonl").read_bytes()
    with MetricsLog(tmp_path, staged=True) as log:  # a run that fails before its commit
        log(1, {"loss": 9.0})
        assert read_metrics(tmp_path / "metrics.jsonl.partial")[0]["loss"] == 9.0
    assert (tmp_path / "metrics.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
    with MetricsLog(tmp_path, staged=True) as log:  # one that finishes
        log(1, {"loss": 0.5})
        log.commit()
    assert [r["loss"] for r in read_metrics(tmp_path)] == [0.5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
