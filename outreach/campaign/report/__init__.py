"""A campaign preview's report: the table, CSV, JSON and ``--show`` texts (:mod:`.text`) and the
self-contained HTML page (:mod:`.html`, with its assets in this folder)."""

from __future__ import annotations

from outreach.campaign.report.html import render_html
from outreach.campaign.report.text import csv_text, json_text, lint_lines, show_text, table_text

__all__ = ["csv_text", "json_text", "lint_lines", "render_html", "show_text", "table_text"]
