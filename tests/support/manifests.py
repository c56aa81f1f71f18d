"""Reading deploy/k8s as the cluster would: its objects, the pods its workloads run (by their labels),
which pods a label selector picks, and what the NetworkPolicies let one pod reach."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
WORKLOADS = ("Deployment", "StatefulSet", "Job", "DaemonSet")


@functools.cache
def k8s_objects() -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) of every document of deploy/k8s (read once: do not change them)."""
    return [
        (path.name, doc) for path in sorted(K8S.glob("*.y*ml")) for doc in yaml.safe_load_all(path.read_text()) if doc
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_objects() if doc["kind"] == kind}


def pods() -> dict[str, dict[str, str]]:
    """Each workload's name -> the labels of the pods it runs."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
        for _, doc in k8s_objects()
        if doc["kind"] in WORKLOADS
    }


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions; {} picks every pod) picks `labels`."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def selector_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod selector of a Service, PodDisruptionBudget, NetworkPolicy or workload (None: none)."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "Service":  # a plain map of labels
        return {"matchLabels": spec["selector"]} if spec.get("selector") else None
    if doc["kind"] == "NetworkPolicy":
        return spec["podSelector"]
    return spec.get("selector")


@dataclass(frozen=True)
class Peer:
    """One `to`/`from` entry of a rule, or None for 'anywhere' (a rule without one)."""

    pods: dict[str, Any] | None  # podSelector
    namespaces: dict[str, Any] | None  # namespaceSelector
    cidr: str | None
    excepted: tuple[str, ...]


def _peers(entries: list[dict[str, Any]] | None) -> list[Peer | None]:
    if not entries:
        return [None]  # no `to`/`from`: every address
    return [
        Peer(e.get("podSelector"), e.get("namespaceSelector"), (e.get("ipBlock") or {}).get("cidr"),
             tuple((e.get("ipBlock") or {}).get("except") or ()))
        for e in entries
    ]  # fmt: skip


def _ports(rule: dict[str, Any]) -> set[int] | None:
    """The rule's TCP ports (None: every port)."""
    if not rule.get("ports"):
        return None
    return {p["port"] for p in rule["ports"] if p.get("protocol", "TCP") == "TCP"}


def rules(labels: dict[str, str], direction: str) -> list[tuple[Peer | None, set[int] | None]]:
    """Every (peer, ports) the policies selecting a pod with `labels` allow in `direction`
    ("ingress" or "egress")."""
    out = []
    for policy in of_kind("NetworkPolicy").values():
        spec = policy["spec"]
        types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if "egress" in spec else [])
        if direction.capitalize() not in types or not selects(spec["podSelector"], labels):
            continue
        for rule in spec.get(direction) or []:
            peers = rule.get("to" if direction == "egress" else "from")
            out += [(peer, _ports(rule)) for peer in _peers(peers)]
    return out


def _same_namespace_pod(peer: Peer | None, labels: dict[str, str]) -> bool:
    if peer is None:
        return True
    if peer.cidr is not None or peer.pods is None:
        return False
    return peer.namespaces is None and selects(peer.pods, labels)


def reaches(source: dict[str, str], target: dict[str, str], port: int) -> bool:
    """Whether a pod labelled `source` may open `port` on a pod labelled `target` (same namespace):
    egress allowed from the one and ingress to the other."""
    out = any(
        _same_namespace_pod(peer, target) and (ports is None or port in ports)
        for peer, ports in rules(source, "egress")
    )
    into = any(
        _same_namespace_pod(peer, source) and (ports is None or port in ports)
        for peer, ports in rules(target, "ingress")
    )
    return out and into


def internet_egress(labels: dict[str, str]) -> list[tuple[Peer | None, set[int] | None]]:
    """The egress rules of a pod that reach public addresses: no `to`, an ipBlock holding a public
    address, or every namespace's pods."""
    public = (ipaddress.ip_network("8.8.8.0/24"), ipaddress.ip_network("2001:4860::/32"))
    found: list[tuple[Peer | None, set[int] | None]] = []
    for peer, ports in rules(labels, "egress"):
        if peer is None:
            found.append((peer, ports))
        elif peer.cidr is not None:
            block = ipaddress.ip_network(peer.cidr)
            excepted = [ipaddress.ip_network(e) for e in peer.excepted]
            if any(
                net.version == block.version and net.subnet_of(block)  # type: ignore[arg-type]
                and not any(e.version == net.version and net.subnet_of(e) for e in excepted)  # type: ignore[arg-type]
                for net in public
            ):  # fmt: skip
                found.append((peer, ports))
        elif peer.namespaces == {} and not peer.pods:
            found.append((peer, ports))
    return found
