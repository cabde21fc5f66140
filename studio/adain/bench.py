"""`studio bench adain`: our stylisation path against the reference's, in one run.

Reference path (test.py): for each content, encode content and style, AdaIN, decode — one
pair at a time, NCHW, ``torch.no_grad``. Our path: the style is encoded once (its relu4_1
statistics cached), contents go in batches, channels-last, ``torch.inference_mode``; on
CUDA also fp16/bf16 autocast. Same inputs, same random weights (speed does not depend on
the values). Achieved GFLOP/s (FLOPs counted by ``torch.utils.flop_counter``) are put
against the machine's dense fp32 matmul rate measured in the same run, and the load
average is printed because a shared machine makes every number noisy.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from studio.adain.model import OFFICIAL, TOY, AdaINModel
from studio.adain.ops import adain
from studio.adain.stylize import autocast, prepare_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, n: int | None = None,
                repeats: int = 5) -> float:
    """Best dense matmul GFLOP/s of an n x n product (the machine's practical peak)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def reference_path(model: AdaINModel, contents: torch.Tensor, style: torch.Tensor
                   ) -> list[torch.Tensor]:
    """test.py's loop: one pair at a time, style re-encoded every time."""
    outs = []
    with torch.no_grad():
        for c in contents:
            f_c = model.encode_content(c.unsqueeze(0))
            f_s = model.encode(style)
            outs.append(model.decode(adain(f_c, f_s)))
    return outs


def our_path(model: AdaINModel, contents: torch.Tensor, style: torch.Tensor, batch: int,
             device: torch.device, precision: str = "fp32") -> list[torch.Tensor]:
    """Style statistics once, batched contents, channels-last, inference mode."""
    outs = []
    cl = torch.channels_last
    with torch.inference_mode(), autocast(device, precision):
        stats = model.style_stats(style.contiguous(memory_format=cl))
        for i in range(0, len(contents), batch):
            x = contents[i:i + batch].contiguous(memory_format=cl)
            feats = model.encode_content(x)
            t = model.target(feats, stats.to(device, feats.dtype).expand(len(x)))
            outs.append(model.decode(t))
    return outs


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def _time(fn, device: torch.device, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def run_bench(args: argparse.Namespace, device_name: str, report: dict | None = None) -> int:
    """Print the comparison; ``report`` (when given) receives the numbers."""
    from studio.core.devices import resolve_device

    device = resolve_device(device_name)
    torch.manual_seed(0)
    config = {"vgg19": OFFICIAL, "toy": TOY}[args.model]
    sizes = [int(s) for s in str(args.sizes).split(",") if s]
    precisions = [p for p in str(args.precision).split(",") if p] if device.type == "cuda" \
        else ["fp32"]
    load0 = os.getloadavg()
    peak = matmul_peak(device)
    print(f"device {device}, {torch.get_num_threads()} threads, load average "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"dense fp32 matmul peak (measured now): {peak:.1f} GFLOP/s")
    ref_model = AdaINModel(config).to(device).eval()
    fast_model = prepare_model(AdaINModel(config), device, channels_last=True)
    fast_model.load_state_dict(ref_model.state_dict())
    results = {"device": str(device), "threads": torch.get_num_threads(),
               "matmul_peak_gflops": round(peak, 1), "model": args.model,
               "load_before": load0, "sizes": {}}
    for size in sizes:
        contents = torch.rand(args.contents, 3, size, size, device=device)
        style = torch.rand(1, 3, size, size, device=device)
        reference_path(ref_model, contents[:1], style)  # warm-up
        our_path(fast_model, contents[:args.batch_size], style, args.batch_size, device)
        ref = partial(reference_path, ref_model, contents, style)
        ours = partial(our_path, fast_model, contents, style, args.batch_size, device)
        # FLOPs from the same calls on meta tensors (shapes only, no compute)
        meta_c, meta_s = contents.to("meta"), style.to("meta")
        meta_ref, meta_fast = copy.deepcopy(ref_model).to("meta"), \
            copy.deepcopy(fast_model).to("meta")
        ref_flops = count_flops(partial(reference_path, meta_ref, meta_c, meta_s))
        our_flops = count_flops(partial(our_path, meta_fast, meta_c, meta_s, args.batch_size,
                                        torch.device("meta")))
        t_ref = _time(ref, device, args.repeats)
        row = {"reference": {"images_per_s": args.contents / t_ref,
                             "gflops": ref_flops / t_ref / 1e9,
                             "gflop_per_image": ref_flops / args.contents / 1e9}}
        print(f"{size} px, {args.contents} contents, 1 style:")
        print(f"  per-image reference path: {args.contents / t_ref:8.2f} images/s  "
              f"{ref_flops / t_ref / 1e9:7.1f} GFLOP/s ({ref_flops / t_ref / 1e9 / peak:.0%} "
              f"of peak)  {ref_flops / args.contents / 1e9:.1f} GFLOP/image")
        for prec in precisions:
            if prec != "fp32":
                ours(precision=prec)  # warm-up
            t_our = _time(partial(ours, precision=prec), device, args.repeats)
            ips = args.contents / t_our
            gf = our_flops / t_our / 1e9
            row[f"ours_{prec}"] = {"images_per_s": ips, "gflops": gf,
                                   "speedup": t_ref / t_our,
                                   "gflop_per_image": our_flops / args.contents / 1e9}
            print(f"  ours (batch {args.batch_size}, cached style, channels-last, {prec}): "
                  f"{ips:8.2f} images/s  {gf:7.1f} GFLOP/s ({gf / peak:.0%} of fp32 peak)  "
                  f"x{t_ref / t_our:.2f} vs reference")
        results["sizes"][str(size)] = row
    load1 = os.getloadavg()
    results["load_after"] = load1
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    if report is not None:
        report.update(results)
    return 0
