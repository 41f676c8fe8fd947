"""JSON Schemas generated from the models, so editors validate resource files as users
type (``# yaml-language-server: $schema=...``) and dashboards can check status files."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from sgorch.resources.models import Deployment, Router
from sgorch.resources.status import (
    DeploymentStatusDocument,
    RouterStatusDocument,
    StatusIndex,
)

__all__ = ["SCHEMA_FILES", "render_schemas"]

SCHEMA_FILES: dict[str, type[BaseModel]] = {
    "deployment.schema.json": Deployment,
    "router.schema.json": Router,
    "deployment-status.schema.json": DeploymentStatusDocument,
    "router-status.schema.json": RouterStatusDocument,
    "status-index.schema.json": StatusIndex,
}


def render_schemas() -> dict[str, str]:
    """File name → JSON text of every schema, stable byte for byte across runs."""
    rendered: dict[str, str] = {}
    for filename, model in SCHEMA_FILES.items():
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://sgorch.io/schemas/v1alpha1/{filename}",
            **model.model_json_schema(by_alias=True, mode="validation"),
        }
        rendered[filename] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return rendered
