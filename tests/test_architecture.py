"""Design rules that keep the engine usable headless."""

import ast
from pathlib import Path

import studio

ROOT = Path(studio.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_qt_is_imported_only_in_gui():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "gui":
            continue
        qt = _imports(path) & {"PySide6", "PyQt5", "PyQt6", "shiboken6"}
        if qt:
            offenders.append(f"{rel}: {sorted(qt)}")
    assert not offenders, "Qt imported outside studio/gui/: " + "; ".join(offenders)


def test_the_rule_detects_a_qt_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtCore import QObject\n")
    assert "PySide6" in _imports(bad)


def test_checkpoint_loading_is_always_weights_only():
    offenders = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "torch"):
                kw = {k.arg: k.value for k in node.keywords}
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value
                if not ok:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "torch.load without weights_only=True: " + ", ".join(offenders)
