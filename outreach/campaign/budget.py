"""The budget of a template render: bounded time and memory, whatever the template composes.

The sandbox (:mod:`outreach.campaign.render`) bounds each size a template asks for in one operation, but
operations compose: ``("x\\n" * 50000)|indent(100000)`` asks for 5 GB from two bounded operations, nested
loops over ``range(100000)`` for ten billion steps. So every render runs under a budget:

- **memory**: while a campaign's messages are rendered, the process may grow by at most
  :data:`MEMORY_BUDGET` (an address-space limit, ``RLIMIT_AS``, set for the rendering and put back after
  it); an allocation beyond it fails at once instead of taking the machine's memory;
- **time**: one template render for one recipient may take at most :data:`TIME_BUDGET` seconds (a timer
  interrupts it).

Going over either is a :class:`BudgetExceeded`, which the evaluation turns into one line naming the
recipient and the template line. The memory limit needs Linux (or another system that enforces
``RLIMIT_AS``); the timer needs the main thread and ``setitimer`` (not on Windows). Where either is
missing, that part is not enforced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

MEMORY_BUDGET = 512 * 1024 * 1024  # bytes the process may grow by while rendering
TIME_BUDGET = 5.0  # seconds for one template render of one recipient

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]  # no address-space limit there: the timer still applies


class BudgetExceeded(Exception):
    """A render went over its time or memory budget: ``what`` says which, ``location`` where (file:line)."""

    def __init__(self, what: str, location: str) -> None:
        super().__init__(f"{location}: {what}")
        self.what = what
        self.location = location


class RenderTimeout(Exception):
    """Raised by the timer inside a render. The timer fires again every half second until the render
    ends, so code that swallows an exception cannot keep a render going."""


_state = threading.local()


def _address_space() -> int | None:
    """The process's current size of address space in bytes (Linux), None when unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def render_budget(memory: int = MEMORY_BUDGET, seconds: float = TIME_BUDGET) -> Iterator[None]:
    """Within this block, renders (see :func:`timed`) run under the budget. Nested blocks keep the outer one."""
    if getattr(_state, "seconds", None) is not None:
        yield
        return
    limit_set = None
    size = _address_space()
    if resource is not None and size is not None and sys.platform.startswith("linux"):
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = size + memory
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        if soft == resource.RLIM_INFINITY or soft > wanted:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
            limit_set = (soft, hard)
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous = signal.signal(signal.SIGALRM, _on_alarm) if main else None
    _state.seconds = seconds if main else None
    _state.memory = memory
    try:
        yield
    finally:
        _state.seconds = None
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if limit_set is not None and resource is not None:
            resource.setrlimit(resource.RLIMIT_AS, limit_set)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise RenderTimeout()


@contextlib.contextmanager
def timed() -> Iterator[None]:
    """One render: within :func:`render_budget`, interrupted by :class:`RenderTimeout` after its time (and
    stopped by a MemoryError past the memory budget); outside one, just the render."""
    seconds = getattr(_state, "seconds", None)
    if seconds is None:
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def over_budget(exc: BaseException) -> str:
    """What a :class:`RenderTimeout` or MemoryError of a render means, in the words of the budget."""
    if isinstance(exc, RenderTimeout):
        return f"rendering took longer than {TIME_BUDGET:g} s (the render budget)"
    megabytes = getattr(_state, "memory", MEMORY_BUDGET) // (1024 * 1024)
    return f"rendering needs more than {megabytes} MB of memory (the render budget)"


__all__ = [
    "MEMORY_BUDGET",
    "TIME_BUDGET",
    "BudgetExceeded",
    "RenderTimeout",
    "over_budget",
    "render_budget",
    "timed",
]
