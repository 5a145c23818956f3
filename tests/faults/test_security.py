"""Security faults: template injection, script in mail reaching the HTML report, spreadsheet formulas in
CSV exports, passwords leaking into the store or the output, and TLS verification.

- Templates render in Jinja2's sandbox (``ImmutableSandboxedEnvironment``, outreach/campaign/render.py):
  the classic server-side template injection payloads are refused with one error line naming the template
  file and line, before anything is sent; template syntax in CSV data is data, never a template.  Found
  here: the sandbox's bounded ``range`` was bypassed (render() took the builtin), so
  ``{{ range(10**9)|list }}`` ate all memory (17 GB in a minute); fixed.  ``{% include %}`` of anything
  reads nothing (the loader knows only the campaign's templates) and now says so instead of
  "cannot render: /etc/passwd".  Also found here: sizes the sandbox did not bound, each 1 GB or more in one
  expression (``{{ "x"|center(10**9) }}``, ``{{ "x".ljust(10**9) }}``, ``{{ "%999999999s" % 1 }}``,
  ``{{ "{:>{w}}".format(1, w=10**9) }}``, ``{{ "x".encode() * 10**9 }}``, nested ``**`` …, 35 payloads):
  now refused in well under a second, under a 1 GB address-space limit; ``outreach lint`` rendered
  templates in its own sandbox, without even the ``*`` bound (5 GB, 85 s for ``{{ 'a' * 10**9 }}``).
- Mail content (subjects, display names, evidence sentences) and CSV fields carrying ``<script>``,
  ``"><img onerror=…>`` and attribute-breaking quotes are inert in the HTML report, checked in real
  headless Chromium, with the report's Content-Security-Policy and without it (escaping alone must hold).
- Every CSV export neutralises cells a spreadsheet would run as formulas (``outreach/csvsafe.py``).
  Found here: ``outreach contacts --format csv`` and ``suppress list --format csv`` wrote them as they were.
- Passwords (IMAP, SMTP, database URL) appear nowhere: not in the SQLite file, not in any PostgreSQL
  table, not on stdout/stderr, not in tracebacks — on success and on failing logins.  Found here: a
  database URL that did not parse was echoed whole, password included (or died in a traceback for a
  port that is not a number), and a store whose directory could not be made was a traceback; both are
  now one error line, the password shown as ``***``.
- TLS is verified by default for IMAP (ssl, starttls) and SMTP (ssl, starttls): a self-signed certificate
  is refused with an error naming the host, a certificate for another name too; trusting the certificate
  explicitly (``SSL_CERT_FILE``, the standard OpenSSL variable) makes the same connection work.  There is
  no switch that turns verification off: the only unverified mode is ``plain``, no TLS at all.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import itertools
import json
import mailbox
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import chromium_harness_result, run_chromium
from servers import DovecotServer, free_port, self_signed_certificate

from outreach.cli import main
from outreach.csvsafe import formula_like, safe_cell
from outreach.store import open_store

REPO = Path(__file__).resolve().parents[2]
OWNER = "alex@brightlane.example"


@pytest.fixture(autouse=True)
def _store(tmp_path: Path) -> None:
    """The store the tests preview against: the commands that only read never create one."""
    open_store(f"sqlite:///{tmp_path / 'store.db'}").dispose()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120, **kwargs: Any) -> Any:
    """``python -m outreach ARGS`` in a subprocess (output as text)."""
    return subprocess.run(
        [sys.executable, "-m", "outreach", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **kwargs,
    )


def write_campaign(folder: Path, *, text: str, subject: str = "News for {{ first_name }}", html: str | None = None,
                   rows: list[dict[str, str]] | None = None, name: str = "security-test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    html_line = 'html = "body.html.j2"\n' if html is not None else ""
    (folder / "campaign.toml").write_text(
        f"name = {json.dumps(name)}\n"
        'mailbox = "alex"\n'
        "[template]\n"
        f"subject = {json.dumps(subject)}\n"
        'text = "body.txt.j2"\n'
        f"{html_line}"
        "[policy]\n"
        "stale_days = 365\n"
        "cooldown_days = 30\n"
        "[unsubscribe]\n"
        'mailto = "leave@example.org"\n'
        'url = "https://example.org/leave?u={email}"\n'
    )
    (folder / "body.txt.j2").write_text(text)
    if html is not None:
        (folder / "body.html.j2").write_text(html)
    rows = rows or [{"email": "maya@techdaily.example", "first_name": "Maya", "evil": "__class__"}]
    with (folder / "recipients.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


# ============================================================================================ templates

MARKER_CMD = "touch {marker}"
# Refused when the campaign is loaded: the syntax tree reaches for a name starting with "_".
STATIC_SSTI = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('CMD') }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('CMD').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('CMD') }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''['__class__'] }}",
    "{{ row.__class__.__base__.__subclasses__() }}",
    "{{ contact.__class__ }}",
    "{{ x.__subclasses__ }}",
    "{% set c = ''.__class__ %}{{ c }}",
]
# Only known when rendering (a computed attribute name, str.format, a method of the facts): refused by
# the sandbox itself.
RUNTIME_SSTI = [
    "{{ ()|attr('__cla' ~ 'ss__') }}",
    "{{ ()|attr(evil) }}",
    "{{ ()|attr(['_', '_class_', '_']|join) }}",
    "{{ '{0.__class__.__mro__}'.format(row) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ contact.from_ledger }}",
    "{{ 'a' * 1000000000 }}",
]


@pytest.mark.parametrize("payload", STATIC_SSTI + RUNTIME_SSTI)
def test_template_injection_is_refused_naming_the_template(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "PWNED"
    payload = payload.replace("CMD", MARKER_CMD.format(marker=marker))
    folder = write_campaign(tmp_path / "campaign", text=f"Hi {{{{ first_name }}}},\n{payload}\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    for command in (["preview", str(folder)], ["preview", str(folder), "--format", "html"], ["send", str(folder)]):
        result = CliRunner().invoke(main, ["--database-url", db, *command])
        assert result.exit_code == 2, (payload, result.output)
        lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, result.output
        assert re.match(rf"error: {re.escape(str(folder / 'body.txt.j2'))}:2: unsafe template: ", lines[0]), lines
        assert "Traceback" not in result.output and "<html" not in result.output
    assert not marker.exists()


def test_template_injection_in_the_subject_and_the_html_template(tmp_path: Path) -> None:
    in_subject = write_campaign(tmp_path / "subject", text="Hi {{ first_name }}\n",
                                subject="Hi {{ cycler.__init__.__globals__ }}")
    in_html = write_campaign(tmp_path / "html", text="Hi {{ first_name }}\n",
                             html="<p>Hi {{ first_name }}</p>\n<p>{{ ()|attr(evil) }}</p>\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    subject = CliRunner().invoke(main, ["--database-url", db, "preview", str(in_subject)])
    assert subject.exit_code == 2
    assert f"error: {in_subject / 'campaign.toml'}:4: unsafe template: access to '__globals__'" in subject.output
    html = CliRunner().invoke(main, ["--database-url", db, "preview", str(in_html)])
    assert html.exit_code == 2
    assert f"error: {in_html / 'body.html.j2'}:2: unsafe template: access to attribute '__class__'" in html.output


@pytest.mark.parametrize(
    "payload, expected",
    [
        ("{% import os %}", "template syntax error"),  # not even Jinja
        ("{% include '/etc/passwd' %}", "not found"),  # the loader knows only the campaign's templates
        ("{% import 'os' as os %}{{ os.system('x') }}", "not found"),
        ("{% extends '../campaign.toml' %}", "not found"),
        ("{{ config.items() }}", "undefined"),  # no Flask-style globals
        ("{{ request }}", "undefined"),
        ("{{ lipsum(1) }}", "undefined"),  # lipsum(100000, False, 99999, 100000): 10**10 words
    ],
)
def test_imports_includes_and_unknown_globals_go_nowhere(tmp_path: Path, payload: str, expected: str) -> None:
    folder = write_campaign(tmp_path / "campaign", text=f"Hi {{{{ first_name }}}},\n{payload}\n")
    result = CliRunner().invoke(
        main, ["--database-url", f"sqlite:///{tmp_path / 'store.db'}", "preview", str(folder), "--show",
               "maya@techdaily.example"]
    )
    assert result.exit_code in (1, 2), result.output
    assert "root:" not in result.output and "[template]" not in result.output  # no file was read
    assert f"{folder / 'body.txt.j2'}:2" in result.output, result.output
    assert expected in result.output.lower(), result.output
    if result.exit_code == 1:
        assert "could not be rendered" in result.output


def test_the_sandbox_bounds_range(tmp_path: Path) -> None:
    """``range`` is the sandbox's (at most 100,000 items), not the builtin: this used to eat all memory.

    Run with a 2 GB address-space limit, so that a regression fails here instead of swapping the machine.
    """
    folder = write_campaign(tmp_path / "campaign", text="Hi {{ first_name }},\n{{ range(10**9)|list|length }}\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    done = run_cli("--database-url", f"sqlite:///{tmp_path / 'store.db'}", "preview", str(folder), "--show",
                   "maya@techdaily.example", timeout=60, preexec_fn=limit)
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"{folder / 'body.txt.j2'}:2: cannot render: Range too big" in done.stdout
    assert "MemoryError" not in done.stderr


# Template denial of service: one operation that allocates about 1 GB or more (or loops 10**9 times) for a
# number the template chose.  Each is refused as an unsafe template before anything is allocated
# (outreach/campaign/render.py: int arguments of filters and calls, printf and str.format widths).
TEMPLATE_DOS = [
    # filters taking a count, a width or an indentation
    '{{ "x"|center(10**9) }}',
    '{{ "x"|indent(10**9) }}',
    "{{ [1]|batch(10**9, 0)|list }}",
    "{{ [1]|slice(10**9)|list }}",
    "{{ [1]|tojson(10**9) }}",
    '{{ ["x"]|map("center", 10**9)|list }}',
    '{{ "x"|center(*[10**9]) }}',
    # str and bytes methods
    '{{ "x".ljust(10**9) }}',
    '{{ "x".rjust(10**9) }}',
    '{{ "x".center(10**9) }}',
    '{{ "x".zfill(10**9) }}',
    '{{ "\\t".expandtabs(10**9) }}',
    '{{ "x".encode().center(10**9) }}',
    '{{ "x".ljust(*[10**9]) }}',
    '{{ "x".encode() * 10**9 }}',  # str, list and tuple repetition was bounded, bytes was not
    # printf-style widths and precisions
    '{{ "%999999999s"|format(1) }}',
    '{{ "%999999999s" % 1 }}',
    '{{ "%*s" % (10**9, 1) }}',
    '{{ "%*s"|format(-10**9, 1) }}',
    '{{ "%.999999999d" % 1 }}',
    '{{ "%(a)999999999s"|format(a=1) }}',
    '{{ "%(a(b))999999999s" % {"a(b)": 1} }}',
    '{{ ["%999999999s"]|format(1) }}',
    '{{ "%999999999s".encode() % 1 }}',
    # str.format widths and precisions, nested ones too
    '{{ "{:>999999999}".format(1) }}',
    '{{ "{x:>999999999}".format_map({"x": 1}) }}',
    '{{ "{:>{w}}".format(1, w=10**9) }}',
    '{{ "{:>{}}".format(1, "999999999") }}',
    '{{ "{:.999999999f}".format(1.0) }}',
    '{{ "{:0999999999}".format(1) }}',
    '{{ "{:>\u0669\u0669\u0669\u0669\u0669\u0669\u0669\u0669\u0669}".format(1) }}',  # Arabic-Indic digits count
]
# The same in the HTML template (autoescaped; Markup has its own % and format).
TEMPLATE_DOS_HTML = [
    '{{ ("%999999999s"|safe) % 1 }}',
    '{{ ("{:>999999999}"|safe).format(1) }}',
    '{{ "x"|indent(10**9) }}',
]
DOS_CASES = [("text", p) for p in TEMPLATE_DOS] + [("html", p) for p in TEMPLATE_DOS_HTML]
DOS_MEMORY = 1 << 30  # address space of the process that renders them: each payload needs more than this
DOS_SECONDS = 2.0  # wall time of one command (preview, HTML preview or send) on a refused payload

# Runs in a child process limited to DOS_MEMORY: every case through preview, HTML preview and send, in
# process (CliRunner), timed; prints the results as JSON.
_DOS_CHILD = """
import json, sys, time
from click.testing import CliRunner
from outreach.cli import main

