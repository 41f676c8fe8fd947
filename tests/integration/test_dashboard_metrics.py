"""The Grafana dashboard charts series that exist: every metric in every PromQL
expression of deploy/grafana/sgorch-dashboard.json is served by a live operator
(``sgorch run --metrics-port``) or by its router sidecar after it proxied a request,
with the suffix its type gives it (``_total``, ``_bucket``/``_count``/``_sum``), and
every label the dashboard groups or filters by is on those series.

The same operator also serves the status board (``--http-port``) over its own status."""

from __future__ import annotations

import json
import re
import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.operator import Operator, condition, demo_deployment
from fakes.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "sgorch-dashboard.json"
PROMETHEUS_TARGET_LABELS = {"job", "instance"}
"""Labels Prometheus adds at scrape time: not in any exposition."""

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------- PromQL parsing

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}


def promql_references(expr: str) -> tuple[set[str], set[str]]:
    """The metric names and the label names an expression (or a Grafana
    ``label_values(metric, label)`` query) refers to."""
    labels: set[str] = set()
    text = _VARIABLES.sub("", _STRINGS.sub('""', expr))
    template = _LABEL_VALUES.match(text)
    if template:
        text = template.group(1)
        labels.add(template.group(2))
    for matchers in _MATCHERS.findall(text):
        labels.update(_MATCHER_LABEL.findall(matchers))
    text = _RANGES.sub("", _MATCHERS.sub("", text))
    for grouping in _GROUPING.findall(text):
        labels.update(name.strip() for name in grouping.split(",") if name.strip())
    text = _GROUPING.sub("", text)
    names = {
        name
        for name, call in _IDENTIFIER.findall(text)
        if not call and name.lower() not in _KEYWORDS
    }
    return names, labels


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every query: panel targets (also inside collapsed rows) and template variables."""
    queries: list[str] = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        queries.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            queries.append(query)
    return queries


# ---------------------------------------------------------------- the expositions


@dataclass
class Exposition:
    """Series names a scrape can return, and the label names seen on each."""

    series: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)

    def add(self, text: str) -> None:
        for family in text_string_to_metric_families(text):
            self.series |= _series_names(family.name, family.type)
            for sample in family.samples:
                self.labels.setdefault(sample.name, set()).update(sample.labels)


def _series_names(name: str, type_: str) -> set[str]:
    if type_ == "counter":
        return {f"{name}_total"}
    if type_ == "histogram":
        return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    if type_ == "summary":
        return {name, f"{name}_count", f"{name}_sum"}
    if type_ == "info":
        return {f"{name}_info"}
    return {name}


def get(url: str, data: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def answers_json(url: str) -> dict[str, Any] | None:
    try:
        return json.loads(get(url))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def router_yaml(port: int) -> str:
    return f"""\
apiVersion: sgorch.io/v1alpha1
kind: Router
metadata: {{name: main}}
spec:
  listen: {{host: 127.0.0.1, port: {port}}}
  auth: {{admin_token_env: SGORCH_ROUTER_TOKEN}}
  default_models: {{/v1/chat/completions: demo}}
