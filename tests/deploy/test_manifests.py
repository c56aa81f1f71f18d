"""The deployment tells the truth: every container gets its own service's settings, every service
(the token service, identity, included) is deployed, served, probed and scraped alike, every service
trusts the token service, and the image holds only what the services run.

Every YAML document of deploy/k8s and deploy/compose.yaml is parsed; each container's `ICTG_*`
environment is checked against the settings class of the service it runs (a name that is not a
field of that class is a mistake nobody would notice: pydantic-settings ignores it), and the
settings are built from it, so a production manifest missing a required secret fails here (a value
from a Kubernetes Secret is read as an example value of its key).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ictg_cases.settings import CasesSettings
from ictg_common.settings import ServiceSettings
from ictg_identity.settings import IdentitySettings
from ictg_intake.settings import IntakeSettings
from ictg_metrics.settings import MetricsSettings
from ictg_webhooks.settings import WebhooksSettings

from stack import NATS_USERS
from stack import SERVICES as STACK


class MigrateSettings(BaseSettings):
    """What deploy/migrate.py reads: the database's address, and nothing else."""

    model_config = SettingsConfigDict(extra="ignore")
    database_url: str = Field(validation_alias="ICTG_DATABASE_URL")


ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES: dict[str, type[BaseSettings]] = {
    "ictg_intake": IntakeSettings, "ictg_cases": CasesSettings, "ictg_metrics": MetricsSettings,
    "ictg_webhooks": WebhooksSettings, "ictg_identity": IdentitySettings, "deploy/migrate.py": MigrateSettings,
}  # fmt: skip
RUNNING = [cls for cls in SERVICES.values() if cls is not MigrateSettings]  # the services proper
PREFIXES = ("ICTG_INTAKE_", "ICTG_CASES_", "ICTG_METRICS_", "ICTG_WEBHOOKS_", "ICTG_IDENTITY_")
# An example value of each Secret key whose value must parse (the others read "from-a-secret").
ISSUER = "https://identity.ictg.example"
SECRET_EXAMPLES = {
    "auth-issuers": json.dumps([{"issuer": ISSUER}]),
    "auth-token-url": f"{ISSUER}/oauth2/token",
    "identity-issuer": ISSUER,
}
DEV_TOOLS = {"mypy", "ruff", "schemathesis", "pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "pip-tools"}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """Every variable `settings` reads: shared fields by their ICTG_ alias, the others with the prefix."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def _service(command: list[str]) -> type[BaseSettings]:
    found = [cls for marker, cls in SERVICES.items() if any(marker in str(part) for part in command)]
    assert len(found) == 1, f"which service does {command} run?"
    return found[0]


def _from_secret(entry: dict[str, Any]) -> str:
    key = entry["valueFrom"]["secretKeyRef"]["key"]
    return SECRET_EXAMPLES.get(key, "from-a-secret")


def k8s_docs() -> list[dict[str, Any]]:
    return [
        doc for path in sorted((DEPLOY / "k8s").glob("*.y*ml")) for doc in yaml.safe_load_all(path.read_text()) if doc
    ]


def compose_file() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def containers() -> list[tuple[str, type[BaseSettings], dict[str, str]]]:
    """(where, settings class, env) of every container that runs the ICTG image."""
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet"):
                continue
            spec = doc["spec"]
            pod = (spec["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else spec)["template"]["spec"]
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                if not str(c.get("image", "")).startswith("ictg:"):  # NATS: not ours
                    continue
                env = {e["name"]: e["value"] if "value" in e else _from_secret(e) for e in c.get("env", [])}
                where = f"{path.name}: {doc['metadata']['name']}/{c['name']}"
                out.append((where, _service([*c.get("command", []), *c.get("args", [])]), env))
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name, svc in compose["services"].items():
        if "build" not in svc:  # postgres, nats: not ours
            continue
        environment: Any = svc.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        env = {k: re.sub(r"\$\{[^}]*\}", "x", str(v)) for k, v in environment.items()}
        out.append((f"compose.yaml: {name}", _service([*svc.get("entrypoint", []), *svc.get("command", [])]), env))
    return out


CONTAINERS = containers()


def test_every_service_is_deployed_in_both() -> None:
    # The services deploy/stack.py runs (`make run`) are those the tests know, identity included.
    assert {factory.split(".")[0] for factory, _, _ in STACK.values()} == set(SERVICES) - {"deploy/migrate.py"}
    for where in ("ictg.yaml", "compose.yaml"):
        deployed = {cls for w, cls, _ in CONTAINERS if w.startswith(where)}
        assert deployed == set(SERVICES.values()), where


@pytest.mark.parametrize(("where", "settings", "env"), CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_each_container_gets_only_its_own_services_settings(
    where: str, settings: type[BaseSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    known = env_names(settings)
    unknown = sorted(n for n in env if n.startswith("ICTG_") and n not in known)
    assert not unknown, f"{where}: not settings of {settings.__name__}: {unknown}"
    own = str(settings.model_config.get("env_prefix", ""))
    assert not [n for n in env if n.startswith(PREFIXES) and not n.startswith(own)], where
    # And they make a valid configuration (e.g. with JWKS, the service tokens are given).
    for name in [n for n in os.environ if n.startswith("ICTG_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings()


def test_each_service_is_told_where_its_peers_are() -> None:
    needs = {CasesSettings: "ICTG_CASES_INTAKE_URL", MetricsSettings: "ICTG_METRICS_CASES_URL"}
    for where, settings, env in CONTAINERS:
        if settings in needs:
            assert needs[settings] in env, where
        if where.startswith("ictg.yaml") and settings in needs:
            # Production: its own client at the token service, no fixed token that never expires.
            prefix = str(settings.model_config.get("env_prefix"))
            assert {f"{prefix}CLIENT_ID", f"{prefix}CLIENT_SECRET", "ICTG_AUTH_TOKEN_URL"} <= set(env), where
            assert needs[settings].replace("_URL", "_TOKEN") not in env, where


def test_each_service_connects_to_nats_as_its_own_user() -> None:
    """NATS refuses a service anything but its own subjects only if it connects as itself."""
    users = {IntakeSettings: "intake", CasesSettings: "cases", MetricsSettings: "metrics", WebhooksSettings: "webhooks"}
    assert sorted(users.values()) == sorted(NATS_USERS.values())
    for where, settings, env in CONTAINERS:
        prefix = str(settings.model_config.get("env_prefix"))
        if settings not in users:  # the migrations and the token service: not on NATS
            assert not {f"{prefix}NATS_USER", f"{prefix}NATS_PASSWORD"} & set(env), where
            if where.startswith("ictg.yaml"):
                assert "ICTG_NATS_URL" not in env, where
            continue
        assert env.get(f"{prefix}NATS_USER") == users[settings] and f"{prefix}NATS_PASSWORD" in env, where


def test_no_deployment_file_names_the_removed_jwks_setting() -> None:
    """ICTG_AUTH_JWKS_URL is gone (ICTG_AUTH_ISSUERS names each issuer, its keys at its JWKS)."""
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        assert "AUTH_JWKS_URL" not in path.read_text(errors="replace"), path.relative_to(ROOT)
    for where, _, env in CONTAINERS:
        assert "ICTG_AUTH_JWKS_URL" not in env, where


def test_every_service_trusts_the_token_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for where, settings, env in CONTAINERS:
        if settings is MigrateSettings:
            continue
        assert "ICTG_AUTH_ISSUERS" in env, where
        if where.startswith("ictg.yaml"):  # production: an issuer's tokens only, never the shared secret
            assert env.get("ICTG_AUTH_DEVELOPMENT", "false") == "false", where
            assert "ICTG_AUTH_SECRET" not in env, where
            for name in [n for n in os.environ if n.startswith("ICTG_")]:
                monkeypatch.delenv(name)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            built = settings()
            assert isinstance(built, ServiceSettings) and built.auth_issuers and not built.auth_development, where
    # Every Deployment reads the same issuers (one Secret key), and the token service its own address.
    keys = {
        (e["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for doc in k8s_docs()
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e["name"] in ("ICTG_AUTH_ISSUERS", "ICTG_AUTH_TOKEN_URL", "ICTG_IDENTITY_ISSUER")
    }
    assert keys == {("ICTG_AUTH_ISSUERS", "auth-issuers"), ("ICTG_AUTH_TOKEN_URL", "auth-token-url"),
                    ("ICTG_IDENTITY_ISSUER", "identity-issuer")}  # fmt: skip


def test_compose_is_a_development_stack_that_trusts_its_identity_container() -> None:
    """Compose says it is a development stack (HS256 tokens, minted peer tokens), and every service
    there trusts the identity container's own address: the `iss` of its tokens."""
    compose = compose_file()["services"]
    [(identity_name, identity)] = [(n, s) for n, s in compose.items() if "ictg_identity" in str(s.get("command"))]
    issuer = identity["environment"]["ICTG_IDENTITY_ISSUER"]
    assert issuer == f"http://{identity_name}:8000"  # the container's own port, between containers
    for where, settings, env in CONTAINERS:
        if not where.startswith("compose.yaml") or settings is MigrateSettings:
            continue
        assert env.get("ICTG_AUTH_DEVELOPMENT") == "true", where  # explicit: production's checks are off
        assert [i["issuer"] for i in json.loads(env["ICTG_AUTH_ISSUERS"])] == [issuer], where
        assert env.get("ICTG_AUTH_TOKEN_URL") == f"{issuer}/oauth2/token", where
    # Authlib refuses a plain-http token endpoint off loopback unless told: the identity container only.
    insecure = {n for n, s in compose.items() if "AUTHLIB_INSECURE_TRANSPORT" in (s.get("environment") or {})}
    assert insecure == {identity_name}
    assert identity["environment"]["AUTHLIB_INSECURE_TRANSPORT"] == "1"
    for doc in k8s_docs():
        assert "AUTHLIB_INSECURE_TRANSPORT" not in json.dumps(doc), doc["metadata"]["name"]  # behind TLS


def test_compose_runs_each_service_on_its_make_run_port() -> None:
    compose = compose_file()["services"]
    for factory, _, port in STACK.values():
        [svc] = [s for s in compose.values() if s.get("command") == [factory]]
        assert svc["ports"] == [f"{port}:8000"], factory
        assert svc["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, factory


def test_every_kubernetes_service_is_deployed_served_and_probed_alike() -> None:
    """identity, like the others: a Deployment with probes and resources and a Service (test_cluster: the
    PodDisruptionBudget and NetworkPolicies every service has alike)."""
    docs = k8s_docs()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    factories = {
        name: [*c.get("command", []), *c.get("args", [])]
        for name, d in deployments.items()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert sorted(f for fs in factories.values() for f in fs) == sorted(f for f, _, _ in STACK.values())
    apps = set()
    for name, d in deployments.items():
        app = d["spec"]["template"]["metadata"]["labels"]["app"]
        assert d["spec"]["selector"] == {"matchLabels": {"app": app}} and app == name, name
        assert d["spec"]["replicas"] >= 2, name
        apps.add(app)
        [c] = d["spec"]["template"]["spec"]["containers"]
        assert c["ports"] == [{"containerPort": 8000}], name
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000}, name
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}, name
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], name
    services = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Service"}
    for app in apps:
        assert services[app] == {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8000}]}, app


def test_prometheus_scrapes_every_service() -> None:
    obs = DEPLOY / "observability"
    [job] = yaml.safe_load((obs / "prometheus.yml").read_text())["scrape_configs"]
    targets = {t["labels"]["service"]: t["targets"] for t in job["static_configs"]}
    compose = {n for n, s in compose_file()["services"].items() if "build" in s and "command" in s}
    assert targets == {n: [f"{n}:8000"] for n in compose}
    [k8s_job] = yaml.safe_load((obs / "prometheus-kubernetes.yml").read_text())["scrape_configs"]
    [keep] = [r for r in k8s_job["relabel_configs"] if r["source_labels"] == ["__meta_kubernetes_pod_label_app"]
              and r.get("action") == "keep"]  # fmt: skip
    for doc in k8s_docs():
        if doc["kind"] == "Deployment":
            assert re.fullmatch(keep["regex"], doc["metadata"]["name"]), doc["metadata"]["name"]


def test_production_webhooks_refuse_plain_http_and_private_targets() -> None:
    for where, settings, env in CONTAINERS:
        if where.startswith("ictg.yaml") and settings is WebhooksSettings:
            assert env.get("ICTG_WEBHOOKS_HTTPS_ONLY") == "true", where
            assert env.get("ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "false") == "false", where


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert "==" in line and not line.startswith("-") and "://" not in line, f"{path.name}: {line}"
        name, version = line.split("==")
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_image_installs_the_runtime_lock_only() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*-r\s+(\S+)", dockerfile)
    assert installs == ["requirements-runtime.lock"]
    runtime, full = _pins(ROOT / "requirements-runtime.lock"), _pins(ROOT / "requirements.lock")
    assert not DEV_TOOLS & set(runtime), "no test or lint tools in the image"
    assert {n: full.get(n) for n in runtime} == runtime, "the runtime pins are those of requirements.lock"
    declared = set()
    for pyproject in [ROOT / "libs/common/pyproject.toml", *sorted(ROOT.glob("services/*/pyproject.toml"))]:
        deps = re.search(r"^dependencies = \[(.*?)\]", pyproject.read_text(), re.S | re.M)
        assert deps is not None, pyproject
        for dep in re.findall(r'"([^"]+)"', deps.group(1)):
            declared.add(re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", dep)[0]).lower())
    missing = declared - {"ictg-common"} - set(runtime)
    assert not missing, f"declared by the services but not in requirements-runtime.lock: {missing}"
