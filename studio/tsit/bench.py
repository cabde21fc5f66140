"""`studio bench tsit`: the full-size generator, our inference path vs a plain eager forward.

Each variant runs in its own fresh process (same seed, same weights, same inputs and
noise), so peak memory is that variant's alone: the resident set after the model is built
(the weights) and its high-water mark during the forwards (Linux ``VmHWM``, reset with
``/proc/self/clear_refs`` before the first forward); on CUDA ``max_memory_allocated``.
Latency is reported as wall time and as process CPU time per forward — on a shared CPU the
CPU time is the steadier number; the load average is printed so readers can judge.
The outputs of both are compared at the end (max |difference|).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def _rss_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def worker(variant: str, size: int, ngf: int, depth: int, repeats: int, device: str,
           threads: int, dtype: str, out: Path) -> dict:
    """Build, run and measure one variant; write its output tensor to ``out``."""
    from dataclasses import replace

    from studio.core.devices import resolve_device
    from studio.tsit.fast import make_fast
    from studio.tsit.model import TSITConfig, build_generator

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    torch.manual_seed(0)
    cfg = replace(TSITConfig(), ngf=ngf, depth=depth, crop_size=size)
    g = build_generator(cfg).eval()
    gen = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
    style = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
    noise = g.sample_noise(content, torch.Generator().manual_seed(2))
    run_dtype = torch.float32
    if variant == "ours":
        net = make_fast(g, channels_last=dev.type == "cpu", release=True)
        if dev.type == "cuda" and dtype in ("auto", "fp16", "bf16"):
            run_dtype = torch.bfloat16 if dtype == "bf16" else torch.float16
        net = net.to(dev, run_dtype)
        gc.collect()

        def call():
            return net(content.to(dev, run_dtype), style.to(dev, run_dtype),
                       noise=noise.to(dev, run_dtype))
    else:
        net = g.to(dev)

        def call():
            with torch.no_grad():
                return net(content.to(dev), style.to(dev), noise=noise.to(dev))
    params = sum(p.numel() for p in net.parameters())
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    weights_kib = _rss_kib("VmRSS")
    peak_ok = _reset_peak()
    times, cpu_times = [], []
    y = call()  # warm-up (oneDNN primitive creation, cuDNN autotune)
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0, c0 = time.perf_counter(), time.process_time()
        y = call()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    torch.save(y.float().cpu(), out)
    res = {"variant": variant, "params_M": params / 1e6, "dtype": str(run_dtype),
           "wall_s": times, "cpu_s": cpu_times, "median_wall_s": statistics.median(times),
           "median_cpu_s": statistics.median(cpu_times), "loadavg": os.getloadavg(),
           "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        res["peak_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        hwm = _rss_kib("VmHWM")
        res["rss_after_build_mib"] = (weights_kib or 0) / 1024
        if peak_ok and hwm:
            res["peak_rss_mib"] = hwm / 1024
            res["peak_over_build_mib"] = (hwm - (weights_kib or 0)) / 1024
    return res


def run_bench(size: int = 256, ngf: int = 64, depth: int = 7, repeats: int = 3,
              device: str = "auto", threads: int = 0, dtype: str = "auto",
              json_out: Path | None = None, report: dict | None = None) -> int:
    from studio.core.devices import describe_device, resolve_device

    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    print(f"TSIT generator ngf {ngf} depth {depth}, 1x3x{size}x{size}, {repeats} timed "
          f"forward(s) after one warm-up, on {describe_device(dev)}")
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("eager", "ours"):
            out = Path(tmp) / f"{variant}.pt"
            cmd = [sys.executable, "-m", "studio.tsit.bench", "--worker", variant,
                   "--size", str(size), "--ngf", str(ngf), "--depth", str(depth),
                   "--repeats", str(repeats), "--device", str(dev), "--threads",
                   str(threads), "--dtype", dtype, "--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                print(f"studio: error: the {variant} run failed", file=sys.stderr)
                return 1
            results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[variant]["output"] = str(out)
        y_e = torch.load(results["eager"]["output"], weights_only=True)
        y_o = torch.load(results["ours"]["output"], weights_only=True)
        max_diff = float((y_e - y_o).abs().max())
    e, o = results["eager"], results["ours"]
    print(f"{'':26s}{'eager fp32':>14s}{'ours':>14s}{'ratio':>9s}")

    def row(label: str, a: float, b: float, fmt: str = "{:.3f}", ratio: bool = True) -> None:
        r = f"{a / b:8.2f}x" if ratio and b else ""
        print(f"{label:26s}{fmt.format(a):>14s}{fmt.format(b):>14s}{r:>9s}")

    row("latency wall (median, s)", e["median_wall_s"], o["median_wall_s"])
    row("latency CPU (median, s)", e["median_cpu_s"], o["median_cpu_s"])
    if "peak_mib" in e:
        row("peak CUDA memory (MiB)", e["peak_mib"], o["peak_mib"], "{:.0f}")
    else:
        row("RSS after build (MiB)", e["rss_after_build_mib"], o["rss_after_build_mib"],
            "{:.0f}")
        if "peak_rss_mib" in e and "peak_rss_mib" in o:
            row("peak RSS (MiB)", e["peak_rss_mib"], o["peak_rss_mib"], "{:.0f}")
            row("peak over build (MiB)", e["peak_over_build_mib"], o["peak_over_build_mib"],
                "{:.0f}")
    print(f"all wall times (s): eager {[round(t, 3) for t in e['wall_s']]}, "
          f"ours {[round(t, 3) for t in o['wall_s']]}; threads {o['threads']}")
    print(f"max |ours - eager| on the output: {max_diff:.3g} (ours dtype {o['dtype']})")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    summary = {"size": size, "ngf": ngf, "depth": depth, "device": describe_device(dev),
               "eager": e, "ours": o, "max_abs_diff": max_diff,
               "speedup_wall": e["median_wall_s"] / o["median_wall_s"],
               "speedup_cpu": e["median_cpu_s"] / o["median_cpu_s"]}
    if json_out:
        Path(json_out).write_text(json.dumps(summary, indent=2, default=str))
    if report is not None:
        report.update(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="worker process of `studio bench tsit`")
    ap.add_argument("--worker", choices=["eager", "ours"], required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--depth", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    res = worker(a.worker, a.size, a.ngf, a.depth, a.repeats, a.device, a.threads, a.dtype,
                 Path(a.out))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
