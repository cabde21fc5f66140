"""Safe checkpoint loading, key reports, import/verify, and resumable verified fetch."""

import hashlib
import http.server
import os
import pickle
import threading

import pytest
import torch
from torch import nn

from studio.core import checkpoints as ck


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/studio_pwned",))


def _small():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_with_code_is_refused_and_not_run(tmp_path):
    p = tmp_path / "evil.pth"
    with open(p, "wb") as fh:
        pickle.dump({"weight": _Evil()}, fh)
    if os.path.exists("/tmp/studio_pwned"):
        os.unlink("/tmp/studio_pwned")
    with pytest.raises(ck.CheckpointError) as exc:
        ck.load_state_dict(p)
    assert "evil.pth" in str(exc.value) and "would execute code" in str(exc.value)
    assert not os.path.exists("/tmp/studio_pwned")


def test_torch_saved_object_with_code_is_refused(tmp_path):
    p = tmp_path / "model.pth"
    torch.save({"net": _Evil()}, p)
    with pytest.raises(ck.CheckpointError, match="refused"):
        ck.load_checkpoint(p)


def test_not_a_plain_state_dict_is_explained(tmp_path):
    sd = _small().state_dict()
    p = tmp_path / "wrapped.pth.tar"
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()}}, p)
    with pytest.raises(ck.CheckpointError) as exc:
        ck.load_state_dict(p)
    assert "not a plain state_dict" in str(exc.value)
    assert "weights seem to be under 'state_dict'" in str(exc.value)
    out = ck.load_state_dict(p, unwrap=("state_dict",), strip_prefixes=("module.",))
    assert set(out) == set(sd)
    lst = tmp_path / "list.pth"
    torch.save([1, 2], lst)
    with pytest.raises(ck.CheckpointError, match="It holds a list"):
        ck.load_state_dict(lst)


def test_garbage_file_is_not_a_checkpoint(tmp_path):
    p = tmp_path / "x.pth"
    p.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ck.CheckpointError, match="x.pth: not a PyTorch checkpoint"):
        ck.load_checkpoint(p)
    p.write_text("hello world")
    with pytest.raises(ck.CheckpointError, match="starts with b'hello wo'"):
        ck.load_checkpoint(p)
    p.write_bytes(b"\x80\x02garbage")
    with pytest.raises(ck.CheckpointError, match="not a readable PyTorch checkpoint"):
        ck.load_checkpoint(p)
    p.write_bytes(b"")
    with pytest.raises(ck.CheckpointError, match="empty"):
        ck.load_checkpoint(p)
    with pytest.raises(ck.CheckpointError, match="no such file"):
        ck.load_checkpoint(tmp_path / "absent.pth")


def test_mismatch_lists_missing_unexpected_and_shapes(tmp_path):
    sd = _small().state_dict()
    sd.pop("2.bias")
    sd["9.weight"] = torch.zeros(1)
    sd["0.weight"] = torch.zeros(4, 3, 5, 5)
    p = tmp_path / "m.pth"
    torch.save(sd, p)
    with pytest.raises(ck.CheckpointMismatch) as exc:
        ck.load_into(_small(), p, hint="get the official file")
    e = exc.value
    assert e.missing == ["2.bias"] and e.unexpected == ["9.weight"]
    assert e.shapes == [("0.weight", (4, 3, 5, 5), (4, 3, 3, 3))]
    msg = str(e)
    assert "1 missing key(s): 2.bias" in msg and "1 unexpected key(s): 9.weight" in msg
    assert "layer '0.weight' has shape (4, 3, 5, 5), the model needs (4, 3, 3, 3)" in msg
    assert msg.endswith("get the official file")


