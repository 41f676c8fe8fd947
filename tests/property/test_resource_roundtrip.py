"""Property tests of the resource loader: valid resources survive dump → load unchanged,
and no input — however broken — crashes the loader or escapes without a location."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from property.strategies import deployments, routers
from sgorch.resources import Deployment, Router, dump_resources, load_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _model(data: dict[str, Any]) -> Deployment | Router | None:
    cls = Deployment if data["kind"] == "Deployment" else Router
    try:
        return cls.model_validate(data)
    except ValidationError:
        return None  # a strategy can draw values the model rightly refuses


@SETTINGS
@given(st.lists(st.one_of(deployments(), routers()), min_size=1, max_size=3))
def test_every_valid_resource_survives_dump_then_load_unchanged(
    datas: list[dict[str, Any]],
) -> None:
    resources = [r for r in map(_model, datas) if r is not None]
    text = dump_resources(resources)
    result = load_text(text, "roundtrip.yaml")
    assert result.all_errors() == []
    assert [d.resource for d in result.documents] == resources


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_loader_and_errors_are_located(raw: bytes) -> None:
    text = raw.decode("utf-8", "replace")
    result = load_text(text, "fuzz.yaml")
    for location, message in result.all_errors():
        assert location.file == "fuzz.yaml"
        assert message


@SETTINGS
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=30,
    )
)
def test_arbitrary_yaml_structures_give_errors_with_lines_not_exceptions(data: Any) -> None:
    import io

    from ruamel.yaml import YAML

    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(
        {"apiVersion": "sgorch.io/v1alpha1", "kind": "Deployment", "metadata": data, "spec": data},
        stream,
    )
    result = load_text(stream.getvalue(), "s.yaml")
    for location, _ in result.all_errors():
        assert location.line is not None and location.line >= 1
