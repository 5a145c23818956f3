"""The HTML report, rendered in real headless Chromium: what a PR manager sees first (the summary, the
chart), that sorting and filtering work, that nothing overlaps at desktop and laptop widths, that the page
says nothing on its console, and that nothing from a CSV or a mail runs as code."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import chromium_console, chromium_harness_result, run_chromium
from lint.cases import NOW
from pages import layout_problems, screenshot_size

from outreach.campaign import evaluate, load_campaign
from outreach.campaign.report import render_html

from .data import DATA, add_ledgers
from .test_evaluate import mixed_store, store  # noqa: F401 - fixtures

WIDTHS = {"desktop": (1440, 900), "laptop": (1280, 800), "small-laptop": (1024, 768)}
COLLEAGUE = "colleague@example.com"  # jordan is warm with her: an outlet path to the strangers at example.com

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
  function column(key) {
    return Array.prototype.slice.call(doc.querySelectorAll("tbody.recipient"))
      .map(function (t) { return t.getAttribute("data-k-" + key); });
  }
  function sortBy(key) { doc.querySelector("th[data-sort='" + key + "'] button").click(); }
  function sortState(key) { return doc.querySelector("th[data-sort='" + key + "']").getAttribute("aria-sort"); }
  var result = {ready: doc.documentElement.getAttribute("data-ready"), before: visible(),
                title: doc.title, scripts: doc.querySelectorAll("script").length,
                injected_img: doc.querySelectorAll("img").length,
                counts: ["ready", "review", "blocked"].map(function (v) {
                  return doc.querySelector("#count-" + v + " .n").textContent; }),
                bars: doc.querySelectorAll("svg.chart rect").length,
                chart: doc.querySelector("svg.chart desc").textContent};
  sortBy("strength"); result.strength_first = column("strength"); result.strength_state = sortState("strength");
  sortBy("strength"); result.strength_again = column("strength"); result.strength_state2 = sortState("strength");
  sortBy("address"); result.by_address = visible(); result.address_state = sortState("address");
  result.strength_after = sortState("strength");
  sortBy("verdict"); result.by_verdict = column("verdict");
  sortBy("last"); result.by_last = column("last");
  doc.getElementById("filter-ready").click();
  doc.getElementById("filter-review").click();
  result.blocked_only = visible();
  result.shown = doc.getElementById("shown").textContent;
  doc.getElementById("filter-ready").click();
  var search = doc.getElementById("search");
  search.value = "r007";
  search.dispatchEvent(new Event("input"));
  result.search = visible();
  search.value = "JORDAN";
  search.dispatchEvent(new Event("input"));
  result.search_teammate = visible();
  var frame = doc.querySelector("tbody[data-address='xss@example.org'] iframe");
  result.iframe_sandbox = frame.getAttribute("sandbox");
  document.getElementById("out").textContent = JSON.stringify(result);
});
</script></body></html>
"""


@pytest.fixture
def report_file(mixed_store, tmp_path: Path) -> Path:  # noqa: F811
    line = {"message_id": 77, "date": (NOW - timedelta(days=12)).isoformat(), "direction": "in",
            "subject": "Re: the Lyon panel", "sentence": None}
    add_ledgers(mixed_store, {COLLEAGUE: {"tier": "warm", "strength": 64, "last_two_way": line["date"],
                                          "evidence": {"last_two_way": [line]}}}, scope="jordan")
    report = evaluate(mixed_store, load_campaign(DATA / "mixed"), now=NOW)
    path = tmp_path / "report.html"
    path.write_text(render_html(report, generated=NOW), encoding="utf-8")
    return path


def test_report_is_self_contained_and_escaped(report_file):
    page = report_file.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "@font-face" not in page and "url(" not in page
    assert "<script>document.title" not in page
    assert "&lt;script&gt;document.title=" in page
    assert page.count("<script>") == 1
    assert '<svg class="chart"' in page  # the chart is inline SVG


def test_what_a_manager_reads_first(report_file):
    page = report_file.read_text(encoding="utf-8")
    head = page.split('<h2>Recipients</h2>')[0]
    assert 'verdicts judged as of <strong id="as-of">2025-06-01</strong>' in head
    assert re.search(r'id="count-blocked"><div class="n">5</div><div class="what">BLOCKED · 50.0%', head)
    assert "Relationship tiers" in head and "Strength across recipients" in head
    # the blocked strangers at example.com can go through jordan, who knows a colleague of theirs; the
    # opted-out and suppressed ones and those only alex (the mailbox judged) knows count for no path
    note = re.search(r'<p class="note" id="path-note">(.*?)</p>', head)
    assert note is not None
    assert note.group(1) == (
        "Of the blocked, <strong>0</strong> can go through a teammate who knows them and <strong>2</strong> "
        "through a teammate who knows someone at their outlet."
    )
    stranger = page.split('data-address="stranger@example.com"')[1].split("</tbody>")[0]
    assert "via <span class=\"who\">jordan</span>: colleague@example.com (warm, 2025-05-20)" in stranger
    assert "ask jordan for an introduction" in stranger and '<span class="msg">#77</span>' in stranger
    # READY: why we may ask; an allow-list exception with its reason, author and expiry, in the row
    intro = page.split('data-address="intro@example.net"')[1].split("</tbody>")[0]
    assert "Allowed R001: introduced by Dana Example at the Lyon panel — alex, until 2099-01-01" in intro
    xss = page.split('data-address="xss@example.org"')[1].split("</tbody>")[0]
    assert "Why we may ask" in xss and "personal mail both ways: last two-way exchange 2025-04-02" in xss


