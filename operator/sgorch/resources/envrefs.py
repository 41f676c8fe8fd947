"""``${VAR}`` and ``${VAR:-default}`` references in env values and probe headers.

They are checked at load time but resolved only at submit or probe time, from the
operator's environment, so secrets are never stored in a resource, a status file or a
batch script.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["UnsetVariable", "check_env_refs", "env_ref_names", "resolve_env_refs"]

_REF = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnsetVariable(KeyError):
    """A ``${VAR}`` without a default names a variable the operator's environment lacks."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return (
            f"environment variable {self.name} is not set in the operator's environment; "
            f"export it before starting sgorch or write ${{{self.name}:-default}}"
        )


def _split(body: str) -> tuple[str, str | None]:
    name, sep, default = body.partition(":-")
    return name, (default if sep else None)


def check_env_refs(value: str) -> str:
    """Validate the reference syntax of ``value``; return it unchanged."""
    for match in _REF.finditer(value):
        name, _ = _split(match.group(1))
        if not _NAME.match(name):
            raise ValueError(
                f"${{{match.group(1)}}} is not a valid reference; write ${{NAME}} or "
                "${NAME:-default} with NAME made of letters, digits and underscores"
            )
    return value


def env_ref_names(value: str) -> list[str]:
    """Names of the variables ``value`` refers to, in order of appearance."""
    return [_split(m.group(1))[0] for m in _REF.finditer(value)]


def resolve_env_refs(value: str, environ: Mapping[str, str]) -> str:
    """Substitute every reference in ``value`` from ``environ``.

    Raises :class:`UnsetVariable` for an unset variable without a default.
    """

    def substitute(match: re.Match[str]) -> str:
        name, default = _split(match.group(1))
        if name in environ:
            return environ[name]
        if default is None:
            raise UnsetVariable(name)
        return default

    return _REF.sub(substitute, value)
