"""Incremental, read-only IMAP sync: the only module that talks IMAP.

* Read-only: folders are opened with EXAMINE (``readonly=True``) and bodies fetched with ``BODY.PEEK[]``;
  nothing on the server is ever changed.
* Incremental: per folder we keep UIDVALIDITY, the highest UID stored and HIGHESTMODSEQ.  A folder whose
  STATUS shows nothing new costs one round trip; otherwise only UIDs above the highest stored are fetched.
  A new UIDVALIDITY re-reads the folder; messages already stored are recognised by Message-ID and only
  their location is updated.
* Streaming: UIDs are fetched in batches of ``batch_size`` (an answer is read in parts of at most about
  ``MAX_BATCH_BYTES``), each batch is committed with the folder state, so memory stays flat and a killed
  sync resumes where it stopped.  Each message is fetched up to ``MAX_FETCH_BYTES`` (its first bytes hold
  headers and text).
* Pipelined: the FETCH of batch k+1 is sent before batch k is stored, so the server produces it meanwhile;
  a large folder's batches are parsed in a worker process (batch k+1) while this one stores batch k.
* A dropped connection is retried with exponential backoff; the folder resumes from its committed state.
  A server that stops answering for ``MailboxConfig.timeout`` seconds counts as a dropped connection.
* A folder that disappeared from the server is reported as missing; its stored messages are kept.

imapclient 4.1 cannot take string ranges in ``fetch`` ("1:*" raises ValueError), so UIDs are always
passed as explicit lists.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import imaplib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from sqlalchemy.orm import Session, sessionmaker

from outreach.auth import OAuth2Login, Secret, sasl_mechanism
from outreach.config import MailboxConfig
from outreach.errors import AuthenticationError, MailServerError, network_error
from outreach.mail.files import is_sent_name, senders_by_use
from outreach.mail.ingest import Ingestor, IngestStats, RawMessage, ensure_folder, finish_run
from outreach.mail.owners import open_mailbox
from outreach.mail.worker import PendingBatch, PrepareWorker, parse_batch
from outreach.store.models import Folder, SyncRun, utcnow

MAX_FETCH_BYTES = 256 * 1024  # per message (its first bytes hold headers and text)
MAX_BATCH_BYTES = 6 * 1024 * 1024  # per batch, whatever its count: the memory budget holds a few of them
FETCH_ITEMS = f"(UID FLAGS BODY.PEEK[]<0.{MAX_FETCH_BYTES}>)"
RETRIES = 5
BACKOFF_BASE = 0.5
# A folder with at least this many new messages is parsed in a second process while the main one fetches
# and writes: imapclient's response parsing alone keeps one core busy.
PARALLEL_THRESHOLD = 2000
#: Batches handed to the parse worker ahead of the one being stored (each at most about MAX_BATCH_BYTES).
IN_FLIGHT = 3
CONNECTION_ERRORS = (IMAPClientAbortError, imaplib.IMAP4.abort, OSError, socket.timeout, EOFError)


#: A batch on its way: its messages, its parse in the pool (if any), the folder's highest UID once stored.
Pending = tuple[list[RawMessage], "PendingBatch | None", int]


class SyncProgress(Protocol):
    """What a sync reports as it goes; the CLI draws a progress bar or prints log lines."""

    def folder(self, name: str, to_fetch: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def note(self, message: str) -> None: ...


_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")


def uid_set(uids: Sequence[int]) -> str:
    """An IMAP sequence set with consecutive UIDs as ranges: [1, 2, 3, 7] -> "1:3,7"."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid != prev + 1:
            parts.append(f"{start}:{prev}" if prev != start else str(start))
            start = uid
        prev = uid
    if ordered:
        parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


