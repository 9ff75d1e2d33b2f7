"""One queue for GPU work: a depth limit ("busy" instead of silence), places in line,
estimated waits, and cancellation of a user's own requests."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from core.errors import Busy
from core.runtime import metrics

# How many requests of a kind make progress at once (text is batched; images are not).
CONCURRENCY = {"text": 8, "image": 1}


@dataclass(eq=False)
class Ticket:
    kind: str
    user: str
    seq: int
    task: asyncio.Task[object] | None
    arrived: float = field(default_factory=time.monotonic)
    started: float | None = None


class Admission:
    def __init__(self, depth: int, text_concurrency: int = 8) -> None:
        self.depth = depth
        self.concurrency = {**CONCURRENCY, "text": text_concurrency}
        self._tickets: list[Ticket] = []
        self._seq = itertools.count()
        # Moving averages of service time per kind, for wait estimates.
        self.avg_seconds = {"text": 5.0, "image": 5.0}
        self.busy_refusals = 0
        self.idle = asyncio.Event()  # set while nothing is queued or running
        self.idle.set()

    def __len__(self) -> int:
        return len(self._tickets)

    def enter(self, kind: str, user: str) -> Ticket:
        if len(self._tickets) >= self.depth:
            self.busy_refusals += 1
            raise Busy(
                f"I'm busy right now ({len(self._tickets)} requests in line). "
                "Please try again in a minute."
            )
        ticket = Ticket(kind, user, next(self._seq), asyncio.current_task())
        self._tickets.append(ticket)
        self.idle.clear()
        self._report(kind)
        return ticket

    def start(self, ticket: Ticket) -> None:
        ticket.started = time.monotonic()
        metrics.queue_time(ticket.kind, ticket.started - ticket.arrived)
        self._report(ticket.kind)

    def leave(self, ticket: Ticket) -> None:
        if ticket in self._tickets:
            self._tickets.remove(ticket)
            self._report(ticket.kind)
        if not self._tickets:
            self.idle.set()
        if ticket.started is not None:
            took = time.monotonic() - ticket.started
            self.avg_seconds[ticket.kind] = 0.8 * self.avg_seconds[ticket.kind] + 0.2 * took

    def _report(self, kind: str) -> None:
        """The queue metrics for `kind`: how many wait, how many run."""
        mine = [t for t in self._tickets if t.kind == kind]
        running = sum(1 for t in mine if t.started is not None)
        metrics.queue(kind, len(mine) - running, running)

    def position(self, ticket: Ticket) -> int:
        """1-based place among the same kind's requests that have not started yet."""
        waiting = [t for t in self._tickets if t.kind == ticket.kind and t.started is None]
        return waiting.index(ticket) + 1 if ticket in waiting else 0

    def estimated_wait(self, ticket: Ticket) -> float:
        pos = self.position(ticket)
        if pos == 0:
            return 0.0
        running = sum(1 for t in self._tickets if t.kind == ticket.kind and t.started is not None)
        slots = self.concurrency.get(ticket.kind, 1)
        if running + pos <= slots:
            return 0.0
        return (running + pos - slots) / slots * self.avg_seconds[ticket.kind] + 0.0

    def cancel_all(self) -> int:
        for ticket in self._tickets:
            if ticket.task is not None:
                ticket.task.cancel()
        return len(self._tickets)

    def cancel_user(self, user: str) -> int:
        """Cancel every pending or running request of `user`; returns how many."""
        mine = [t for t in self._tickets if t.user == user and t.task is not None]
        for ticket in mine:
            ticket.task.cancel()  # type: ignore[union-attr]
        return len(mine)