def test_sorting_filtering_and_hostile_content_in_chromium(chromium, report_file, tmp_path):
    (tmp_path / "harness.html").write_text(HARNESS, encoding="utf-8")
    result = chromium_harness_result(chromium, tmp_path, tmp_path / "harness.html")
    assert result["ready"] == "true"
    assert len(result["before"]) == 10
    assert result["title"] == "Campaign preview: mixed-test"  # the CSV's script did not rename the page
    assert result["scripts"] == 1 and result["injected_img"] == 0
    assert result["counts"] == ["2", "3", "5"] and result["bars"] >= 2
    assert result["chart"].startswith("Recipients by relationship strength:")
    strengths = [int(s) for s in result["strength_first"]]
    assert strengths == sorted(strengths, reverse=True) and result["strength_state"] == "descending"
    assert [int(s) for s in result["strength_again"]] == sorted(strengths)
    assert result["strength_state2"] == "ascending"
    assert result["by_address"] == sorted(result["before"]) and result["address_state"] == "ascending"
    assert result["strength_after"] == "none"
    assert result["by_verdict"] == sorted(result["by_verdict"], reverse=True)  # BLOCKED first
    dated = [d for d in result["by_last"] if d]
    assert dated == sorted(dated, reverse=True) and result["by_last"][-1] == ""  # never: last
    assert set(result["blocked_only"]) == {
        "stranger@example.com",
        "oneway@example.com",
        "optout@example.org",
        "blocked@suppressed.example",
        "nofield@example.org",
    }
    assert result["shown"] == "5"
    assert result["search"] == ["optout@example.org"]
    assert set(result["search_teammate"]) == {"stranger@example.com", "oneway@example.com"}  # via jordan
    assert result["iframe_sandbox"] == ""


def test_hostile_mail_and_csv_content_stays_text(chromium, report_file, tmp_path):
    dom = run_chromium(chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", report_file.as_uri())
    assert 'data-ready="true"' in dom  # our script ran under the CSP
    assert dom.count('<tbody class="item recipient"') == 10
    assert "<title>Campaign preview: mixed-test</title>" in dom
    assert "pwned" not in re.sub(
        r"&lt;script&gt;document.title='pwned'|onerror=&quot;document.title='pwned'&quot;|"
        r"document\.title='pwned'",
        "",
        dom.split("<main>")[0],
    )
    assert '<img src="x"' not in dom and "<img src=x" not in dom
    assert "they asked us to stop writing" in dom


def test_no_console_errors(chromium, report_file, tmp_path):
    said = chromium_console(chromium, tmp_path, report_file)
    assert said == [], said


def test_the_console_check_can_fail(chromium, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">"
        "</head><body><script>1</script></body></html>",
        encoding="utf-8",
    )
    said = chromium_console(chromium, tmp_path, broken)
    assert said and "Content Security Policy" in said[0]


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_nothing_overlaps(chromium, report_file, tmp_path, device):
    width, height = WIDTHS[device]
    found = layout_problems(chromium, tmp_path, report_file, width)
    assert found["ready"] == "true" and found["checked"] > 150 and width - 20 <= found["width"] <= width  # scrollbar
    assert found["overlaps"] == [], found["overlaps"][:10]
    assert found["overflowing"] == [], found["overflowing"][:10]
    assert not found["sideways"]
    shot = tmp_path / f"report-{device}.png"
    run_chromium(chromium, tmp_path, f"--window-size={width},{height}", "--hide-scrollbars",
                 f"--screenshot={shot}", report_file.as_uri())
    assert screenshot_size(shot) == (width, height) and shot.stat().st_size > 40_000


def test_the_layout_check_can_fail(chromium, tmp_path):
    page = tmp_path / "crowded.html"
    page.write_text(
        "<!DOCTYPE html><html><body><header class='page'><h1 style='position:absolute;top:0'>A long title</h1>"
        "<div class='meta' style='position:absolute;top:4px'>meta text over the title</div></header>"
        "<table><thead><tr><th style='width:20px;max-width:20px;overflow:hidden'>averyveryverylongheader</th>"
        "</tr></thead></table></body></html>",
        encoding="utf-8",
    )
    found = layout_problems(chromium, tmp_path, page, 1280, expand=False)
    assert found["overlaps"] and found["overflowing"]
