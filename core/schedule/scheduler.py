"""Runs scheduled posts: APScheduler cron jobs, exactly-once slots, catch-up, retries.

Every post goes through `fire(schedule, slot)`, which first claims the slot in SQLite;
APScheduler only decides *when* to call it. A job computes its slot as the latest fire
time at or before now, so a job that runs late still posts the slot it was meant for.

A claim names its owner (host:pid:id) and is renewed while the post is made. A claim
whose owner is gone (a process on this host that no longer exists, a lease not renewed
for LEASE, or a post interrupted by shutdown) is taken over with a compare-and-set, so
exactly one process posts it: at once if the slot is still within the grace period,
otherwise it is recorded as missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.chat.reply import Target
from core.errors import OptionError, UserError
from core.runtime import metrics
from core.runtime.request_id import request_scope
from core.schedule.cron import UTC, latest_fire, next_fire
from core.schedule.model import Claim, Run, Schedule
from core.schedule.post import ScheduledPost
from core.schedule.settings import ScheduleEntry, SchedulerSettings
from core.schedule.store import ScheduleStore

if TYPE_CHECKING:
    from core.chat.service import Muse

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
# The timing of a schedule: changing any of these restarts its catch-up window.
_TIMING = ("cron", "timezone", "enabled")
HEARTBEAT_SECONDS = 60.0  # a posting process renews its claim this often
LEASE_SECONDS = 600.0  # a claim not renewed for this long belongs to nobody
INTERRUPTED = "interrupted: Muse stopped while posting"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


@dataclass(frozen=True)
class Outcome:
    status: str  # posted, failed, or duplicate (the slot was already claimed)
    fire_time: datetime
    error: str = ""
    message_id: str | None = None


class Scheduler:
    def __init__(
        self,
        muse: Muse,
        settings: SchedulerSettings | None = None,
        *,
        store: ScheduleStore | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.muse = muse
        self.settings = settings or SchedulerSettings()
        self.store = store or ScheduleStore(muse.memory.connection)
        self.clock = clock
        self.sleep = sleep
        # Who claims slots: the host and pid tell a later start whether we still live.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._aps: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task[Outcome]] = set()

    @property
    def running(self) -> bool:
        return self._aps is not None

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.settings.catch_up_grace_minutes)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, declared: Sequence[ScheduleEntry] = ()) -> None:
        """Reconcile config schedules, start the cron jobs, then catch up missed slots."""
        await self.reconcile(declared)
        if not self.settings.enabled:
            log.info("scheduled posts are disabled in [scheduler]")
            return
        # misfire_grace_time: a job delayed (busy loop, suspended laptop) still runs.
        late = max(60, int(self.grace.total_seconds()))
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": late},
        )
        for schedule in await self.store.all():
            if schedule.enabled:
                self._add_job(schedule)
        # Claims abandoned by a process on another host show up once their lease runs out.
        self._aps.add_job(self.recover, "interval", seconds=LEASE_SECONDS / 4, id="recover")
        self._aps.start()
        await self.recover()
        await self.catch_up()

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait for posts started in the background (catch-up, cron jobs) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _add_job(self, schedule: Schedule) -> None:
        if self._aps is not None:
            self._aps.add_job(
                self._on_time,
                schedule.trigger(),
                args=[schedule.id],
                id=f"schedule-{schedule.id}",
                replace_existing=True,
            )

    def _remove_job(self, schedule_id: int) -> None:
        if self._aps is not None and self._aps.get_job(f"schedule-{schedule_id}"):
            self._aps.remove_job(f"schedule-{schedule_id}")

    def _spawn(self, schedule: Schedule, slot: datetime) -> asyncio.Task[Outcome]:
        return self._track(self.fire(schedule, slot))

    def _spawn_claimed(self, schedule: Schedule, slot: datetime) -> asyncio.Task[Outcome]:
        return self._track(self._post(schedule, slot, self.settings.retries))

    def _track(self, work: Awaitable[Outcome]) -> asyncio.Task[Outcome]:
        task = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_time(self, schedule_id: int) -> None:
        """APScheduler's job: post the slot that just came due."""
        schedule = await self.store.get(schedule_id)
        if schedule is None or not schedule.enabled:
            return
        now = self.clock()
        slot = latest_fire(schedule.trigger(), now, now - self.grace - timedelta(minutes=1))
        if slot is not None:
            self._spawn(schedule, slot)  # not awaited: stop() cancels it, not APScheduler

    def _abandoned(self, claim: Claim) -> bool:
        if claim.status == "interrupted":
            return True
        host, _, rest = claim.claimed_by.partition(":")
        pid = rest.partition(":")[0]
        if claim.claimed_by == self.owner:
            return False
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            return True
        return time.time() - claim.updated_at > LEASE_SECONDS

    async def recover(self) -> None:
        """Post abandoned slots still within grace (once); record older ones as missed."""
        now = self.clock()
        for claim in await self.store.unfinished():
            if not self._abandoned(claim):
                continue
            schedule = await self.store.get(claim.schedule_id)
            slot = datetime.fromtimestamp(claim.fire_time, UTC)
            if schedule is not None and schedule.enabled and now - slot <= self.grace:
                if await self.store.reclaim(claim, self.owner):
                    log.info("schedule %s: posting the interrupted slot of %s", schedule.id, slot)
                    self._spawn_claimed(schedule, slot)
            elif await self.store.give_up(claim, f"{INTERRUPTED}; past the grace period"):
                metrics.schedule_post("missed")
                log.warning("schedule %s: interrupted slot %s: missed", claim.schedule_id, slot)

    async def catch_up(self) -> None:
        """Post each schedule's latest missed slot if within grace; else record it missed."""
        now = self.clock()
        for schedule in await self.store.all():
            if not schedule.enabled or schedule.id is None:
                continue
            last = await self.store.last_run(schedule.id)
            since = max(schedule.active_since, last.fire_time + 1 if last else 0)
            slot = latest_fire(schedule.trigger(), now, datetime.fromtimestamp(since, UTC))
            if slot is None:
                continue
            if now - slot <= self.grace:
                log.info("schedule %s: catching up the slot of %s", schedule.id, slot)
                self._spawn(schedule, slot)
            elif await self.store.mark_missed(schedule.id, int(slot.timestamp())):
                metrics.schedule_post("missed")
                log.warning(
                    "schedule %s: slot %s is past the grace period: missed", schedule.id, slot
                )

    # -- posting ----------------------------------------------------------------------------

    async def fire(
        self, schedule: Schedule, slot: datetime, *, retries: int | None = None
    ) -> Outcome:
        """Post `schedule`'s slot once: claim it, then post with bounded retries."""
        assert schedule.id is not None
        key = int(slot.timestamp())
        if not await self.store.claim(schedule.id, key, self.owner):
            log.info("schedule %s: slot %s already claimed; not posting again", schedule.id, slot)
            metrics.schedule_post("duplicate")
            return Outcome("duplicate", slot)
        tries = self.settings.retries if retries is None else retries
        return await self._post(schedule, slot, tries)

    async def _post(self, schedule: Schedule, slot: datetime, retries: int) -> Outcome:
        """Post a slot this process has claimed, renewing the claim until it is done."""
        assert schedule.id is not None
        key = int(slot.timestamp())
        heartbeat = asyncio.get_running_loop().create_task(self._renew(schedule.id, key))
        outcome = "failed"
        try:
            with request_scope():  # its log lines share an id
                result = await self._attempts(schedule, slot, key, retries)
            outcome = result.status
            return result
        except asyncio.CancelledError:
            outcome = "interrupted"  # posted on the next start, within the grace period
            raise
        finally:
            heartbeat.cancel()
            metrics.schedule_post(outcome)

    async def _renew(self, schedule_id: int, key: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):  # a busy database delays, never breaks, a post
                await self.store.touch(schedule_id, key)

    async def _attempts(
        self, schedule: Schedule, slot: datetime, key: int, retries: int
    ) -> Outcome:
        assert schedule.id is not None
        post = ScheduledPost(self.muse, schedule, slot)
        attempt, error = 0, ""
        try:
            while attempt <= retries:
                attempt += 1
                try:
                    sent = await post.run()
                except UserError as exc:  # a refusal or a channel Muse cannot use: final
                    error = _reason(exc)
                    break
                except Exception as exc:  # model or platform trouble: worth another try
                    error = _reason(exc)
                    log.warning("schedule %s attempt %d failed: %s", schedule.id, attempt, error)
                    if attempt <= retries:
                        await self.store.note(
                            schedule.id, key, status="claimed", attempts=attempt, error=error
                        )
                        await self.sleep(self.settings.retry_backoff_seconds * 2 ** (attempt - 1))
                    continue
                await self.store.note(
                    schedule.id, key, status="posted", attempts=attempt, message_id=sent.first_id
                )
                log.info("schedule %s posted the slot of %s", schedule.id, slot)
                return Outcome("posted", slot, message_id=sent.first_id)
        except asyncio.CancelledError:
            # Posted again on the next start if that is within the grace period.
            await asyncio.shield(
                self.store.note(
                    schedule.id, key, status="interrupted", attempts=attempt, error=INTERRUPTED
                )
            )
            raise
        log.error("schedule %s: slot %s failed: %s", schedule.id, slot, error)
        await self.store.note(schedule.id, key, status="failed", attempts=attempt, error=error)
        return Outcome("failed", slot, error)

    async def run_now(self, schedule: Schedule) -> Outcome:
        """Post now (its own slot, keyed by this second); no retries, the admin is waiting."""
        slot = self.clock().replace(microsecond=0)
        return await self.fire(schedule, slot, retries=0)

    # -- managing schedules -----------------------------------------------------------------

    async def check_target(self, target: Target) -> None:
        """UserError if Muse cannot post into `target` right now."""
        outbound = self.muse.outbounds.get(target.platform)
        if outbound is None:
            raise OptionError(f"Muse cannot post on {target.platform}: no adapter runs for it.")
        await outbound.open(target)

    async def add(self, schedule: Schedule) -> Schedule:
        """Validate (time spec, timezone, kind, prompt, target), store, and start its job."""
        schedule.validate()
        if schedule.wants_image and self.muse.image_engine is None:
            raise OptionError("Image generation is not enabled here, so use kind text.")
        await self.check_target(schedule.target)
        stored = await self.store.add(replace(schedule, active_since=self.clock().timestamp()))
        if stored.enabled:
            self._add_job(stored)
        return stored

    async def remove(self, schedule_id: int) -> bool:
        self._remove_job(schedule_id)
        return await self.store.delete(schedule_id)

    def next_run(self, schedule: Schedule) -> datetime | None:
        if not schedule.enabled or not self.settings.enabled:
            return None
        return next_fire(schedule.trigger(), self.clock())

    async def last_run(self, schedule: Schedule) -> Run | None:
        return await self.store.last_run(schedule.id) if schedule.id is not None else None

    async def reconcile(self, declared: Sequence[ScheduleEntry]) -> None:
        """Make config-sourced schedules match the config; chat-made ones are left alone."""
        existing = {s.name: s for s in await self.store.all() if s.source == "config"}
        now = self.clock().timestamp()
        for entry in declared:
            try:
                want = entry.to_schedule()
            except OptionError as exc:
                log.error("[[schedules]] %s: %s (skipped)", entry.name, exc)
                continue
            old = existing.pop(want.name, None)
            if old is None:
                stored = await self.store.add(replace(want, active_since=now))
                log.info("schedule %s (%s) created from the config", stored.id, want.name)
                continue
            merged = replace(
                want, id=old.id, created_at=old.created_at, active_since=old.active_since
            )
            if any(getattr(old, f) != getattr(want, f) for f in _TIMING):
                merged = replace(merged, active_since=now)
            if merged != old:
                await self.store.update(merged)
                log.info("schedule %s (%s) updated from the config", old.id, want.name)
        for gone in existing.values():
            if gone.enabled:
                await self.store.update(replace(gone, enabled=False, active_since=now))
                log.info(
                    "schedule %s (%s) is no longer in the config: disabled", gone.id, gone.name
                )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
