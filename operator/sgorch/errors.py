"""The exception tree of SGOrch; every foreign error is translated into it once, at the
boundary that met it (``raise ... from exc``), so callers only ever catch these.

    SgorchError
    ├── PermanentError            do not retry until the input changes
    │   ├── ResourceInvalid       a resource file or field is wrong (file, line, field)
    │   ├── SlurmRejected         Slurm refused this request (bad partition, account, ...)
    │   └── ConfigError           a command-line or environment setting is wrong
    └── TemporaryError(delay_s)   retry later; the runtime backs off
        ├── SlurmUnavailable      controller unreachable, timed out, or answered garbage
        └── RouterUnavailable     the router did not answer or answered 5xx
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ErrorLocation",
    "PermanentError",
    "ResourceInvalid",
    "RouterUnavailable",
    "SgorchError",
    "SlurmRejected",
    "SlurmUnavailable",
    "TemporaryError",
]


class SgorchError(Exception):
    """Base of every error SGOrch raises on purpose."""


class PermanentError(SgorchError):
    """Retrying will not help until the spec (or the setting) changes."""


class TemporaryError(SgorchError):
    """Retrying later may help; ``delay_s`` is the suggested minimum wait."""

    def __init__(self, message: str, *, delay_s: float = 5.0) -> None:
        super().__init__(message)
        self.delay_s = delay_s


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where in which file an input error is: 1-based line and column, dotted field path."""

    file: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.field:
            where += f": {self.field}"
        return where


class ResourceInvalid(PermanentError):
    """A resource file cannot be used; ``errors`` lists every located problem."""

    def __init__(self, errors: list[tuple[ErrorLocation, str]]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"{loc}: {msg}" for loc, msg in errors))


class ConfigError(PermanentError):
    """A command-line option, environment variable or operator setting is wrong."""


class SlurmRejected(PermanentError):
    """Slurm refused the request itself; resubmitting the same request will fail again."""


class SlurmUnavailable(TemporaryError):
    """Slurm could not be asked: controller down, timeout, or an unparseable answer."""


class RouterUnavailable(TemporaryError):
    """The router could not be reached or answered with a server error."""
