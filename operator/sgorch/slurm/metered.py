"""A SlurmClient decorator that times every call and counts its errors, whichever client
it wraps; ``sgorch.app`` wraps the selected client in it, so the clients stay unaware of
metrics."""

from __future__ import annotations

from sgorch.metrics import OperatorMetrics
from sgorch.slurm.types import JobId, JobInfo, JobRequest, SlurmClient

__all__ = ["MeteredSlurmClient"]


class MeteredSlurmClient:
    """Delegates to ``inner``, recording ``sgorch_slurm_call_*`` labelled by its name."""

    def __init__(self, inner: SlurmClient, metrics: OperatorMetrics) -> None:
        self.inner = inner
        self.name = inner.name
        self._metrics = metrics

    async def submit(self, request: JobRequest) -> JobId:
        with self._metrics.slurm_call("submit", self.name):
            return await self.inner.submit(request)

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        with self._metrics.slurm_call("list", self.name):
            return await self.inner.list_jobs(owner_tag)

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        with self._metrics.slurm_call("cancel", self.name):
            await self.inner.cancel(job_id, signal)

    async def ping(self) -> None:
        with self._metrics.slurm_call("ping", self.name):
            await self.inner.ping()

    async def can_exclude_nodes(self) -> bool:
        return await self.inner.can_exclude_nodes()

    async def aclose(self) -> None:
        await self.inner.aclose()