def test_save_and_load_roundtrip(tmp_path):
    m = _small()
    p = ck.save_state_dict(m, tmp_path / "s.pth")
    m2 = ck.load_into(_small(), p)
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_import_verify_and_find(tmp_path, monkeypatch):
    from studio.adain.model import decoder

    src = ck.save_state_dict(decoder(), tmp_path / "decoder.pth")
    dest = ck.import_model(src, tmp_path / "models")
    assert dest == tmp_path / "models" / "decoder.pth" and dest.read_bytes() == src.read_bytes()
    r = ck.verify(dest)
    assert r.sha256 == hashlib.sha256(src.read_bytes()).hexdigest() and r.hash_ok is None
    assert r.ok and r.layout == "layout OK (adain-decoder, 18 tensors)" and r.tensors == 18
    r = ck.verify(dest, "0" * 64)
    assert r.hash_ok is False and r.ok is False and r.line().startswith("FAIL")
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "models"))
    assert ck.find_model("adain-decoder") == dest
    with pytest.raises(ck.CheckpointError, match="'adain-vgg'.*is not installed.*studio models"):
        ck.find_model("adain-vgg")
    bad = tmp_path / "bad.pth"
    bad.write_text("nope")
    with pytest.raises(ck.CheckpointError):
        ck.import_model(bad, tmp_path / "models")
    assert not (tmp_path / "models" / "bad.pth").exists()


def test_import_checks_a_known_hash(tmp_path, monkeypatch):
    src = ck.save_state_dict(_small(), tmp_path / "thing.pth")
    spec = ck.ModelSpec("_t", "thing.pth", "test", sha256="f" * 64)
    monkeypatch.setitem(ck.REGISTRY, "_t", spec)
    with pytest.raises(ck.CheckpointError, match="does not match the published"):
        ck.import_model(src, tmp_path / "models")


# --- fetch against a local HTTP server -------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    cut_after: int | None = None  # simulate a dropped connection on the first request
    requests: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        cls = type(self)
        rng = self.headers.get("Range")
        cls.requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = cls.payload[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(cls.payload) - 1}/"
                                              f"{len(cls.payload)}")
        self.end_headers()
        if cls.cut_after is not None and not rng:
            self.wfile.write(body[: cls.cut_after])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    _Handler.payload = os.urandom(300_000)
    _Handler.cut_after = None
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/model.pth", _Handler
    httpd.shutdown()


def test_fetch_verifies_and_reports_progress(tmp_path, server):
    url, h = server
    seen = []
    sha = hashlib.sha256(h.payload).hexdigest()
    out = ck.fetch(url, tmp_path / "m.pth", sha, progress=lambda d, t: seen.append((d, t)))
    assert out.read_bytes() == h.payload
    assert seen[-1] == (len(h.payload), len(h.payload))
    assert not (tmp_path / "m.pth.part").exists()


def test_fetch_resumes_after_a_dropped_connection(tmp_path, server):
    url, h = server
    h.cut_after = 100_000
    dest = tmp_path / "m.pth"
    with pytest.raises(ck.FetchError, match="run again to resume"):
        ck.fetch(url, dest, hashlib.sha256(h.payload).hexdigest(), timeout=5)
    assert not dest.exists()
    assert (tmp_path / "m.pth.part").stat().st_size == 100_000
    ck.fetch(url, dest, hashlib.sha256(h.payload).hexdigest(), timeout=5)
    assert dest.read_bytes() == h.payload
    assert h.requests[-1] == "bytes=100000-"


def test_fetch_hash_mismatch_leaves_no_file(tmp_path, server):
    url, _ = server
    dest = tmp_path / "m.pth"
    with pytest.raises(ck.FetchError, match="SHA-256 mismatch"):
        ck.fetch(url, dest, "0" * 64)
    assert not dest.exists() and not (tmp_path / "m.pth.part").exists()


def test_fetch_unreachable_is_a_clear_error(tmp_path):
    with pytest.raises(ck.FetchError, match="download of http://127.0.0.1:9/x failed"):
        ck.fetch("http://127.0.0.1:9/x", tmp_path / "x", timeout=2)
