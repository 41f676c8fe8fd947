"""Writes ``STATUS_DIR/deployments/NAME.json``, ``STATUS_DIR/routers/NAME.json`` and
``STATUS_DIR/index.json``: atomically, only when the content changed, never with a
secret (status documents are built from typed models that hold none)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
from loguru import logger

from sgorch.files import remove_file, write_atomic
from sgorch.resources.status import (
    DeploymentStatusDocument,
    IndexEntry,
    RouterStatusDocument,
    StatusIndex,
)

__all__ = ["StatusWriter"]

_FOLDERS = {"Deployment": "deployments", "Router": "routers"}


class StatusWriter:
    """Owns the status directory. Write failures (full disk, read-only) are logged and
    reported through ``last_error``; they never stop reconciliation."""

    def __init__(self, status_dir: Path, instance: str) -> None:
        self.status_dir = status_dir
        self.instance = instance
        self._written: dict[Path, bytes] = {}
        self._index: dict[tuple[str, str], IndexEntry] = {}
        self.last_error: str | None = None

    def path_of(self, kind: str, name: str) -> Path:
        return self.status_dir / _FOLDERS[kind] / f"{name}.json"

    async def write(self, document: DeploymentStatusDocument | RouterStatusDocument) -> bool:
        """Write ``document`` if it differs from what is on disk; True if written."""
        path = self.path_of(document.kind, document.metadata.name)
        data = (document.model_dump_json(by_alias=True, indent=2) + "\n").encode()
        self._update_index(document)
        changed = await self._write_bytes(path, data)
        if changed:
            await self._write_index()
        return changed

    async def remove(self, kind: str, name: str) -> None:
        path = self.path_of(kind, name)
        self._written.pop(path, None)
        self._index.pop((kind, name), None)
        await anyio.to_thread.run_sync(remove_file, path)
        await self._write_index()

    async def _write_bytes(self, path: Path, data: bytes) -> bool:
        if self._written.get(path) == data:
            return False
        try:
            await anyio.to_thread.run_sync(write_atomic, path, data)
        except OSError as exc:
            message = f"cannot write {path}: {exc.strerror or exc}"
            if message != self.last_error:
                logger.error("{}; jobs keep running, status is stale until this is fixed", message)
            self.last_error = message
            return False
        self._written[path] = data
        self.last_error = None
        return True

    def _update_index(self, document: DeploymentStatusDocument | RouterStatusDocument) -> None:
        key = (document.kind, document.metadata.name)
        available = any(
            c.type == "Available" and c.status == "True" for c in document.status.conditions
        )
        problems = [
            c.message
            for c in document.status.conditions
            if (c.type in ("ReplicaFailure", "Invalid") and c.status == "True")
        ]
        if document.status.error is not None:
            problems.insert(0, document.status.error.message)
        if isinstance(document, DeploymentStatusDocument):
            ready = f"{document.status.ready_replicas}/{document.status.desired_replicas}"
        else:
            ready = "1/1" if available else "0/1"
        previous = self._index.get(key)
        entry = IndexEntry(
            kind=document.kind,
            name=document.metadata.name,
            ready=ready,
            available=available,
            message=problems[0] if problems else "",
            updated_at=datetime.now(UTC),
        )
        if (
            previous is not None
            and previous.model_copy(update={"updated_at": entry.updated_at}) == entry
        ):
            return
        self._index[key] = entry

    async def _write_index(self) -> None:
        index = StatusIndex(
            api_version="sgorch.io/v1alpha1",
            kind="StatusIndex",
            instance=self.instance,
            resources=[self._index[k] for k in sorted(self._index)],
        )
        data = (json.dumps(index.model_dump(mode="json", by_alias=True), indent=2) + "\n").encode()
        await self._write_bytes(self.status_dir / "index.json", data)
