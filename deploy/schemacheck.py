"""Check the deployment files against their schemas, offline (`make lint` runs it).

- Every Kubernetes manifest of deploy/k8s, document by document, against the Kubernetes API's own
  schemas for KUBERNETES_VERSION (kubernetes-validate, which bundles them), strictly: a field the API
  does not know (a misspelt `imagePullPolicy`, `egres` in a NetworkPolicy) is an error, not something
  the API server would silently drop. A kind the schemas do not have (a misspelt kind or apiVersion)
  is an error too. So are two things the API server refuses that the schemas leave out: a container
  without an image, and a workload whose selector does not select its own pod template.
- deploy/compose.yaml against the Compose Specification's JSON schema (the copy check-jsonschema
  bundles and keeps up to date).

    python deploy/schemacheck.py [FILE ...]   # default: every file of deploy/k8s and deploy/compose.yaml

Prints each error as `file: where: what` and exits 1 if there was any.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

# The Kubernetes version whose schemas the manifests must satisfy: the oldest minor release the
# manifests support (a field added later would fail here).
KUBERNETES_VERSION = "1.33.0"
DEPLOY = Path(__file__).resolve().parent
KUBERNETES_DIR = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
SELECTING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")  # workloads with a selector


def _documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _at(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _pod_spec(doc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(where, pod spec) of an object that runs pods."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "Pod":
        return "spec", spec
    if doc["kind"] == "CronJob":
        return "spec.jobTemplate.spec.template.spec", spec["jobTemplate"]["spec"]["template"].get("spec") or {}
    if doc["kind"] in (*SELECTING, "Job"):
        return "spec.template.spec", spec["template"].get("spec") or {}
    return None


def _refused_by_the_api_server(doc: dict[str, Any]) -> list[str]:
    """What the API server refuses in an object that its schema accepts (checked once that passed)."""
    found = []
    pod = _pod_spec(doc)
    if pod is not None:
        where, spec = pod
        for key in ("initContainers", "containers"):
            for number, container in enumerate(spec.get(key) or []):
                if not container.get("image"):
                    found.append(f"{where}.{key}.{number}: no image (the API server requires one)")
    if doc["kind"] in SELECTING:
        wanted = (doc["spec"].get("selector") or {}).get("matchLabels") or {}
        labels = (doc["spec"]["template"].get("metadata") or {}).get("labels") or {}
        if any(labels.get(key) != value for key, value in wanted.items()):
            found.append(f"spec.selector: {wanted} does not select the pod template's labels {labels}")
    return found


def kubernetes_errors(path: Path, version: str = KUBERNETES_VERSION) -> list[str]:
    """Every document of `path` that is not a valid Kubernetes object of `version`, one line each."""
    try:
        docs = _documents(path)
    except yaml.YAMLError as exc:
        return [f"{path.name}: not YAML: {exc}"]
    found: list[str] = []
    for number, doc in enumerate(docs, 1):
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or "apiVersion" not in doc:
            found.append(f"{path.name}: document {number}: not a Kubernetes object (no kind and apiVersion)")
            continue
        name = f"{doc['kind']} {(doc.get('metadata') or {}).get('name', f'(document {number})')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"{path.name}: {name}: {_at(exc.path)}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{path.name}: {name}: Kubernetes {version} has no kind {doc['kind']} in {doc['apiVersion']}")
        else:
            found += [f"{path.name}: {name}: {error}" for error in _refused_by_the_api_server(doc)]
    return found


def compose_errors(path: Path) -> list[str]:
    """Every place where `path` breaks the Compose Specification's schema, one line each."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return [f"{path.name}: not YAML: {exc}"]
    schema = get_builtin_schema("vendor.compose-spec")
    cls = jsonschema.validators.validator_for(schema)  # the draft the schema names
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    found = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{path.name}: {_at(e.absolute_path)}: {e.message}" for e in found]


def errors(paths: Iterable[Path]) -> list[str]:
    out: list[str] = []
    for path in paths:
        out += compose_errors(path) if path.name.startswith(("compose", "docker-compose")) else kubernetes_errors(path)
    return out


def default_paths() -> list[Path]:
    return [*sorted(KUBERNETES_DIR.glob("*.y*ml")), COMPOSE_FILE]


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv] or default_paths()
    found = errors(paths)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"{len(paths)} deployment files valid (Kubernetes {KUBERNETES_VERSION} schemas, Compose Specification)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
