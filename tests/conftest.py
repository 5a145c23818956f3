"""Shared fixtures: real servers started by the tests on 127.0.0.1 (see tests/servers.py).

Server fixtures:
- ``dovecot`` (session): a :class:`~servers.DovecotServer`.
- ``imap_account`` (function): a fresh user on it, as an :class:`ImapAccount`;
  ``make_imap_account`` (function) is a factory for more than one.
- ``oauth_server`` (session): an :class:`~oauth_server.OAuthServer` (token introspection for the mail
  servers, the providers' endpoints for outreach over HTTPS); ``dovecot_oauth`` (session): a second
  Dovecot whose XOAUTH2/OAUTHBEARER logins it checks; ``make_oauth_account`` (function): a user there.
- ``file_keyring`` (function): a file-backed keyring (keyrings.alt's PlaintextKeyring in the test's temp
  dir), in this process and, through the environment it returns, in the processes a test starts.
- ``postgres`` (session): a :class:`~servers.PostgresServer`.
- ``database_url`` (function, parametrized ``sqlite`` / ``postgresql``): a fresh, empty database URL.
- ``smtp_server`` (function): a started :class:`~servers.SmtpServer`; ``make_smtp_server(auth=...)``
  is a factory for one with AUTH.
- ``make_flaky_proxy`` (function): factory for :class:`~servers.FlakyProxy` in front of any server.
- ``chromium`` (session): path of the Chromium binary; run it with :func:`run_chromium`, load a test
  harness page and read the JSON it reports with :func:`chromium_harness_result`, or read what a page
  said on its console with :func:`chromium_console`.
- ``team_store`` (module, parametrized ``sqlite`` / ``postgresql``): three teammates' mailboxes written
  into Dovecot and synced into one store (the scenario of tests/team.py); ``fresh_team_store`` (function)
  the same for tests that change it (send).
- ``synthetic_mail`` (session): the generator module of benchmarks/ (``generate_messages(n, seed)``).
- ``enron_dir`` (session): the Enron Maildir sample (``../shared/data/enron-maildir`` or
  ``$OUTREACH_ENRON_DIR``).

Helpers (import them with ``from conftest import ...``):

- :func:`run_chromium`, :func:`chromium_harness_result`: headless Chromium (see ``chromium`` above).
- :func:`ledger_snapshot`: the ``contact_ledger`` table keyed by (contact address, scope);
  :func:`assert_same_ledgers` compares two snapshots; :func:`assert_ledgers_equal_a_rebuild` checks the
  stored ledgers against a from-scratch rebuild.

When a server cannot run here (binary missing, ...) the tests using it are skipped with the reason —
except when ``CI=true``, where they fail: integration tests never silently skip in CI.
Tests using these fixtures are marked ``integration`` automatically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import imaplib
import importlib.util
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from oauth_server import OAuthServer  # noqa: E402
from servers import (  # noqa: E402
    DovecotServer,
    FlakyProxy,
    PostgresServer,
    ServerUnavailable,
    SmtpServer,
    in_ci,
    unavailable,
)
from team import TeamStore, team_store_at  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "ImapAccount",
    "LedgerSnapshot",
    "assert_ledgers_equal_a_rebuild",
    "assert_same_ledgers",
    "chromium_console",
    "chromium_harness_result",
    "in_ci",
    "ledger_snapshot",
    "load_synthetic_mail",
    "run_chromium",
    "unavailable",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fixtures that need something outside Python; tests using them get the `integration` marker.
INTEGRATION_FIXTURES = frozenset(
    {
        "dovecot",
        "dovecot_oauth",
        "make_oauth_account",
        "imap_account",
        "make_imap_account",
        "postgres",
        "smtp_server",
        "make_smtp_server",
        "chromium",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: needs a real server (Dovecot, PostgreSQL, SMTP, Chromium) started by the tests",
    )
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    # SmtpServer(auth=...) deliberately allows AUTH without TLS on loopback.
    config.addinivalue_line("filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        uses_pg = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if names & INTEGRATION_FIXTURES or uses_pg:
            item.add_marker(pytest.mark.integration)


_counter = itertools.count(1)


def _unique_name(request: pytest.FixtureRequest, prefix: str, max_len: int) -> str:
    """A short unique identifier derived from the test name (letters, digits, underscores)."""
    n = next(_counter)
    base = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    head = f"{prefix}{n}_"
    return (head + base)[:max_len].rstrip("_")


# ------------------------------------------------------------------------------------------------
# Dovecot
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A real Dovecot IMAP server for the session. Add users with ``add_user``, or use ``imap_account``."""
    try:
        server = DovecotServer()
    except ServerUnavailable as exc:
        unavailable(f"Dovecot unavailable: {exc}")
    with server:
        yield server


