"""The chart's PrometheusRule: rendered by helm, checked and unit-tested by promtool.

Every alert must have a firing case in data/alerts.test.yaml, every metric an alert or a
test series uses must be one the operator registers (a renamed metric fails here, not as an
alert that can never fire), and every runbook link must land on a section of docs/runbook.md.
promtool is built from the Prometheus Go module on first use (tests/support/gotools.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.gotools import ToolUnavailable, go_tool
from support.promql import metric_names, registered_metrics
from tests.integration.test_packaging import helm, render, run_helm  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "data" / "alerts.test.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
CHART = ROOT / "helm" / "whatsapp-operator"
ON = ("metrics.enabled=true", "prometheusRule.enabled=true")


@pytest.fixture(scope="module")
def promtool() -> Path:
    try:
        return go_tool("promtool")
    except ToolUnavailable as error:
        # Never a skip: alerts that were not tested must not read as green.
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def rule(helm: Path) -> dict[str, Any]:  # noqa: F811 - the fixture imported above
    (found,) = [doc for doc in render(helm, *ON) if doc["kind"] == "PrometheusRule"]
    return found


def alerts(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]


def test_off_by_default_and_needs_metrics(helm: Path) -> None:  # noqa: F811
    assert not [
        doc for doc in render(helm, "metrics.enabled=true") if doc["kind"] == "PrometheusRule"
    ]
    result = run_helm(helm, "template", "x", str(CHART), "--set", "prometheusRule.enabled=true")
    assert result.returncode != 0
    assert "prometheusRule.enabled needs metrics.enabled" in result.stderr


def test_the_alerts_a_platform_team_expects(rule: dict[str, Any]) -> None:
    names = {a["alert"] for a in alerts(rule)}
    assert names == {
        "WhatsAppInstanceUnlinked",
        "WhatsAppInstanceAuthorizationLost",
        "WhatsAppInstanceBlocked",
        "WhatsAppInstancePlanExpiring",
        "WhatsAppResourceStalled",
        "WhatsAppSettingsRolloutPaused",
        "WhatsAppPartnerCredentialsFailing",
        "WhatsAppGreenApiErrors",
        "WhatsAppOperatorNoLeader",
        "WhatsAppOperatorAbsent",
        "WhatsAppReconcileDeadlineExceeded",
    }
    for alert in alerts(rule):
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert {"summary", "description", "runbook_url"} <= alert["annotations"].keys()


def test_alerts_use_only_metrics_the_operator_exports(rule: dict[str, Any]) -> None:
    known = registered_metrics()
    unknown = {
        a["alert"]: sorted(metric_names(str(a["expr"])) - known)
        for a in alerts(rule)
        if metric_names(str(a["expr"])) - known
    }
    assert unknown == {}
    series = [
        s["series"]
        for case in yaml.safe_load(CASES.read_text())["tests"]
        for s in case["input_series"]
    ]
    assert {s.split("{", 1)[0] for s in series} <= known


def test_every_runbook_link_has_its_section(rule: dict[str, Any]) -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for alert in alerts(rule):
        url = alert["annotations"]["runbook_url"]
        assert url.split("#", 1)[0].endswith("docs/runbook.md"), url
        assert url.split("#", 1)[1] in anchors, f"{alert['alert']}: no section for {url}"


def test_promtool_checks_and_tests_the_rules(
    promtool: Path, rule: dict[str, Any], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [str(promtool), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    runbook = next(a for a in alerts(rule))["annotations"]["runbook_url"].split("#", 1)[0]
    cases = yaml.safe_load(CASES.read_text())
    cases["rule_files"] = [str(rules)]
    text = yaml.safe_dump(cases, sort_keys=False).replace("RUNBOOK#", f"{runbook}#")
    tests = tmp_path / "alerts.test.yaml"
    tests.write_text(text)
    tested = subprocess.run(
        [str(promtool), "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

    firing = {
        test["alertname"]
        for case in cases["tests"]
        for test in case["alert_rule_test"]
        if test["exp_alerts"]
    }
    assert firing == {a["alert"] for a in alerts(rule)}, "every alert needs a firing case"
