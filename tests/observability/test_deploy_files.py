"""What deploy/observability ships an operator: Prometheus config and alert rules, a Grafana dashboard.
They parse (promtool checks them too when it is installed), the required alerts exist, and every
metric name they use is one the services really expose, checked against a real scrape of all four."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import yaml

from tests.support.observability_harness import exposed_names, platform, scrape
from tests.support.platform import ROOT

OBS = ROOT / "deploy" / "observability"
ALERTS = OBS / "alerts.yml"
DASHBOARD = OBS / "grafana" / "dashboards" / "ictg-platform.json"
NAME = re.compile(r"\bictg_[a-z0-9_]+\b")
CONSUMER = re.compile(r'consumer="([^"]+)"')
PROMTOOL = shutil.which("promtool")


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_the_alert_rules_cover_what_an_operator_must_hear_of() -> None:
    found = {r["alert"]: r for r in rules()}
    for alert in ("IctgConsumerBehind", "IctgConsumerStalled", "IctgOutboxNotPublishing", "IctgDeadLetters",
                  "IctgReconciliationMismatch", "IctgHigh5xxRate", "IctgServiceDown", "IctgServiceAbsent"):  # fmt: skip
        assert alert in found, alert
    for name, rule in found.items():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"], name
        assert NAME.search(rule["expr"]) or rule["expr"].startswith("up{"), name  # up: Prometheus' own
    assert "ictg_dead_letters" in found["IctgDeadLetters"]["expr"] and "> 0" in found["IctgDeadLetters"]["expr"]
    assert 'status=~"5.."' in found["IctgHigh5xxRate"]["expr"]


def test_the_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def test_prometheus_configs_and_compose_profile() -> None:
    config = yaml.safe_load((OBS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    [job] = config["scrape_configs"]
    targets = {t["labels"]["service"]: t["targets"] for t in job["static_configs"]}
    assert targets == {s: [f"{s}:8000"] for s in ("intake", "cases", "metrics", "webhooks", "identity")}
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]  # never open
    k8s = yaml.safe_load((OBS / "prometheus-kubernetes.yml").read_text())
    assert k8s["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert k8s["scrape_configs"][0]["authorization"]["credentials_file"].endswith("scrape-token")
    whole = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    compose = whole["services"]
    assert compose["prometheus"]["secrets"] == ["scrape_token"]
    assert whole["secrets"]["scrape_token"] == {"environment": "ICTG_SCRAPE_TOKEN"}
    for name in ("prometheus", "grafana"):
        assert compose[name]["profiles"] == ["observability"], name
        for volume in compose[name]["volumes"]:
            assert (ROOT / "deploy" / volume.split(":")[0]).exists(), volume


def test_promtool_accepts_the_rules_and_their_unit_tests() -> None:
    assert PROMTOOL is not None, "promtool is needed (`make test` installs Debian's prometheus package)"
    for args in (["check", "rules", str(ALERTS)], ["check", "config", "--syntax-only", str(OBS / "prometheus.yml")],
                 ["test", "rules", str(OBS / "alerts_test.yml")]):  # fmt: skip
        done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=OBS)
        assert done.returncode == 0, done.stdout + done.stderr


async def test_rules_and_dashboard_name_only_what_the_services_expose(shared_settings: dict[str, Any]) -> None:
    async with platform(shared_settings) as p:
        scrapes = [await scrape(client) for client in p.clients().values()]
    exposed = set().union(*(exposed_names(s) for s in scrapes))
    consumers = {ls["consumer"] for s in scrapes for _, ls, _ in s.samples if "consumer" in ls}
    for where, exprs in (("alerts.yml", [r["expr"] for r in rules()]), ("dashboard", dashboard_exprs())):
        used = {n for e in exprs for n in NAME.findall(e)}
        assert used, where
        assert not used - exposed, f"{where} names metrics no service exposes: {sorted(used - exposed)}"
        assert {c for e in exprs for c in CONSUMER.findall(e)} <= consumers, where
    # And every family a service exposes is on the dashboard (an operator sees all of it).
    shown = {n for e in dashboard_exprs() for n in NAME.findall(e)}
    families = {n for s in scrapes for n in s.families}
    missing = {f for f in families if not any(name.startswith(f) for name in shown)} - {"ictg_scrape_errors"}
    missing -= {"ictg_reconcile_last_run_timestamp_seconds"}
    assert not missing, sorted(missing)
