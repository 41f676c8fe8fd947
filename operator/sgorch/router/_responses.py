"""Errors the router itself answers, in the OpenAI error shape clients already parse."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

__all__ = ["error_response", "unauthorized_response"]


def error_response(
    status: int,
    message: str,
    error_type: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, object] | None = None,
) -> web.Response:
    """``{"error": {"message", "type", "code", ...details}}`` with the given status."""
    error: dict[str, object] = {"message": message, "type": error_type, "code": code}
    if details:
        error.update(details)
    return web.json_response({"error": error}, status=status, headers=headers)


def unauthorized_response() -> web.Response:
    return error_response(
        401,
        "missing or invalid bearer token",
        "authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )
