"""Progress for long runs: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class BarProgress:
    """Messages, rate and ETA per folder on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} msg/s"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.started = 0.0
        self.done = 0

    def __enter__(self) -> BarProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def folder(self, name: str, to_fetch: int) -> None:
        self.task = self.progress.add_task(name, total=to_fetch or None, rate="-")
        if not to_fetch:
            self.progress.update(self.task, total=1, completed=1, rate="-", description=f"{name} (no new mail)")
        self.started, self.done = time.perf_counter(), 0

    def advance(self, count: int) -> None:
        self.done += count
        rate = self.done / max(time.perf_counter() - self.started, 1e-6)
        self.progress.update(self.task, advance=count, rate=f"{rate:,.0f}")

    def note(self, message: str) -> None:
        self.progress.console.print(message)


class LogProgress:
    """One line per folder and every ``every`` messages: for logs, cron and CI."""

    def __init__(self, stream: IO[str] | None = None, every: int = 5000, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.quiet = quiet  # notes only (e.g. the owner address guessed), no progress lines
        self.name = ""
        self.total = 0
        self.done = 0
        self.started = 0.0

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def folder(self, name: str, to_fetch: int) -> None:
        self.name, self.total, self.done, self.started = name, to_fetch, 0, time.perf_counter()
        if self.quiet:
            return
        self._line(f"{name}: {to_fetch} new message(s) to fetch" if to_fetch else f"{name}: no new mail")

    def advance(self, count: int) -> None:
        before = self.done // self.every
        self.done += count
        if self.quiet:
            return
        if self.done // self.every != before or self.done == self.total:
            rate = self.done / max(time.perf_counter() - self.started, 1e-6)
            self._line(f"{self.name}: {self.done}/{self.total} ({rate:,.0f} msg/s)")

    def note(self, message: str) -> None:
        self._line(message)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def make_progress(console: Console, quiet: bool = False) -> BarProgress | LogProgress:
    if not quiet and console.is_terminal:
        return BarProgress(console)
    return LogProgress(quiet=quiet)
