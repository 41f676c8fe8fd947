"""The JobWatcher: one ``list_jobs`` call per interval for the whole operator (not one
per Deployment), turning changes into notifications.

It polls faster right after a submit, backs off while the controller is unreachable,
and remembers terminal states it saw (squeue forgets finished jobs after MinJobAge).
``listing_started_at`` tells the controllers how fresh the picture is: a submit attempt
is resolved only by a listing that began after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter

import anyio
from loguru import logger

from sgorch.errors import SlurmUnavailable
from sgorch.slurm.tags import OwnerTag, parse_tag
from sgorch.slurm.types import JobId, JobInfo, SlurmClient

__all__ = ["JobWatcher", "WatchedJob"]

Listener = Callable[[set[str]], None]
"""Called with the names of the Deployments whose jobs changed."""


@dataclass(frozen=True, slots=True)
class WatchedJob:
    info: JobInfo
    tag: OwnerTag


_COMPARED = attrgetter(*(f.name for f in fields(JobInfo) if f.name != "time_left_s"))
"""Every field of a job but the one that changes on every listing."""


def _comparable(job: WatchedJob | None) -> tuple[object, ...] | None:
    """A job's picture without ``time_left_s`` (a tuple: this runs for every job on every
    listing, and ``dataclasses.replace`` costs ten times more)."""
    return None if job is None else _COMPARED(job.info)


class JobWatcher:
    """Keeps the current picture of every job carrying ``owner_tag``."""

    def __init__(
        self,
        client: SlurmClient,
        owner_tag: str,
        *,
        interval_s: float = 5.0,
        fast_interval_s: float = 1.0,
        fast_window_s: float = 30.0,
        first_fast_s: float = 0.25,
        max_backoff_s: float = 60.0,
        remember_terminal_s: float = 3600.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.owner_tag = owner_tag
        self.interval_s = interval_s
        self.fast_interval_s = fast_interval_s
        self.fast_window_s = fast_window_s
        self.first_fast_s = first_fast_s
        self.max_backoff_s = max_backoff_s
        self.remember_terminal_s = remember_terminal_s
        self._wall = wall_clock
        self._jobs: dict[JobId, WatchedJob] = {}
        self._by_deployment: dict[str, list[WatchedJob]] = {}
        """The same jobs by Deployment: ``jobs_of`` is called several times per
        reconcile, so it must not cost O(all jobs)."""
        self._terminal_seen: dict[JobId, float] = {}
        self._listeners: list[Listener] = []
        self._fast_until = 0.0
        self._fast_since = 0.0
        self._poke = anyio.Event()
        self.listing_started_at: float = 0.0
        """Wall-clock start of the last successful listing (0: none yet)."""
        self.listings = 0
        self.unavailable_since: float | None = None
        self.last_error: str | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def jobs_of(self, deployment: str) -> list[WatchedJob]:
        return list(self._by_deployment.get(deployment, ()))

    def deployments(self) -> set[str]:
        return set(self._by_deployment)

    def get(self, job_id: str) -> WatchedJob | None:
        return self._jobs.get(JobId(job_id))

    def submitted(self) -> None:
        """A job was just submitted: poll quickly for a while to see it start, the
        first polls quickest (a job on an idle cluster starts within a fraction of a
        second; one held in the queue is seen at ``fast_interval_s`` after that)."""
        now = time.monotonic()
        if now >= self._fast_until:  # a burst of submits ramps once, not per submit
            self._fast_since = now
        self._fast_until = now + self.fast_window_s
        self._poke.set()

    def poke(self) -> None:
        """Poll as soon as possible (e.g. after a cancel)."""
        self._poke.set()

    async def poll_once(self) -> bool:
        """One listing; True if it succeeded. Notifies listeners of changed Deployments."""
        started = self._wall()
        try:
            infos = await self.client.list_jobs(self.owner_tag)
        except SlurmUnavailable as exc:
            if self.unavailable_since is None:
                self.unavailable_since = started
                logger.warning("Slurm unavailable, keeping the last known job states: {}", exc)
            self.last_error = str(exc)
            return False
        if self.unavailable_since is not None:
            logger.info("Slurm reachable again after {:.0f}s", started - self.unavailable_since)
        self.unavailable_since = None
        self.last_error = None
        changed = self._merge(infos, started)
        self.listing_started_at = started
        self.listings += 1
        for listener in self._listeners:
            listener(changed)
        return True

    def _merge(self, infos: list[JobInfo], now: float) -> set[str]:
        current: dict[JobId, WatchedJob] = {}
        for info in infos:
            tag = parse_tag(info.comment)
            if tag is None:
                continue
            current[info.job_id] = WatchedJob(info, tag)
            if info.state.is_terminal:
                self._terminal_seen.setdefault(info.job_id, now)
        # finished jobs squeue forgot: keep their last (terminal) picture for a while
        for job_id, job in self._jobs.items():
            seen_at = self._terminal_seen.get(job_id, now)
            if (
                job_id not in current
                and job.info.state.is_terminal
                and now - seen_at < self.remember_terminal_s
            ):
                current[job_id] = job
        changed = {
            job.tag.deployment
            for job_id in current.keys() | self._jobs.keys()
            for job in (current.get(job_id) or self._jobs[job_id],)
            if _comparable(current.get(job_id)) != _comparable(self._jobs.get(job_id))
        }
        self._terminal_seen = {k: v for k, v in self._terminal_seen.items() if k in current}
        self._jobs = current
        self._by_deployment = {}
        for job in current.values():
            self._by_deployment.setdefault(job.tag.deployment, []).append(job)
        return changed

    def _next_delay_s(self, failures: int) -> float:
        if failures:
            return float(min(self.max_backoff_s, self.interval_s * 2 ** min(failures - 1, 10)))
        now = time.monotonic()
        if now < self._fast_until:  # 0.25, 0.25, 0.5, 1, 1, ... s after the first submit
            return min(self.fast_interval_s, max(self.first_fast_s, now - self._fast_since))
        return self.interval_s

    async def run(self) -> None:
        """Poll forever (cancel the surrounding task group to stop)."""
        failures = 0
        while True:
            poke = self._poke = anyio.Event()
            failures = 0 if await self.poll_once() else failures + 1
            with anyio.move_on_after(self._next_delay_s(failures)):
                await poke.wait()
