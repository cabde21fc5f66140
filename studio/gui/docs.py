"""The documentation inside the app (F1): Markdown files of ``docs/`` in a text browser.

A desktop browser is not always there (a cluster login node, a bare Xvfb, a minimal
desktop), and a link that silently does nothing is worse than no link; so the guide is
rendered here, with links between the documents followed inside the window.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QUrl
from PySide6.QtGui import QImage, QResizeEvent, QTextDocument
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QTextBrowser, QVBoxLayout


def docs_dir() -> Path:
    """``docs/`` at the top of the source tree (a checkout or an editable install) or of the
    desktop bundle. An installed wheel has none (the guides travel in the sdist and
    online); the window then says where it looked."""
    frozen = getattr(sys, "_MEIPASS", None)  # PyInstaller bundle
    return (Path(frozen) if frozen else Path(__file__).resolve().parents[2]) / "docs"


class DocBrowser(QTextBrowser):
    """A text browser that shows the guide's screenshots at a readable width."""

    max_image_width = 640

    def loadResource(self, kind: int, url: QUrl):
        res = super().loadResource(kind, url)
        if kind == QTextDocument.ResourceType.ImageResource.value:
            img = res if isinstance(res, QImage) else QImage.fromData(res) \
                if isinstance(res, (bytes, bytearray, QByteArray)) else QImage()
            if not img.isNull() and img.width() > self.max_image_width:
                return img.scaledToWidth(self.max_image_width,
                                         Qt.TransformationMode.SmoothTransformation)
            return img if not img.isNull() else res
        return res


class DocsWindow(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Studio documentation")
        self.setModal(False)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Document", self))
        self.which = QComboBox(self)
        self.which.setToolTip("The guides shipped with Studio")
        row.addWidget(self.which, 1)
        lay.addLayout(row)
        self.browser = DocBrowser(self)
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._follow)
        lay.addWidget(self.browser, 1)
        d = docs_dir()
        names = sorted(p.name for p in d.glob("*.md")) if d.is_dir() else []
        if "gui.md" in names:
            names.remove("gui.md")
            names.insert(0, "gui.md")
        self.which.addItems(names)
        self.which.currentTextChanged.connect(self.show_doc)
        self.resize(820, 720)
        self.current = ""
        #: the heading F1 opened at ("" = the top)
        self.section = ""

    def show_doc(self, name: str, section: str = "") -> bool:
        """Render ``docs/<name>`` (at the heading ``section`` when given); say where the
        docs were looked for when absent."""
        path = docs_dir() / name
        if not path.is_file():
            self.browser.setPlainText(f"The documentation is not installed here "
                                      f"({path} is missing). It is also online in the "
                                      "project's docs/ folder.")
            self.current = ""
            return False
        if name != self.current:
            self.browser.setSearchPaths([str(path.parent)])
            self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        self.current = name
        self.section = ""
        self._anchored: tuple[int, int] | None = None
        if self.which.currentText() != name:
            self.which.blockSignals(True)
            self.which.setCurrentText(name)
            self.which.blockSignals(False)
        if section:
            self.show_section(section)
        else:
            self.browser.verticalScrollBar().setValue(0)
        return True

    def headings(self) -> list[tuple[int, str]]:
        """(level, text) of every heading of the shown document."""
        out = []
        block = self.browser.document().begin()
        while block.isValid():
            level = block.blockFormat().headingLevel()
            if level:
                out.append((level, block.text().strip()))
            block = block.next()
        return out

    def show_section(self, heading: str) -> bool:
        """Scroll so that the heading ``heading`` (exact, else the first one starting with
        it) is at the top of the window: F1 on a page opens at that page's part."""
        doc = self.browser.document()
        want = heading.strip().lower()
        found = None
        block = doc.begin()
        while block.isValid():
            if block.blockFormat().headingLevel():
                text = block.text().strip().lower()
                if text == want:
                    found = block
                    break
                if found is None and text.startswith(want):
                    found = block
            block = block.next()
        if found is None:
            return False
        cursor = self.browser.textCursor()
        cursor.setPosition(found.position())
        self.browser.setTextCursor(cursor)
        # the heading at the top, not merely somewhere in view
        bar = self.browser.verticalScrollBar()
        bar.setValue(bar.maximum())
        self.browser.ensureCursorVisible()
        self.section = found.text().strip()
        self._anchored = (found.position(), bar.value())
        return True

    def resizeEvent(self, e: QResizeEvent) -> None:
        """Text wraps anew at another width: keep the section F1 opened at the top
        (unless the reader has scrolled away from it since)."""
        super().resizeEvent(e)
        anchored = getattr(self, "_anchored", None)
        if anchored is not None and self.browser.verticalScrollBar().value() == anchored[1]:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, lambda: self._rescroll(anchored[0]))

    def _rescroll(self, position: int) -> None:
        cursor = self.browser.textCursor()
        cursor.setPosition(position)
        self.browser.setTextCursor(cursor)
        bar = self.browser.verticalScrollBar()
        bar.setValue(bar.maximum())
        self.browser.ensureCursorVisible()
        self._anchored = (position, bar.value())

    def _follow(self, url: QUrl) -> None:
        target = url.toString()
        if url.scheme() in ("http", "https"):
            from PySide6.QtGui import QDesktopServices

            if not QDesktopServices.openUrl(url):
                self.browser.append(f"\n(no browser to open {target}; copy the address)")
            return
        name = Path(target.split("#")[0]).name
        if name.endswith(".md"):
            self.show_doc(name)
