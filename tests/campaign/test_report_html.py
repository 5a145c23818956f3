"""The HTML report, rendered in real headless Chromium: what a PR person sees, and that nothing from a
CSV or a mail runs as code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import chromium_harness_result, run_chromium
from lint.cases import NOW

from outreach.campaign import evaluate, load_campaign
from outreach.campaign.report import render_html

from .data import DATA
from .test_evaluate import mixed_store, store  # noqa: F401 - fixtures

HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body><iframe id="report" src="report.html" style="width:1200px;height:800px"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById("report").addEventListener("load", function () {
  var doc = this.contentDocument;
  function visible() {
    return Array.prototype.slice.call(doc.querySelectorAll("tbody.recipient"))
      .filter(function (t) { return !t.hidden && t.getBoundingClientRect().height > 0; })
      .map(function (t) { return t.getAttribute("data-address"); });
  }
  var result = {ready: doc.documentElement.getAttribute("data-ready"), before: visible(),
                title: doc.title, scripts: doc.querySelectorAll("script").length,
                injected_img: doc.querySelectorAll("img").length};
  doc.getElementById("filter-ready").click();
  doc.getElementById("filter-review").click();
  result.blocked_only = visible();
  result.shown = doc.getElementById("shown").textContent;
  doc.getElementById("filter-ready").click();
  var search = doc.getElementById("search");
  search.value = "r007";
  search.dispatchEvent(new Event("input"));
  result.search = visible();
  var frame = doc.querySelector("tbody[data-address='xss@example.org'] iframe");
  result.iframe_sandbox = frame.getAttribute("sandbox");
  result.iframe_text = frame.contentDocument ? null : "no access";
  document.getElementById("out").textContent = JSON.stringify(result);
});
</script></body></html>
"""


@pytest.fixture
def report_file(mixed_store, tmp_path: Path) -> Path:  # noqa: F811
    report = evaluate(mixed_store, load_campaign(DATA / "mixed"), now=NOW)
    path = tmp_path / "report.html"
    path.write_text(render_html(report, generated=NOW), encoding="utf-8")
    return path


def test_report_is_self_contained_and_escaped(report_file):
    page = report_file.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    assert "<script>document.title" not in page
    assert "&lt;script&gt;document.title=" in page
    assert page.count("<script>") == 1


def test_report_in_chromium(chromium, report_file, tmp_path):
    dom = run_chromium(chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", report_file.as_uri())
    assert 'data-ready="true"' in dom  # our script ran under the CSP
    assert dom.count('<tbody class="recipient"') == 10
    assert "<title>Campaign preview: mixed-test</title>" in dom  # the CSV's script did not rename the page
    assert "pwned" not in re.sub(
        r"&lt;script&gt;document.title='pwned'|onerror=&quot;document.title='pwned'&quot;|"
        r"document\.title='pwned'",
        "",
        dom.split("<main>")[0],
    )
    assert '<img src="x"' not in dom and "<img src=x" not in dom
    assert "they asked us to stop writing" in dom
    assert "introduced by Dana Example at the Lyon panel" in dom


def test_filters_hide_rows_when_clicked(chromium, report_file, tmp_path):
    (tmp_path / "harness.html").write_text(HARNESS, encoding="utf-8")
    result = chromium_harness_result(chromium, tmp_path, tmp_path / "harness.html")
    assert result["ready"] == "true"
    assert len(result["before"]) == 10
    assert result["title"] == "Campaign preview: mixed-test"
    assert result["scripts"] == 1 and result["injected_img"] == 0
    assert set(result["blocked_only"]) == {
        "stranger@example.com",
        "oneway@example.com",
        "optout@example.org",
        "blocked@suppressed.example",
        "nofield@example.org",
    }
    assert result["shown"] == "5"
    assert result["search"] == ["optout@example.org"]
    assert result["iframe_sandbox"] == ""


def test_screenshot(chromium, report_file, tmp_path):
    shot = tmp_path / "report.png"
    run_chromium(
        chromium,
        tmp_path,
        "--window-size=1280,1000",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        report_file.as_uri(),
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
