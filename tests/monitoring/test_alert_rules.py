"""The alert rules: one source (`monitoring.alerts`) for the shipped rules file and the
component's PrometheusRule; `promtool check rules` passes on both, `promtool test rules` proves
each alert fires on its failure and stays quiet otherwise, and the PrometheusRule fits the
Prometheus Operator's CRD."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from temporal_worker_k8s.monitoring import alerts
from tests.manifests import crds
from tests.monitoring.alert_cases import CASES, promtool_tests
from tools import monitoring

SEVERITIES = {"critical", "warning"}
TEMPORAL_FIRST_FIVE = {"TemporalWorkerPollersDisconnected", "TemporalWorkflowNonDeterminism",
                       "TemporalWorkflowTaskGrpcMessageTooLarge",
                       "TemporalWorkflowTaskScheduleToStartHigh",
                       "TemporalRequestsResourceExhausted"}
OURS = {"TemporalWorkerNotReady", "TemporalWorkerClientCertificateExpiring",
        "TemporalWorkerCredentialReloadFailing", "TemporalWorkerTaskSlotsExhausted",
        "TemporalWorkerPollFailures"}


def test_the_shipped_rules_file_and_dashboard_are_generated_from_their_source():
    assert monitoring.stale() == [], "run .venv/bin/python -m tools.monitoring"
    shipped = yaml.safe_load(alerts.RULES_FILE.read_text())
    assert shipped == {"groups": alerts.rule_groups()}


def test_temporals_first_five_and_ours_each_say_what_to_check_first():
    assert {a.name for a in alerts.ALERTS} == TEMPORAL_FIRST_FIVE | OURS
    for alert in alerts.ALERTS:
        assert alert.severity in SEVERITIES, alert.name
        assert alert.summary and "Check first" in alert.description, alert.name


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet():
    for alert in {a.name for a in alerts.ALERTS}:
        cases = [c for c in CASES if c.alert == alert]
        assert any(c.fires for c in cases), f"{alert}: no case where it fires"
        assert any(not c.fires for c in cases), f"{alert}: no case where it stays quiet"
    for severity in SEVERITIES:  # every rule fires somewhere, both severities of a name too
        for alert in (a for a in alerts.ALERTS if a.severity == severity):
            rules = [a for a in alerts.ALERTS if a.name == alert.name]
            assert any(len(c.fires) > rules.index(alert) for c in CASES
                       if c.alert == alert.name), f"{alert.name} ({severity}) never fires"


def scoped_rules_file(tmp_path: Path) -> Path:
    """What the component's PrometheusRule holds for task queue `orders`, as a rules file."""
    path = tmp_path / "scoped.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": alerts.rule_groups(
        alerts.task_queue_scope("orders"))}))
    return path


@pytest.mark.parametrize("which", ["shipped", "scoped"])
def test_promtool_checks_the_rules(promtool, tmp_path, which):
    path = alerts.RULES_FILE if which == "shipped" else scoped_rules_file(tmp_path)
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts.ALERTS)} rules found" in result.stdout


@pytest.mark.parametrize("which", ["shipped", "scoped"])
def test_promtool_unit_tests_each_alert_firing_and_quiet(promtool, tmp_path, which):
    path = alerts.RULES_FILE if which == "shipped" else scoped_rules_file(tmp_path)
    tests = tmp_path / "alerts.test.yaml"
    tests.write_text(yaml.safe_dump(promtool_tests(str(path)), sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "SUCCESS" in result.stdout


def test_the_scoped_rules_ignore_other_task_queues(promtool, tmp_path):
    case = next(c for c in CASES if c.alert == "TemporalWorkerNotReady" and c.fires)
    other = [{**s, "series": s["series"].replace('task_queue="orders"', 'task_queue="other"')}
             for s in case.input_series]
    tests = tmp_path / "other.test.yaml"
    tests.write_text(yaml.safe_dump({
        "rule_files": [str(scoped_rules_file(tmp_path))], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": other, "alert_rule_test": [
            {"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": []}]}]}))
    result = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_prometheus_rule_with_the_rules_fits_the_operators_crd():
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "orders", "namespace": "orders"},
            "spec": {"groups": alerts.rule_groups(alerts.task_queue_scope("orders"))}}
    assert crds.errors(rule) == []
    broken = {**rule, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "for": "5 m",
                                                                   "expr": "up"}]}]}}
    assert crds.errors(broken), "the CRD check must be able to fail"
