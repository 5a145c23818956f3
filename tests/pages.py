"""Looking at an HTML report in headless Chromium the way a person does: at a given width, does anything
overlap, overflow its box or push the page sideways? (tests/campaign/test_report_html.py, the map test)

:func:`layout_problems` loads the page in an iframe of that width inside a harness page, optionally opens
every ``<details>`` (``#expand-all``), and reports the bounding boxes that intersect (of elements that are
not nested in one another), the elements whose content is wider than their box, and whether the page
scrolls sideways. Screenshots: :func:`screenshot_size` reads a PNG's width and height.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from conftest import chromium_harness_result

# What a reader sees as separate things: overlapping two of them (not nested) is a layout bug.
LAYOUT_SELECTORS = (
    "header.page h1",
    "header.page .meta",
    ".panel",
    ".panel h3",
    ".card",
    ".bars > *",
    ".note",
    "svg.chart",
    "svg.chart text",
    ".legend span",
    ".toolbar > *",
    "thead th",
    "tbody.item:not([hidden]) tr > td",
    "tbody.item:not([hidden]) td > *",
    "tbody.item:not([hidden]) .detail-grid > div",
    "tbody.item:not([hidden]) pre.message",
)
# Boxes whose content must fit them (text running out of a cell lies over its neighbour).
FIT_SELECTORS = ("thead th", "tbody.item:not([hidden]) td", ".card", ".panel", ".toolbar > *", "header.page")

HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>layout harness</title>
<style>body { margin: 0; } iframe { border: 0; display: block; }</style></head>
<body><iframe id="page" src="%(page)s" style="width:%(width)dpx;height:%(height)dpx"></iframe>
<pre id="out">pending</pre>
<script>
var SELECTORS = %(selectors)s, FIT = %(fit)s, EXPAND = %(expand)s;
document.getElementById("page").addEventListener("load", function () {
  var doc = this.contentDocument;
  if (EXPAND && doc.getElementById("expand-all")) { doc.getElementById("expand-all").click(); }
  function name(el) {
    var text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    var cls = el.className && el.className.baseVal === undefined ? "." + String(el.className).split(" ").join(".") : "";
    return el.tagName.toLowerCase() + cls + " '" + text + "'";
  }
  function shown(el) {
    var r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  }
  var seen = [], boxes = [];
  SELECTORS.forEach(function (sel) {
    doc.querySelectorAll(sel).forEach(function (el) {
      if (seen.indexOf(el) === -1 && shown(el)) { seen.push(el); boxes.push(el.getBoundingClientRect()); }
    });
  });
  var overlaps = [];
  for (var i = 0; i < seen.length; i++) {
    for (var j = i + 1; j < seen.length; j++) {
      var a = boxes[i], b = boxes[j];
      if (seen[i].contains(seen[j]) || seen[j].contains(seen[i])) { continue; }
      var w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      var h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) { overlaps.push(name(seen[i]) + " / " + name(seen[j])); }
    }
  }
  var overflowing = [];
  FIT.forEach(function (sel) {
    doc.querySelectorAll(sel).forEach(function (el) {
      if (shown(el) && el.scrollWidth > el.clientWidth + 1) {
        overflowing.push(name(el) + " " + el.scrollWidth + ">" + el.clientWidth);
      }
    });
  });
  var root = doc.documentElement;
  document.getElementById("out").textContent = JSON.stringify({
    checked: seen.length, overlaps: overlaps, overflowing: overflowing,
    sideways: root.scrollWidth > root.clientWidth + 1, width: root.clientWidth,
    ready: root.getAttribute("data-ready")
  });
});
</script></body></html>
"""


def layout_problems(chromium: str, workdir: Path, page: Path, width: int, *, expand: bool = True) -> dict[str, Any]:
    """The layout of ``page`` at ``width`` CSS pixels (see the module's doc)."""
    import json

    harness = page.parent / f"layout-{width}.html"
    harness.write_text(
        HARNESS
        % {
            "page": page.name,
            "width": width,
            "height": 2400,
            "selectors": json.dumps(LAYOUT_SELECTORS),
            "fit": json.dumps(FIT_SELECTORS),
            "expand": "true" if expand else "false",
        },
        encoding="utf-8",
    )
    return dict(chromium_harness_result(chromium, workdir / f"chromium-{width}", harness, budget_ms=10000))


def screenshot_size(png: Path) -> tuple[int, int]:
    """(width, height) of a PNG file (its IHDR chunk)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", png
    width, height = struct.unpack(">II", data[16:24])
    return width, height


__all__ = ["FIT_SELECTORS", "LAYOUT_SELECTORS", "layout_problems", "screenshot_size"]
