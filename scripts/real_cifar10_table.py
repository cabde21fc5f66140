"""The tables of docs/real-cifar10.md from the folders `scripts/real_cifar10.sh OUT` wrote.

    python scripts/real_cifar10_table.py OUT

Reads each run's own records (manifest.jsonl, distill.json, prune.json) and prints
markdown tables, mean ± sd over the seeds found (n is printed next to each cell).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def _cell(xs: list[float], scale: float = 100.0) -> str:
    if not xs:
        return "–"
    m = statistics.fmean(xs) * scale
    sd = statistics.stdev(xs) * scale if len(xs) > 1 else 0.0
    return f"{m:.2f} ± {sd:.2f} (n={len(xs)})"


def synthesis(out: Path) -> str:
    rows = defaultdict(lambda: ([], []))
    for d in sorted(out.glob("*-s[0-9]*")):
        method = d.name.rsplit("-s", 1)[0]
        man = d / "manifest.jsonl"
        if method not in ("natural", "deep", "noise") or not (d / "dataset.json").is_file():
            continue
        recs = [json.loads(line) for line in man.read_text().splitlines() if line.strip()]
        acc, conf = rows[method]
        acc.append(sum(r["teacher_pred"] == r["label"] for r in recs) / len(recs))
        conf.append(statistics.fmean(r["teacher_confidence"] for r in recs))
    lines = ["| images | teacher top-1 on them (%) | teacher confidence (%) |", "|---|---|---|"]
    for m in ("natural", "deep", "noise"):
        if m in rows:
            lines.append(f"| {m} | {_cell(rows[m][0])} | {_cell(rows[m][1])} |")
    return "\n".join(lines)


def distillation(out: Path) -> str:
    rows: dict[str, list[float]] = defaultdict(list)
    teacher: list[float] = []
    for f in sorted(out.glob("distill-*-s*/distill.json")):
        d = json.loads(f.read_text())
        rows[f.parent.name.split("-")[1]].append(d["final_real_acc"])
        teacher.append(d["teacher_real_acc"])
    lines = ["| student trained on | ResNet-20 student top-1 (%) |", "|---|---|"]
    for m in ("natural", "deep", "noise", "real"):
        if m in rows:
            lines.append(f"| {m} | {_cell(rows[m])} |")
    if teacher:
        lines.append(f"| (teacher ResNet-56, same images) | {_cell(teacher[:1])} |")
    return "\n".join(lines)


def pruning(out: Path) -> str:
    tuned: dict[tuple[str, float], list[float]] = defaultdict(list)
    none: dict[float, list[float]] = defaultdict(list)
    base: list[float] = []
    for f in sorted(out.glob("prune-*-s*/prune.json")):
        d = json.loads(f.read_text())
        m = f.parent.name.split("-")[1]
        base.append(d["teacher_real_acc"])
        for r in d["rows"]:
            tuned[(m, r["target_sparsity"])].append(r["real_acc_finetuned"])
            if m == "real":
                none[r["target_sparsity"]].append(r["real_acc_pruned"])
    sps = sorted({s for _, s in tuned})
    head = "| fine-tuned on | " + " | ".join(f"{s:.0%} filters" for s in sps) + " |"
    lines = [head, "|---|" + "---|" * len(sps)]
    lines.append("| no data (pruned only) | " + " | ".join(_cell(none[s]) for s in sps) + " |")
    for m in ("natural", "deep", "real"):
        if any((m, s) in tuned for s in sps):
            lines.append(f"| {m} | " + " | ".join(_cell(tuned[(m, s)]) for s in sps) + " |")
    if base:
        lines.append(f"\nunpruned ResNet-56 on the same 2,000 test images: {_cell(base[:1])}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("runs/cmp")
    print("## teacher on its synthetic images\n" + synthesis(out))
    print("\n## distillation ResNet-56 -> ResNet-20 (the same 2,000 JPEG test images as pruning)\n" + distillation(out))
    print("\n## pruning ResNet-56 (2,000 JPEG test images)\n" + pruning(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
