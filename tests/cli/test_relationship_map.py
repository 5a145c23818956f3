"""``outreach contacts --format html``: the team's relationship map (by outlet, who holds each
relationship, tier and strength, the messages behind it) on a team store synced from Dovecot (tests/team.py),
in headless Chromium: search and sorting work, the console is silent, nothing overlaps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import chromium_console, chromium_harness_result
from pages import layout_problems
from team import TeamStore

from outreach.cli import main

pytestmark = pytest.mark.slow

HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body><iframe id="map" src="map.html" style="width:1280px;height:800px"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById("map").addEventListener("load", function () {
  var doc = this.contentDocument;
  function outlets() {
    return Array.prototype.slice.call(doc.querySelectorAll("tbody.outlet"))
      .filter(function (t) { return !t.hidden; }).map(function (t) { return t.getAttribute("data-k-outlet"); });
  }
  var result = {ready: doc.documentElement.getAttribute("data-ready"), before: outlets()};
  doc.querySelector("th[data-sort='outlet'] button").click();
  result.by_name = outlets();
  doc.querySelector("th[data-sort='people'] button").click();
  result.people = Array.prototype.slice.call(doc.querySelectorAll("tbody.outlet"))
    .map(function (t) { return Number(t.getAttribute("data-k-people")); });
  var search = doc.getElementById("search");
  search.value = "sam";
  search.dispatchEvent(new Event("input"));
  result.sam = outlets();
  result.shown = doc.getElementById("shown").textContent;
  search.value = "maya@";
  search.dispatchEvent(new Event("input"));
  result.maya = outlets();
  document.getElementById("out").textContent = JSON.stringify(result);
});
</script></body></html>
"""


def write_map(store: TeamStore, folder: Path, *options: str) -> Path:
    page = folder / "map.html"
    result = CliRunner().invoke(
        main, ["--database-url", store.url, "contacts", "--format", "html", "-o", str(page), *options]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {page} (")
    return page


def test_the_map_by_outlet_with_who_holds_each_relationship(team_store: TeamStore, tmp_path: Path) -> None:
    page = write_map(team_store, tmp_path).read_text(encoding="utf-8")
    assert page.count("<script>") == 1 and "<link" not in page and not re.search(r"(?:src|href)=\"https?:", page)
    groups = re.findall(r'<tbody class="item outlet"[^>]*data-k-outlet="([^"]+)"', page)
    # every outlet the team knows, strongest first; gmail.com is no outlet: its people come last, as one group
    assert groups[-1] == "~" and "gmail.com" not in groups
    assert set(groups[:-1]) == {"techdaily.example", "metrodesk.example", "citywire.example", "wiredweekly.example",
                                "greenpost.example", "harbourtimes.example", "dailyherald.example"}
    wired = page.split('data-k-outlet="wiredweekly.example"')[1].split("</tbody>")[0]
    rows = re.findall(r'<td class="person">([^<]+)<.*?<span class="who">(\w+)</span>', wired, re.DOTALL)
    assert rows == [("rio@wiredweekly.example", "alex"), ("noor@wiredweekly.example", "sam"),
                    ("noor@wiredweekly.example", "alex")]  # strongest first: warm, acquaintance, one-way
    assert re.search(r'<span class="msg">#\d+</span> \d{4}-\d\d-\d\d', wired)  # the messages behind them
    personal = page.split('data-k-outlet="~"')[1].split("</tbody>")[0]
    assert "personal addresses (no outlet)" in personal and "kim@gmail.com" in personal


def test_the_map_in_chromium(chromium: str, team_store: TeamStore, tmp_path: Path) -> None:
    page = write_map(team_store, tmp_path)
    (tmp_path / "harness.html").write_text(HARNESS, encoding="utf-8")
    result: dict[str, Any] = chromium_harness_result(chromium, tmp_path, tmp_path / "harness.html")
    assert result["ready"] == "true" and len(result["before"]) == 8
    assert result["by_name"] == sorted(result["before"])
    assert result["people"] == sorted(result["people"], reverse=True)
    assert sorted(result["sam"]) == ["dailyherald.example", "wiredweekly.example"]  # sam's outlets
    assert result["shown"] == "2" and result["maya"] == ["techdaily.example"]
    assert chromium_console(chromium, tmp_path, page) == []
    for width in (1440, 1280, 1024):
        found = layout_problems(chromium, tmp_path, page, width)
        assert found["overlaps"] == [] and found["overflowing"] == [] and not found["sideways"], found


def test_one_teammates_map(team_store: TeamStore, tmp_path: Path) -> None:
    page = write_map(team_store, tmp_path, "--mailbox", "sam").read_text(encoding="utf-8")
    groups = re.findall(r'<tbody class="item outlet"[^>]*data-k-outlet="([^"]+)"', page)
    assert sorted(groups) == ["dailyherald.example", "wiredweekly.example"]  # sam's outlets only
    assert set(re.findall(r'<span class="who">(\w+)</span>', page)) == {"sam"}
    unknown = CliRunner().invoke(main, ["--database-url", team_store.url, "contacts", "--format", "html",
                                        "--mailbox", "nobody"])
    assert unknown.exit_code == 2 and "no mailbox named 'nobody'" in unknown.output