def parse_fetch_bodies(data: Sequence[Any]) -> dict[int, tuple[bytes, str]]:
    """UID -> (body, flags) from imaplib's answer to ``UID FETCH (UID FLAGS BODY.PEEK[]…)``.

    imaplib gives each message with a literal as a (prefix, literal) tuple followed by the rest of the line;
    the UID and FLAGS items may stand before or after the literal.  Untagged FETCH answers without a body
    (a flag change announced by the server) are skipped.
    """
    found: dict[int, tuple[bytes, str]] = {}
    for index, item in enumerate(data):
        if not isinstance(item, tuple) or len(item) != 2:
            continue
        prefix, body = item
        after = data[index + 1] if index + 1 < len(data) and isinstance(data[index + 1], bytes) else b""
        uid = _FETCH_UID.search(prefix) or _FETCH_UID.search(after)
        if uid is None or not isinstance(body, bytes):
            continue
        flags = _FETCH_FLAGS.search(prefix) or _FETCH_FLAGS.search(after)
        found[int(uid.group(1))] = (body, flags.group(1).decode("ascii", "replace") if flags else "")
    return found


@contextlib.contextmanager
def _quiet(client: IMAPClient) -> Iterator[None]:
    """imapclient sets imaplib's debug level to 5, which builds the repr() of every message body (and of the
    whole answer) for its debug log: costly, and mail content has no business in a log."""
    imap = client._imap
    level, imap.debug = imap.debug, 0
    try:
        yield
    finally:
        imap.debug = level


