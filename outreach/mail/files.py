"""Read exported mail (a Maildir/Maildir++ tree or an mbox file such as a Gmail Takeout) in batches.

Imports go through the same :class:`outreach.mail.ingest.Ingestor` as IMAP sync; re-importing is idempotent
because messages are de-duplicated by Message-ID (or content hash).
"""

from __future__ import annotations

import mailbox as stdlib_mailbox
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from outreach.errors import InputFileError
from outreach.mail.ingest import RawMessage
from outreach.mail.parsing import parse_address_list, parse_headers, split_head_body

SENT_NAME = re.compile(r"^(?:inbox[./])?(?:\[gmail\]/)?(?:sent|gesendet|envoy|enviad|inviat)", re.IGNORECASE)


def is_sent_name(name: str) -> bool:
    """Common names of a Sent folder: 'Sent', 'Sent Items', 'INBOX.Sent', '[Gmail]/Sent Mail', …"""
    return bool(SENT_NAME.match(name.strip()))


@dataclass(frozen=True)
class SourceFolder:
    """A folder of an export: its display name and how to read it."""

    name: str
    kind: str  # "maildir" | "mbox"
    path: Path
    is_sent: bool

    def count(self) -> int:
        if self.kind == "maildir":
            return sum(1 for _ in _maildir_files(self.path))
        return len(_open_mbox(self.path))

    def read(self, batch_size: int = 500) -> Iterator[list[RawMessage]]:
        batch: list[RawMessage] = []
        for raw, origin in self._messages():
            batch.append(RawMessage(raw=raw, origin=origin))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _messages(self) -> Iterator[tuple[bytes | None, str]]:
        if self.kind == "maildir":
            for path in _maildir_files(self.path):
                try:
                    yield path.read_bytes(), str(path)
                except OSError as exc:
                    yield None, f"{path}: {exc.strerror}"
            return
        box = _open_mbox(self.path)
        for index, key in enumerate(box.iterkeys(), start=1):
            try:
                yield box.get_bytes(key), f"{self.path} message {index}"
            except (OSError, KeyError) as exc:
                yield None, f"{self.path} message {index}: {exc}"

    def owner_guess(self) -> list[str]:
        """The owner's addresses: the From addresses of this (Sent) folder, most used first."""
        counts: Counter[str] = Counter()
        for raw, _ in self._messages():
            if raw is None:
                continue
            head, _ = split_head_body(raw[:65536])
            for addr in parse_address_list(parse_headers(head).get("from", [])):
                counts[addr.address] += 1
        return senders_by_use(counts)


def senders_by_use(from_counts: Counter[str]) -> list[str]:
    """A Sent folder's senders, most used first: every message there was sent by the owner, whatever
    address (or client, or phone) it went out with."""
    return [address for address, _ in from_counts.most_common()]


def _maildir_files(path: Path) -> Iterator[Path]:
    for sub in ("cur", "new"):
        directory = path / sub
        if directory.is_dir():
            yield from sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def _open_mbox(path: Path) -> stdlib_mailbox.mbox:
    return stdlib_mailbox.mbox(str(path), create=False)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def discover(path: str | Path) -> list[SourceFolder]:
    """The folders of an export at ``path``: a Maildir++ tree, a single Maildir, an mbox file, or a
    directory of mbox files."""
    root = Path(path).expanduser()
    if not root.exists():
        raise InputFileError(str(root), "no such file or directory")
    if root.is_file():
        _check_mbox(root)
        name = root.stem
        return [SourceFolder(name, "mbox", root, is_sent_name(name))]
    folders: list[SourceFolder] = []
    if _is_maildir(root):
        folders.append(SourceFolder("INBOX", "maildir", root, False))
        for sub in sorted(root.iterdir()):
            if sub.is_dir() and sub.name.startswith(".") and _is_maildir(sub):
                name = sub.name[1:]
                folders.append(SourceFolder(name, "maildir", sub, is_sent_name(name)))
        return folders
    for sub in sorted(root.iterdir()):
        if sub.is_file() and sub.suffix.lower() == ".mbox":
            _check_mbox(sub)
            folders.append(SourceFolder(sub.stem, "mbox", sub, is_sent_name(sub.stem)))
        elif sub.is_dir() and _is_maildir(sub):
            folders.append(SourceFolder(sub.name, "maildir", sub, is_sent_name(sub.name)))
    if not folders:
        raise InputFileError(str(root), "not a Maildir, a Maildir++ tree, an mbox file or a folder of .mbox files")
    return folders


def _check_mbox(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            start = handle.read(5)
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read ({exc.strerror})") from exc
    if start and start != b"From ":
        raise InputFileError(str(path), "not an mbox file (it does not start with a 'From ' line)", line=1)
