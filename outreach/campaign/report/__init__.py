"""A campaign preview's report: the table, CSV, JSON and ``--show`` texts (:mod:`.text`) and the
self-contained HTML pages (:mod:`.html`: the preview and the team's relationship map; :mod:`.summary`
their counts and chart; the templates, stylesheet and script in this folder)."""

from __future__ import annotations

from outreach.campaign.report.html import render_html, render_map
from outreach.campaign.report.text import csv_text, json_text, lint_lines, show_text, table_text

__all__ = ["csv_text", "json_text", "lint_lines", "render_html", "render_map", "show_text", "table_text"]
