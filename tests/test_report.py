"""The self-contained HTML report."""

import numpy as np

from studio.report import Report


def test_report_escapes_text_and_inlines_images(tmp_path):
    r = Report("T <1>")
    r.section("S").text("a < b").table(["x", "y"], [["<i>", 0.123456]])
    r.image(np.zeros((2, 2, 3), np.uint8), "cap")
    html = r.write(tmp_path / "r.html").read_text()
    assert "T &lt;1&gt;" in html and "a &lt; b" in html and "&lt;i&gt;" in html
    assert "0.1235" in html and "data:image/png;base64," in html