class SilentProgress:
    def folder(self, name: str, to_fetch: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


MISSING_ON_SERVER = "missing on server"


@dataclass
class FolderSummary:
    name: str
    status: str  # "unchanged" | "synced" | "resynced (UIDVALIDITY changed)" | "missing on server …"
    stats: IngestStats = field(default_factory=IngestStats)


@dataclass
class RunSummary:
    """What a sync or an import did, folder by folder."""

    mailbox: str
    source: str  # the host, or the imported path
    folders: list[FolderSummary] = field(default_factory=list)
    seconds: float = 0.0
    refined: int = 0  # messages whose sentences the sentence classifier decided after the ingest

    @property
    def totals(self) -> IngestStats:
        total = IngestStats()
        for folder in self.folders:
            total.merge(folder.stats)
        return total


@dataclass
class SyncSummary(RunSummary):
    retries: int = 0

    @property
    def host(self) -> str:
        return self.source


def connect(config: MailboxConfig, password: Secret, timeout: float | None = None) -> IMAPClient:
    """Log in (with a password, or OAuth2), with TLS verified unless plaintext was asked for; errors name
    the host.

    ``timeout`` (default: the mailbox's ``timeout``) bounds the connection and every wait for an answer."""
    host = config.host
    timeout = config.timeout if timeout is None else timeout
    context = ssl.create_default_context()
    try:
        client = IMAPClient(
            host,
            port=config.effective_port,
            ssl=config.security == "ssl",
            ssl_context=context if config.security == "ssl" else None,
            timeout=timeout,
        )
        if config.security == "starttls":
            client.starttls(context)
        if isinstance(password, OAuth2Login):
            _oauth2_login(client, host, password)
        else:
            client.login(config.username, password)
    except LoginError as exc:
        raise AuthenticationError(host, f"login failed for {config.username}: {_text(exc)}") from exc
    except OSError as exc:
        raise network_error(host, config.effective_port, exc) from exc
    except IMAPClientError as exc:
        raise MailServerError(host, f"IMAP error: {_text(exc)}") from exc
    return client


def _oauth2_login(client: IMAPClient, host: str, login: OAuth2Login) -> None:
    """AUTHENTICATE with the login's access token; refused, once more with a renewed token, then an error
    naming the mailbox and what to run."""
    capabilities = [c.decode("ascii", "replace").upper() for c in client.capabilities()]
    offered = [c.removeprefix("AUTH=") for c in capabilities if c.startswith("AUTH=")]
    mechanism = sasl_mechanism(login.mechanism, offered)
    for fresh in (False, True):
        token = login.access_token(fresh=fresh)
        try:
            if mechanism == "OAUTHBEARER":
                client.oauthbearer_login(login.username, token)
            else:
                client.oauth2_login(login.username, token)
            return
        except LoginError as exc:
            refused = _text(exc)
    raise login.refused(host, f"{mechanism}: {refused}")


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip() or type(exc).__name__


def discover_folders(
    client: IMAPClient,
    configured: Sequence[str],
    *,
    missing: list[str] | None = None,
    listing: Sequence[Any] | None = None,
) -> list[tuple[str, bool]]:
    """INBOX, the Sent folder (SPECIAL-USE \\Sent, else a common name) and any configured folders.

    A configured folder the server does not have is an error, or with ``missing`` is added to that list.
    ``listing``: the server's ``list_folders()`` answer when the caller already has it."""
    if listing is None:
        listing = client.list_folders()
    names = {name: flags for flags, _delim, name in listing}
    sent = [n for n, flags in names.items() if b"\\Sent" in flags]
    if not sent:
        sent = [n for n in names if is_sent_name(n)][:1]
    chosen: list[tuple[str, bool]] = [("INBOX", False)]
    chosen += [(n, True) for n in sent]
    for name in configured:
        if name not in names:
            if missing is not None:
                missing.append(name)
                continue
            raise MailServerError(client._imap.host, f"folder {name!r} not found on the server")
        if name not in {c for c, _ in chosen}:
            chosen.append((name, name in sent))
    return chosen


class ImapSync:
    """Syncs one mailbox.  ``connect_fn`` is injectable so tests can route through a flaky proxy."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: MailboxConfig,
        password: Secret,
        progress: SyncProgress | None = None,
        connect_fn: Callable[[MailboxConfig, Secret], IMAPClient] = connect,
        after_batch: Callable[[Session, list[int]], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        analyse: bool = False,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.password = password
        self.progress = progress or SilentProgress()
        self.connect_fn = connect_fn
        self.after_batch = after_batch
        self.sleep = sleep
        self.analyse = analyse  # compute signals in the worker too (the store hook fills in the rest)
        self.client: IMAPClient | None = None
        self.pool: PrepareWorker | None = None

    def run(self) -> SyncSummary:
        # Batches allocate many short-lived objects but build no reference cycles: without this the
        # cyclic collector keeps rescanning every long-lived object (SQLAlchemy's, imapclient's).
        gc.freeze()
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
        try:
            return self._run()
        except CONNECTION_ERRORS as exc:  # outside a folder's retries: listing folders, guessing the owner
            raise MailServerError(self.config.host, f"connection lost: {self._reason(exc)}") from exc
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()

    def _run(self) -> SyncSummary:
        started = time.perf_counter()
        summary = SyncSummary(self.config.name, self.config.host)
        with self.sessions() as session:
            self.client = self.connect_fn(self.config, self.password)
            try:
                listing = self.client.list_folders()
                missing: list[str] = []
                folders = discover_folders(self.client, self.config.folders, missing=missing, listing=listing)
                sent = [n for n, is_sent in folders if is_sent]
                mailbox = open_mailbox(
                    session,
                    self.config.name,
                    self.config.addresses,
                    bool(sent),
                    lambda: self._guess_owner(sent),
                    self.progress.note,
                )
                run = SyncRun(mailbox_id=mailbox.id, source=f"imap://{self.config.host}")
                session.add(run)
                session.commit()
                ingestor = Ingestor(session, mailbox, after_batch=self.after_batch)
                for name, is_sent in folders:
                    folder = ensure_folder(session, mailbox, name, "imap", is_sent)
                    session.commit()
                    summary.folders.append(self._sync_folder_with_retries(session, ingestor, folder, summary))
                on_server = {name for _flags, _delim, name in listing}
                summary.folders += self._missing_folders(session, mailbox.id, folders, on_server, missing)
                finish_run(run, summary.totals)
                session.commit()
            finally:
                self._logout()
                if self.pool is not None:
                    self.pool.close()
                    self.pool = None
        summary.seconds = time.perf_counter() - started
        return summary

    # ------------------------------------------------------------------ folders

    def _sync_folder_with_retries(
        self, session: Session, ingestor: Ingestor, folder: Folder, summary: SyncSummary
    ) -> FolderSummary:
        result = FolderSummary(folder.name, "unchanged")
        attempt = 0
        while True:
            try:
                self._sync_folder(session, ingestor, folder, result)
                return result
            except CONNECTION_ERRORS as exc:
                session.rollback()  # the batches in flight are fetched again; committed ones stay
                self._forget_in_flight(ingestor)
                lost: BaseException = exc
            except IMAPClientError as exc:
                session.rollback()
                self._forget_in_flight(ingestor)
                if self._client().folder_exists(folder.name):
                    raise MailServerError(self.config.host, f"{folder.name}: {_text(exc)}") from exc
                return self._gone(session, folder, "deleted during the sync")
            # Reconnect with backoff; a failed reconnect (refused, timed out) counts as another attempt.
            while True:
                if attempt == RETRIES:
                    raise MailServerError(
                        self.config.host,
                        f"connection lost {RETRIES + 1} times during {folder.name}: {self._reason(lost)}",
                    ) from lost
                delay = BACKOFF_BASE * 2**attempt
                attempt += 1
                summary.retries += 1
                self.progress.note(
                    f"{self.config.host}: connection lost ({self._reason(lost)}); retrying in {delay:.1f}s"
                )
                self.sleep(delay)
                self._logout()
                try:
                    self.client = self.connect_fn(self.config, self.password)
                    break
                except AuthenticationError:
                    raise
                except MailServerError as exc:
                    lost = exc
            session.refresh(folder)

    def _forget_in_flight(self, ingestor: Ingestor) -> None:
        """After an interrupted folder: the pool's unanswered batches and the ingestor's caches (which may
        name rows of a rolled-back batch) are dropped; the folder goes on from its committed state."""
        if self.pool is not None:
            self.pool.abandon()
        ingestor.reset()

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.config.timeout:g} s"
        if isinstance(exc, MailServerError):
            return str(exc).removeprefix(f"{exc.host}: ")
        return _text(exc)

    def _gone(self, session: Session, folder: Folder, why: str = "") -> FolderSummary:
        """A folder the store knows that is no longer on the server: reported, its messages kept."""
        from sqlalchemy import func, select

        from outreach.store.models import MessageLocation

        kept = session.scalar(select(func.count()).where(MessageLocation.folder_id == folder.id)) or 0
        status = f"{MISSING_ON_SERVER}" + (f", {why}" if why else "") + f" ({kept} stored message(s) kept)"
        self.progress.note(f"{folder.name}: {status}")
        return FolderSummary(folder.name, status)

    def _missing_folders(
        self,
        session: Session,
        mailbox_id: int,
        synced: Sequence[tuple[str, bool]],
        on_server: set[str],
        configured_missing: Sequence[str],
    ) -> list[FolderSummary]:
        """Configured folders the server does not have, and folders synced before that are gone (deleted or
        renamed on the server): each is reported; what was stored from them stays (history is never lost)."""
        from sqlalchemy import select

        names = {name for name, _ in synced}
        stored = {
            f.name: f
            for f in session.scalars(select(Folder).where(Folder.mailbox_id == mailbox_id, Folder.source == "imap"))
        }
        out: list[FolderSummary] = []
        for name in list(dict.fromkeys(configured_missing)) + sorted(stored):
            if name in names or name in on_server or name in {f.name for f in out}:
                continue
            if name in stored:
                out.append(self._gone(session, stored[name]))
            else:
                self.progress.note(f"{name}: {MISSING_ON_SERVER} (configured, never synced)")
                out.append(FolderSummary(name, f"{MISSING_ON_SERVER} (configured, never synced)"))
        return out

    def _sync_folder(self, session: Session, ingestor: Ingestor, folder: Folder, result: FolderSummary) -> None:
        client = self._client()
        status = client.folder_status(folder.name, self._status_items(client))
        validity = int(status[b"UIDVALIDITY"])
        uidnext = int(status.get(b"UIDNEXT", 0)) or None
        modseq = int(status[b"HIGHESTMODSEQ"]) if b"HIGHESTMODSEQ" in status else None
        if folder.uidvalidity == validity and uidnext is not None and uidnext - 1 <= folder.highest_uid:
            folder.highest_modseq, folder.uidnext, folder.last_synced_at = modseq, uidnext, utcnow()
            session.commit()
            self.progress.folder(folder.name, 0)
            return
        if folder.uidvalidity is not None and folder.uidvalidity != validity:
            result.status = "resynced (UIDVALIDITY changed)"
            self.progress.note(f"{folder.name}: UIDVALIDITY changed, reading the folder again")
            folder.highest_uid = 0
        elif result.status == "unchanged":
            result.status = "synced"
        folder.uidvalidity = validity
        session.commit()
        client.select_folder(folder.name, readonly=True)
        uids = sorted(u for u in client.search(["UID", f"{folder.highest_uid + 1}:*"]) if u > folder.highest_uid)
        self.progress.folder(folder.name, len(uids))
        pool = self._pool() if len(uids) >= PARALLEL_THRESHOLD else None
        # Pipeline: while batch k is stored, the server is already sending batch k+1 (see _batches), and the
        # pool prepares the batches after k (up to IN_FLIGHT of them), so that neither process waits for
        # the other over one slow batch.  Batches are stored in order, each with its own watermark.
        in_flight: collections.deque[Pending] = collections.deque()
        for raw, watermark in self._batches(client, folder.name, uids):
            future = None
            if pool is not None:
                items = [(m.raw, m.internal_date) for m in raw]
                # With signals, analysis is the heavy part: parse here and analyse in the worker, so that
                # both processes carry a share; without, the worker parses.
                future = pool.submit_parsed(parse_batch(items)) if self.analyse else pool.submit(items, False)
                for message in raw:
                    message.raw = None  # the worker has the bytes now; only UID and flags are stored
            in_flight.append((raw, future, watermark))
            if len(in_flight) > (IN_FLIGHT if pool is not None else 1):
                self._store(ingestor, folder, in_flight.popleft(), result)
        while in_flight:
            self._store(ingestor, folder, in_flight.popleft(), result)
        folder.highest_modseq, folder.uidnext, folder.last_synced_at = modseq, uidnext, utcnow()
        session.commit()

    def _store(self, ingestor: Ingestor, folder: Folder, pending: Pending, result: FolderSummary) -> None:
        raw, future, watermark = pending
        prepared = future.result() if future is not None else None
        result.stats.merge(ingestor.ingest(folder, raw, prepared, highest_uid=watermark))
        self.progress.advance(len(raw))

    def _pool(self) -> PrepareWorker | None:
        if (os.cpu_count() or 1) < 2:
            return None
        if self.pool is None:
            self.pool = PrepareWorker()
        return self.pool

    def _status_items(self, client: IMAPClient) -> list[bytes]:
        items = [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"]
        if client.has_capability("CONDSTORE"):
            items.append(b"HIGHESTMODSEQ")
        return items

    def _plan(self, client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
        """The UIDs of each FETCH command: ``batch_size`` at a time."""
        limit = max(1, self.config.batch_size)
        for start in range(0, len(uids), limit):
            yield uids[start : start + limit]

    def _batches(self, client: IMAPClient, folder: str, uids: list[int]) -> Iterator[tuple[list[RawMessage], int]]:
        """Bodies (``BODY.PEEK``: read-only) and flags of ``uids``: batches of messages, each with the folder's
        highest UID once it is stored (every UID up to it is in this batch or an earlier one, or gone).

        imapclient's generic response parser costs more than fetching itself (NOTES: ≈7,000 msg/s through
        imapclient against ≈36,000 with imaplib on the same data), so this one hot command goes through the
        imaplib connection imapclient wraps; everything else goes through imapclient.

        * Pipelined: the FETCH of the next batch is sent as soon as the answer to this one is read, before
          this one is stored, so that the server produces it meanwhile (into the socket buffers).
        * Bounded in bytes as well as in count: an answer is read in parts of at most about
          ``MAX_BATCH_BYTES``, so that a run of large messages cannot blow the memory budget.
        """
        commands = list(self._plan(client, uids))
        if not commands:
            return
        tag = self._send_fetch(client, commands[0])
        for index, planned in enumerate(commands):
            wanted = set(planned)
            received: set[int] = set()
            done = 0  # planned[:done] have all been received
            complete = False
            while not complete:
                found, complete = self._read_fetch_part(client, folder, tag)
                if complete and index + 1 < len(commands):
                    tag = self._send_fetch(client, commands[index + 1])
                received.update(found)
                if complete:
                    watermark = planned[-1]  # what was not received is gone from the server
                else:
                    while done < len(planned) and planned[done] in received:
                        done += 1
                    watermark = planned[done - 1] if done else 0
                batch = [
                    RawMessage(raw=raw, uid=uid, flags=flags, origin=f"{self.config.host} {folder} UID {uid}")
                    for uid, (raw, flags) in sorted(found.items())
                    if uid in wanted
                ]
                yield batch, watermark

    def _send_fetch(self, client: IMAPClient, uids: list[int]) -> bytes:
        """Send ``UID FETCH`` for ``uids`` without waiting for the answer; its tag."""
        with _quiet(client):
            tag: bytes = client._imap._command("UID", "FETCH", uid_set(uids), FETCH_ITEMS)
        return tag

    def _read_fetch_part(
        self, client: IMAPClient, folder: str, tag: bytes
    ) -> tuple[dict[int, tuple[bytes, str]], bool]:
        """Read the answer to the FETCH sent as ``tag`` until about ``MAX_BATCH_BYTES`` of message data or
        its end: (UID -> (body, flags), whether the answer is complete)."""
        imap = client._imap
        with _quiet(client):
            size = seen = 0
            while imap.tagged_commands[tag] is None:
                imap._get_response()
                data = imap.untagged_responses.get("FETCH", ())
                for item in data[seen:]:
                    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                        size += len(item[1])
                seen = len(data)
                if size >= MAX_BATCH_BYTES and imap.tagged_commands[tag] is None:
                    return parse_fetch_bodies(imap.untagged_responses.pop("FETCH")), False
            typ, dat = imap._command_complete("UID", tag)  # answered: checks BYE and BAD
            typ, dat = imap._untagged_response(typ, dat, "FETCH")
        if typ != "OK":
            raise MailServerError(self.config.host, f"FETCH in {folder} failed: {_text(Exception(dat))}")
        return parse_fetch_bodies(dat), True

    def _guess_owner(self, sent_folders: list[str]) -> list[str]:
        from collections import Counter

        from outreach.mail.parsing import parse_address_list, parse_headers

        client = self._client()
        counts: Counter[str] = Counter()
        for name in sent_folders:
            client.select_folder(name, readonly=True)
            uids = client.search(["ALL"])
            for start in range(0, len(uids), 5000):  # the From lines only: a few MB for 50,000 messages
                answer = client.fetch(uids[start : start + 5000], [b"BODY.PEEK[HEADER.FIELDS (FROM)]"])
                for item in answer.values():
                    head = item.get(b"BODY[HEADER.FIELDS (FROM)]", b"")
                    for addr in parse_address_list(parse_headers(head).get("from", [])):
                        counts[addr.address] += 1
        return senders_by_use(counts)

    def _client(self) -> IMAPClient:
        if self.client is None:
            self.client = self.connect_fn(self.config, self.password)
        return self.client

    def _logout(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                self.client.logout()
            self.client = None


def append_to_sent(config: MailboxConfig, password: Secret, raw: bytes) -> None:
    """APPEND ``raw`` (a message outreach just sent) to the mailbox's Sent folder, flagged \\Seen.

    The Sent folder is the one with SPECIAL-USE ``\\Sent``, else the first with a common Sent name.  This is
    the one place outreach writes to an IMAP server, and only when asked (``send --append-sent``).
    """
    client = connect(config, password)
    try:
        listing = client.list_folders()
        sent = [name for flags, _delim, name in listing if b"\\Sent" in flags]
        if not sent:
            sent = [name for _flags, _delim, name in listing if is_sent_name(name)]
        if not sent:
            raise MailServerError(config.host, "no Sent folder found (neither SPECIAL-USE \\Sent nor a common name)")
        client.append(sent[0], raw, flags=[b"\\Seen"], msg_time=datetime.now(UTC))
    except CONNECTION_ERRORS as exc:
        raise MailServerError(config.host, f"APPEND to the Sent folder failed: {_text(exc)}") from exc
    except IMAPClientError as exc:
        raise MailServerError(config.host, f"APPEND to the Sent folder failed: {_text(exc)}") from exc
    finally:
        with contextlib.suppress(Exception):  # the connection may already be gone
            client.logout()
