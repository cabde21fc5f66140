"""Engines declare themselves: one package with an engine.py adds a job, a command, a
model file and a window page, with nothing in Studio edited."""

from __future__ import annotations

import json

import pytest

from studio.cli import build_parser, main
from studio.core import checkpoints as ck
from studio.core.engines import discover
from studio.registry import cli_modules, get_job_type, job_types, pages

ECHO_ENGINE = {
    "params": """
        from dataclasses import dataclass, field
        from pathlib import Path

        @dataclass
        class EchoParams:
            out: Path
            words: list[str] = field(default_factory=lambda: ["hello"])
            repeat: int = 2
    """,
    "jobs": """
        from studio.core.jobs import Progress

        def echo_job(p, token=None):
            p.out.mkdir(parents=True, exist_ok=True)
            text = " ".join(p.words * p.repeat)
            (p.out / "echo.txt").write_text(text)
            yield Progress(1, 1)
            return {"text": text}
    """,
    "cli": """
        def _cmd(args):
            print("echo:", args.word)
            return 0

        def register(g):
            p = g.add(g.root, "echo", "say a word back", _cmd)
            p.add_argument("--word", default="hi", help="what to say")
    """,
    "engine": """
        from studio.core.engines import Engine, JobSpec, ModelSpec, PageSpec

        ENGINE = Engine(
            name="echo", title="Echo",
            jobs=(JobSpec("echo", "echo_engine.params:EchoParams", "echo_engine.jobs:echo_job",
                          "write the words to echo.txt"),),
            cli="echo_engine.cli",
            models=(ModelSpec("echo-net", "echo.pth", "a model the echo engine knows",
                              family="echo"),),
            pages=(PageSpec("echo_engine.page:EchoPage", 15),),
        )
    """,
}


def test_studio_own_engines_are_found_in_package_order():
    names = [e.name for e in discover()]
    assert names == sorted(names)
    assert {"adain", "tsit", "inversion", "texture_shape", "compression", "trainer",
            "toyworld"} <= set(names)
    assert get_job_type("adain.stylize").engine == "adain"
    assert "studio.tsit.cli" in cli_modules()


def test_one_package_adds_a_job_a_command_a_model_and_a_page(add_engine, tmp_path, capsys):
    add_engine("echo_engine", ECHO_ENGINE)
    assert "echo" in [e.name for e in discover()]
    # the job runs from a recipe
    recipe = tmp_path / "echo.toml"
    recipe.write_text(f'schema = 1\njob = "echo"\n[params]\nout = "{tmp_path / "o"}"\n'
                      'words = ["a", "b"]\n')
    assert main(["run", str(recipe), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out) == {"text": "a b a b"}
    assert (tmp_path / "o" / "echo.txt").read_text() == "a b a b"
    # the command is on the command line, with its help
    assert main(["echo", "--word", "yo"]) == 0
    assert "echo: yo" in capsys.readouterr().out
    assert "say a word back" in build_parser().format_help()
    # its model file is in the table, its page in the sidebar order (after Stylize)
    assert ck.REGISTRY["echo-net"].family == "echo"
    assert main(["models", "list"]) == 0
    assert "echo-net" in capsys.readouterr().out
    refs = [p.ref for p in pages()]
    assert refs.index("echo_engine.page:EchoPage") == 1


def test_a_removed_plugin_leaves_no_trace(add_engine):
    with pytest.raises(KeyError, match="unknown job type 'echo'"):
        get_job_type("echo")
    assert "echo-net" not in ck.REGISTRY


def test_a_broken_declaration_is_named(add_engine):
    add_engine("broken_engine", {"engine": "ENGINE = 42\n"})
    with pytest.raises(RuntimeError, match="broken_engine.engine:ENGINE is a int"):
        job_types()


def test_two_engines_may_not_share_a_name(add_engine):
    add_engine("adain_again", {"engine": """
        from studio.core.engines import Engine
        ENGINE = Engine("adain", "again")
    """})
    with pytest.raises(RuntimeError, match="two engines are named 'adain'"):
        discover()


def test_declarations_import_no_torch():
    import subprocess
    import sys

    code = ("import sys; from studio.registry import job_types, pages; "
            "t = job_types(); pages(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
