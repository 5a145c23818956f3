"""A template's text as the rules read it: its source, its literal text, its visible text, its asks."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from outreach.lint.text import Match, find_asks, line_of
from outreach.mail.parsing import html_to_text


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """A template's text and where it came from (``name`` is what errors show: a path or ``file:line``)."""

    kind: Literal["subject", "text", "html"]
    name: str
    source: str
    path: Path | None = None
    first_line: int = 1  # line of the source's first line in its file (the subject inside campaign.toml)

    @property
    def key(self) -> str:
        """The template's unique name in the Jinja environment (and in its tracebacks)."""
        return f"{self.kind}:{self.name}"

    def line_at(self, offset: int) -> int:
        """The line in the template's file of the character at ``offset`` of its source."""
        return self.first_line + line_of(self.source, offset) - 1

    def locate(self, snippet: str) -> int | None:
        """The line where ``snippet`` first occurs in the source (ignoring case), if it does."""
        index = self.source.lower().find(snippet.lower())
        return self.line_at(index) if index >= 0 else None


_JINJA_TAG = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def static_text(source: str) -> str:
    """A template's literal text: tags removed, ``{{ … }}`` as ``X``; line breaks kept in place."""

    def repl(match: re.Match[str]) -> str:
        tag = match.group()
        return ("X" if tag.startswith("{{") else "") + "\n" * tag.count("\n")

    return _JINJA_TAG.sub(repl, source)


def visible_text(tpl: TemplateSource, text: str | None = None) -> str:
    """What a reader sees of ``text`` (by default the template's literal text): HTML as text."""
    text = static_text(tpl.source) if text is None else text
    return html_to_text(text) if tpl.kind == "html" else text


def _blank_tags(text: str) -> str:
    """HTML tags replaced by a space, their line breaks kept: the lines of what is left stay in place."""
    return _HTML_TAG.sub(lambda m: "\n" * m.group().count("\n") + " ", text)


@dataclass(frozen=True, slots=True)
class TemplateAsk:
    """An ask a template makes, with its line."""

    template: TemplateSource
    line: int
    match: Match


def template_asks(templates: Sequence[TemplateSource]) -> list[TemplateAsk]:
    """The asks the templates make (rules T004 and M001), with file and line."""
    found = []
    for tpl in templates:
        text = static_text(tpl.source)
        if tpl.kind == "html":
            text = _blank_tags(text)
        for match in find_asks(text):  # the literal text keeps the source's lines: the same line numbers
            found.append(TemplateAsk(tpl, tpl.first_line + line_of(text, match.start) - 1, match))
    return found


def locator(templates: Sequence[TemplateSource]) -> Callable[[str], tuple[str, int] | None]:
    """A function giving the template (name) and line where a snippet of rendered text came from."""
    cache: dict[str, tuple[str, int] | None] = {}

    def locate(snippet: str) -> tuple[str, int] | None:
        if snippet not in cache:
            cache[snippet] = None
            for tpl in templates:
                line = tpl.locate(snippet)
                if line is not None:
                    cache[snippet] = (tpl.name, line)
                    break
        return cache[snippet]

    return locate


__all__ = ["TemplateAsk", "TemplateSource", "locator", "static_text", "template_asks", "visible_text"]
