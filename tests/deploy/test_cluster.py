"""The deployment files are checked, and the cluster they describe is the architecture's.

- `make lint`'s schema check (deploy/schemacheck.py) passes for the shipped files, and a broken
  manifest or compose file, as a person would break one, fails it, naming the object and the field.
- Every service is probed at the health endpoints its app really serves, has a PodDisruptionBudget
  that a drain can satisfy, and requests and limits resources.
- NATS is a 3-server JetStream cluster with a volume each, routed through a headless Service, on a
  configuration on which three real nats-servers form one cluster.
- The NetworkPolicies deny by default and allow exactly the architecture's paths: each service its HTTP
  port in; the token service, the HTTP peers its settings name, NATS (the four services on the bus)
  and the database out; only webhooks reaches the internet, on 443.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
import yaml
from nats.js.api import StreamConfig

from ictg_common.devinfra import EmbeddedNats, free_port
from ictg_common.natsauth import GRANTS, NatsCredentials
from tests.support.manifests import ROOT, internet_egress, of_kind, pods, reaches, rules, selector_of, selects

import schemacheck
from stack import NATS_USERS
from stack import SERVICES as STACK

K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
SERVICE_APPS = {f"ictg-{name}" for name in ("intake", "cases", "metrics", "webhooks", "identity")}
ON_THE_BUS = {"ictg-intake", "ictg-cases", "ictg-metrics", "ictg-webhooks"}
assert len(ON_THE_BUS) == len(NATS_USERS)


def _labels(app: str) -> dict[str, str]:
    [labels] = [labels for labels in pods().values() if labels.get("app") == app]
    return labels


# --- the schema check ---------------------------------------------------------------------------


def test_the_shipped_files_pass_the_schema_check() -> None:
    paths = schemacheck.default_paths()
    assert {p.name for p in paths} >= {"ictg.yaml", "nats.yaml", "network-policies.yaml", "compose.yaml"}
    assert schemacheck.errors(paths) == []


def test_make_lint_runs_the_schema_check() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*?\n((?:\t.*\n)+)", makefile, re.M)
    assert lint is not None and "$(PY) deploy/schemacheck.py" in lint.group(1)


# (file, text the mistake replaces, the mistake, what the error names)
BROKEN = {
    "a misspelt container field": (
        "ictg.yaml", "readinessProbe: {httpGet:", "readinessProbe: {httpGett:", "Deployment ictg-intake: "
        "spec.template.spec.containers.0.readinessProbe: Additional properties are not allowed ('httpGett'",
    ),
    "a container without an image": (
        "ictg.yaml", '          image: ictg:latest\n          args: ["ictg_cases', '          args: ["ictg_cases',
        "Deployment ictg-cases: spec.template.spec.containers.0: no image",
    ),
    "a selector that misses its pods": (
        "ictg.yaml", "selector: {matchLabels: {app: ictg-metrics}}", "selector: {matchLabels: {app: ictg-metric}}",
        "Deployment ictg-metrics: spec.selector: {'app': 'ictg-metric'} does not select",
    ),
    "a NetworkPolicy with a wrong field": (
        "network-policies.yaml", "  policyTypes: [Egress]\n  egress:", "  policyTypes: [Egress]\n  egres:",
        "NetworkPolicy ictg-dns: spec: Additional properties are not allowed ('egres'",
    ),
    "a misspelt kind": (
        "nats.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBuget",
        "PodDisruptionBuget ictg-nats: Kubernetes 1.33.0 has no kind PodDisruptionBuget in policy/v1",
    ),
    "a count that is not a number": (
        "nats.yaml", "replicas: 3", "replicas: three", "StatefulSet ictg-nats: spec.replicas: 'three' is not",
    ),
    "a misspelt compose key": (
        "compose.yaml", 'command: ["ictg_intake.app:create_app"]', 'comand: ["ictg_intake.app:create_app"]',
        "compose.yaml: services.intake: Unevaluated properties are not allowed ('comand'",
    ),
    "an unknown depends_on condition": (
        "compose.yaml", "postgres: {condition: service_healthy}", "postgres: {condition: healthy}",
        "compose.yaml: services.migrate.depends_on",
    ),
}  # fmt: skip


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_a_broken_file_fails_the_check_naming_the_mistake(mistake: str, tmp_path: Path) -> None:
    name, text, broken, message = BROKEN[mistake]
    original = (COMPOSE if name == "compose.yaml" else K8S / name).read_text()
    assert original.count(text) >= 1, f"{mistake}: the text to break is gone from {name}"
    path = tmp_path / name
    path.write_text(original.replace(text, broken, 1))
    found = schemacheck.errors([path])
    assert any(message in line for line in found), found


def test_the_command_exits_1_and_prints_the_errors(tmp_path: Path) -> None:
    """As `make lint` runs it: the real files pass, a broken one stops it."""
    script = ROOT / "deploy" / "schemacheck.py"
    ok = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "ictg.yaml"
    broken.write_text((K8S / "ictg.yaml").read_text().replace("  replicas: 2\n", "  replicas: 2\n  replica: 2\n", 1))
    done = subprocess.run([sys.executable, str(script), str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "ictg.yaml: Deployment ictg-intake: spec: Additional properties are not allowed ('replica'" in done.stderr


# --- the services' pods -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_paths() -> dict[str, set[str]]:
    """Each service factory -> the GET paths its app serves."""
    saved = dict(os.environ)
    os.environ["ICTG_AUTH_DEVELOPMENT"] = "true"  # build the apps without production's secrets
    try:
        out = {}
        for factory, _, _ in STACK.values():
            module, function = factory.split(":")
            app = getattr(importlib.import_module(module), function)()
            out[factory] = {path for path, ops in app.openapi()["paths"].items() if "get" in ops}
        return out
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_every_service_is_probed_at_an_endpoint_its_app_serves(served_paths: dict[str, set[str]]) -> None:
    deployments = of_kind("Deployment")
    assert {d["spec"]["template"]["metadata"]["labels"]["app"] for d in deployments.values()} == SERVICE_APPS
    for name, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        [factory] = container["args"]
        ports = {p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] in served_paths[factory] and get["port"] in ports, f"{name} {probe}: {get}"
        # Ready means its dependencies answer; alive must not (a database outage restarts nothing).
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name


def test_every_pod_requests_and_limits_resources() -> None:
    for workload in [*of_kind("Deployment").values(), *of_kind("StatefulSet").values(), *of_kind("Job").values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            resources = container.get("resources") or {}
            where = f"{workload['kind']} {workload['metadata']['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests") or {}), where
            assert "memory" in (resources.get("limits") or {}), where


def test_every_service_and_nats_has_a_disruption_budget_a_drain_can_meet() -> None:
    budgets = of_kind("PodDisruptionBudget")
    workloads = {**of_kind("Deployment"), **of_kind("StatefulSet")}
    for name, workload in workloads.items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        [budget] = [b for b in budgets.values() if selects(b["spec"]["selector"], labels)]
        replicas = workload["spec"]["replicas"]
        spec = budget["spec"]
        allowed = spec["maxUnavailable"] if "maxUnavailable" in spec else replicas - spec["minAvailable"]
        assert allowed == 1 and replicas >= 2, f"{name}: one pod at a time, the others serving"
    assert all(any(selects(b["spec"]["selector"], labels) for labels in pods().values()) for b in budgets.values())


# --- NATS ---------------------------------------------------------------------------------------


def _nats_conf() -> str:
    return str(of_kind("ConfigMap")["ictg-nats"]["data"]["nats.conf"])


def test_nats_is_a_three_server_jetstream_cluster_with_a_volume_each() -> None:
    nats = of_kind("StatefulSet")["ictg-nats"]
    spec = nats["spec"]
    assert spec["replicas"] == 3
    [claim] = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    [container] = spec["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    conf = _nats_conf()
    store = re.search(r"jetstream \{[^}]*store_dir: (\S+)", conf)
    assert store is not None and mounts[claim["metadata"]["name"]] == store.group(1), "JetStream stores on the volume"
    # Routes: every server by its stable name through the headless Service.
    headless = of_kind("Service")[spec["serviceName"]]["spec"]
    assert headless["clusterIP"] == "None" and headless["selector"] == spec["selector"]["matchLabels"]
    routes = re.findall(r"nats://(\S+):6222", conf)
    assert routes == [f"{nats['metadata']['name']}-{i}.{spec['serviceName']}" for i in range(3)]
    assert "server_name: $POD_NAME" in conf
    # Probes at the monitoring port's /healthz; no two servers on one node.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"].startswith("/healthz"), probe
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    # The services' address (ictg-secrets' nats-url, nats://ictg-nats:4222) is a Service of these pods.
    client = of_kind("Service")["ictg-nats"]["spec"]
    assert client["selector"] == spec["selector"]["matchLabels"] and client["ports"][0]["port"] == 4222
    # Every password the auth config reads comes from ictg-secrets.
    env = {e["name"] for e in container["env"]}
    assert {f"{g.env_prefix}NATS_PASSWORD" for g in GRANTS.values()} <= env


def test_a_real_nats_server_accepts_the_cluster_config(tmp_path: Path) -> None:
    """nats-server -t on the StatefulSet's config, the auth ConfigMap mounted beside it as in the pod."""
    (tmp_path / "ictg").mkdir()
    conf = _nats_conf().replace("store_dir: /data", f"store_dir: {tmp_path / 'data'}")
    (tmp_path / "nats.conf").write_text(conf.replace("/var/run/nats/", f"{tmp_path}/"))
    (tmp_path / "ictg" / "ictg.conf").write_text(of_kind("ConfigMap")["ictg-nats-auth"]["data"]["ictg.conf"])
    passwords = {f"{g.env_prefix}NATS_PASSWORD": "pw" for g in GRANTS.values()}
    done = subprocess.run(
        [EmbeddedNats.binary(), "-t", "-c", str(tmp_path / "nats.conf")],
        env={**os.environ, **passwords, "POD_NAME": "ictg-nats-0"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def test_three_servers_on_the_cluster_config_form_one_jetstream_cluster(tmp_path: Path) -> None:
    """The StatefulSet's config, run as three real servers on loopback (each route pointed at a
    server's port instead of its pod's name): they form one cluster, and a stream on all three (what
    the platform's stream is meant to be) takes intake's events."""
    conf = _nats_conf()
    ports = [{"client": free_port(), "http": free_port(), "cluster": free_port()} for _ in range(3)]
    (tmp_path / "ictg").mkdir()
    (tmp_path / "ictg" / "ictg.conf").write_text(of_kind("ConfigMap")["ictg-nats-auth"]["data"]["ictg.conf"])
    passwords = {f"{g.env_prefix}NATS_PASSWORD": f"pw-{user}" for user, g in GRANTS.items()}
    procs = []
    try:
        for i, mine in enumerate(ports):
            text = conf
            for old, new in [
                ("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{mine['client']}"),
                ("http: 0.0.0.0:8222", f"http: 127.0.0.1:{mine['http']}"),
                ("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{mine['cluster']}"),
                ("store_dir: /data", f"store_dir: {tmp_path / f'data-{i}'}"),
                ("/var/run/nats/nats.pid", str(tmp_path / f"nats-{i}.pid")),
                *[(f"nats://ictg-nats-{j}.ictg-nats-headless:6222", f"nats://127.0.0.1:{p['cluster']}")
                  for j, p in enumerate(ports)],
            ]:  # fmt: skip
                assert old in text, f"the cluster config no longer has {old!r}"
                text = text.replace(old, new)
            (tmp_path / f"nats-{i}.conf").write_text(text)
            server = subprocess.Popen(
                [EmbeddedNats.binary(), "-c", str(tmp_path / f"nats-{i}.conf")],
                env={**os.environ, **passwords, "POD_NAME": f"ictg-nats-{i}"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(server)
        intake = NatsCredentials("intake", "pw-intake")
        nc = await nats.connect(
            f"nats://127.0.0.1:{ports[0]['client']}", **intake.connect_options(), max_reconnect_attempts=60
        )
        try:
            js = nc.jetstream(timeout=5)
            deadline = time.monotonic() + 60
            while True:  # until the three have elected a JetStream leader
                try:
                    info = await js.add_stream(StreamConfig(name="ICTG", subjects=["ictg.>"], num_replicas=3))
                    break
                except nats.errors.Error:
                    assert time.monotonic() < deadline, "the three servers formed no JetStream cluster"
                    await asyncio.sleep(0.5)
            while info.cluster is None or info.cluster.leader is None or len(info.cluster.replicas or []) < 2:
                assert time.monotonic() < deadline, f"the stream was not placed on three servers: {info.cluster}"
                await asyncio.sleep(0.5)  # its leader and replicas are reported once elected
                with contextlib.suppress(nats.errors.Error):
                    info = await js.stream_info("ICTG")
            assert info.cluster.name == "ictg"
            assert len(info.cluster.replicas or []) == 2  # the leader and two replicas: three servers
            assert (await js.publish("ictg.intake.referral.received", b"{}")).seq == 1
        finally:
            await nc.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


# --- the network --------------------------------------------------------------------------------


def test_everything_is_denied_unless_allowed() -> None:
    policies = of_kind("NetworkPolicy")
    assert any(
        p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
        for p in policies.values()
    )  # fmt: skip
    for name, policy in policies.items():
        assert any(selects(policy["spec"]["podSelector"], labels) for labels in pods().values()), name


def test_each_service_takes_connections_on_its_http_port_only() -> None:
    for app in SERVICE_APPS:
        allowed = rules(_labels(app), "ingress")
        assert allowed and all(ports == {8000} for _, ports in allowed), (app, allowed)


def _http_peers() -> set[tuple[str, str]]:
    """(caller, callee) of every peer URL the Deployments' settings name (http://<Service>)."""
    services = of_kind("Service")
    found = set()
    for deployment in of_kind("Deployment").values():
        app = deployment["spec"]["template"]["metadata"]["labels"]["app"]
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                match = re.fullmatch(r"https?://([a-z0-9-]+)(:\d+)?/?", str(env.get("value", "")))
                if env["name"].endswith("_URL") and match:
                    found.add((app, services[match.group(1)]["spec"]["selector"]["app"]))
    return found


def test_pods_reach_each_other_exactly_as_the_architecture_says() -> None:
    """Services talk over NATS, and over HTTP only to the token service and the peers their settings
    name; the NATS servers route to each other. Nothing else, on any port, between the platform's pods."""
    assert _http_peers() == {("ictg-cases", "ictg-intake"), ("ictg-metrics", "ictg-cases")}
    expected = (
        {(app, "ictg-identity", 8000) for app in SERVICE_APPS}
        | {(caller, callee, 8000) for caller, callee in _http_peers()}
        | {(app, "ictg-nats", 4222) for app in ON_THE_BUS}
        | {("ictg-nats", "ictg-nats", 6222)}
    )
    apps = {labels["app"] for labels in pods().values()}
    ports = {4222, 5432, 6222, 8000, 8222}
    actual = {
        (source, target, port)
        for source in apps
        for target in apps
        for port in ports
        if reaches(_labels(source), _labels(target), port)
    }
    assert actual == expected


def test_only_webhooks_reaches_the_internet_and_only_on_443() -> None:
    for labels in pods().values():
        found = internet_egress(labels)
        if labels["app"] == "ictg-webhooks":
            assert found and all(ports == {443} for _, ports in found), found
            for peer, _ in found:  # never a private, link-local or loopback address
                assert peer is not None and peer.cidr in ("0.0.0.0/0", "::/0")
                assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"} <= set(
                    peer.excepted
                ) or {"fc00::/7", "fe80::/10", "::1/128"} <= set(peer.excepted), peer
        else:
            assert not found, (labels["app"], found)


def test_the_database_is_reached_by_the_services_and_the_migration_only() -> None:
    """Postgres (outside the cluster) on 5432: from the five services and the migration Job, never from
    NATS, and no pod of the cluster is reachable on 5432 (a database is never another service's pod)."""
    database: dict[str, list[Any]] = {}
    for labels in pods().values():
        database[labels["app"]] = [
            peer for peer, ports in rules(labels, "egress") if ports is not None and 5432 in ports
        ]
    assert {app for app, peers in database.items() if peers} == SERVICE_APPS | {"ictg-migrate"}
    for app, peers in database.items():
        assert all(peer is not None and peer.cidr and not peer.pods for peer in peers), (app, peers)


def test_every_service_has_the_same_kinds_of_object() -> None:
    """Each service: a Service, a PodDisruptionBudget, NetworkPolicies, and no kind another lacks."""
    kinds: dict[str, set[str]] = {app: set() for app in SERVICE_APPS}
    for group in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        for doc in of_kind(group).values():
            for app in SERVICE_APPS:
                if selector_of(doc) is not None and selects(selector_of(doc), _labels(app)):
                    kinds[app].add(group)
    assert all(k == {"Service", "PodDisruptionBudget", "NetworkPolicy"} for k in kinds.values()), kinds


def test_the_yaml_of_every_file_is_one_kubernetes_object_per_document() -> None:
    for path in sorted(K8S.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc and {"apiVersion", "kind", "metadata"} <= set(doc), path.name
