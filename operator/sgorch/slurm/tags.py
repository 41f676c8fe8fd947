"""Ownership tags: the ``--comment`` every job SGOrch submits carries. The tag — not the
job name — decides which jobs an operator instance owns, adopts and may cancel."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["OwnerTag", "instance_prefix", "parse_tag", "render_job_name", "validate_instance"]

_VERSION = "sgorch:v1"
_INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TAG = re.compile(
    r"^sgorch:v1;instance=(?P<instance>[A-Za-z0-9_.-]+);deployment=(?P<deployment>[a-z0-9-]+)"
    r";slot=(?P<slot>\d+);hash=(?P<hash>[0-9a-f]+)$"
)
_JOB_PREFIX = {"sglang": "sgl", "tei": "tei", "vllm": "vllm", "command": "cmd"}


def validate_instance(instance: str) -> str:
    """Instance names go into every tag: letters, digits, '_', '.', '-' (at most 63)."""
    if not _INSTANCE.match(instance):
        raise ValueError(
            f"instance name {instance!r} must be 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return instance


@dataclass(frozen=True, slots=True)
class OwnerTag:
    """Who owns a job: operator instance, Deployment, slot and job-template hash."""

    instance: str
    deployment: str
    slot: int
    template_hash: str

    def render(self) -> str:
        return (
            f"{_VERSION};instance={self.instance};deployment={self.deployment}"
            f";slot={self.slot};hash={self.template_hash}"
        )


def instance_prefix(instance: str) -> str:
    """The comment prefix shared by every job of ``instance`` (for ``list_jobs``)."""
    return f"{_VERSION};instance={instance};"


def parse_tag(comment: str | None) -> OwnerTag | None:
    """The tag in a job comment, or None for jobs SGOrch did not submit."""
    match = _TAG.match((comment or "").strip())
    if not match:
        return None
    return OwnerTag(match["instance"], match["deployment"], int(match["slot"]), match["hash"])


def render_job_name(backend_type: str, deployment: str, slot: int) -> str:
    """Job names SGOrch users know: ``sgl-NAME-SLOT``, ``tei-…``, ``vllm-…``, ``cmd-…``."""
    return f"{_JOB_PREFIX[backend_type]}-{deployment}-{slot}"