results = []
for folder, db in json.load(sys.stdin):
    runs = []
    for command in (["preview", folder], ["preview", folder, "--format", "html"], ["send", folder]):
        start = time.monotonic()
        result = CliRunner().invoke(main, ["--database-url", db, *command])
        runs.append({"command": " ".join(command[:1] + command[2:]), "exit_code": result.exit_code,
                     "output": result.output[-3000:], "exception": repr(result.exception)[:500],
                     "seconds": time.monotonic() - start})
    results.append(runs)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def dos_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[str, list[dict[str, Any]]]]:
    """Every DOS_CASES payload through the three commands, in one child process with at most DOS_MEMORY of
    address space (so that a payload that is not refused fails with MemoryError instead of swapping)."""
    tmp_path = tmp_path_factory.mktemp("template-dos")
    jobs = []
    for i, (kind, payload) in enumerate(DOS_CASES):
        body = f"Hi {{{{ first_name }}}},\n{payload}\n"
        folder = (write_campaign(tmp_path / f"c{i}", text=body) if kind == "text" else
                  write_campaign(tmp_path / f"c{i}", text="Hi {{ first_name }},\n", html=f"<p>\n{payload}</p>\n"))
        jobs.append((str(folder), f"sqlite:///{tmp_path / f'store{i}.db'}"))
        open_store(jobs[-1][1]).dispose()  # preview reads a store, it never creates one

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (DOS_MEMORY, DOS_MEMORY))

    done = subprocess.run(
        [sys.executable, "-c", _DOS_CHILD], input=json.dumps(jobs), env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=600, cwd=REPO, preexec_fn=limit,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(zip(DOS_CASES, zip([f for f, _ in jobs], json.loads(done.stdout), strict=True), strict=True))


@pytest.mark.parametrize("kind, payload", DOS_CASES)
def test_template_denial_of_service_is_refused_quickly(
    dos_results: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]], kind: str, payload: str
) -> None:
    folder, runs = dos_results[kind, payload]
    template = Path(folder) / ("body.txt.j2" if kind == "text" else "body.html.j2")
    for run in runs:
        where = (payload, run["command"])
        assert run["exit_code"] == 2, (*where, run["exception"], run["output"][-1000:])
        lines = [ln for ln in run["output"].splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, (*where, run["output"])
        assert re.match(rf"error: {re.escape(str(template))}:2: unsafe template: ", lines[0]), (*where, lines)
        assert "Traceback" not in run["output"] and "<html" not in run["output"], where
        assert run["seconds"] < DOS_SECONDS, (*where, run["seconds"])


@pytest.mark.parametrize("payload", ['{{ "x"|center(10**9) }}', '{{ "%999999999s" % 1 }}',
                                     '{{ "{:>999999999}".format(1) }}', "{{ 'a' * 10**9 }}"])
def test_template_lint_refuses_denial_of_service_too(tmp_path: Path, payload: str) -> None:
    """``outreach lint`` renders the template too (T003, as for a stranger): in the same bounded sandbox.
    It used to take its own, unbounded one: 50 to 85 s and 5 GB for each of these."""
    template = tmp_path / "body.txt.j2"
    template.write_text(f"Hi {{{{ first_name }}}},\n{payload}\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (DOS_MEMORY, DOS_MEMORY))

    done = run_cli("lint", str(template), timeout=60, preexec_fn=limit)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {template}: unsafe template: "), done.stderr[-2000:]
    assert "MemoryError" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_the_sandbox_bounds_nested_powers(tmp_path: Path) -> None:
    """Each exponent is at most 64, but they nest: the result of ``**`` is bounded too (a CPU-bound
    computation of a 10**(64**5) otherwise; run with a 20 s CPU limit so that a regression fails here)."""
    folder = write_campaign(tmp_path / "campaign", text="Hi {{ first_name }},\n{{ ((((10**64)**64)**64)**64)**64 }}\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (DOS_MEMORY, DOS_MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (20, 20))

    done = run_cli("--database-url", f"sqlite:///{tmp_path / 'store.db'}", "preview", str(folder), timeout=60,
                   preexec_fn=limit)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip() == (f"error: {folder / 'body.txt.j2'}:2: unsafe template: "
                                   "the result of ** would be too large")


# Sizes, widths and numbers templates really use, with what they render to (not refused by the bounds).
LEGITIMATE = [
    ("{{ 2026 }} {{ 250000 }} {{ 10**9 }} {{ contact.balance }}", "2026 250000 1000000000 0.0"),
    ('{{ "%.2f"|format(1234.5) }} {{ "%.2f"|format(contact.balance) }} {{ "%5.1f%%" % 12.34 }}',
     "1234.50 0.00  12.3%"),
    ('[{{ "{:>10}".format(first_name) }}] [{{ "{:<6}|{:^7}".format("a", "b") }}]', "[      Maya] [a     |   b   ]"),
    ('{{ "%s" % first_name }} {{ "%s and %s" % (first_name, "Omar") }} {{ "%-6s|" % "ab" }} {{ 7 % 3 }}',
     "Maya Maya and Omar ab    | 1"),
    ('{{ "%d" % 1500000 }} {{ "{:,}".format(1500000) }} {{ "{:{w}}|".format(7, w=3) }}', "1500000 1,500,000   7|"),
    ('{{ ("word " * 60)|truncate(200)|length }} {{ ("word " * 30)|wordwrap(72)|wordcount }}', "197 30"),
    ("{{ [1, 2, 3, 4, 5, 6, 7]|batch(3)|list }} {{ [1, 2, 3]|slice(2)|list }}",
     "[[1, 2, 3], [4, 5, 6], [7]] [[1, 2], [3]]"),
    ('{{ "a\\nb"|indent(4) }}', "a\n    b"),
    ('{{ "x"|center(5) }}| {{ "x".ljust(3) }}| {{ "7".zfill(3) }} {{ "a\\tb".expandtabs(4) }}',
     "  x  | x  | 007 a   b"),
    ("{{ range(3)|list }} {{ [1, 2]|sum(start=1000000) }} {{ missing|default(1000000) }}",
     "[0, 1, 2] 1000003 1000000"),
    ("{% set ns = namespace(total=2000000) %}{{ ns.total }} {{ dict(a=3000000).a }}", "2000000 3000000"),
    ('{% macro money(x) %}{{ "{:,}".format(x) }}{% endmacro %}{{ money(2500000) }}', "2,500,000"),
    ("{% for i in range(3) %}{{ loop.cycle(1000000, 2000000) }} {% endfor %}.", "1000000 2000000 1000000 ."),
    ('{{ "%(n)s: %(v).1f" % {"n": first_name, "v": 2.25} }} {{ "{n}!".format_map({"n": first_name}) }}',
     "Maya: 2.2 Maya!"),
]


def test_legitimate_sizes_widths_and_numbers_still_render(tmp_path: Path) -> None:
    text = "Hi {{ first_name }},\n" + "\n".join(source for source, _ in LEGITIMATE) + "\n"
    folder = write_campaign(tmp_path / "campaign", text=text)
    result = CliRunner().invoke(
        main, ["--database-url", f"sqlite:///{tmp_path / 'store.db'}", "preview", str(folder), "--show",
               "maya@techdaily.example"]
    )
    assert "error" not in result.output.lower() and "could not be rendered" not in result.output, result.output
    for source, expected in LEGITIMATE:
        assert f"\n{expected}\n" in result.output, (source, expected, result.output)


def test_template_syntax_in_csv_data_is_only_text(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    value = "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}{% raw %}"
    folder = write_campaign(
        tmp_path / "campaign",
        text="Hi {{ first_name }},\n{{ note }}\n",
        html="<p>{{ note }}</p>\n",
        rows=[{"email": "maya@techdaily.example", "first_name": value, "note": "{{ 6*7 }}x"}],
    )
    result = CliRunner().invoke(
        main, ["--database-url", f"sqlite:///{tmp_path / 'store.db'}", "preview", str(folder), "--show",
               "maya@techdaily.example"]
    )
    assert f"Subject: News for {value}" in result.output
    assert "{{ 6*7 }}x" in result.output and "42x" not in result.output
    assert not marker.exists()


# ============================================================================================ HTML report

PAYLOADS = {
    "subject": "<script>window.__pwned='subject';document.title='PWNED'</script>",
    "name": '"><img src=x onerror="window.__pwned=\'name\';document.title=\'PWNED\'">',
    "name2": "<script>window.__pwned='name2'</script>",
    "sentence": "<img src=x onerror=window.__pwned='sentence'>",
    "quote": "' onmouseover='window.__pwned=1' x='",
    "svg": '"><svg onload="window.__pwned=\'svg\'">',
}
AS_OF = "2024-05-01"


def _mail(frm: str, to: str, subject: str, body: str, days_ago: int, mid: str, reply_to: str | None = None) -> bytes:
    when = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC) - dt.timedelta(days=days_ago)
    headers = [f"From: {frm}", f"To: {to}", f"Subject: {subject}", f"Date: {format_datetime(when)}",
               f"Message-ID: <{mid}@hostile.example>"]
    if reply_to:
        headers.append(f"In-Reply-To: <{reply_to}@hostile.example>")
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def hostile_mailbox(path: Path) -> None:
    """Three contacts whose names, subjects and sentences carry script: one opted out (R007 evidence), one
    with our recent ask (R006 evidence), one warm enough to be READY (rendered with ``contact.name``)."""
    p = PAYLOADS
    name1 = p["name"].replace('"', '\\"')
    me = f"Alex <{OWNER}>"
    one = f'"{name1}" <xss1@evil.example>'
    two = f'"{p["name2"]}" <xss2@evil.example>'
    three = f'"{name1}" <xss3@evil.example>'
    messages = [
        _mail(me, one, p["subject"], f"Hi, could you share our report with your readers? {p['sentence']}", 60, "a1"),
        _mail(one, OWNER, "Re: " + p["subject"], f"Sure, happy to help. {p['svg']}", 59, "b1", "a1"),
        _mail(one, OWNER, "Stop " + p["subject"], f"Please remove me from your list {p['sentence']} now.", 20, "c1"),
        _mail(me, two, "Draft " + p["quote"], f"Could you review our draft {p['quote']} by Friday?", 10, "a2"),
        _mail(two, OWNER, "Re: Draft " + p["quote"], f"Sure, I will look at it. {p['svg']}", 9, "b2", "a2"),
    ]
    for i in range(3):
        messages.append(_mail(me, three, f"Hello {i} {p['subject']}", "Thanks for lunch; the slides, as promised.",
                              100 + 10 * i, f"a3{i}"))
        messages.append(_mail(three, OWNER, f"Re: Hello {i} {p['subject']}", f"Thank you! {p['sentence']}",
                              99 + 10 * i, f"b3{i}", f"a3{i}"))
    box = mailbox.mbox(str(path))
    for raw in messages:
        box.add(raw)
    box.flush()
    box.close()


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of a campaign over the hostile mailbox, made by the CLI."""
    tmp_path = tmp_path_factory.mktemp("hostile-report")
    source = tmp_path / "hostile.mbox"
    hostile_mailbox(source)
    db = ["--database-url", f"sqlite:///{tmp_path / 'store.db'}"]
    imported = run_cli(*db, "import", str(source), "--mailbox", "alex", "--address", OWNER, "--quiet")
    assert imported.returncode == 0, imported.stderr
    csv_payload = PAYLOADS["name"]
    folder = write_campaign(
        tmp_path / "campaign",
        name="xss</title><script>window.__pwned='campaign'</script>",
        text="Hi {{ first_name }}{% if contact.name %} ({{ contact.name }}){% endif %},\n{{ note }}\n",
        html="<p>Hi {{ first_name }}{% if contact.name %} ({{ contact.name }}){% endif %},</p><p>{{ note }}</p>"
        "<script>parent.__pwned='own-html'</script>\n",
        rows=[
            {"email": f"xss{i}@evil.example", "first_name": csv_payload,
             "note": f"{PAYLOADS['name2']} {PAYLOADS['quote']} {PAYLOADS['svg']}"}
            for i in (1, 2, 3)
        ],
    )
    report = tmp_path / "report.html"
    done = run_cli(*db, "--as-of", AS_OF, "preview", str(folder), "--format", "html", "--output", str(report))
    assert done.returncode == 1, done.stderr  # blocked and review recipients
    return report


def test_hostile_mail_reaches_the_report_only_as_text(hostile_report: Path) -> None:
    page = hostile_report.read_text(encoding="utf-8")
    body = page.split("<main>", 1)[1].rsplit("<script>", 1)[0]  # what came from mail and CSV
    # everything reached the report (names, subjects, sentences, CSV fields, the campaign name) ...
    for needle in ("window.__pwned=&#39;subject&#39;", "onerror=window.__pwned=&#39;sentence&#39;",
                   "onmouseover=&#39;window.__pwned=1&#39;", "window.__pwned=&#39;name2&#39;",
                   "&lt;svg onload=", "&lt;img src=x onerror=&#34;window.__pwned=&#39;name&#39;"):
        assert needle in page, needle
    assert "Campaign preview: xss&lt;/title&gt;&lt;script&gt;" in page
    assert "R007" in body and "R006" in body and "READY" in body
    # ... and none of it as markup: the elements and attributes an HTML parser sees are the report's own
    tags = _parsed_tags(page)
    assert {t for t, _ in tags} <= REPORT_TAGS, {t for t, _ in tags} - REPORT_TAGS
    assert [t for t, _ in tags].count("script") == 1
    assert [t for t, _ in tags].count("svg") == 1  # the report's own chart: a mail's <svg onload=…> is text
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")]
    # the HTML bodies are inert documents in sandboxed frames: their markup is the template's, with the
    # mail and CSV parts escaped inside
    frames = [dict(attrs) for t, attrs in tags if t == "iframe"]
    assert frames and all(f["sandbox"] == "" for f in frames)
    for frame in frames:
        inner = _parsed_tags(frame["srcdoc"])
        assert [t for t, _ in inner] == ["p", "p", "script"], inner  # the template's own <script> only
        assert not [(t, a) for t, attrs in inner for a in attrs]


REPORT_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "div", "strong", "label",
    "input", "span", "button", "main", "section", "ul", "li", "table", "colgroup", "col", "thead", "tr", "th",
    "tbody", "td", "details", "summary", "p", "pre", "iframe", "script",
    "svg", "desc", "line", "rect", "text",  # the strength chart (its <title>s are in the list above)
}  # fmt: skip


def _parsed_tags(markup: str) -> list[tuple[str, dict[str, str]]]:
    """The start tags (and their attributes) an HTML parser finds in ``markup``."""
    from html.parser import HTMLParser

    found: list[tuple[str, dict[str, str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, {k: v or "" for k, v in attrs}))

    parser = Collect(convert_charrefs=True)
    parser.feed(markup)
    parser.close()
    return found


HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body><iframe id="report" src="REPORT" style="width:1200px;height:800px"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById("report").addEventListener("load", function () {
  var win = this.contentWindow, doc = this.contentDocument;
  doc.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var hover = doc.querySelectorAll("*");
  for (var i = 0; i < hover.length; i++) {
    hover[i].dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
    hover[i].dispatchEvent(new FocusEvent("focus"));
  }
  setTimeout(function () {
    var handlers = 0, all = doc.querySelectorAll("*");
    for (var j = 0; j < all.length; j++) {
      for (var k = 0; k < all[j].attributes.length; k++) {
        if (/^on/i.test(all[j].attributes[k].name)) { handlers++; }
      }
    }
    document.getElementById("out").textContent = JSON.stringify({
      pwned: typeof win.__pwned === "undefined" ? null : String(win.__pwned),
      title: doc.title, ready: doc.documentElement.getAttribute("data-ready"),
      scripts: doc.querySelectorAll("script").length, imgs: doc.querySelectorAll("img").length,
      svgs: doc.querySelectorAll("svg").length, handlers: handlers,
      frames: doc.querySelectorAll("iframe").length,
      sandboxes: Array.prototype.map.call(doc.querySelectorAll("iframe"), function (f) {
        return f.getAttribute("sandbox"); }),
      text: doc.body.textContent.indexOf("window.__pwned") >= 0
    });
  }, 1500);
});
</script></body></html>
"""


@pytest.mark.parametrize("csp", ["with-csp", "without-csp"])
def test_report_is_inert_in_chromium(chromium: str, hostile_report: Path, tmp_path: Path, csp: str) -> None:
    page = hostile_report.read_text(encoding="utf-8")
    if csp == "without-csp":  # escaping alone must keep the mail inert
        page, removed = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
        assert removed == 1
    target = tmp_path / f"report-{csp}.html"
    target.write_text(page, encoding="utf-8")
    (tmp_path / "harness.html").write_text(HARNESS.replace("REPORT", target.name), encoding="utf-8")
    result = chromium_harness_result(chromium, tmp_path, tmp_path / "harness.html")
    assert result["pwned"] is None, result  # no payload ran: not on load, hover, focus, nor in an HTML body
    assert result["title"] == "Campaign preview: xss</title><script>window.__pwned='campaign'</script>"
    assert result["ready"] == "true"  # the report's own script did run
    assert result["scripts"] == 1 and result["imgs"] == 0 and result["svgs"] == 1, result  # svg: our chart
    assert result["handlers"] == 0, result
    assert result["frames"] >= 1 and set(result["sandboxes"]) == {""}, result  # HTML bodies: no script
    assert result["text"]  # the payloads are there, as text
    # the report alone, dumped after its script ran
    alone = run_chromium(chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", target.as_uri())
    assert "PWNED" not in alone.split("<body", 1)[0]


# ============================================================================================ CSV

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+2", "'=1+2"),
        ("+1+2", "'+1+2"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("  =1", "'  =1"),
        ("-1.5", "-1.5"),  # numbers stay numbers
        ("+3", "+3"),
        ("a=1", "a=1"),
        ("", ""),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_safe_cell(value: Any, expected: Any) -> None:
    assert safe_cell(value) == expected


def _check_csv(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for cell in row.values():
            assert not formula_like(cell or ""), (cell, row)
    return rows


def test_every_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    # names and addresses from mail
    messages = []
    for i, formula in enumerate(FORMULAS):
        quoted = formula.replace('"', '\\"')
        messages.append(_mail(f'"{quoted}" <f{i}@evil.example>', OWNER, f"Note {i}", "Hello.", 5 + i, f"f{i}"))
    messages.append(_mail('"Plain" <=1+2@evil.example>', OWNER, "Eq", "Hello.", 3, "eq"))
    source = tmp_path / "formulas.mbox"
    box = mailbox.mbox(str(source))
    for raw in messages:
        box.add(raw)
    box.flush()
    box.close()
    db = ["--database-url", f"sqlite:///{tmp_path / 'store.db'}"]
    runner = CliRunner()
    imported = runner.invoke(main, [*db, "import", str(source), "--mailbox", "alex", "--address", OWNER, "--quiet"])
    assert imported.exit_code == 0, imported.output

    contacts = runner.invoke(main, [*db, "contacts", "--format", "csv"])
    assert contacts.exit_code == 0, contacts.output
    rows = _check_csv(contacts.output)
    names = {row["address"]: row["name"] for row in rows}
    for i, formula in enumerate(FORMULAS):
        assert names[f"f{i}@evil.example"] == "'" + formula
    assert "'=1+2@evil.example" in names
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", row["balance"]) for row in rows)  # numbers untouched
    # ... and the JSON export keeps the values as they are
    as_json = json.loads(runner.invoke(main, [*db, "contacts", "--format", "json"]).output)
    assert {c["name"] for c in as_json} >= set(FORMULAS)

    by_domain = runner.invoke(main, [*db, "contacts", "--by-domain", "--format", "csv"])
    _check_csv(by_domain.output)

    added = runner.invoke(main, [*db, "suppress", "add", "=1+2@evil.example", "--reason", "=HYPERLINK(\"x\")",
                                 "--by", "@admin"])
    assert added.exit_code == 0, added.output
    listed = _check_csv(runner.invoke(main, [*db, "suppress", "list", "--format", "csv"]).output)
    assert listed[0]["value"] == "'=1+2@evil.example" and listed[0]["reason"] == "'=HYPERLINK(\"x\")"
    assert listed[0]["added_by"] == "'@admin"

    # the preview: addresses a spreadsheet would read as a formula (the CSV's own cells are data, as in
    # mailmerge: neutralised only in what outreach writes)
    folder = write_campaign(
        tmp_path / "campaign",
        text="Hi {{ first_name }},\nnews.\n",
        rows=[
            {"email": "Eq <=1+2@evil.example>", "first_name": "Eq"},
            {"email": "-x@evil.example", "first_name": "Minus"},
            {"email": "ok@evil.example", "first_name": "=cmd"},
        ],
    )
    preview = runner.invoke(main, [*db, "preview", str(folder), "--format", "csv"])
    rows = _check_csv(preview.stdout)
    assert [row["address"] for row in rows] == ["'=1+2@evil.example", "'-x@evil.example", "ok@evil.example"]
    assert "formula" not in preview.stderr, preview.stderr


# ============================================================================================ passwords


def _secrets(password: str, user: str) -> list[bytes]:
    """The password and the forms it takes on the wire (SASL PLAIN, base64), as bytes to search for."""
    forms = [password.encode()]
    forms.append(base64.b64encode(f"\0{user}\0{password}".encode()))
    forms.append(base64.b64encode(password.encode()))
    return forms


def _assert_absent(secrets: list[bytes], *blobs: bytes | str, where: str) -> None:
    for blob in blobs:
        data = blob.encode("utf-8", "surrogateescape") if isinstance(blob, str) else blob
        for secret in secrets:
            assert secret not in data, f"password found in {where}"


def _sqlite_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _postgres_dump(url: str) -> bytes:
    import psycopg
    from psycopg import sql

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out = []
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public'")]
        assert "message" in tables and "sync_run" in tables
        for table in tables:
            for row in conn.execute(sql.SQL("select row_to_json(t)::text from {} t").format(sql.Identifier(table))):
                out.append(row[0].encode())
    return b"\n".join(out)


_USERS = itertools.count(1)


@pytest.fixture
def secret_account(dovecot: DovecotServer) -> Iterator[dict[str, str]]:
    """An IMAP user with a password that appears nowhere else, and a little mail."""
    user = f"sec{os.getpid()}x{next(_USERS)}"
    password = f"Sx9-{os.urandom(6).hex()}-pw"
    dovecot.add_user(user, password)
    dovecot.append(user, "INBOX", [
        _mail("Maya <maya@techdaily.example>", OWNER, f"Hello {i}", "Could you send the report?", i, f"s{i}")
        for i in range(5)
    ])
    yield {"user": user, "password": password}
    shutil.rmtree(dovecot.maildir(user).parent, ignore_errors=True)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_imap_password_is_never_stored_or_printed(
    tmp_path: Path, dovecot: DovecotServer, secret_account: dict[str, str], store: str,
    request: pytest.FixtureRequest,
) -> None:
    user, password = secret_account["user"], secret_account["password"]
    secrets = _secrets(password, user)
    if store == "sqlite":
        db_path = tmp_path / "store.db"
        url = f"sqlite:///{db_path}"
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.create_database(f"secret_{os.getpid()}")
    sync = ["sync", "--host", dovecot.host, "--port", str(dovecot.port), "--user", user, "--security", "plain",
            "--address", OWNER]
    try:
        outputs = []
        # a failing login: the password that was tried is not echoed
        wrong = f"Wr0ng-{os.urandom(6).hex()}"
        failed = run_cli("--database-url", url, *sync, env={"OUTREACH_IMAP_PASSWORD": wrong})
        assert failed.returncode == 1 and "login failed" in failed.stderr, failed.stderr
        _assert_absent(_secrets(wrong, user), failed.stdout, failed.stderr, where="the output of a failed login")
        # the same from the per-mailbox variable and a config file naming the mailbox
        config = tmp_path / "config.toml"
        config.write_text(f'[mailboxes.sec]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nusername = "{user}"\n'
                          f'security = "plain"\naddresses = ["{OWNER}"]\n')
        failed2 = run_cli("--database-url", url, "--config", str(config), "sync", "--mailbox", "sec",
                          env={"OUTREACH_PASSWORD_SEC": wrong})
        assert failed2.returncode == 1 and "login failed" in failed2.stderr
        _assert_absent(_secrets(wrong, user), failed2.stdout, failed2.stderr, where="a failed config login")
        # a successful sync, with progress output
        ok = run_cli("--database-url", url, *sync, env={"OUTREACH_IMAP_PASSWORD": password})
        assert ok.returncode == 0, ok.stderr
        assert "fetched 5, new 5" in ok.stdout
        outputs += [ok.stdout, ok.stderr]
        # a connection that breaks (nothing listens any more): an error path after the password was read
        broken = run_cli("--database-url", url, "sync", "--host", dovecot.host, "--port", str(free_port()),
                         "--user", user, "--security", "plain", env={"OUTREACH_IMAP_PASSWORD": password})
        assert broken.returncode == 1 and "connection refused" in broken.stderr
        outputs += [broken.stdout, broken.stderr]
        # a store that cannot be created (this was a traceback): one line, no password
        (tmp_path / "a-file").write_text("")
        crashed = run_cli("--database-url", f"sqlite:///{tmp_path / 'a-file' / 'store.db'}", *sync,
                          env={"OUTREACH_IMAP_PASSWORD": password})
        assert crashed.returncode == 1 and "cannot create the store's directory" in crashed.stderr, crashed.stderr
        outputs += [crashed.stdout, crashed.stderr]
        assert not any("Traceback" in text for text in outputs)
        _assert_absent(secrets, *outputs, where="the output")
        _assert_absent(secrets, _sqlite_bytes(db_path) if store == "sqlite" else _postgres_dump(url),
                       where=f"the {store} store")
    finally:
        if store == "postgresql":
            request.getfixturevalue("postgres").drop_database(f"secret_{os.getpid()}")


def test_database_url_password_is_hidden(tmp_path: Path, postgres: Any) -> None:
    password = f"Db9-{os.urandom(6).hex()}"
    name = f"dbpw_{os.getpid()}"
    postgres.create_database(name)
    try:
        url = f"postgresql+psycopg://postgres:{password}@{postgres.host}:{postgres.port}/{name}"  # trust auth
        current = run_cli("--database-url", url, "db", "current")
        assert current.returncode == 0 and ":***@" in current.stdout, current.stdout
        refused = run_cli("--database-url", url.replace(str(postgres.port), str(free_port())), "contacts")
        assert refused.returncode == 1 and ":***@" in refused.stderr, refused.stderr
        contacts = run_cli("--database-url", url, "contacts", "--format", "json")
        assert contacts.returncode == 0
        # URLs that do not parse (a port that is not a number, a bad scheme): were echoed whole, or a traceback
        bad_port = run_cli("--database-url", url.replace(str(postgres.port), "port"), "contacts")
        bad_scheme = run_cli("--database-url", url.replace("postgresql+psycopg", "postgres!ql"), "contacts")
        for bad in (bad_port, bad_scheme):
            assert bad.returncode == 2 and bad.stderr.startswith("error: invalid database URL"), bad.stderr  # bad input
            assert ":***@" in bad.stderr and "Traceback" not in bad.stderr
        for done in (current, refused, contacts, bad_port, bad_scheme):
            _assert_absent([password.encode()], done.stdout, done.stderr, where="the output")
        _assert_absent([password.encode()], _postgres_dump(postgres.url(name)), where="the store")
    finally:
        postgres.drop_database(name)


def test_password_in_the_config_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    password = f"Cf9-{os.urandom(6).hex()}"
    config = tmp_path / "config.toml"
    config.write_text(f'[mailboxes.x]\nhost = "imap.example.org"\nusername = "u"\npassword = "{password}"\n')
    done = run_cli("--config", str(config), "sync")
    assert done.returncode == 2 and "password" in done.stderr
    _assert_absent([password.encode()], done.stdout, done.stderr, where="the output")


def _ready_store(url: str, addresses: list[str]) -> None:
    """A store in which ``addresses`` are warm contacts (ledgers written directly, dated from now)."""
    from lint.cases import make_ledger

    from outreach.ledger import ledger_row_values
    from outreach.store import open_store, session_factory
    from outreach.store.models import Contact, ContactLedger

    engine = open_store(url)
    now = dt.datetime.now(dt.UTC)
    with session_factory(engine)() as session:
        for address in addresses:
            contact = Contact(address=address, domain=address.rpartition("@")[2], display_name=None, display_names=[])
            session.add(contact)
            session.flush()
            ledger = make_ledger(address, {"scope": "*", "last_two_way": (now - dt.timedelta(days=20)).isoformat(),
                                           "balance": 1.5})
            session.add(ContactLedger(contact_id=contact.id, **ledger_row_values(ledger)))
        session.commit()
    engine.dispose()


def test_smtp_password_is_never_stored_or_printed(tmp_path: Path, make_smtp_server: Callable[..., Any]) -> None:
    user = "pr-user"
    password = f"Sm9-{os.urandom(6).hex()}"
    server = make_smtp_server(auth=(user, password))
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    _ready_store(url, ["maya@techdaily.example", "omar@citywire.example"])
    text = '{# outreach: disable=M002 reason="a test of the send path" #}\nHi {{ first_name }},\nour report.\n'
    folder = write_campaign(tmp_path / "campaign", text=text, rows=[
        {"email": "maya@techdaily.example", "first_name": "Maya"},
        {"email": "omar@citywire.example", "first_name": "Omar"},
    ])
    send = ["--database-url", url, "send", str(folder), "--no-dry-run", "--smtp-host", server.host, "--smtp-port",
            str(server.port), "--smtp-security", "plain", "--smtp-user", user, "--from", OWNER]
    wrong = f"Wr0ng-{os.urandom(6).hex()}"
    failed = run_cli(*send, env={"OUTREACH_SMTP_PASSWORD": wrong})
    assert failed.returncode == 1 and "SMTP login failed" in failed.stderr, failed.stdout + failed.stderr
    assert server.messages == []
    _assert_absent(_secrets(wrong, user), failed.stdout, failed.stderr, _sqlite_bytes(db), where="a failed login")
    ok = run_cli(*send, env={"OUTREACH_SMTP_PASSWORD": password})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == ["maya@techdaily.example", "omar@citywire.example"]
    _assert_absent(_secrets(password, user), ok.stdout, ok.stderr, _sqlite_bytes(db),
                   *(m.data for m in server.messages), where="a successful send")


# ============================================================================================ TLS


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    # for 127.0.0.1 only: connecting as "localhost" (the same server) is a name the certificate does not have
    return {"server": self_signed_certificate(tmp_path_factory.mktemp("certs"), "server", ip="127.0.0.1")}


class TlsDovecot(DovecotServer):
    """The harness's Dovecot with TLS: STARTTLS on ``port``, implicit TLS (IMAPS) on ``tls_port``."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self.cert, self.key = cert, key
        self.tls_port = 0

    def _write_config(self) -> None:
        super()._write_config()
        self.tls_port = free_port()
        text = self.config_path.read_text()
        text = text.replace("ssl = no\n", f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.key}\n")
        text = text.replace(
            "  inet_listener imaps {\n    port = 0\n  }",
            f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.tls_port}\n  }}",
        )
        assert "ssl = yes" in text and str(self.tls_port) in text, "the harness's Dovecot config changed"
        self.config_path.write_text(text)


@pytest.fixture(scope="module")
def tls_imap(certificates: dict[str, tuple[Path, Path]]) -> Iterator[dict[str, Any]]:
    from servers import ServerUnavailable, unavailable

    cert, key = certificates["server"]
    try:
        server = TlsDovecot(cert, key)
    except ServerUnavailable as exc:
        unavailable(f"Dovecot unavailable: {exc}")
    with server:
        server.add_user("tlsuser", "tls-password-1")
        server.append("tlsuser", "INBOX", [_mail("Maya <maya@techdaily.example>", OWNER, "Hi", "Hello.", 1, "t1")])
        yield {"server": server, "user": "tlsuser", "password": "tls-password-1"}


def _sync_tls(tls: dict[str, Any], security: str, trust: Path | None = None) -> Any:
    """``outreach sync`` over TLS; only ``trust`` (if given) is trusted besides the system's CAs."""
    server = tls["server"]
    port = server.tls_port if security == "ssl" else server.port
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(PYTHONPATH=str(REPO), OUTREACH_IMAP_PASSWORD=tls["password"])
    if trust is not None:
        env["SSL_CERT_FILE"] = str(trust)
    return subprocess.run(
        [sys.executable, "-m", "outreach", "--database-url", "sqlite://", "sync", "--host", "127.0.0.1", "--port",
         str(port), "--user", tls["user"], "--security", security, "--quiet", "--no-signals"],
        env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.integration
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_tls_is_verified_by_default(
    tls_imap: dict[str, Any], certificates: dict[str, tuple[Path, Path]], security: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    untrusted = _sync_tls(tls_imap, security)
    assert untrusted.returncode == 1, untrusted.stdout
    assert untrusted.stderr.strip() == "error: 127.0.0.1: TLS certificate not trusted: self-signed certificate"
    # trusting that certificate, and only that, is the way to use it: then the same sync works
    trusted = _sync_tls(tls_imap, security, certificates["server"][0])
    assert trusted.returncode == 0, trusted.stderr
    assert "fetched 1, new 1" in trusted.stdout
    # the trusted certificate, reached under a name it does not carry, is refused: host names are checked
    # (the sync's own connect(), in this process: OpenSSL reads SSL_CERT_FILE when a context is made)
    from outreach.config import MailboxConfig
    from outreach.errors import MailServerError
    from outreach.mail.imap import connect

    server = tls_imap["server"]
    config = MailboxConfig(name="tls", host="localhost", port=server.tls_port if security == "ssl" else server.port,
                           username=tls_imap["user"], security=security)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates["server"][0]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(MailServerError, match=r"^localhost: TLS certificate not trusted: .*mismatch"):
        connect(config, tls_imap["password"], timeout=10)
    client = connect(replace(config, host="127.0.0.1"), tls_imap["password"], timeout=10)
    client.logout()


class _Recorder:
    def __init__(self) -> None:
        self.received: list[tuple[str, ...]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        self.received.append(tuple(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture(scope="module")
def tls_smtp(certificates: dict[str, tuple[Path, Path]]) -> Iterator[dict[str, Any]]:
    """Two aiosmtpd servers with the self-signed certificate: SMTPS (implicit TLS) and STARTTLS."""
    from aiosmtpd import controller as controller_module  # part of the test extra
    cert, key = certificates["server"]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = _Recorder()
    implicit = controller_module.Controller(recorder, hostname="127.0.0.1", port=free_port(), ssl_context=context,
                                            server_hostname="smtp.test")
    starttls = controller_module.Controller(recorder, hostname="127.0.0.1", port=free_port(), tls_context=context,
                                            require_starttls=True, server_hostname="smtp.test")
    implicit.start()
    starttls.start()
    try:
        yield {"ssl": implicit.port, "starttls": starttls.port, "recorder": recorder}
    finally:
        implicit.stop()
        starttls.stop()


@pytest.mark.integration
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_smtp_tls_is_verified_by_default(
    tls_smtp: dict[str, Any], certificates: dict[str, tuple[Path, Path]], security: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sender's own transport (outreach.send.SmtpTransport), over the network to a real TLS server."""
    from outreach.send import SenderRefused, SmtpSettings, SmtpTransport

    settings = SmtpSettings(host="127.0.0.1", port=tls_smtp[security], security=security, from_address=OWNER)
    message = b"From: alex@brightlane.example\r\nSubject: tls\r\n\r\nhello\r\n"
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    before = len(tls_smtp["recorder"].received)
    transport = SmtpTransport(settings, None)
    with pytest.raises(SenderRefused, match=r"^127\.0\.0\.1: TLS certificate not trusted: self-signed certificate$"):
        transport.deliver(OWNER, "maya@techdaily.example", message)
    transport.close()
    assert len(tls_smtp["recorder"].received) == before  # nothing went out
    # with the certificate trusted explicitly (OpenSSL reads SSL_CERT_FILE when the context is made) ...
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates["server"][0]))
    # ... but reached under a name it does not carry: refused
    transport = SmtpTransport(replace(settings, host="localhost"), None)
    with pytest.raises(SenderRefused, match=r"^localhost: TLS certificate not trusted: .*mismatch"):
        transport.deliver(OWNER, "maya@techdaily.example", message)
    transport.close()
    assert len(tls_smtp["recorder"].received) == before
    transport = SmtpTransport(settings, None)
    try:
        assert transport.deliver(OWNER, "maya@techdaily.example", message).startswith("250")
    finally:
        transport.close()
    assert tls_smtp["recorder"].received[-1] == ("maya@techdaily.example",)
