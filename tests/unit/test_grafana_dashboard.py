"""The Grafana dashboard in deploy/grafana queries only what the operator exports.

Metric names are collected from the registry `whatsapp_operator.metrics.Metrics` builds,
with the sample suffixes Prometheus sees (counters `_total`, histograms `_bucket`, `_sum`,
`_count`), and every panel's PromQL is checked against them, so renaming a metric
without the dashboard (or the other way round) fails here rather than as an empty panel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.promql import SUFFIXES, metric_names, registered_metrics
from whatsapp_operator.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "whatsapp-operator-dashboard.json"


def load() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_the_dashboard_loads() -> None:
    dashboard = load()
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"]
    assert dashboard["title"]
    assert panels(dashboard)


def test_a_prometheus_datasource_variable_drives_every_query() -> None:
    dashboard = load()
    variables = {item["name"]: item for item in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == wanted, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", wanted) == wanted, panel["title"]


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in panels(load())]
    assert len(ids) == len(set(ids)), ids


def test_every_query_uses_only_registered_metrics() -> None:
    known = registered_metrics()
    unknown = {
        title: sorted(metric_names(expr) - known)
        for title, expr in expressions(load())
        if metric_names(expr) - known
    }
    assert unknown == {}


def test_every_panel_queries_some_operator_metric() -> None:
    known = registered_metrics()
    dashboard = load()
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        used = {name for target in panel["targets"] for name in metric_names(target["expr"])}
        assert used & known, panel["title"]


def test_every_operator_metric_is_on_the_dashboard() -> None:
    used = {name for _, expr in expressions(load()) for name in metric_names(expr)}
    families = {
        family.name: family.type
        for family in Metrics().registry.collect()
        if family.name.startswith("whatsapp_operator_")
    }
    missing = [
        name
        for name, kind in families.items()
        if not any(name + suffix in used for suffix in SUFFIXES[kind])
    ]
    assert missing == []


def test_the_panels_the_brief_asks_for() -> None:
    by_expr = expressions(load())
    joined = "\n".join(expr for _, expr in by_expr)
    assert "histogram_quantile(0.5," in joined
    assert "histogram_quantile(0.95," in joined
    assert "rate(whatsapp_operator_greenapi_requests_total[5m])" in joined
    assert "sum by (method, outcome)" in joined
    types = {panel["type"] for panel in panels(load())}
    assert {"timeseries", "stat", "piechart"} <= types


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum by (state) (whatsapp_operator_instances)", {"whatsapp_operator_instances"}),
        (
            'sum(rate(foo_total{outcome!="ok", method=~"a.*"}[5m])) / sum(rate(bar[$__range]))',
            {"foo_total", "bar"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, kind) (rate(x_bucket[5m] offset 1h)))",
            {"x_bucket"},
        ),
        ("a_total and on (job) group_left (x) b > bool 1e3", {"a_total", "b"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
