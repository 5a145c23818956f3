"""The CPU-heavy half of ingesting a batch: parse it and, optionally, find its signals.

Pure and picklable, and kept apart from the store code so that a sync's worker process imports only this
(and spaCy only when it analyses): a spawned worker then costs a few MB instead of a copy of the parent.
"""

from __future__ import annotations

import copyreg
import dataclasses
import gc
import pickle
import queue
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, cast

from outreach.mail.parsing import Address, ParsedMessage, parse_message

if TYPE_CHECKING:
    from outreach.signals.analyse import MessageSignals

#: A parsed message and, when they were computed alongside (in a worker), its signals.
Prepared = tuple["ParsedMessage | None", "MessageSignals | None"]


def parse_batch(items: list[tuple[bytes | None, datetime | None]]) -> list[ParsedMessage | None]:
    """Parse a batch (None for a message without bytes); same order."""
    return [parse_message(raw, date) if raw else None for raw, date in items]


def analysed_texts(parsed: list[ParsedMessage | None]) -> list[str | None]:
    """The bodies of a parsed batch that signals are found in (None: unparseable or no message)."""
    return [p.body_text if p is not None and not p.parse_error else None for p in parsed]


def prepare_batch(items: list[tuple[bytes | None, datetime | None]], analyse: bool) -> list[Prepared]:
    """Parse a batch and, with ``analyse``, find its signals; same order, one result per item."""
    parsed = parse_batch(items)
    if not analyse:
        return [(p, None) for p in parsed]
    from outreach.signals.analyse import analyse_texts

    return list(zip(parsed, analyse_texts(analysed_texts(parsed), refine=False), strict=True))


# --------------------------------------------------------------------------- the worker process

_HEADER = struct.Struct("!Q")

# Parsed messages cross the pipe as constructor calls: pickle's default for slotted dataclasses restores
# every field through a Python-level __setstate__, which costs the parent (the busier process) more than
# building the objects directly.  The cached participants list is left out; it is recomputed on demand.
_INIT_FIELDS = [f for f in dataclasses.fields(ParsedMessage) if f.init]
_PARSED_FIELDS = tuple(f.name for f in _INIT_FIELDS if f.name != "_participants")


def _reduce_address(address: Address) -> tuple[type[Address], tuple[str, str | None]]:
    return Address, (address.address, address.name)


def _reduce_parsed(message: ParsedMessage) -> tuple[type[ParsedMessage], tuple[Any, ...]]:
    return ParsedMessage, tuple([getattr(message, name) for name in _PARSED_FIELDS])


copyreg.pickle(Address, _reduce_address)
# Positional arguments are only safe while the fields map onto __init__'s parameters in order.
if [f.name for f in _INIT_FIELDS[: len(_PARSED_FIELDS)]] == list(_PARSED_FIELDS) and not any(
    f.kw_only for f in _INIT_FIELDS
):
    copyreg.pickle(ParsedMessage, _reduce_parsed)


