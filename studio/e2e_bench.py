"""`studio bench e2e`: the real commands, start-up included, against the reference loops.

`studio bench adain` / `bench build-stylized` time our batched path in-process; a user
runs the command line and the window, where start-up and file I/O count too. This bench
runs every side as its own process on the same files, in the same run:

- **stylize**: pytorch-AdaIN's ``test.py`` loop (:mod:`studio.adain.reference`) versus
  ``studio stylize --content_dir`` — N contents, one style;
- **build**: the Stylized-ImageNet sequential loop (``python -m
  studio.texture_shape.stylized_bench baseline``) versus ``studio build stylized`` from a
  cold style cache;
- **startup**: ``studio --help``, ``studio stylize --help``, ``import torch`` alone, the
  time to the first image and to the exit of ``studio stylize`` on one content (the
  stylize part also fits the command's fixed cost: the intercept of its time over 8 and N
  contents, next to ``import torch`` timed in the same repeat);
- **preview**: the Stylize page's alpha re-render (decoder only, features cached) at
  256 px, toy AdaIN and VGG-19 layout, in-process;
- **window**: launch to the window mapped, to the engines loaded and to the first toy
  preview (needs PySide6 and a display, e.g. ``xvfb-run``).

Weights are random, saved in the official layouts (speed does not depend on the values).
Every measurement is repeated (sides interleaved, so a change of machine load hits both),
the best and the spread are printed with the load average, and ratios are taken between
best times of the same run. Timings are never asserted by tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.allocator import ENV
from studio.core.commands import CLIError, device_arg, positive_int, set_result

PARTS = ("stylize", "build", "startup", "preview", "window")


class BenchError(RuntimeError):
    """A timed command failed (its output tail is in the message)."""


@dataclass
class E2EOptions:
    """What `studio bench e2e` measures, and at which size."""

    contents: int = 64           # stylize workload: contents (one style)
    build_contents: int = 48     # build workload: contents
    styles: int = 16             # build workload: styles
    size: int = 224
    preview_size: int = 256
    repeats: int = 3
    parts: Sequence[str] = PARTS
    device: str = "cpu"
    batch_size: int = 8
    out: str | None = None       # keep the data and outputs here (default: a temp dir)
    window_timeout: float = 120.0
    extra_env: dict[str, str] = field(default_factory=dict)
    #: the reference loops' heap: "system" (glibc's defaults, as test.py runs) or "studio"
    #: (Studio's policy, studio.core.allocator): isolates the batched path's own gain
    reference_heap: str = "system"


# ---------------------------------------------------------------------------------------
# Running and timing processes


def _cpu_seconds() -> tuple[float, float, float] | None:
    """(wall, busy CPU-s of the whole machine, CPU-s of this process and its children)."""
    try:
        import resource  # POSIX only

        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except (ImportError, OSError):
        return None
    ticks = [int(x) for x in fields]
    busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle/iowait
    own = sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    return time.perf_counter(), busy, own


def _other_cpus(start: tuple[float, float, float] | None) -> float | None:
    """CPUs other processes kept busy on average while the benchmark ran (from the
    machine's and the benchmark's own CPU time: the load average lags by minutes)."""
    end = _cpu_seconds()
    if start is None or end is None or end[0] <= start[0]:
        return None
    return round(max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]), 2)


def other_load(r: dict) -> float:
    """Load not explained by the benchmark: measured from CPU time when available, else
    the 1-minute average before it started, or after it less its own compute threads."""
    if r.get("other_cpus") is not None:
        return r["other_cpus"]
    after = (r.get("load_after") or r["load_before"])[0]
    own = r["machine"].get("threads") or 1
    return round(max(r["load_before"][0], after - own, 0.0), 2)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _reference_env(o: E2EOptions, env: dict[str, str]) -> dict[str, str]:
    """The reference loops run with glibc's default heap unless asked for Studio's."""
    clean = {k: v for k, v in env.items() if k not in ENV}
    return {**clean, **ENV} if o.reference_heap == "studio" else clean


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every timed process: this Studio on the path, no user models
    (so "auto" means what the command line says), no progress bars."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def _first_file(folder: Path, suffix: str, stop: threading.Event, t0: float,
                found: dict[str, float]) -> None:
    """Poll ``folder`` (flat) for the first complete file ending in ``suffix``."""
    while not stop.is_set():
        try:
            with os.scandir(folder) as it:
                if any(e.name.endswith(suffix) and not e.name.startswith(".") for e in it):
                    found["t"] = time.perf_counter() - t0
                    return
        except FileNotFoundError:
            pass
        stop.wait(0.005)


def timed(cmd: list[str], env: dict[str, str] | None = None, watch: Path | None = None,
          suffix: str = "", timeout: float = 3600) -> dict[str, Any]:
    """Run ``cmd``; return its wall time (process start to exit), the time its first
    ``suffix`` file appeared in ``watch`` (when given) and its output."""
    found: dict[str, float] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)
    poller = None
    if watch is not None:
        poller = threading.Thread(target=_first_file, args=(watch, suffix, stop, t0, found),
                                  daemon=True)
        poller.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise BenchError(f"{' '.join(cmd[:4])} … ran past {timeout:.0f} s") from None
    seconds = time.perf_counter() - t0
    stop.set()
    if poller is not None:
        poller.join()
    if proc.returncode != 0:
        tail = (err or out or "").strip().splitlines()[-6:]
        raise BenchError(f"{' '.join(cmd[:5])} … exited {proc.returncode}: "
                         + " | ".join(tail))
    return {"seconds": seconds, "first_file_s": found.get("t"), "stdout": out}


def _stats(xs: Sequence[float]) -> dict[str, Any]:
    xs = sorted(float(x) for x in xs)
    if not xs:
        return {"best": None, "median": None, "worst": None, "runs": []}
    mid = xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    return {"best": round(xs[0], 3), "median": round(mid, 3), "worst": round(xs[-1], 3),
            "runs": [round(x, 3) for x in xs]}


def _fmt(st: dict[str, Any], unit: str = "s") -> str:
    if st.get("best") is None:
        return "—"
    if len(st["runs"]) == 1:
        return f"{st['best']:.2f} {unit}"
    return (f"{st['best']:.2f} {unit} (median {st['median']:.2f}, worst {st['worst']:.2f}, "
            f"{len(st['runs'])} runs)")


def _studio(*args: str) -> list[str]:
    return [sys.executable, "-m", "studio", *args]


# ---------------------------------------------------------------------------------------
# Data and weights


def make_weights(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """Random weights saved as ``vgg_normalised.pth`` + ``decoder.pth`` (official layout)."""
    import torch

    from studio.adain.model import AdaINModel
    from studio.core.checkpoints import save_state_dict

    torch.manual_seed(seed)
    m = AdaINModel()
    return (save_state_dict(m.encoder, root / "vgg_normalised.pth"),
            save_state_dict(m.decoder, root / "decoder.pth"))


def make_stylize_data(root: Path, contents: int, size: int, seed: int = 0) -> tuple[Path, Path]:
    """A flat folder of same-size photo-like JPEGs (``Resize(size)`` shrinks them to
    size x size) and one style image a little larger than ``size``."""

    from studio.texture_shape.stylized_bench import bench_picture

    rng = np.random.default_rng(seed)
    cdir = root / "contents"
    cdir.mkdir(parents=True, exist_ok=True)
    side = size * 8 // 7
    for i in range(contents):
        bench_picture(rng, side, side).save(cdir / f"c{i:04d}.jpg", quality=90)
    style = root / "style.jpg"
    bench_picture(rng, side + 40, side + 16).save(style, quality=90)
    return cdir, style


# ---------------------------------------------------------------------------------------
# The parts


def _stylize_part(o: E2EOptions, root: Path, vgg: Path, dec: Path, env: dict[str, str],
                  say) -> dict[str, Any]:
    from studio.texture_shape.stylized_bench import _max_diff

    cdir, style = make_stylize_data(root / "stylize", o.contents, o.size)
    few = root / "stylize" / "few"   # the first 8 contents: the fixed-cost fit's other end
    n_few = min(8, o.contents - 1)
    few.mkdir(parents=True, exist_ok=True)
    for f in sorted(cdir.glob("*.jpg"))[:max(1, n_few)]:
        shutil.copy(f, few / f.name)
    common = ["--style", str(style), "--vgg", str(vgg), "--decoder", str(dec),
              "--content_size", str(o.size), "--style_size", str(o.size), "--device", o.device]
    ref_t, our_t, first, fixed, extra, per = [], [], [], [], [], []
    load0 = _load()
    for r in range(o.repeats):
        ref_out, our_out = root / "stylize" / "out-reference", root / "stylize" / "out-studio"
        few_out = root / "stylize" / "out-few"
        for d in (ref_out, our_out, few_out):
            shutil.rmtree(d, ignore_errors=True)
        ref = timed([sys.executable, "-m", "studio.adain.reference", "--content_dir",
                     str(cdir), *common, "--output", str(ref_out)], _reference_env(o, env))
        ours = timed(_studio("stylize", "--content_dir", str(cdir), *common, "--output",
                             str(our_out), "--batch_size", str(o.batch_size), "-q"), env,
                     watch=our_out, suffix=".jpg")
        ref_t.append(ref["seconds"])
        our_t.append(ours["seconds"])
        if ours["first_file_s"] is not None:
            first.append(ours["first_file_s"])
        line = (f"  stylize run {r + 1}/{o.repeats}: reference {ref['seconds']:.2f} s, studio "
                f"{ours['seconds']:.2f} s")
        if n_few >= 1:  # same repeat, same load: 8 contents, and import torch alone
            t_few = timed(_studio("stylize", "--content_dir", str(few), *common, "--output",
                                  str(few_out), "--batch_size", str(o.batch_size), "-q"),
                          env)["seconds"]
            t_torch = timed([sys.executable, "-c", "import torch"], env)["seconds"]
            p_img = (ours["seconds"] - t_few) / (o.contents - n_few)
            per.append(p_img)
            fixed.append(t_few - n_few * p_img)
            extra.append(fixed[-1] - t_torch)
            line += (f"; {n_few} contents {t_few:.2f} s, import torch {t_torch:.2f} s -> fixed "
                     f"{fixed[-1]:.2f} s (torch + {extra[-1]:.2f})")
        say(line + f" (load {_load()[0]:.2f})")
    diff = _max_diff(ref_out, our_out, "*.jpg")
    res = {"what": f"{o.contents} contents {o.size} px, one style: pytorch-AdaIN test.py "
                   "loop vs studio stylize --content_dir",
           "images": o.contents, "reference": _stats(ref_t), "studio": _stats(our_t),
           "studio_first_image": _stats(first), "max_pixel_diff": diff,
           "load_before": load0, "load_after": _load()}
    res["ratio"] = round(res["reference"]["best"] / res["studio"]["best"], 3)
    res["per_image_s"] = {"reference": round(res["reference"]["best"] / o.contents, 4),
                          "studio": round(res["studio"]["best"] / o.contents, 4)}
    if fixed:
        # per repeat: intercept of studio stylize's time over n_few and N contents, and
        # that minus import torch measured in the same repeat
        res["fixed_cost"] = {"few_images": n_few, "fixed_s": _stats(fixed),
                             "minus_import_torch_s": _stats(extra),
                             "per_image_s": _stats(per)}
    return res


def _build_part(o: E2EOptions, root: Path, vgg: Path, dec: Path, env: dict[str, str],
                say) -> dict[str, Any]:
    from studio.texture_shape.stylized_bench import _max_diff, make_bench_data, prepare_styles

    broot = root / "build"
    make_bench_data(broot, o.build_contents, o.styles, o.size)
    prepare_styles(broot / "styles", broot / "styles-prepared", o.size)
    content_size = o.size * 256 // 224
    ref_t, our_t = [], []
    load0 = _load()
    for r in range(o.repeats):
        ref_out, our_out, cache = broot / "out-reference", broot / "out-studio", broot / "cache"
        for d in (ref_out, our_out, cache):  # every repeat cold: no outputs, no cache
            shutil.rmtree(d, ignore_errors=True)
        ref = timed([sys.executable, "-m", "studio.texture_shape.stylized_bench", "baseline",
                     "--content", str(broot / "content"), "--prepared-styles",
                     str(broot / "styles-prepared"), "--out", str(ref_out), "--vgg", str(vgg),
                     "--decoder", str(dec), "--content-size", str(content_size), "--crop",
                     str(o.size), "--seed", "0", "--device", o.device],
                    _reference_env(o, env))
        ours = timed(_studio("build", "stylized", "--content", str(broot / "content"),
                             "--styles", str(broot / "styles"), "--out", str(our_out),
                             "--model", str(vgg), "--decoder", str(dec), "--content-size",
                             str(content_size), "--crop", str(o.size), "--style-size",
                             str(o.size), "--min-style-size", str(o.size), "--seed", "0",
                             "--batch-size", str(o.batch_size), "--cache-dir", str(cache),
                             "--device", o.device, "-q"), env)
        ref_t.append(ref["seconds"])
        our_t.append(ours["seconds"])
        say(f"  build run {r + 1}/{o.repeats}: reference {ref['seconds']:.2f} s, studio "
            f"{ours['seconds']:.2f} s (load {_load()[0]:.2f})")
    res = {"what": f"{o.build_contents}-image stylized build at {o.size} px, {o.styles} "
                   "styles: SIN-style sequential loop vs studio build stylized",
           "images": o.build_contents, "reference": _stats(ref_t), "studio": _stats(our_t),
           "max_pixel_diff": _max_diff(ref_out, our_out), "load_before": load0,
           "load_after": _load()}
    res["ratio"] = round(res["reference"]["best"] / res["studio"]["best"], 3)
    return res


def _startup_part(o: E2EOptions, root: Path, vgg: Path, dec: Path, env: dict[str, str],
                  say) -> dict[str, Any]:
    sdir = root / "stylize"
    cdir, style = (sdir / "contents", sdir / "style.jpg") if (sdir / "style.jpg").exists() \
        else make_stylize_data(sdir, o.contents, o.size)
    one, few = root / "startup" / "one", root / "startup" / "few"
    files = sorted(cdir.glob("*.jpg"))
    n_few = min(8, len(files))
    for d, n in ((one, 1), (few, n_few)):
        d.mkdir(parents=True, exist_ok=True)
        for f in files[:n]:
            if not (d / f.name).exists():
                shutil.copy(f, d / f.name)
    common = ["--style", str(style), "--vgg", str(vgg), "--decoder", str(dec),
              "--content_size", str(o.size), "--style_size", str(o.size), "--device",
              o.device, "-q"]
    t: dict[str, list[float]] = {k: [] for k in ("help", "stylize_help", "import_torch",
                                                 "first_image", "one_image", "few_images")}
    load0 = _load()
    for _ in range(o.repeats):
        t["help"].append(timed(_studio("--help"), env)["seconds"])
        t["stylize_help"].append(timed(_studio("stylize", "--help"), env)["seconds"])
        t["import_torch"].append(timed([sys.executable, "-c", "import torch"], env)["seconds"])
        out = root / "startup" / "out-one"
        shutil.rmtree(out, ignore_errors=True)
        r = timed(_studio("stylize", "--content_dir", str(one), *common, "--output", str(out)),
                  env, watch=out, suffix=".jpg")
        t["one_image"].append(r["seconds"])
        if r["first_file_s"] is not None:
            t["first_image"].append(r["first_file_s"])
        out = root / "startup" / "out-few"
        shutil.rmtree(out, ignore_errors=True)
        t["few_images"].append(timed(_studio("stylize", "--content_dir", str(few), *common,
                                             "--output", str(out)), env)["seconds"])
    res: dict[str, Any] = {k: _stats(v) for k, v in t.items()}
    res["few_images_n"] = n_few
    res["load_before"], res["load_after"] = load0, _load()
    return res


def _preview_part(o: E2EOptions, root: Path, say) -> dict[str, Any]:
    """The Stylize page's alpha slider: decoder only, features and statistics cached."""
    import torch

    from studio.adain.model import AdaINModel
    from studio.adain.session import StylizeSession
    from studio.texture_shape.stylized_bench import bench_picture

    rng = np.random.default_rng(1)
    pdir = root / "preview"
    pdir.mkdir(parents=True, exist_ok=True)
    c, s = pdir / "content.png", pdir / "style.png"
    # square, like the toy scenes the Stylize page opens on (Resize shrinks it to size)
    bench_picture(rng, o.preview_size + 32, o.preview_size + 32).save(c)
    bench_picture(rng, o.preview_size + 20, o.preview_size + 30).save(s)
    res: dict[str, Any] = {"size": o.preview_size}
    load0 = _load()
    for name, make in (("toy", AdaINModel.load_toy), ("vgg19", AdaINModel)):
        torch.manual_seed(0)
        sess = StylizeSession()
        sess.set_model(make(), name)
        spec = {"content": str(c), "styles": [str(s)], "size": o.preview_size, "alpha": 1.0}
        t0 = time.perf_counter()
        sess.render(spec)
        first = time.perf_counter() - t0
        times = []
        for k in range(max(5, 3 * o.repeats)):
            spec["alpha"] = 0.95 - 0.05 * k
            t0 = time.perf_counter()
            sess.render(spec)
            times.append(time.perf_counter() - t0)
        res[name] = {"first_render_s": round(first, 3), "alpha_rerender": _stats(times),
                     "encoder_runs": sess.encoder_runs}
        say(f"  preview {name}: first render {first:.3f} s, alpha re-render "
            f"{_fmt(_stats(times))}")
    res["load_before"], res["load_after"] = load0, _load()
    return res


