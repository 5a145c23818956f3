"""Real servers for the tests, started on 127.0.0.1 on free ports and stopped by the tests.

- :class:`DovecotServer`: a real Dovecot IMAP server (``dovecot -F``) in a private temp root.
- :class:`PostgresServer`: a real PostgreSQL cluster (initdb + postgres) in a private temp root.
- :class:`SmtpServer`: a real SMTP server (aiosmtpd ``Controller``) that records what it receives.
- :class:`FlakyProxy`: a TCP proxy that cuts, resets or stalls connections on demand, to test reconnects.

A server whose binary (or required system user) is missing raises :class:`ServerUnavailable`;
``tests/conftest.py`` turns that into a skip, or into a failure when ``CI=true``.

Binaries are found on PATH and in Debian's locations; override with the environment variables
``OUTREACH_DOVECOT`` (path of the dovecot binary), ``OUTREACH_DOVEADM`` and ``OUTREACH_PG_BINDIR``
(directory with ``initdb`` and ``postgres``).

When run as root (as on CI), Dovecot's login processes run as Debian's ``dovecot``/``dovenull`` users,
mail is stored as ``nobody``, and PostgreSQL runs as ``postgres`` (or ``nobody``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import glob
import grp
import imaplib
import ipaddress
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

__all__ = [
    "DovecotServer",
    "FlakyProxy",
    "PostgresServer",
    "ReceivedMessage",
    "ServerError",
    "ServerUnavailable",
    "SmtpServer",
    "free_port",
    "self_signed_certificate",
    "in_ci",
    "unavailable",
]


def in_ci() -> bool:
    """True when the environment variable CI is ``true`` (as in .ci/run)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the current test because something it needs is missing here — or fail it when CI=true.

    The one place of the skip policy: integration tests must never silently skip in CI.
    """
    import pytest

    if in_ci():
        pytest.fail(f"{reason} [CI=true: integration tests must not skip]", pytrace=False)
    pytest.skip(reason)


class ServerUnavailable(RuntimeError):
    """The server cannot run on this machine (binary or system user missing)."""


class ServerError(RuntimeError):
    """The server is installed but failed to start or misbehaved."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"process exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ServerError(f"nothing listening on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.02)


_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> Any:
    """preexec_fn: the child gets ``sig`` when the test process dies, so no server outlives a crash."""

    def preexec() -> None:
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec


def _stop_process(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _is_root() -> bool:
    return os.geteuid() == 0


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in itertools.chain(dirnames, filenames):
            os.chown(os.path.join(dirpath, name), uid, gid)


# --------------------------------------------------------------------------------------------------
# TLS certificates
# --------------------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path, name: str, *, ip: str) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for the IP address ``ip`` only, as PEM files: made with the
    ``cryptography`` package when it is installed (keyring pulls it in), else with the ``openssl`` CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            unavailable("neither the cryptography package nor the openssl CLI is here to make a certificate")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "7",
             "-keyout", str(key_path), "-out", str(cert_path), "-subj", f"/CN={ip}",
             "-addext", f"subjectAltName=IP:{ip}", "-addext", "basicConstraints=critical,CA:TRUE"],
            check=True, capture_output=True, timeout=60,
        )
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    key_path.chmod(0o644)  # Dovecot reads it as its own user
    return cert_path, key_path


# --------------------------------------------------------------------------------------------------
# Dovecot
# --------------------------------------------------------------------------------------------------

_SENT_FOLDERS = ("Sent", "Sent_reconstructed")
_MAILDIR_COUNTER = itertools.count()


def _find_binary(env: str, name: str, extra: Sequence[str]) -> str:
    override = os.environ.get(env)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise ServerUnavailable(f"{env}={override} is not an executable file")
    found = shutil.which(name)
    if found:
        return found
    for candidate in extra:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ServerUnavailable(
        f"{name} not found (install it with `make test-deps` / scripts/install-test-deps.sh, or set {env})"
    )


