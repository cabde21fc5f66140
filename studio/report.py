"""A self-contained HTML report: text, tables, images (inlined) and the commands behind them.

Used by `studio demo`; any job that wants a human-readable record can build one. The
file has no external references, so it can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.images import atomic_write, encode_png

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
color:#1d232a;padding:0 1em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d8dee4;padding-bottom:.2em;
margin-top:2em}table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #d8dee4;
padding:.3em .7em;text-align:right}th{background:#f3f5f7}td:first-child,th:first-child{
text-align:left}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figure img{image-rendering:pixelated;border:1px solid #d8dee4;max-width:100%}
figcaption{font-size:.85em;color:#57606a;max-width:520px}
pre{background:#f6f8fa;padding:.6em .8em;overflow-x:auto;font-size:.85em;border-radius:4px}
.fail{color:#b42318;font-weight:600}.ok{color:#1a7f37;font-weight:600}.muted{color:#57606a}
"""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)


class Report:
    """Build an HTML page section by section; :meth:`write` saves it atomically."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []

    def section(self, title: str) -> Report:
        self.sections.append(Section(title))
        return self

    def _add(self, text: str) -> Report:
        if not self.sections:
            self.section("")
        self.sections[-1].parts.append(text)
        return self

    def text(self, text: str, cls: str = "") -> Report:
        attr = f' class="{cls}"' if cls else ""
        return self._add(f"<p{attr}>{html.escape(text)}</p>")

    def status(self, ok: bool, text: str) -> Report:
        return self.text(("OK — " if ok else "FAILED — ") + text, "ok" if ok else "fail")

    def command(self, cmd: str) -> Report:
        return self._add(f"<pre>$ {html.escape(cmd)}</pre>")

    def table(self, headers: list[str], rows: list[list[Any]]) -> Report:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.4g}"
            return html.escape(str(v))

        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
        return self._add(f"<table><tr>{head}</tr>{body}</table>")

    def image(self, image: Any, caption: str = "", width: int | None = None) -> Report:
        """Inline an image: a PNG/SVG path, PNG bytes, or anything ``encode_png`` takes."""
        if isinstance(image, (str, os.PathLike)):
            data = Path(image).read_bytes()
            mime = "image/svg+xml" if str(image).endswith(".svg") else "image/png"
        elif isinstance(image, bytes):
            data, mime = image, "image/png"
        else:
            data, mime = encode_png(image), "image/png"
        src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        w = f' width="{width}"' if width else ""
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        return self._add(f'<figure><img src="{src}"{w} alt="{html.escape(caption)}">{cap}</figure>')

    def html(self) -> str:
        out = ["<!doctype html><html><head><meta charset='utf-8'>",
               f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>",
               f"<h1>{html.escape(self.title)}</h1>"]
        if self.subtitle:
            out.append(f"<p class='muted'>{html.escape(self.subtitle)}</p>")
        for s in self.sections:
            if s.title:
                out.append(f"<h2>{html.escape(s.title)}</h2>")
            out.extend(s.parts)
        out.append("</body></html>")
        return "\n".join(out)

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_write(path) as fh:
            fh.write(self.html().encode("utf-8"))
        return path
