"""The deployment tells the truth: every container gets its own service's settings, and the image
holds only what the services run.

Every YAML document of deploy/k8s and deploy/compose.yaml is parsed; each container's `ICTG_*`
environment is checked against the settings class of the service it runs (a name that is not a
field of that class is a mistake nobody would notice: pydantic-settings ignores it), and the
settings are built from it, so a production manifest missing a required token fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from ictg_cases.settings import CasesSettings
from ictg_common.settings import ServiceSettings
from ictg_intake.settings import IntakeSettings
from ictg_metrics.settings import MetricsSettings
from ictg_webhooks.settings import WebhooksSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES: dict[str, type[BaseSettings]] = {
    "ictg_intake": IntakeSettings, "ictg_cases": CasesSettings, "ictg_metrics": MetricsSettings,
    "ictg_webhooks": WebhooksSettings, "deploy/migrate.py": ServiceSettings,
}  # fmt: skip
PREFIXES = ("ICTG_INTAKE_", "ICTG_CASES_", "ICTG_METRICS_", "ICTG_WEBHOOKS_")
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
                env = {e["name"]: e.get("value", "from-a-secret") for e in c.get("env", [])}
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
        if where.startswith("ictg.yaml") and settings in needs:  # production keys: the tokens too
            assert needs[settings].replace("_URL", "_TOKEN") in env, where


def test_each_service_connects_to_nats_as_its_own_user() -> None:
    """NATS refuses a service anything but its own subjects only if it connects as itself."""
    users = {IntakeSettings: "intake", CasesSettings: "cases", MetricsSettings: "metrics", WebhooksSettings: "webhooks"}
    for where, settings, env in CONTAINERS:
        if settings not in users:  # the migrations: no NATS
            continue
        prefix = str(settings.model_config.get("env_prefix"))
        assert env.get(f"{prefix}NATS_USER") == users[settings] and f"{prefix}NATS_PASSWORD" in env, where


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
