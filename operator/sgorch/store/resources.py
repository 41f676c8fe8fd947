"""The ResourceStore: desired state read from the resources directory.

Every change triggers a full rescan (level-triggered: the result depends only on what
is on disk, not on which events arrived). A resource whose file or document is broken
keeps its last valid spec in force and carries the error; a resource is deleted only
when a file that parses cleanly no longer defines it, or its file is gone.
Generations count spec changes and are persisted, so they survive restarts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import anyio
from loguru import logger

from sgorch.errors import ErrorLocation
from sgorch.files import write_atomic
from sgorch.resources import (
    Deployment,
    FileResult,
    Router,
    find_duplicate_names,
    iter_resource_files,
    load_file,
)

__all__ = ["ResourceEntry", "ResourceKey", "ResourceStore"]

Kind = Literal["Deployment", "Router"]
_KINDS: dict[str, Kind] = {"Deployment": "Deployment", "Router": "Router"}


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    kind: Kind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    """One resource as the operator sees it: the spec in force, its generation, and the
    error that keeps the file's current content out of force, if any."""

    key: ResourceKey
    resource: Deployment | Router | None
    generation: int
    spec_hash: str
    file: str
    error: tuple[ErrorLocation, str] | None = None


def _spec_hash(resource: Deployment | Router) -> str:
    data = resource.model_dump(mode="json", by_alias=True)
    data.pop("metadata", None)
    data["labels"] = resource.metadata.labels
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ResourceStore:
    """Reads ``resources_dir`` into entries; ``scan()`` returns the keys that changed."""

    def __init__(self, resources_dir: Path, state_dir: Path) -> None:
        self.resources_dir = resources_dir
        self._generations_file = state_dir / "generations.json"
        self._entries: dict[ResourceKey, ResourceEntry] = {}
        self._generations: dict[str, dict[str, str | int]] = {}
        self._loaded_generations = False

    def get(self, key: ResourceKey) -> ResourceEntry | None:
        return self._entries.get(key)

    def entries(self, kind: Kind | None = None) -> list[ResourceEntry]:
        return sorted(
            (e for e in self._entries.values() if kind is None or e.key.kind == kind),
            key=lambda e: e.key,
        )

    def deployments_using_router(self, router: str) -> list[str]:
        return [
            e.key.name
            for e in self.entries("Deployment")
            if isinstance(e.resource, Deployment)
            and e.resource.spec.router is not None
            and e.resource.spec.router.name == router
        ]

    async def scan(self) -> set[ResourceKey]:
        """Re-read every file; update entries; return the keys whose entry changed."""
        if not self._loaded_generations:
            self._generations = await anyio.to_thread.run_sync(self._read_generations)
            self._loaded_generations = True
        results = await anyio.to_thread.run_sync(self._load_all)
        changed = self._apply(results)
        if changed:
            await anyio.to_thread.run_sync(self._write_generations)
        return changed

    def _load_all(self) -> list[FileResult]:
        if not self.resources_dir.is_dir():
            return []
        return [load_file(path) for path in iter_resource_files([self.resources_dir])]

    def _apply(self, results: Iterable[FileResult]) -> set[ResourceKey]:
        results = list(results)
        duplicates = {(loc.file, loc.line): msg for loc, msg in find_duplicate_names(results)}
        seen: dict[ResourceKey, ResourceEntry] = {}
        broken_files: dict[str, tuple[ErrorLocation, str]] = {}
        for result in results:
            if result.errors:
                broken_files[result.file] = result.errors[0]
                continue
            for doc in result.documents:
                kind = _KINDS.get(doc.kind or "")
                if kind is None or doc.name is None:
                    if doc.errors:
                        logger.warning(
                            "{}: {} (resource cannot be identified)",
                            doc.errors[0][0],
                            doc.errors[0][1],
                        )
                    continue
                key = ResourceKey(kind, doc.name)
                if (doc.file, doc.line) in duplicates:
                    continue  # the first definition stays in force
                previous = self._entries.get(key)
                if doc.resource is not None:
                    seen[key] = self._entry_for(key, doc.resource, doc.file)
                else:
                    error = doc.errors[0]
                    if previous is not None and previous.resource is not None:
                        seen[key] = replace(previous, error=error, file=doc.file)
                    else:
                        record = self._generations.get(str(key), {})
                        generation = int(record.get("generation", 0))
                        seen[key] = ResourceEntry(key, None, generation, "", doc.file, error)
        # resources of files that no longer parse keep their last valid state
        for key, previous in self._entries.items():
            if key not in seen and previous.file in broken_files:
                seen[key] = replace(previous, error=broken_files[previous.file])
        changed = {
            k for k in seen.keys() | self._entries.keys() if seen.get(k) != self._entries.get(k)
        }
        for key in self._entries.keys() - seen.keys():
            self._generations.pop(str(key), None)
        self._entries = seen
        return changed

    def _entry_for(
        self, key: ResourceKey, resource: Deployment | Router, file: str
    ) -> ResourceEntry:
        spec_hash = _spec_hash(resource)
        record = self._generations.get(str(key))
        if record is None:
            generation = 1
        elif record.get("spec_hash") != spec_hash:
            generation = int(record.get("generation", 0)) + 1
        else:
            generation = int(record["generation"])
        self._generations[str(key)] = {"generation": generation, "spec_hash": spec_hash}
        return ResourceEntry(key, resource, generation, spec_hash, file)

    def _read_generations(self) -> dict[str, dict[str, str | int]]:
        try:
            data = json.loads(self._generations_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable {}: {}", self._generations_file, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _write_generations(self) -> None:
        text = json.dumps(self._generations, indent=1, sort_keys=True) + "\n"
        write_atomic(self._generations_file, text.encode())
