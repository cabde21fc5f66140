"""`studio bench inversion`: one synthesis iteration, ours vs a reference-style loop.

The baseline is written the straightforward way the official scripts are (same math,
same teacher, same batch, same generator/pyramid modules):

- the teacher's parameters keep ``requires_grad`` (their gradients are computed and
  thrown away every iteration);
- the BN hooks use ``permute(...).contiguous().view(...).var(...)`` and run in every
  forward, including NaturalInversion's no-grad feature pass;
- NaturalInversion re-renders the best image (generator + teacher + pyramid) at every
  improvement of the loss; NCHW memory layout.

Ours: frozen teacher, fused ``var_mean`` only where the loss needs it, a parameter
snapshot instead of the re-render, channels-last convolutions. Each variant runs in its
own process so peak memory (RSS on CPU, ``max_memory_allocated`` on CUDA) is its own.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from studio.inversion.deep import DeepInversion, DeepInversionConfig
from studio.inversion.natural import (
    AdaptiveChannelScaling,
    FeatureTransferPyramid,
    Generator,
    NaturalInversion,
    NaturalInversionConfig,
)
from studio.models.cifar import resnet34
from studio.models.teachers import Teacher, feature_stages, teacher_from_model

# ---------------------------------------------------------------------------------------
# Reference-style loops


class _RefBNHook:
    def __init__(self, module: nn.BatchNorm2d):
        self.hook = module.register_forward_hook(self.fn)
        self.r_feature = None

    def fn(self, module, inputs, output):
        x = inputs[0]
        nch = x.shape[1]
        mean = x.mean([0, 2, 3])
        var = x.permute(1, 0, 2, 3).contiguous().view([nch, -1]).var(1, unbiased=False)
        self.r_feature = torch.norm(module.running_var.data.type(var.type()) - var, 2) + \
            torch.norm(module.running_mean.data.type(var.type()) - mean, 2)


def _ref_tv(x):
    d1 = x[:, :, :, :-1] - x[:, :, :, 1:]
    d2 = x[:, :, :-1, :] - x[:, :, 1:, :]
    d3 = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
    d4 = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
    return torch.norm(d1) + torch.norm(d2) + torch.norm(d3) + torch.norm(d4)


def _jit(x, rng, lim, flip):
    x = torch.roll(x, shifts=(rng.randint(-lim, lim), rng.randint(-lim, lim)), dims=(2, 3))
    if flip and rng.random() > 0.5:
        x = torch.flip(x, dims=(3,))
    return x


class RefNaturalInversion:
    """NaturalInversion's loop as the official script writes it."""

    def __init__(self, teacher: Teacher, labels, cfg: NaturalInversionConfig, seed: int,
                 device="cpu"):
        self.net, self.cfg = teacher.model, cfg
        for p in self.net.parameters():
            p.requires_grad_(True)
        torch.manual_seed(seed)
        nc, b = teacher.num_classes, len(labels)
        self.labels = labels.to(device)
        self.generator = Generator(nc, teacher.image_size, cfg.latent_dim).to(device).train()
        self.stages = feature_stages(self.net, teacher.image_size)
        self._feats: list = [None] * len(self.stages)
        for i, m in enumerate(self.stages):
            m.register_forward_hook(lambda mod, inp, out, i=i: self._feats.__setitem__(i, out))
        with torch.no_grad():
            s = teacher.image_size
            self.net(torch.zeros(2, 3, s, s, device=device))
        self.pyramid = FeatureTransferPyramid([f.shape[1] for f in self._feats]).to(device)
        self.alpha = AdaptiveChannelScaling(b, cfg.acs_mean, cfg.acs_std).to(device)
        z = torch.randn(b, cfg.latent_dim, device=device)
        self.z = torch.cat([z, F.one_hot(self.labels, nc).float()], 1)
        self.hooks = [_RefBNHook(m) for m in self.net.modules() if isinstance(m, nn.BatchNorm2d)]
        self.opts = [torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_generator),
                     torch.optim.Adam(self.pyramid.parameters(), lr=cfg.lr_pyramid),
                     torch.optim.Adam(self.alpha.parameters(), lr=cfg.lr_scaling)]
        self.rng = random.Random(seed)
        self.best_cost = 1e6
        self.best = None
        self.rerenders = 0

    def step(self) -> float:
        cfg = self.cfg
        x = _jit(self.generator(self.z), self.rng, cfg.jitter, cfg.flip)
        with torch.no_grad():
            self.net(x.clone().detach())
        x = self.alpha(self.pyramid(x, list(self._feats)))
        x = _jit(x, self.rng, cfg.jitter, cfg.flip)
        out = self.net(x)
        loss = F.cross_entropy(out, self.labels)
        loss = loss + cfg.var_scale * _ref_tv(x)
        loss = loss + cfg.r_feature * sum(h.r_feature for h in self.hooks)
        loss = loss + cfg.l2_scale * torch.norm(x, 2)
        if self.best_cost > loss.item():
            self.best_cost = loss.item()
            self.rerenders += 1
            with torch.no_grad():
                b = self.generator(self.z)
                self.net(b)
                self.best = self.alpha(self.pyramid(b, list(self._feats)))
        for o in self.opts:
            o.zero_grad()
        loss.backward()
        for o in self.opts:
            o.step()
        return loss.item()


