"""The main window: pages, shortcuts, settings, themes, recipes, closing with jobs."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication

from studio.gui import settings as prefs
from studio.gui import theme
from studio.gui.workers import JobState


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("gui-app") / "ws"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, workspace):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(workspace))
    prefs.use_settings_dir(tmp_path / "cfg")
    from studio.gui.app import create_app
    from studio.gui.mainwindow import MainWindow

    create_app()
    made = []

    def make(**kw):
        # pytest-qt closes added widgets before fixtures end: never let that ask a human
        kw.setdefault("confirm", lambda text: True)
        w = MainWindow(**kw)
        qtbot.addWidget(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.confirm = lambda text: True
        w.ctx.queue.cancel_all()
        w.ctx.queue.wait_all(20, QApplication.processEvents)


def test_every_page_opens_and_has_shortcuts(window):
    from studio.gui.mainwindow import BrokenPage

    w = window()
    keys = w.page_keys()
    assert keys == ["stylize", "build", "texture", "synthesize", "evaluate", "translate",
                    "toyworld", "models", "jobs"]
    assert not [k for k, p in w.pages.items() if isinstance(p, BrokenPage)]
    sc = w.shortcuts()
    assert sc["run"] == "Ctrl+Return" and sc["cancel"] == "Esc"
    assert sc["load"] == "Ctrl+O" and sc["save"] == "Ctrl+S"
    assert sc["page-stylize"] == "Ctrl+1" and sc["page-jobs"] == "Ctrl+9"
    w.actions_by_name["page-models"].trigger()
    assert w.current_page().key == "models"
    assert w.nav.item(0).toolTip() and not w.windowIcon().isNull()


def test_a_broken_page_is_reported_not_fatal(window, monkeypatch):
    from studio.gui import mainwindow

    monkeypatch.setattr(mainwindow, "APP_PAGES", mainwindow.APP_PAGES + [
        "studio.gui.pages.nonexistent:Nope"])
    w = window()
    page = w.pages["nonexistent"]
    assert "No module named 'studio.gui.pages.nonexistent'" in page.error


def test_layout_page_and_theme_persist(window, qtbot):
    w = window()
    w.show_page("texture")
    w.resize(640, 470)
    w.set_theme("dark")
    assert theme.current() == "dark"
    w.save_settings()
    w2 = window()
    assert w2.current_page().key == "texture"
    assert (w2.width(), w2.height()) == (640, 470)
    assert w2.theme_actions["dark"].isChecked()
    w2.set_theme("light")


def test_both_stylesheets_resolve_every_colour():
    for name in theme.THEMES:
        css = theme.stylesheet(name)
        assert "{" in css and "}" in css  # rules
        assert "{accent}" not in css and "{icons}" not in css
        assert theme.colors(name)["accent"] in css
    assert theme.colors("dark")["base"] != theme.colors("light")["base"]


def test_closing_with_a_running_job_asks_then_stops_it(window, qtbot, tmp_path):
    from studio.toyworld.generate import ToyWorldParams

    answers = []
    w = window(confirm=lambda text: answers.append(text) or False)
    w.show()
    qtbot.waitUntil(lambda: w.ctx.toy.ready() and not w.ctx.queue.active(), timeout=60000)
    rec = w.ctx.queue.submit("toyworld", ToyWorldParams(tmp_path / "big", per_class=400,
                                                        workers=1))
    qtbot.waitUntil(lambda: rec.step > 0, timeout=20000)
    assert not w.close()  # refused: the user said no
    assert answers and "1 job(s)" in answers[0] and not rec.state.finished
    w.confirm = lambda text: True
    assert w.close()
    assert rec.state == JobState.CANCELLED
    assert (tmp_path / "big").is_dir()  # finished files kept, resumable


def test_recipe_saved_from_a_page_opens_in_that_page(window, tmp_path):
    from studio.recipes import load_recipe, save_recipe

    w = window()
    page = w.show_page("toyworld")
    form = page.panel.form("toyworld")
    form.set_value("per_class", 7)
    form.set_value("out", tmp_path / "o")
    job, params = w.current_page().current_recipe()
    path = save_recipe(tmp_path / "r.toml", job, params)
    assert load_recipe(path)[1].per_class == 7
    form.set_value("per_class", 1)
    w.show_page("models")
    opened = w.load_recipe_file(path)
    assert opened.key == "toyworld" and w.current_page() is opened
    assert opened.current_recipe()[1] == params