@dataclasses.dataclass
class ImapAccount:
    """A fresh user on the session's Dovecot; ``host``, ``port``, ``user``, ``password`` for a client."""

    server: DovecotServer
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def maildir(self) -> Path:
        return self.server.maildir(self.user)

    def connect(self) -> imaplib.IMAP4:
        return self.server.connect(self.user)

    def load_maildir(
        self, src_dir: str | os.PathLike[str], folder: str | None = None, *, limit: int | None = None
    ) -> int:
        return self.server.load_maildir(self.user, src_dir, folder, limit=limit)

    def write_messages(
        self, raw_messages: Iterable[bytes], folder: str | None = None, *, flags: str = "S"
    ) -> int:
        return self.server.write_messages(self.user, raw_messages, folder, flags=flags)

    def append(self, folder: str, raw_messages: Iterable[bytes], *, flags: str = "") -> int:
        return self.server.append(self.user, folder, raw_messages, flags=flags)

    def status(self, folder: str) -> dict[str, int]:
        return self.server.status(self.user, folder)

    def recreate_folder(self, folder: str) -> int:
        return self.server.recreate_folder(self.user, folder)


def _accounts(
    server: DovecotServer, request: pytest.FixtureRequest, prefix: str
) -> Iterator[Callable[[], ImapAccount]]:
    """Factory of new users (empty INBOX) on ``server``; their mail goes after the test."""
    made: list[ImapAccount] = []

    def make() -> ImapAccount:
        user = _unique_name(request, prefix, 48)
        password = f"pw-{user}"
        server.add_user(user, password)
        account = ImapAccount(server, user, password)
        made.append(account)
        return account

    yield make
    for account in made:
        shutil.rmtree(server.maildir(account.user).parent, ignore_errors=True)


@pytest.fixture
def make_imap_account(
    dovecot: DovecotServer, request: pytest.FixtureRequest
) -> Iterator[Callable[[], ImapAccount]]:
    """Factory: each call adds a new user (empty INBOX) on the session Dovecot; mail goes after the test."""
    yield from _accounts(dovecot, request, "u")


@pytest.fixture
def imap_account(make_imap_account: Callable[[], ImapAccount]) -> ImapAccount:
    """A fresh IMAP user on the session Dovecot, with an empty INBOX."""
    return make_imap_account()


# ------------------------------------------------------------------------------------------------
# OAuth2: the token server, a Dovecot that asks it, a file-backed keyring
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    """The simulated OAuth2 edge: token introspection (HTTP) and the providers' endpoints (HTTPS)."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        unavailable("cryptography is not installed (pip install -e '.[test]')")
    with OAuthServer() as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_oauth(oauth_server: OAuthServer) -> Iterator[DovecotServer]:
    """A Dovecot whose XOAUTH2 and OAUTHBEARER logins are checked against ``oauth_server``'s introspection."""
    try:
        server = DovecotServer(oauth2_introspection_url=oauth_server.introspection_url)
    except ServerUnavailable as exc:
        unavailable(f"Dovecot unavailable: {exc}")
    with server:
        yield server