def _window_part(o: E2EOptions, root: Path, env: dict[str, str], say) -> dict[str, Any]:
    """Launch ``studio gui``; the window reports its milestones to a probe file."""
    if importlib.util.find_spec("PySide6") is None:
        return {"skipped": "PySide6 is not installed"}
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and \
            sys.platform not in ("win32", "darwin"):
        return {"skipped": "no display (run under a desktop session or xvfb-run)"}
    runs: dict[str, list[float]] = {}
    load0 = _load()
    for r in range(o.repeats):
        wroot = root / "window" / f"run{r}"
        probe = wroot / "probe.jsonl"
        wroot.mkdir(parents=True, exist_ok=True)
        wenv = dict(env, STUDIO_STARTUP_PROBE=str(probe),
                    STUDIO_WORKSPACE=str(wroot / "workspace"),
                    STUDIO_MODELS=str(wroot / "models"),
                    STUDIO_SETTINGS_DIR=str(wroot / "config"))
        t_launch = time.time()
        timed(_studio("gui"), wenv, timeout=o.window_timeout)
        for line in probe.read_text().splitlines() if probe.exists() else []:
            ev = json.loads(line)
            runs.setdefault(ev["event"], []).append(ev["t"] - t_launch)
    res: dict[str, Any] = {k: _stats(v) for k, v in runs.items()}
    res["load_before"], res["load_after"] = load0, _load()
    res["platform"] = os.environ.get("QT_QPA_PLATFORM") or "default"
    for k, v in runs.items():
        say(f"  window {k}: {_fmt(_stats(v))}")
    return res


