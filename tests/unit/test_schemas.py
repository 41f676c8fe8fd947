"""The committed JSON Schemas are exactly what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

from sgorch.resources.schema import render_schemas

SCHEMAS = Path(__file__).resolve().parents[2] / "crds-like-schemas"


def test_committed_schemas_match_the_models() -> None:
    rendered = render_schemas()
    stale = [
        name
        for name, text in rendered.items()
        if not (SCHEMAS / name).is_file() or (SCHEMAS / name).read_text() != text
    ]
    assert stale == [], f"run 'make schemas': {stale} drifted from the models"
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(rendered)


def test_every_spec_field_is_documented_in_the_schema() -> None:
    undocumented: list[str] = []
    for name in ("deployment.schema.json", "router.schema.json"):
        schema = json.loads((SCHEMAS / name).read_text())
        defs = schema.get("$defs", {})
        for def_name, definition in defs.items():
            for field, prop in definition.get("properties", {}).items():
                target = defs.get(prop.get("$ref", "").rsplit("/", 1)[-1], {})
                if "description" not in prop and "description" not in target:
                    undocumented.append(f"{name}:{def_name}.{field}")
    assert undocumented == []
