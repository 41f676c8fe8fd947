"""Reading status documents back from ``STATUS_DIR`` for the human-facing commands: which
kinds exist, their aliases, and one place that turns a missing or unreadable file into
a message. Blocking file I/O: the commands are plain synchronous programs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from sgorch.resources.status import DeploymentStatusDocument, RouterStatusDocument

__all__ = [
    "KINDS",
    "Kind",
    "StatusDocument",
    "StatusFile",
    "StatusUnreadable",
    "list_status_files",
    "parse_kind",
    "read_status_file",
    "status_path",
]

Kind = Literal["Deployment", "Router"]
KINDS: tuple[Kind, ...] = ("Deployment", "Router")

StatusDocument = DeploymentStatusDocument | RouterStatusDocument

_FOLDERS: dict[Kind, str] = {"Deployment": "deployments", "Router": "routers"}
_ALIASES: dict[str, Kind] = {
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deploy": "Deployment",
    "router": "Router",
    "routers": "Router",
}


def parse_kind(text: str) -> Kind:
    """The kind for a name users type (``deploy``, ``deployments``, ``Router``, ...)."""
    kind = _ALIASES.get(text.lower())
    if kind is None:
        raise ValueError(f"unknown kind {text!r}; use deployment (deploy) or router")
    return kind


def status_path(status_dir: Path, kind: Kind, name: str) -> Path:
    return status_dir / _FOLDERS[kind] / f"{name}.json"


class StatusUnreadable(Exception):
    """A status file exists but is not a status document this version understands."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class StatusFile:
    """One status document as read from disk."""

    path: Path
    raw: dict[str, Any]
    """The JSON object as written (what ``-o json`` prints)."""
    document: StatusDocument
    modified: datetime
    """The file's modification time: when the operator last changed this status."""

    @property
    def kind(self) -> Kind:
        return self.document.kind

    @property
    def name(self) -> str:
        return self.document.metadata.name


def read_status_file(status_dir: Path, kind: Kind, name: str) -> StatusFile | None:
    """The status of ``kind``/``name``; None when it has none (yet, or any more).
    Raises :class:`StatusUnreadable` for a file that is not a valid status document."""
    return _read(status_path(status_dir, kind, name), kind)


def list_status_files(
    status_dir: Path, kind: Kind
) -> tuple[list[StatusFile], list[StatusUnreadable]]:
    """Every status document of ``kind``, by name, and the files that could not be read."""
    files: list[StatusFile] = []
    problems: list[StatusUnreadable] = []
    folder = status_dir / _FOLDERS[kind]
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
    except FileNotFoundError:
        return files, problems
    except OSError as exc:
        return files, [StatusUnreadable(folder, exc.strerror or str(exc))]
    for path in paths:
        try:
            status = _read(path, kind)
        except StatusUnreadable as exc:
            problems.append(exc)
            continue
        if status is not None:
            files.append(status)
    return files, problems


def _read(path: Path, kind: Kind) -> StatusFile | None:
    try:
        data = path.read_bytes()
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StatusUnreadable(path, exc.strerror or str(exc)) from exc
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise StatusUnreadable(path, f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise StatusUnreadable(path, "not a JSON object")
    model = DeploymentStatusDocument if kind == "Deployment" else RouterStatusDocument
    try:
        document = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise StatusUnreadable(
            path,
            f"not a {kind} status document ({where}: {first['msg']}); "
            "was it written by a different version of sgorch?",
        ) from exc
    return StatusFile(path=path, raw=raw, document=document, modified=modified)