class DovecotServer:
    """A Dovecot IMAP server on 127.0.0.1:``port``, plaintext LOGIN, Maildir++ storage.

    Folders named ``Sent`` and ``Sent_reconstructed`` carry the SPECIAL-USE flag ``\\Sent``.
    Users are added with :meth:`add_user`; mail can be put in place directly on disk
    (:meth:`load_maildir`, :meth:`write_messages`) or over IMAP (:meth:`append`).
    """

    host = "127.0.0.1"

    def __init__(self, *, dovecot_bin: str | None = None, oauth2_introspection_url: str | None = None) -> None:
        # With an introspection URL, XOAUTH2 and OAUTHBEARER logins are checked by Dovecot's oauth2 passdb
        # against that token-introspection endpoint (RFC 7662), passwords as before.
        self.oauth2_introspection_url = oauth2_introspection_url
        self.dovecot_bin = dovecot_bin or _find_binary(
            "OUTREACH_DOVECOT", "dovecot", ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        )
        self.port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._passwords: dict[str, str] = {}
        self._lock = threading.Lock()
        if _is_root():
            nobody = _user("nobody")
            missing = [u for u in ("dovecot", "dovenull") if _user(u) is None]
            if missing or nobody is None:
                raise ServerUnavailable(
                    f"running as root needs the system users dovecot, dovenull and nobody; missing: "
                    f"{', '.join(missing or ['nobody'])} (install the dovecot-imapd package)"
                )
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
            self._internal_user, self._login_user, self._internal_group = "dovecot", "dovenull", "dovecot"
        else:
            # Not root: every process runs as the invoking user.
            me = pwd.getpwuid(os.geteuid())
            self.mail_uid, self.mail_gid = me.pw_uid, os.getegid()
            self._internal_user = self._login_user = me.pw_name
            try:
                self._internal_group = grp.getgrgid(os.getegid()).gr_name
            except KeyError as exc:
                raise ServerUnavailable(f"the current group {os.getegid()} has no name") from exc

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "dovecot.log"

    def start(self) -> Self:
        if self.proc is not None:
            return self
        self.root = Path(tempfile.mkdtemp(prefix="outreach-dovecot-"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        assert self.root is not None
        # Dovecot's unprivileged processes (and `nobody`, who owns the mail) must traverse it.
        self.root.chmod(0o755)
        (self.root / "mail").mkdir(mode=0o755)
        (self.root / "passwd.d").mkdir(mode=0o755)
        last_error: Exception | None = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            self._write_config()
            log = open(self.log_path, "ab")  # noqa: SIM115 - dovecot's own stderr, closed below
            try:
                self.proc = subprocess.Popen(
                    [self.dovecot_bin, "-F", "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    preexec_fn=_die_with_parent(signal.SIGTERM),
                )
            finally:
                log.close()
            try:
                self._wait_ready()
                return
            except ServerError as exc:
                last_error = exc
                _stop_process(self.proc, signal.SIGTERM)
                self.proc = None
        raise ServerError(f"dovecot did not start: {last_error}\n{_tail(self.log_path)}")

    def _wait_ready(self) -> None:
        _wait_for_port(self.port, self.proc, timeout=15)
        # The greeting proves imap-login works, not just that the master holds the socket.
        try:
            with socket.create_connection((self.host, self.port), timeout=10) as s:
                greeting = s.recv(1024)
        except OSError as exc:
            raise ServerError(f"no IMAP greeting: {exc}") from exc
        if not greeting.startswith(b"* OK"):
            raise ServerError(f"unexpected greeting {greeting!r}")

    def stop(self) -> None:
        _stop_process(self.proc, signal.SIGTERM)
        self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write_config(self) -> None:
        assert self.root is not None
        r = self.root
        chroot = "  chroot =\n"
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = \\Sent\n  }}\n" for name in _SENT_FOLDERS
        )
        mechanisms, oauth2_passdb = "plain login", ""
        if self.oauth2_introspection_url:
            (r / "oauth2.conf.ext").write_text(
                "introspection_mode = post\n"
                f"introspection_url = {self.oauth2_introspection_url}\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            )
            (r / "oauth2.conf.ext").chmod(0o644)
            mechanisms = "plain login xoauth2 oauthbearer"
            oauth2_passdb = (
                f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {r}/oauth2.conf.ext\n}}\n"
            )
        config = f"""\
# Generated by tests/servers.py
protocols = imap
listen = 127.0.0.1
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
auth_verbose = yes
default_internal_user = {self._internal_user}
default_login_user = {self._login_user}
default_internal_group = {self._internal_group}
first_valid_uid = {min(self.mail_uid, 500)}
first_valid_gid = 0
mail_location = maildir:{r}/mail/%u/Maildir
mail_fsync = never
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/passwd.d/%u
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={r}/mail/%u
}}
namespace inbox {{
  inbox = yes
{mailboxes}}}
protocol imap {{
  mail_max_userip_connections = 100
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{chroot}}}
service anvil {{
{chroot}  # No auth penalty: a test with a wrong password must not slow down the next tests' logins.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        self.config_path.write_text(config)
        self.config_path.chmod(0o644)

    # -- users and mail on disk ------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add an IMAP user with an empty INBOX."""
        assert self.root is not None, "server not started"
        if not re.fullmatch(r"[A-Za-z0-9._@-]+", name):
            raise ValueError(f"bad user name {name!r}")
        if ":" in password or "\n" in password:
            raise ValueError("password must not contain ':' or newlines")
        with self._lock:
            if name in self._passwords:
                raise ValueError(f"user {name!r} exists")
            self._passwords[name] = password
            # One passwd-file per user: Dovecot rereads a changed passwd-file at most once a second,
            # so users added to one shared file in quick succession would be "unknown" for a while.
            path = self.root / "passwd.d" / name
            path.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
            path.chmod(0o644)
        home = self.root / "mail" / name
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
        _chown_tree(home, self.mail_uid, self.mail_gid)

    def password(self, user: str) -> str:
        return self._passwords[user]

    def maildir(self, user: str) -> Path:
        """The user's Maildir root (INBOX is its cur/new/tmp; folder X is ``.X``)."""
        assert self.root is not None, "server not started"
        return self.root / "mail" / user / "Maildir"

    def folder_dir(self, user: str, folder: str | None) -> Path:
        """The Maildir of ``folder`` (None or "INBOX" = INBOX), created with cur/new/tmp if missing."""
        root = self.maildir(user)
        if folder is None or folder.upper() == "INBOX":
            path = root
        else:
            if "/" in folder or folder.startswith("."):
                raise ValueError(f"bad folder name {folder!r}")
            path = root / f".{folder}"
        created = not path.exists()
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if created:
            (path / "maildirfolder").touch()
            _chown_tree(path, self.mail_uid, self.mail_gid)
        return path

    def fix_ownership(self, user: str) -> None:
        """Give the user's mail files to the mail uid (after writing files there yourself as root)."""
        _chown_tree(self.maildir(user).parent, self.mail_uid, self.mail_gid)

    def load_maildir(
        self,
        user: str,
        src_dir: str | os.PathLike[str],
        folder: str | None = None,
        *,
        limit: int | None = None,
    ) -> int:
        """Copy message files from a source Maildir (its ``cur/``, or the dir itself if it has no ``cur/``)
        into the user's INBOX (``folder=None``) or folder ``folder``. Returns the number copied.

        File names (and so Maildir flags such as ``:2,S``) are kept.
        """
        src = Path(src_dir)
        if (src / "cur").is_dir():
            src = src / "cur"
        if not src.is_dir():
            raise FileNotFoundError(src)
        dest = self.folder_dir(user, folder) / "cur"
        names = sorted(p.name for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
        if limit is not None:
            names = names[:limit]
        for name in names:
            target = dest / name
            shutil.copyfile(src / name, target)
            if _is_root():
                os.chown(target, self.mail_uid, self.mail_gid)
        return len(names)

    def write_messages(
        self, user: str, raw_messages: Iterable[bytes], folder: str | None = None, *, flags: str = "S"
    ) -> int:
        """Write raw RFC 822 messages straight into a folder's ``cur/`` (fast: no IMAP). Returns the count."""
        dest = self.folder_dir(user, folder) / "cur"
        count = 0
        base = f"{int(time.time())}.M%dP{os.getpid()}.outreach"
        for raw in raw_messages:
            name = f"{base % next(_MAILDIR_COUNTER)},S={len(raw)}:2,{flags}"
            path = dest / name
            path.write_bytes(raw)
            if _is_root():
                os.chown(path, self.mail_uid, self.mail_gid)
            count += 1
        return count

    # -- IMAP ------------------------------------------------------------------------------------

    def connect(self, user: str) -> imaplib.IMAP4:
        """A logged-in imaplib connection (use as a context manager: it logs out on exit)."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        conn.login(user, self._passwords[user])
        return conn

    def append(
        self, user: str, folder: str, raw_messages: Iterable[bytes], *, flags: str = "", create: bool = True
    ) -> int:
        """APPEND messages over IMAP (creating ``folder`` if needed). Returns the count."""
        mailbox = _quote(folder)
        count = 0
        with self.connect(user) as conn:
            if create and folder.upper() != "INBOX":
                typ, _ = conn.create(mailbox)  # NO if it exists: fine
            for raw in raw_messages:
                typ, data = conn.append(mailbox, f"({flags})" if flags else None, None, raw)
                if typ != "OK":
                    raise ServerError(f"APPEND to {folder} failed: {data!r}")
                count += 1
        return count

    def status(self, user: str, folder: str) -> dict[str, int]:
        """STATUS of a folder: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, HIGHESTMODSEQ."""
        with self.connect(user) as conn:
            typ, data = conn.status(_quote(folder), "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)")
        if typ != "OK":
            raise ServerError(f"STATUS {folder} failed: {data!r}")
        line = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
        return {k: int(v) for k, v in re.findall(r"([A-Z]+) (\d+)", line.rsplit("(", 1)[1])}

    def recreate_folder(self, user: str, folder: str) -> int:
        """Delete and recreate ``folder`` with the same messages, so its UIDVALIDITY changes.

        For a folder: the message files are set aside, the folder is DELETEd and CREATEd over IMAP
        (Dovecot gives the new folder a new UIDVALIDITY), and the files are put back, so they get
        new UIDs under the new UIDVALIDITY (flags and dates are kept).
        INBOX cannot be deleted: its UIDVALIDITY is bumped with ``doveadm mailbox update``.
        Returns the new UIDVALIDITY.
        """
        old = self.status(user, folder)["UIDVALIDITY"]
        if folder.upper() == "INBOX":
            self._doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old + 1), "INBOX")
        else:
            path = self.folder_dir(user, folder)
            assert self.root is not None
            aside = Path(tempfile.mkdtemp(prefix="aside-", dir=self.root))
            for sub in ("cur", "new"):
                for f in (path / sub).iterdir():
                    os.link(f, aside / f.name)
            with self.connect(user) as conn:
                for command, arg in (("delete", _quote(folder)), ("create", _quote(folder))):
                    typ, data = getattr(conn, command)(arg)
                    if typ != "OK":
                        raise ServerError(f"{command.upper()} {folder} failed: {data!r}")
            dest = self.folder_dir(user, folder) / "cur"
            for f in aside.iterdir():
                name = f.name if ":2," in f.name else f"{f.name}:2,"
                os.rename(f, dest / name)
            aside.rmdir()
        new = self.status(user, folder)["UIDVALIDITY"]
        if new == old:
            raise ServerError(f"UIDVALIDITY of {folder} did not change ({old})")
        return new

    def _doveadm(self, *args: str) -> str:
        doveadm = _find_binary(
            "OUTREACH_DOVEADM",
            "doveadm",
            [os.path.join(os.path.dirname(self.dovecot_bin), "doveadm"), "/usr/bin/doveadm"],
        )
        result = subprocess.run(
            [doveadm, "-c", str(self.config_path), *args], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise ServerError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------


def _find_pg_bindir() -> str:
    override = os.environ.get("OUTREACH_PG_BINDIR")
    candidates: list[str] = []
    if override:
        candidates = [override]
    else:
        found = shutil.which("postgres")
        if found:
            candidates.append(os.path.dirname(os.path.realpath(found)))
        versions = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[-2].split(".")],
            reverse=True,
        )
        candidates += versions
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "postgres")):
            return d
    if override:
        raise ServerUnavailable(f"OUTREACH_PG_BINDIR={override} has no initdb and postgres")
    raise ServerUnavailable(
        "PostgreSQL server not found (install package postgresql with `make test-deps`, "
        "or set OUTREACH_PG_BINDIR)"
    )


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1:``port`` with trust auth (superuser ``postgres``).

    ``create_database(name)`` returns a SQLAlchemy URL ``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``.
    """

    host = "127.0.0.1"
    superuser = "postgres"

    def __init__(self, *, bindir: str | None = None) -> None:
        self.bindir = bindir or _find_pg_bindir()
        self.port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_as: pwd.struct_passwd | None = None
        if _is_root():
            self._run_as = _user("postgres") or _user("nobody")
            if self._run_as is None:
                raise ServerUnavailable("as root, PostgreSQL needs an unprivileged user (postgres or nobody)")

    def _popen_user(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self._run_as is not None:
            env.update(HOME=str(self.root), USER=self._run_as.pw_name, LOGNAME=self._run_as.pw_name)
        return env

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "postgres.log"

    def start(self) -> Self:
        if self.proc is not None:
            return self
        self.root = Path(tempfile.mkdtemp(prefix="outreach-pg-"))
        self.root.chmod(0o755)
        if self._run_as is not None:
            os.chown(self.root, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            result = subprocess.run(
                [
                    os.path.join(self.bindir, "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                **self._popen_user(),
            )
            if result.returncode != 0:
                raise ServerError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
            last_error: Exception | None = None
            for _attempt in range(3):
                self.port = free_port()
                log = open(self.log_path, "ab")  # noqa: SIM115
                try:
                    self.proc = subprocess.Popen(
                        [
                            os.path.join(self.bindir, "postgres"),
                            "-D",
                            str(self.data_dir),
                            "-p",
                            str(self.port),
                            "-k",
                            str(self.root),
                            "-c",
                            "listen_addresses=127.0.0.1",
                            "-c",
                            "fsync=off",
                            "-c",
                            "synchronous_commit=off",
                            "-c",
                            "full_page_writes=off",
                            "-c",
                            "max_connections=60",
                            "-c",
                            "shared_buffers=64MB",
                            "-c",
                            "log_min_messages=warning",
                        ],
                        cwd=self.root,
                        env=self._env(),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        preexec_fn=_die_with_parent(signal.SIGQUIT),
                        **self._popen_user(),
                    )
                finally:
                    log.close()
                try:
                    self._wait_ready()
                    return self
                except ServerError as exc:
                    last_error = exc
                    _stop_process(self.proc, signal.SIGQUIT)
                    self.proc = None
            raise ServerError(f"postgres did not start: {last_error}\n{_tail(self.log_path)}")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        import psycopg

        _wait_for_port(self.port, self.proc, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=5) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:  # "the database system is starting up"
                if self.proc is not None and self.proc.poll() is not None:
                    raise ServerError(f"postgres exited with code {self.proc.returncode}") from exc
                if time.monotonic() > deadline:
                    raise ServerError(f"postgres not accepting connections: {exc}") from exc
                time.sleep(0.05)

    def stop(self) -> None:
        # SIGINT = "fast shutdown": disconnect clients, shut down cleanly.
        _stop_process(self.proc, signal.SIGINT, timeout=30)
        self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def dsn(self, dbname: str) -> str:
        """A libpq connection string for psycopg."""
        return f"host={self.host} port={self.port} user={self.superuser} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """A SQLAlchemy URL for an existing database."""
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"bad database name {name!r}")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --------------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # the raw message as sent in DATA (after dot-unstuffing)
    auth_user: str | None = None


@dataclasses.dataclass
class _Failure:
    code: int
    message: str
    times: int | None  # None: always


_DEFAULT_TEXT = {
    421: "4.3.2 Service not available, try again later",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Temporary local problem, try again later",
    452: "4.2.2 Mailbox full",
    550: "5.1.1 No such user here",
    552: "5.2.2 Mailbox full",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Rejected",
}


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.server._rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        raw = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        auth_user = None
        if getattr(session, "auth_data", None) is not None:
            login = getattr(session.auth_data, "login", None)
            auth_user = login.decode() if isinstance(login, bytes) else login
        self.server._record(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=bytes(raw),
                auth_user=auth_user,
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1:``port`` that keeps what it receives in ``messages``.

    ``auth=(user, password)`` requires AUTH PLAIN/LOGIN with those credentials (no TLS: loopback);
    ``auth={user: password, ...}`` accepts several accounts (each message records its ``auth_user``).
    ``fail_rcpt(address, code, times=None)`` makes RCPT TO for ``address`` answer ``code`` (e.g. 451,
    550), always or for the next ``times`` attempts only (then it is accepted: to test retries).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        auth: tuple[str, str] | dict[str, str] | None = None,
        oauth2: Callable[[str], str | None] | None = None,
    ) -> None:
        self.auth = auth
        self.accounts = dict([auth]) if isinstance(auth, tuple) else dict(auth or {})
        # oauth2: the user an access token belongs to (None: refused); AUTH XOAUTH2 and OAUTHBEARER then work
        self.oauth2 = oauth2
        self.port = 0
        self._controller: Any = None
        self._cond = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._failures: dict[str, _Failure] = {}
        self.rcpt_attempts: dict[str, int] = {}
        self.auth_attempts: list[tuple[str, bool]] = []

    def start(self) -> Self:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover - part of the test extra
            raise ServerUnavailable("aiosmtpd is not installed (pip install -e '.[test]')") from exc
        kwargs: dict[str, Any] = {"command_call_limit": None}
        if self.oauth2 is not None:
            kwargs.update(auth_required=True, auth_require_tls=False)
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=False,
            )
        last_error: Exception | None = None
        for _attempt in range(3):
            self.port = free_port()
            handler = _Handler(self) if self.oauth2 is None else _OAuthHandler(self)
            controller = Controller(handler, hostname=self.host, port=self.port, server_hostname="smtp.test", **kwargs)
            try:
                controller.start()
            except Exception as exc:  # port taken meanwhile
                last_error = exc
                with contextlib.suppress(Exception):
                    controller.stop()
                continue
            self._controller = controller
            return self
        raise ServerError(f"SMTP server did not start: {last_error}")

    def stop(self) -> None:
        if self._controller is not None:
            with contextlib.suppress(Exception):
                self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        assert self.auth is not None
        ok = False
        login = ""
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            ok = login in self.accounts and auth_data.password.decode("utf-8", "replace") == self.accounts[login]
        with self._cond:
            self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # -- failure injection -----------------------------------------------------------------------

    def fail_rcpt(
        self, address: str, code: int, *, times: int | None = None, message: str | None = None
    ) -> None:
        """Answer ``code`` to RCPT TO:<address> (case-insensitive), always or ``times`` times."""
        text = message or _DEFAULT_TEXT.get(code, "Rejected by test server")
        with self._cond:
            self._failures[address.lower()] = _Failure(code, text, times)

    def clear_failures(self) -> None:
        with self._cond:
            self._failures.clear()

    def _rcpt_reply(self, address: str) -> str | None:
        key = address.lower()
        with self._cond:
            self.rcpt_attempts[key] = self.rcpt_attempts.get(key, 0) + 1
            failure = self._failures.get(key)
            if failure is None:
                return None
            if failure.times is not None:
                if failure.times <= 0:
                    del self._failures[key]
                    return None
                failure.times -= 1
            return f"{failure.code} {failure.message}"

    # -- what was received -----------------------------------------------------------------------

    def _record(self, message: ReceivedMessage) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the messages received so far, in order."""
        with self._cond:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages arrived; returns them (raises TimeoutError)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"got {len(self._messages)} of {count} messages in {timeout} s")
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()
            self.rcpt_attempts.clear()
            self.auth_attempts.clear()


class _OAuthHandler(_Handler):
    """A handler that also takes AUTH XOAUTH2 and OAUTHBEARER, checking the token with ``server.oauth2``."""

    async def auth_XOAUTH2(self, smtp: Any, args: list[str]) -> Any:  # noqa: N802 - aiosmtpd's name
        return await self._bearer(smtp, args, "user=")

    async def auth_OAUTHBEARER(self, smtp: Any, args: list[str]) -> Any:  # noqa: N802
        return await self._bearer(smtp, args, "a=")

    async def _bearer(self, smtp: Any, args: list[str], user_prefix: str) -> Any:
        import base64

        from aiosmtpd.smtp import AuthResult, LoginPassword

        raw = args[1] if len(args) > 1 else ""
        try:
            text = base64.b64decode(raw, validate=True).decode()
        except ValueError:
            return AuthResult(success=False, handled=False)
        fields = text.replace(",", "\x01").split("\x01")
        user = next((f.removeprefix(user_prefix) for f in fields if f.startswith(user_prefix)), "")
        token = next((f.removeprefix("auth=Bearer ") for f in fields if f.startswith("auth=Bearer ")), "")
        assert self.server.oauth2 is not None
        ok = bool(user) and self.server.oauth2(token) == user
        with self.server._cond:
            self.server.auth_attempts.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user.encode(), b"") if ok else None)


# --------------------------------------------------------------------------------------------------
# Flaky TCP proxy
# --------------------------------------------------------------------------------------------------


class FlakyProxy:
    """A TCP proxy on 127.0.0.1:``port`` forwarding to ``(target_host, target_port)``, which breaks on demand.

    - ``cut_after(n, times=1, how="close")``: once ``n`` more bytes have come from the server (counted over
      all connections), forward exactly up to that byte and break every open connection; repeat ``times``
      times, then pass everything through again. ``how`` is ``"close"`` (FIN: an orderly close),
      ``"reset"`` (RST: ``SO_LINGER`` 0, the client reads ``ECONNRESET``) or ``"stall"`` (the connections
      stay open but nothing more is forwarded either way, until ``resume()``; new connections work).
      ``FlakyProxy(..., cut_after_bytes=n)`` arms it at start.
    - ``drop_all()`` / ``reset_all()`` / ``stall_open()``: close, reset or stall every open connection now.
    - ``stall_all = True``: every connection, open or new, is accepted and forwards nothing (a hung
      server) until it is set back to False or ``resume()`` is called.
    - ``refuse = True``: close new connections at once.
    Counters: ``connections`` (accepted), ``cuts`` (close or reset events), ``resets``, ``stalls``,
    ``bytes_from_server``, ``bytes_to_server``.
    """

    host = "127.0.0.1"
    HOW = ("close", "reset", "stall")

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        cut_after_bytes: int | None = None,
        times: int = 1,
        how: str = "close",
    ) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.refuse = False
        self.stall_all = False
        self.connections = 0
        self.cuts = 0
        self.resets = 0
        self.stalls = 0
        self.bytes_from_server = 0
        self.bytes_to_server = 0
        self._lock = threading.Lock()
        self._flowing = threading.Condition(self._lock)
        self._budget: int | None = None
        self._cut_n = 0
        self._times = 0
        self._how = "close"
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._frozen: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        if cut_after_bytes is not None:
            self.cut_after(cut_after_bytes, times=times, how=how)

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(32)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name=f"FlakyProxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing = True
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._listener = None
        self.resume()
        self.drop_all(count=False)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def cut_after(self, n_bytes: int, *, times: int = 1, how: str = "close") -> None:
        if how not in self.HOW:
            raise ValueError(f"how must be one of {self.HOW}, not {how!r}")
        with self._lock:
            self._budget = n_bytes
            self._cut_n = n_bytes
            self._times = times
            self._how = how

    def disarm(self) -> None:
        with self._lock:
            self._budget = None
            self._times = 0

    def drop_all(self, *, count: bool = True, how: str = "close") -> None:
        """Break every open connection: ``how`` is "close" (FIN) or "reset" (RST)."""
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
            self._frozen.difference_update(pairs)
            if count and pairs:
                self.cuts += 1
                if how == "reset":
                    self.resets += 1
            self._flowing.notify_all()
        for pair in pairs:
            if how == "reset":
                _reset_pair(pair)
            else:
                _close_pair(pair)

    def reset_all(self) -> None:
        self.drop_all(how="reset")

    def stall_open(self) -> None:
        """Stop forwarding on every open connection (without closing it); new connections still work."""
        with self._lock:
            if self._pairs:
                self.stalls += 1
            self._frozen.update(self._pairs)

    def resume(self) -> None:
        """Forward again on stalled connections (and new ones: ``stall_all`` is cleared)."""
        with self._lock:
            self.stall_all = False
            self._frozen.clear()
            self._flowing.notify_all()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse or self._closing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self._lock:
                self.connections += 1
                self._pairs.add(pair)
                if self.stall_all:
                    self.stalls += 1
                    self._frozen.add(pair)
            threading.Thread(target=self._pump, args=(pair, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, True), daemon=True).start()

    def _hold(self, pair: tuple[socket.socket, socket.socket]) -> bool:
        """Wait while ``pair`` is stalled (lock held); False when it was closed meanwhile."""
        while pair in self._pairs and (pair in self._frozen or self.stall_all) and not self._closing:
            if pair not in self._frozen:  # stall_all came on after the connection was made
                self.stalls += 1
                self._frozen.add(pair)
            self._flowing.wait(0.1)
        return pair in self._pairs

    def _pump(self, pair: tuple[socket.socket, socket.socket], from_server: bool) -> None:
        client, upstream = pair
        src, dst = (upstream, client) if from_server else (client, upstream)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                cut = None
                with self._lock:
                    if not self._hold(pair):
                        return
                    if from_server:
                        if self._budget is not None:
                            if len(data) >= self._budget:
                                data = data[: self._budget]
                                cut = self._how
                                self._times -= 1
                                self._budget = self._cut_n if self._times > 0 else None
                            else:
                                self._budget -= len(data)
                        self.bytes_from_server += len(data)
                    else:
                        self.bytes_to_server += len(data)
                if data:
                    dst.sendall(data)
                if cut == "stall":
                    self.stall_open()
                elif cut is not None:
                    self.drop_all(how=cut)
                    return
        except OSError:
            pass
        with self._lock:
            if pair not in self._pairs:
                return
            self._pairs.discard(pair)
            self._frozen.discard(pair)
            self._flowing.notify_all()
        _close_pair(pair)


def _close_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    for s in pair:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()


def _reset_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    """Abort the client side with a TCP RST (SO_LINGER on, timeout 0), close the server side normally."""
    client, upstream = pair
    with contextlib.suppress(OSError):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        # Wakes our own pump thread blocked in recv() (a close() alone would not, and the RST would wait
        # for it) without sending anything to the client; the close then sends the RST.
        client.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        client.close()
    with contextlib.suppress(OSError):
        upstream.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        upstream.close()