# ---------------------------------------------------------------------------------------
# The report


def machine() -> dict[str, Any]:
    import torch

    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version()}


def run_e2e(o: E2EOptions, say=print) -> dict[str, Any]:
    """Measure the parts in ``o.parts``; return every number (and print as it goes)."""
    bad = [p for p in o.parts if p not in PARTS]
    if bad:
        raise ValueError(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    root = Path(o.out) if o.out else Path(tempfile.mkdtemp(prefix="studio-e2e-"))
    root.mkdir(parents=True, exist_ok=True)
    env = _env(o.extra_env)
    report: dict[str, Any] = {"machine": machine(), "load_before": _load(),
                              "repeats": o.repeats, "size": o.size, "device": o.device,
                              "reference_heap": o.reference_heap}
    cpu0 = _cpu_seconds()
    say(f"studio bench e2e: {report['machine']['cpus']} CPUs, torch "
        f"{report['machine']['torch']}, {report['machine']['threads']} threads, device "
        f"{o.device}, {o.repeats} repeat(s), load average {report['load_before']}")
    try:
        vgg, dec = make_weights(root)
        if "stylize" in o.parts:
            say("stylize (test.py loop vs studio stylize, processes, start-up included):")
            report["stylize"] = _stylize_part(o, root, vgg, dec, env, say)
        if "build" in o.parts:
            say("build (SIN sequential loop vs studio build stylized, processes):")
            report["build"] = _build_part(o, root, vgg, dec, env, say)
        if "startup" in o.parts:
            say("start-up:")
            report["startup"] = _startup_part(o, root, vgg, dec, env, say)
        if "preview" in o.parts:
            say("live preview (in-process):")
            report["preview"] = _preview_part(o, root, say)
        if "window" in o.parts:
            say("window:")
            report["window"] = _window_part(o, root, env, say)
    finally:
        if not o.out:
            shutil.rmtree(root, ignore_errors=True)
    report["load_after"] = _load()
    report["other_cpus"] = _other_cpus(cpu0)
    report["text"] = summary(report)
    return report


def summary(r: dict[str, Any]) -> str:
    """The printable table of a report."""
    lines = [f"studio bench e2e — {r['machine']['cpus']} CPUs, torch {r['machine']['torch']}, "
             f"{r['machine']['threads']} threads, device {r['device']}; load average "
             f"{r['load_before']} before, {r.get('load_after')} after; reference loops on "
             f"the {r.get('reference_heap', 'system')} heap"]
    for key in ("stylize", "build"):
        w = r.get(key)
        if not w:
            continue
        lines.append(f"{w['what']}:")
        lines.append(f"  reference  {_fmt(w['reference'])}")
        lines.append(f"  studio     {_fmt(w['studio'])}")
        extra = ""
        if w.get("studio_first_image", {}).get("best") is not None:
            extra = f"; studio's first image after {w['studio_first_image']['best']:.2f} s"
        lines.append(f"  ratio x{w['ratio']:.2f} (best vs best){extra}; max pixel difference "
                     f"{w['max_pixel_diff']}; load {w['load_before'][0]:.2f} -> "
                     f"{w['load_after'][0]:.2f}")
        f = w.get("fixed_cost")
        if f:
            lines.append(f"  fixed cost of studio stylize (intercept over {f['few_images']} and "
                         f"{w['images']} contents, per repeat): {_fmt(f['fixed_s'])} = import "
                         f"torch (same repeat) + {_fmt(f['minus_import_torch_s'])}; then "
                         f"{_fmt(f['per_image_s'])} per image")
    s = r.get("startup")
    if s:
        lines.append("start-up:")
        lines.append(f"  studio --help            {_fmt(s['help'])}")
        lines.append(f"  studio stylize --help    {_fmt(s['stylize_help'])}")
        lines.append(f"  import torch alone       {_fmt(s['import_torch'])}")
        lines.append(f"  studio stylize, 1 image: first image {_fmt(s['first_image'])}; "
                     f"exit {_fmt(s['one_image'])}")
        lines.append(f"  studio stylize, {s['few_images_n']} images: {_fmt(s['few_images'])}")
        lines.append(f"  load {s['load_before'][0]:.2f} -> {s['load_after'][0]:.2f}")
    p = r.get("preview")
    if p:
        for name in ("toy", "vgg19"):
            if name in p:
                a = p[name]["alpha_rerender"]
                lines.append(f"alpha re-render at {p['size']} px, {name}: {_fmt(a)}; first "
                             f"render {p[name]['first_render_s']:.2f} s")
    w = r.get("window")
    if w:
        if "skipped" in w:
            lines.append(f"window: skipped ({w['skipped']})")
        else:
            for k in ("window_exposed", "engines_ready", "first_preview"):
                if k in w:
                    lines.append(f"window: launch -> {k.replace('_', ' ')} {_fmt(w[k])}")
            lines.append(f"  load {w['load_before'][0]:.2f} -> {w['load_after'][0]:.2f}")
    other = other_load(r)
    if other > 0.5 * (r["machine"]["cpus"] or 1):
        lines.append(f"note: other work loaded the machine ({other:.2f} CPUs beyond the "
                     f"benchmark's own processes); "
                     "idle-machine numbers are still to be taken")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The command


def _cmd(args: Any) -> int:
    parts = [p.strip() for p in str(args.parts).split(",") if p.strip()]
    dev = device_arg(args)
    o = E2EOptions(contents=args.contents, build_contents=args.build_contents,
                   styles=args.styles, size=args.size, preview_size=args.preview_size,
                   repeats=args.repeats, parts=parts, batch_size=args.batch_size,
                   device="cpu" if dev in ("", "auto") else dev, out=args.out,
                   reference_heap=args.reference_heap)
    quiet = bool(getattr(args, "quiet", False))
    try:
        report = run_e2e(o, say=(lambda s: None) if quiet else
                         (lambda s: print(s, flush=True)))
    except (BenchError, ValueError) as exc:
        raise CLIError(str(exc)) from exc
    print(report["text"])
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=2, default=str))
    set_result(args, report)
    return 0


