"""The CPU-heavy half of ingesting a batch: parse it and, optionally, find its signals.

Pure and picklable, and kept apart from the store code so that a sync's worker process imports only this
(and spaCy only when it analyses): a spawned worker then costs a few MB instead of a copy of the parent.
"""

from __future__ import annotations

import pickle
import queue
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from outreach.parsing import ParsedMessage, parse_message

if TYPE_CHECKING:
    from outreach.signals.analyse import MessageSignals

#: A parsed message and, when they were computed alongside (in a worker), its signals.
Prepared = tuple["ParsedMessage | None", "MessageSignals | None"]


def prepare_batch(items: list[tuple[bytes | None, datetime | None]], analyse: bool) -> list[Prepared]:
    """Parse a batch and, with ``analyse``, find its signals; same order, one result per item."""
    parsed = [parse_message(raw, date) if raw else None for raw, date in items]
    if not analyse:
        return [(p, None) for p in parsed]
    from outreach.signals.analyse import analyse_texts

    texts = [p.body_text if p is not None and not p.parse_error else None for p in parsed]
    return list(zip(parsed, analyse_texts(texts), strict=True))


# --------------------------------------------------------------------------- the worker process

_HEADER = struct.Struct("!Q")


def _write_frame(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("worker pipe closed")
    size = _HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker pipe closed mid-frame")
    return pickle.loads(data)


class PrepareWorker:
    """:func:`prepare_batch` in a child process (``python -m outreach.prepare``), fed through pipes.

    A plain child rather than multiprocessing: it never re-imports the caller's ``__main__`` (a script
    without a ``__main__`` guard keeps working) and imports only this module.  Batches are answered in the
    order they were submitted; a writer thread feeds the child so that a large batch never deadlocks
    against a large answer.  The child exits when its stdin closes, also when the parent is killed.
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "outreach.prepare"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.outbox: queue.Queue[object] = queue.Queue()
        self.writer = threading.Thread(target=self._feed, name="outreach-prepare-feed", daemon=True)
        self.writer.start()
        self.submitted = 0
        self.received = 0
        self.answers: dict[int, list[Prepared]] = {}

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        try:
            while (job := self.outbox.get()) is not None:
                _write_frame(self.proc.stdin, job)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child died; result() reports it

    def submit(self, items: list[tuple[bytes | None, datetime | None]], analyse: bool) -> PendingBatch:
        self.submitted += 1
        self.outbox.put((items, analyse))
        return PendingBatch(self, self.submitted)

    def _result(self, number: int) -> list[Prepared]:
        assert self.proc.stdout is not None
        while number not in self.answers:
            try:
                answer = _read_frame(self.proc.stdout)
            except EOFError as exc:
                raise RuntimeError(f"the parse worker stopped (exit code {self.proc.poll()})") from exc
            self.received += 1
            self.answers[self.received] = answer
        return self.answers.pop(number)

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

    def result(self) -> list[Prepared]:
        return self.worker._result(self.number)


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    while True:
        try:
            items, analyse = _read_frame(stdin)
        except EOFError:
            return
        _write_frame(stdout, prepare_batch(items, analyse))


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