def _write_frame(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker pipe closed" if not data else "worker pipe closed mid-frame")
    return data


def _read_frame(stream: IO[bytes]) -> Any:
    size = _HEADER.unpack(_read_exactly(stream, _HEADER.size))[0]
    return pickle.loads(_read_exactly(stream, size))


#: A job for the worker: raw messages to parse (and analyse), or the texts of parsed ones to analyse.
Job = tuple[list[tuple[bytes | None, datetime | None]], bool] | list[str | None]


def _write_job(stream: IO[bytes], job: Job) -> None:
    """A batch for the worker.  Raw messages: a small pickled header (flags, dates, lengths), then the
    messages as they are, no pickled copy of the bodies on either side of the pipe.  Texts: one frame."""
    if isinstance(job, list):
        _write_frame(stream, ("texts", job))
        return
    items, analyse = job
    lengths = [-1 if raw is None else len(raw) for raw, _ in items]
    _write_frame(stream, ("raw", analyse, [date for _, date in items], lengths))
    for raw, _ in items:
        if raw:
            stream.write(raw)
    stream.flush()


def _read_job(stream: IO[bytes]) -> Job:
    header = _read_frame(stream)
    if header[0] == "texts":
        texts: list[str | None] = header[1]
        return texts
    _, analyse, dates, lengths = header
    raws = [None if size < 0 else _read_exactly(stream, size) if size else b"" for size in lengths]
    return list(zip(raws, dates, strict=True)), analyse


class PrepareWorker:
    """:func:`prepare_batch` in a child process (``python -m outreach.mail.worker``), fed through pipes.

    A plain child rather than multiprocessing: it never re-imports the caller's ``__main__`` (a script
    without a ``__main__`` guard keeps working) and imports only this module.  Batches are answered in the
    order they were submitted; a writer thread feeds the child so that a large batch never deadlocks
    against a large answer.  The child exits when its stdin closes, also when the parent is killed.
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "outreach.mail.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.outbox: queue.Queue[Job | None] = queue.Queue()
        self.writer = threading.Thread(target=self._feed, name="outreach-prepare-feed", daemon=True)
        self.writer.start()
        self.submitted = 0
        self.received = 0
        self.abandoned = 0  # batches up to this number are no longer wanted
        self.answers: dict[int, list[Prepared]] = {}

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        try:
            while (job := self.outbox.get()) is not None:
                _write_job(self.proc.stdin, job)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child died; result() reports it

    def submit(self, items: list[tuple[bytes | None, datetime | None]], analyse: bool) -> PendingBatch:
        """Parse (and with ``analyse`` analyse) raw messages in the worker."""
        self.submitted += 1
        self.outbox.put((items, analyse))
        return PendingBatch(self, self.submitted)

    def submit_parsed(self, parsed: list[ParsedMessage | None]) -> PendingBatch:
        """Find the signals of messages the caller parsed: when signals are wanted, analysis costs several
        times what parsing does, so the caller parses and the worker analyses, and both cores work."""
        self.submitted += 1
        self.outbox.put(analysed_texts(parsed))
        return PendingBatch(self, self.submitted, parsed)

    def _result(self, number: int) -> Any:
        assert self.proc.stdout is not None
        while number not in self.answers:
            try:
                answer = _read_frame(self.proc.stdout)
            except EOFError as exc:
                raise RuntimeError(f"the parse worker stopped (exit code {self.proc.poll()})") from exc
            self.received += 1
            if self.received > self.abandoned:
                self.answers[self.received] = answer
        return self.answers.pop(number)

    def abandon(self) -> None:
        """Drop the batches in flight (after a lost connection they are fetched again): their answers are
        discarded as they arrive."""
        self.abandoned = self.submitted
        self.answers.clear()

    def close(self) -> None:
        self.outbox.put(None)
        self.writer.join(timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class PendingBatch:
    """A batch submitted to a :class:`PrepareWorker`; ``result()`` waits for its answer."""

    worker: PrepareWorker
    number: int
    parsed: list[ParsedMessage | None] | None = None  # parsed by the caller: the worker found the signals

    def result(self) -> list[Prepared]:
        answer = self.worker._result(self.number)
        if self.parsed is None:
            return cast(list[Prepared], answer)
        return list(zip(self.parsed, cast("list[MessageSignals]", answer), strict=True))


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    # Batches build no reference cycles worth collecting: keep the cyclic collector off the long-lived
    # objects (modules; spaCy's pipeline once it is loaded) as the sync itself does.
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], 50_000), *gc.get_threshold()[1:])
    frozen_analysis = False
    while True:
        try:
            job = _read_job(stdin)
        except EOFError:
            return
        if isinstance(job, list):
            from outreach.signals.analyse import analyse_texts

            analyse = True
            _write_frame(stdout, analyse_texts(job, refine=False))
        else:
            items, analyse = job
            _write_frame(stdout, prepare_batch(items, analyse))
        if analyse and not frozen_analysis:
            gc.freeze()  # the signals pipeline, loaded by the first analysed batch
            frozen_analysis = True


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
