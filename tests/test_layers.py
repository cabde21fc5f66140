"""The layers of docs/architecture.md, enforced: each part of Studio imports only parts
below it (function-level imports included), engines of one tier never import each other,
core names no engine, and the window reaches torch only through an engine."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

import studio

ROOT = Path(studio.__file__).parent

#: Rank of every part; a part imports only parts of a lower rank (or itself).
#: The application modules (studio/*.py) and the GUI share the top rank.
RANKS: dict[str, int] = {
    "studio": 0, "core": 0,
    "datasets": 1,
    "toyworld": 2,
    "models": 3,
    "adain": 4, "tsit": 4, "inversion": 4, "trainer": 4,
    "texture_shape": 5, "compression": 5,
    "gui": 6, "cli": 6, "demo": 6, "e2e_bench": 6, "report": 6, "registry": 6, "recipes": 6, "__main__": 6,
}
TOP = 6


def part_of(module: str) -> str:
    """``studio.adain.model`` -> ``adain``; ``studio.cli`` -> ``cli``; ``studio`` -> ``studio``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "studio"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, at any depth."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            # `from studio import cli` imports the module studio.cli
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names
                    if name == "studio" and (ROOT / f"{a.name}.py").exists()]
    return out


def layer_violations(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        src = part_of(module_name(path))
        assert src in RANKS, f"{path}: part {src!r} has no layer in RANKS"
        for line, name in imports_of(path):
            if not name.startswith("studio.") and name != "studio":
                continue
            dst = part_of(name)
            if dst == src or (dst == "studio" and name == "studio"):
                continue
            if RANKS[dst] > RANKS[src] or (RANKS[dst] == RANKS[src] < TOP):
                bad.append(f"{path.relative_to(root.parent)}:{line}: {src} -> {name}")
    return bad


def test_every_part_imports_only_parts_below_it():
    bad = layer_violations()
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_top_layer_modules_form_no_cycle():
    """cli -> gui -> registry is fine; registry -> cli would be a cycle."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        src = part_of(module_name(path))
        if RANKS[src] != TOP:
            continue
        for _, name in imports_of(path):
            dst = part_of(name) if name.startswith("studio.") else ""
            if RANKS.get(dst) == TOP and dst != src:
                graph.setdefault(src, set()).add(dst)

    def reaches(a: str, b: str, seen: set[str]) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n}))
                   for n in graph.get(a, ()))

    cycles = [f"{a} <-> {b}" for a, b in itertools.combinations(sorted(graph), 2)
              if reaches(a, b, {a}) and reaches(b, a, {b})]
    assert not cycles, f"import cycles in the top layer: {cycles}"


def test_the_window_reaches_torch_only_through_engines():
    bad = [f"{path.relative_to(ROOT)}:{line}: {name}"
           for path in sorted((ROOT / "gui").rglob("*.py"))
           for line, name in imports_of(path)
           if name.split(".")[0] in ("torch", "torchvision")]
    assert not bad, "the GUI imports torch directly:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from studio.gui.app import main\n", "core -> studio.gui.app"),
    ("from studio.registry import get_job_type\n", "core -> studio.registry"),
    ("from studio import cli\n", "core -> studio.cli"),
    ("from ..adain import model\n", "core -> studio.adain"),
])
def test_the_rule_catches_an_upward_import(tmp_path, source, expected):
    root = tmp_path / "studio"
    (root / "core").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "cli.py").write_text("")
    (root / "core" / "__init__.py").write_text("")
    (root / "core" / "bad.py").write_text(source)
    global ROOT
    saved, ROOT = ROOT, root
    try:
        bad = layer_violations(root)
    finally:
        ROOT = saved
    assert len(bad) == 1 and expected in bad[0], bad


def test_engines_of_one_tier_do_not_import_each_other(tmp_path):
    root = tmp_path / "studio"
    (root / "tsit").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "tsit" / "__init__.py").write_text("import studio.adain.model\n")
    global ROOT
    saved, ROOT = ROOT, root
    try:
        bad = layer_violations(root)
    finally:
        ROOT = saved
    assert bad == ["studio/tsit/__init__.py:1: tsit -> studio.adain.model"]