class RefDeepInversion:
    """DeepInversion's CIFAR loop as the official script writes it (best kept as a copy)."""

    def __init__(self, teacher: Teacher, labels, cfg: DeepInversionConfig, seed: int,
                 device="cpu"):
        self.net, self.cfg = teacher.model, cfg
        for p in self.net.parameters():
            p.requires_grad_(True)
        torch.manual_seed(seed)
        s = teacher.image_size
        self.labels = labels.to(device)
        self.inputs = torch.randn(len(labels), 3, s, s, device=device, requires_grad=True)
        self.opt = torch.optim.Adam([self.inputs], lr=cfg.lr, betas=cfg.betas)
        self.hooks = [_RefBNHook(m) for m in self.net.modules() if isinstance(m, nn.BatchNorm2d)]
        self.rng = random.Random(seed)
        self.best_cost = 1e6
        self.rerenders = 0

    def step(self) -> float:
        cfg = self.cfg
        x = _jit(self.inputs, self.rng, cfg.jitter, cfg.flip)
        self.opt.zero_grad()
        self.net.zero_grad()
        out = self.net(x)
        loss = F.cross_entropy(out, self.labels)
        loss = loss + cfg.var_scale * _ref_tv(x)
        loss = loss + cfg.r_feature * sum(h.r_feature for h in self.hooks)
        loss = loss + cfg.l2_scale * torch.norm(x, 2)
        if self.best_cost > loss.item():
            self.best_cost = loss.item()
            self.best = self.inputs.data.clone()
        loss.backward()
        self.opt.step()
        return loss.item()


# ---------------------------------------------------------------------------------------
# One measurement (runs in a child process)


def _case_teacher(case: str) -> Teacher:
    """``resnet34`` (random weights), ``toy``, or the user's own teacher: a file or a
    registry name (``--teacher``), loaded with its own normalisation."""
    torch.manual_seed(0)
    if case == "resnet34":
        return teacher_from_model(resnet34(10), "cifar_resnet34", "cifar10")
    from studio.models.teachers import load_teacher

    if case != "toy":
        return load_teacher(case)
    try:
        return load_teacher("toy")
    except Exception:
        from studio.toyworld.models import ToyVGG

        return teacher_from_model(ToyVGG(), "toyvgg", "toy")


def case_label(case: str) -> str:
    """A teacher case as a table shows it: a file by its name."""
    return os.path.basename(case) or case


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_one(case: str, method: str, variant: str, batch: int, iters: int, warmup: int,
                device: str) -> dict:
    dev = torch.device(device)
    teacher = _case_teacher(case)
    teacher.model.to(dev)
    labels = torch.arange(batch) % teacher.num_classes
    if method == "natural":
        cfg = NaturalInversionConfig()
        eng = (RefNaturalInversion if variant == "reference" else NaturalInversion)(
            teacher, labels, cfg, 1, dev)
    else:
        cfg = DeepInversionConfig()
        eng = (RefDeepInversion if variant == "reference" else DeepInversion)(
            teacher, labels, cfg, 1, dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        eng.step()
    sync()
    setup_rss = _rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times, cpu = [], []
    for _ in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        eng.step()
        sync()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # On a shared CPU the process's CPU time is the robust measure (wall time depends on
    # what else runs); on CUDA the synchronised wall time is.
    seconds = statistics.median(times) if dev.type == "cuda" else statistics.median(cpu)
    res = {"case": case, "method": method, "variant": variant, "batch": batch,
           "seconds": seconds, "metric": "wall" if dev.type == "cuda" else "cpu",
           "wall_times": times, "cpu_times": cpu, "peak_rss_mb": round(peak, 1),
           "rss_after_warmup_mb": round(setup_rss, 1),
           "image_size": teacher.image_size, "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        res["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
    return res


def run_bench(cases: list[str], methods: list[str], batch: int, iters: int, warmup: int,
              device: str, threads: int | None = None, log=print) -> list[dict]:
    """Every (case, method, variant) in a fresh child process; returns their results."""
    rows = []
    for case in cases:
        for method in methods:
            for variant in ("reference", "ours"):
                cmd = [sys.executable, "-m", "studio.inversion.bench", case, method, variant,
                       str(batch), str(iters), str(warmup), device]
                env = dict(os.environ)
                if threads:
                    env["OMP_NUM_THREADS"] = str(threads)
                    cmd.append(str(threads))
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    raise RuntimeError(f"bench child failed ({case} {method} {variant}):\n"
                                       f"{proc.stderr[-2000:]}")
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                log(f"  {case_label(case):9s} {method:8s} {variant:9s} {row['seconds']:.3f} s/iter "
                    f"({row['metric']})  wall {statistics.median(row['wall_times']):.3f} s  "
                    f"peak RSS {row['peak_rss_mb']:.0f} MB" +
                    (f"  peak CUDA {row['peak_cuda_mb']:.0f} MB" if "peak_cuda_mb" in row else ""))
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    keyed = {(r["case"], r["method"], r["variant"]): r for r in rows}
    for (case, method, variant), ref in keyed.items():
        if variant != "reference" or (case, method, "ours") not in keyed:
            continue
        ours = keyed[(case, method, "ours")]
        mem = "peak_cuda_mb" if "peak_cuda_mb" in ours else "peak_rss_mb"
        out.append({"case": case, "method": method, "speedup": ref["seconds"] / ours["seconds"],
                    "ref_seconds": ref["seconds"], "ours_seconds": ours["seconds"],
                    "memory_metric": mem, "ref_peak_mb": ref[mem], "ours_peak_mb": ours[mem]})
    return out


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) > 7:
        torch.set_num_threads(int(a[7]))
    r = measure_one(a[0], a[1], a[2], int(a[3]), int(a[4]), int(a[5]), a[6])
    print(json.dumps(r))