def register(g: Any) -> None:
    """Add `studio bench e2e` (torch-free: everything heavy happens in the handler)."""
    p = g.add(g.bench, "e2e", "end to end: the real commands as processes (start-up "
              "included) vs the reference loops, a start-up report, the alpha re-render "
              "and the window's launch", _cmd)
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma list of parts to run: {', '.join(PARTS)}")
    p.add_argument("--contents", type=positive_int, default=64,
                   help="stylize workload: contents (one style)")
    p.add_argument("--build-contents", dest="build_contents", type=positive_int, default=48,
                   help="build workload: contents")
    p.add_argument("--styles", type=positive_int, default=16, help="build workload: styles")
    p.add_argument("--size", type=positive_int, default=224, help="image side")
    p.add_argument("--preview-size", dest="preview_size", type=positive_int, default=256,
                   help="alpha re-render side")
    p.add_argument("--repeats", type=positive_int, default=3,
                   help="interleaved repeats of every measurement (best and spread shown)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=8,
                   help="images per batch in both studio commands")
    p.add_argument("--out", "--output", default=None,
                   help="keep data and outputs here (default: temp)")
    p.add_argument("--reference-heap", dest="reference_heap", default="system",
                   choices=["system", "studio"],
                   help="the reference loops' heap: system (glibc's defaults, as users run "
                        "test.py) or studio (Studio's reuse-freed-memory policy, to isolate "
                        "what the batched path itself gains)")
    p.add_argument("--json-out", dest="json_out", default=None,
                   help="also write the numbers to this JSON file (--json prints them)")