@pytest.fixture
def make_oauth_account(
    dovecot_oauth: DovecotServer, request: pytest.FixtureRequest
) -> Iterator[Callable[[], ImapAccount]]:
    """Factory: a new user on the OAuth2 Dovecot (it also has a password, for filling its mailbox)."""
    yield from _accounts(dovecot_oauth, request, "o")


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A file-backed keyring for this test: set in this process, and the environment that selects it in
    a child process (returned, to add to a subprocess's environment)."""
    try:
        import keyring
        from keyrings.alt.file import PlaintextKeyring
    except ImportError:
        unavailable("keyrings.alt is not installed (pip install -e '.[test]')")
    data = tmp_path / "xdg-data"
    env = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "XDG_DATA_HOME": str(data)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    before = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(data / "python_keyring" / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    yield env
    keyring.set_keyring(before)


# ------------------------------------------------------------------------------------------------
# PostgreSQL and database URLs
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session."""
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        unavailable(f"PostgreSQL unavailable: {exc}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[test]')")
    with server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, empty database: ``sqlite:///<tmp>/outreach.db`` or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outreach.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = _unique_name(request, "t", 63)
    url = server.create_database(name)
    yield url
    with contextlib.suppress(Exception):  # a test that leaks connections must not break the next ones
        server.drop_database(name)


# ------------------------------------------------------------------------------------------------
# A team store (tests/team.py)
# ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _team(request: pytest.FixtureRequest, dovecot: DovecotServer, backend: str, folder: Path) -> Iterator[TeamStore]:
    database = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'team.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        database = _unique_name(request, "team", 63)
        url = server.create_database(database)

    def account() -> ImapAccount:
        user = _unique_name(request, "team", 48)
        dovecot.add_user(user, f"pw-{user}")
        return ImapAccount(dovecot, user, f"pw-{user}")

    try:
        with team_store_at(url, account) as store:
            yield store
    finally:
        if database is not None:
            with contextlib.suppress(Exception):
                server.drop_database(database)


_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


@pytest.fixture(scope="module", params=_BACKENDS)
def team_store(
    request: pytest.FixtureRequest, dovecot: DovecotServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamStore]:
    """The team scenario (tests/team.py) synced from Dovecot, once per module and backend: for tests that
    only read the store."""
    with _team(request, dovecot, request.param, tmp_path_factory.mktemp("team")) as store:
        yield store


@pytest.fixture(params=_BACKENDS)
def fresh_team_store(request: pytest.FixtureRequest, dovecot: DovecotServer, tmp_path: Path) -> Iterator[TeamStore]:
    """The same, synced for each test: for tests that change the store (sending)."""
    with _team(request, dovecot, request.param, tmp_path) as store:
        yield store


# ------------------------------------------------------------------------------------------------
# SMTP and the flaky proxy
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Factory: ``make_smtp_server(auth=("user", "pw"))`` starts an SMTP server, stopped after the test."""
    started: list[SmtpServer] = []

    def make(
        *, auth: tuple[str, str] | dict[str, str] | None = None, oauth2: Callable[[str], str | None] | None = None
    ) -> SmtpServer:
        try:
            server = SmtpServer(auth=auth, oauth2=oauth2).start()
        except ServerUnavailable as exc:
            unavailable(f"SMTP server unavailable: {exc}")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    """A started SMTP server without AUTH; received mail is in ``smtp_server.messages``."""
    return make_smtp_server()


@pytest.fixture
def make_flaky_proxy() -> Iterator[Callable[..., FlakyProxy]]:
    """Factory: ``make_flaky_proxy(host, port, cut_after_bytes=None)`` -> a started :class:`FlakyProxy`."""
    started: list[FlakyProxy] = []

    def make(host: str, port: int, **kwargs: Any) -> FlakyProxy:
        proxy = FlakyProxy(host, port, **kwargs).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium binary (as root, run it with --no-sandbox)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    unavailable("Chromium not found (install package chromium with `make test-deps`)")


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def run_chromium(chromium: str, workdir: Path, *args: str, timeout: float = 120) -> str:
    """Run headless Chromium (``chromium``: the fixture) with ``args``, e.g. ``--dump-dom URL``: its stdout.

    Its profile goes to ``workdir/profile``; a non-zero exit fails the test with the end of its stderr.
    """
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={workdir / 'profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def chromium_console(chromium: str, workdir: Path, page: Path, *, budget_ms: int = 5000) -> list[str]:
    """Load ``page`` in headless Chromium and return what its console said: errors, warnings, uncaught
    exceptions, Content-Security-Policy violations and ``console.*`` calls (Chromium logs them as
    ``CONSOLE`` lines when logging goes to stderr)."""
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={workdir / 'profile'}", "--enable-logging=stderr", "--v=0",
           f"--virtual-time-budget={budget_ms}", "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [line.split("] ", 1)[-1] for line in done.stderr.splitlines() if ":CONSOLE" in line]


def chromium_harness_result(chromium: str, workdir: Path, harness: Path, *, budget_ms: int = 8000) -> Any:
    """Load the page ``harness`` in headless Chromium and return the JSON its script reported.

    The harness (which may load ``file://`` pages beside it, e.g. in an iframe) writes ``JSON.stringify``
    of its result into ``<pre id="out">pending</pre>`` within ``budget_ms`` of virtual time; the test
    fails if it is still ``pending``.
    """
    dom = run_chromium(
        chromium,
        workdir,
        "--allow-file-access-from-files",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        harness.as_uri(),
    )
    out = re.search(r'<pre id="out">(.*?)</pre>', dom, re.DOTALL)
    assert out and out.group(1) != "pending", dom[-2000:]
    return json.loads(html.unescape(out.group(1)))


# ------------------------------------------------------------------------------------------------
# Ledgers
# ------------------------------------------------------------------------------------------------

# (contact address, scope) -> {column: value} of every contact_ledger row: see ledger_snapshot().
LedgerSnapshot = dict[tuple[str, str], dict[str, Any]]

# Database ids: not compared, the key's contact address stands for the contact.
_LEDGER_IDS = frozenset({"id", "contact_id"})


def ledger_snapshot(session: Session, *, exclude: Collection[str] = ("computed_at",)) -> LedgerSnapshot:
    """Every ``contact_ledger`` row, keyed by (contact address, scope), as {column: value}.

    Every column of the table is there (a column added later is compared too) except the database ids
    (``id``, ``contact_id``), the key's ``scope`` and the columns in ``exclude``: by default
    ``computed_at``, the time of the refresh, which differs between any two refreshes.  ``data`` keeps the
    message ids of the evidence: compare snapshots of one store (an incremental refresh and a rebuild
    in place), not of two stores that imported the same mail.
    """
    from sqlalchemy import select

    from outreach.store.models import Contact, ContactLedger

    table = ContactLedger.__table__
    unknown = set(exclude) - set(table.columns.keys())
    assert not unknown, f"no such contact_ledger columns: {sorted(unknown)}"
    columns = [c for c in table.columns if c.name not in _LEDGER_IDS | {"scope", *exclude}]
    names = [c.name for c in columns]
    rows = session.execute(
        select(Contact.address, ContactLedger.scope, *columns).join(Contact, Contact.id == ContactLedger.contact_id)
    ).all()
    snapshot = {(address, scope): dict(zip(names, values, strict=True)) for address, scope, *values in rows}
    assert len(snapshot) == len(rows), "two contact_ledger rows for one (address, scope)"
    return snapshot


def _ledger_differences(got: Any, want: Any, abs_tol: float, path: str) -> Iterator[str]:
    """``path: got != want`` for each differing leaf; floats (not ints) within ``abs_tol`` are equal."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(got.keys() | want.keys(), key=str):
            if key not in want or key not in got:
                yield f"{path}.{key}: {got.get(key, '<missing>')!r} != {want.get(key, '<missing>')!r}"
            else:
                yield from _ledger_differences(got[key], want[key], abs_tol, f"{path}.{key}")
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            yield from _ledger_differences(g, w, abs_tol, f"{path}[{i}]")
    elif (
        (isinstance(got, float) or isinstance(want, float))
        and isinstance(got, int | float)
        and isinstance(want, int | float)
        and not isinstance(got, bool)
        and not isinstance(want, bool)
    ):
        if not math.isclose(got, want, rel_tol=0.0, abs_tol=abs_tol):
            yield f"{path}: {got!r} != {want!r}"
    elif got != want:
        yield f"{path}: {got!r} != {want!r}"


def assert_same_ledgers(got: LedgerSnapshot, want: LedgerSnapshot, *, abs_tol: float = 0.0) -> None:
    """``got`` has the rows of ``want`` (same keys) with the same values.

    With ``abs_tol`` > 0, floats (the ``balance`` column and those inside ``data``) may differ by that
    much; everything else (ints, strings, dates) must be equal.  The message names the differences.
    """
    missing = sorted(want.keys() - got.keys())
    extra = sorted(got.keys() - want.keys())
    assert not missing and not extra, f"ledger rows missing: {missing[:10]}, unexpected: {extra[:10]}"
    differences = [
        line for key in sorted(want) for line in _ledger_differences(got[key], want[key], abs_tol, repr(key))
    ]
    assert not differences, f"{len(differences)} ledger values differ:\n" + "\n".join(differences[:20])


def assert_ledgers_equal_a_rebuild(sessions: sessionmaker[Session], *, abs_tol: float = 1e-9) -> None:
    """The stored ledgers equal a from-scratch rebuild; the rebuild is rolled back.

    A stored ledger is judged as of its own latest message, whenever it was computed, so an incremental
    refresh and a rebuild agree exactly (``abs_tol`` only absorbs float rounding).
    """
    from outreach.ledger import refresh_ledgers

    with sessions() as session:
        stored = ledger_snapshot(session)
        assert stored, "no ledgers stored"
        refresh_ledgers(session, None)
        rebuilt = ledger_snapshot(session)
        session.rollback()
    assert_same_ledgers(rebuilt, stored, abs_tol=abs_tol)


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def find_enron_dir() -> Path | None:
    candidates = [REPO_ROOT.parent / "shared" / "data" / "enron-maildir"]
    env = os.environ.get("OUTREACH_ENRON_DIR")
    if env:
        candidates.append(Path(env))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


@pytest.fixture(scope="session")
def enron_dir() -> Path:
    """The Enron Maildir sample: one Maildir per person (``cur/`` = inbox, ``.Sent_reconstructed/cur``)."""
    path = find_enron_dir()
    if path is None:
        unavailable(
            "Enron Maildir sample not found at ../shared/data/enron-maildir (relative to the repo) "
            "nor at $OUTREACH_ENRON_DIR"
        )
    return path


def load_synthetic_mail() -> ModuleType:
    """The synthetic mailbox generator (benchmarks/synthetic_mail.py or benchmarks/mailbox.py).

    Loaded from its file under the module name ``synthetic_mail``: putting benchmarks/ on sys.path and
    importing ``mailbox`` would clash with the standard library's ``mailbox`` module.
    """
    name = "synthetic_mail"
    if name in sys.modules:
        return sys.modules[name]
    for filename in ("synthetic_mail.py", "mailbox.py"):
        path = REPO_ROOT / "benchmarks" / filename
        if path.is_file():
            break
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture(scope="session")
def synthetic_mail() -> ModuleType:
    """The synthetic mailbox generator module: ``generate_messages(n, seed)``, ``write_maildir(...)``."""
    return load_synthetic_mail()