"""


def router_available(op: Operator) -> bool:
    doc = op.status("main", "routers")
    return doc is not None and condition(doc, "Available")["status"] == "True"


@dataclass
class Scenario:
    operator: Exposition
    router: Exposition
    board_index: dict[str, Any]
    board_status: dict[str, Any]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """A live operator on the local executor with one demo worker behind its router,
    after one chat request went through the router."""
    op = Operator(tmp_path_factory.mktemp("dashboard"))
    op.env["SGORCH_ROUTER_TOKEN"] = secrets.token_urlsafe(24)
    router_port, metrics_port, board_port = free_port(), free_port(), free_port()
    router = f"http://127.0.0.1:{router_port}"
    op.write("main", router_yaml(router_port))
    op.write("demo", demo_deployment(replicas=1, router="main", model="demo"))
    op.start("--metrics-port", str(metrics_port), "--http-port", str(board_port))
    try:
        op.wait(lambda: op.ready("demo", 1), what="a ready demo worker")
        op.wait(
            lambda: "demo" in json.dumps(answers_json(f"{router}/v1/models") or {}),
            what="the worker registered with the router",
        )
        op.wait(lambda: router_available(op), what="the router's status to say Available")
        chat = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}
        answer = json.loads(get(f"{router}/v1/chat/completions", json.dumps(chat).encode()))
        assert "hello" in answer["choices"][0]["message"]["content"]

        operator, sidecar = Exposition(), Exposition()
        operator.add(get(f"http://127.0.0.1:{metrics_port}/metrics").decode())
        sidecar.add(get(f"{router}/metrics").decode())
        board = f"http://127.0.0.1:{board_port}"
        index = json.loads(get(f"{board}/api/index"))
        status = json.loads(get(f"{board}/api/status/deployments/demo"))
        yield Scenario(operator, sidecar, index, status)
    finally:
        try:  # local jobs outlive the operator: delete them first, even after a failure
            (op.resources / "demo.yaml").unlink(missing_ok=True)
            op.wait(lambda: op.status("demo") is None, timeout_s=60, what="demo jobs cancelled")
        finally:
            if op.process is not None:
                assert op.stop() == 0


def test_promql_references_leave_out_functions_labels_ranges_and_variables() -> None:
    names, labels = promql_references(
        "histogram_quantile(0.99, sum by (le, operation) (rate(sgorch_slurm_call_duration_"
        'seconds_bucket{client!="local", deployment=~"$deployment"}[$__rate_interval]))) '
        "/ on (operation) group_left sum without (x) (up offset 5m) > bool 0"
    )
    assert names == {"sgorch_slurm_call_duration_seconds_bucket", "up"}
    assert labels == {"le", "operation", "client", "deployment", "x"}
    assert promql_references("label_values(sgorch_deployment_desired_workers, deployment)") == (
        {"sgorch_deployment_desired_workers"},
        {"deployment"},
    )


def test_the_dashboard_is_an_importable_grafana_dashboard_with_a_prometheus_input() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] and dashboard["title"]
    (source,) = dashboard["__inputs"]
    assert (source["name"], source["pluginId"]) == ("DS_PROMETHEUS", "prometheus")
    targets = [
        target
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if panel["type"] != "row"
    ]
    assert len(targets) >= 20
    for target in targets:
        assert target["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_metric_the_dashboard_charts_is_served_by_the_operator_or_a_router(
    scenario: Scenario,
) -> None:
    served = scenario.operator.series | scenario.router.series
    queries = dashboard_queries(json.loads(DASHBOARD.read_text()))
    charted = {name for query in queries for name in promql_references(query)[0]}
    assert {"sgorch_deployment_ready_workers", "sgorch_router_requests_total"} <= charted
    assert sorted(charted - served) == []


def test_every_label_the_dashboard_groups_or_filters_by_is_on_its_series(
    scenario: Scenario,
) -> None:
    labels_of = {**scenario.operator.labels, **scenario.router.labels}
    checked = 0
    for query in dashboard_queries(json.loads(DASHBOARD.read_text())):
        names, labels = promql_references(query)
        if not all(name in labels_of for name in names):
            continue  # a family without series yet (no retries, no errors): names only
        available = set().union(*(labels_of[name] for name in names))
        missing = labels - available - PROMETHEUS_TARGET_LABELS
        assert not missing, f"{query}: no series has {sorted(missing)}"
        checked += 1
    assert checked >= 20


def test_the_operator_serves_the_status_board_over_its_own_status(scenario: Scenario) -> None:
    entries = {(e["kind"], e["name"]): e for e in scenario.board_index["resources"]}
    assert entries[("Deployment", "demo")]["ready"] == "1/1"
    assert entries[("Router", "main")]["available"] is True
    (worker,) = scenario.board_status["status"]["workers"]
    assert worker["ready"] and worker["url"].startswith("http://127.0.0.1:")
