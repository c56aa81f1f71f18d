"""Every service's OpenAPI document is complete enough to integrate from `/docs` alone (issue 14):
each operation states its security and documents its problems with the problem schema, and every
field and parameter says what it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from ictg_cases.app import create_app as create_cases
from ictg_common.apidocs import READINESS, rules_of
from ictg_common.auth import SCOPES, Actor
from ictg_identity.app import create_app as create_identity
from ictg_intake.app import create_app as create_intake
from ictg_metrics.app import create_app as create_metrics
from ictg_webhooks.app import create_app as create_webhooks

APPS: dict[str, Callable[[], FastAPI]] = {
    "intake": create_intake,
    "cases": create_cases,
    "metrics": create_metrics,
    "webhooks": create_webhooks,
}
# Every service, the token service too (its token endpoint answers OAuth 2.0, so `gaps` leaves it out).
EVERY_APP: dict[str, Callable[[], FastAPI]] = {**APPS, "identity": create_identity}
PROBES = {"/healthz", "/readyz"}
PROBLEM_REF = "#/components/schemas/Problem"


def gaps(spec: dict[str, Any]) -> list[str]:
    """Every gap an integrator would meet, as readable lines (empty when the document is complete)."""
    found: list[str] = []
    schemas = spec["components"]["schemas"]
    scheme = spec["components"].get("securitySchemes", {}).get("bearerAuth", {})
    if scheme.get("scheme") != "bearer" or not scheme.get("description"):
        found.append("no bearer security scheme with a description")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            security = op.get("security")
            if security is None or (path not in PROBES and security != [{"bearerAuth": security[0]["bearerAuth"]}]):
                found.append(f"{where}: no security requirement")
            if not (op.get("description") or op.get("summary")):
                found.append(f"{where}: no description")
            responses = op.get("responses", {})
            problems = [s for s in responses if s[0] in "45"]
            if path not in PROBES and "422" not in problems:
                found.append(f"{where}: no documented 422")
            for status in problems:
                if path == "/readyz":
                    continue  # readiness answers its checks, not a problem (`test_every_documented_error_…`)
                content = responses[status].get("content", {})
                if content.get("application/problem+json", {}).get("schema", {}).get("$ref") != PROBLEM_REF:
                    found.append(f"{where}: {status} not documented with the problem schema")
            for param in op.get("parameters", []):
                if not param.get("description"):
                    found.append(f"{where}: parameter {param['name']} has no description")
    for name, schema in schemas.items():
        for field, prop in schema.get("properties", {}).items():
            described = prop.get("description") or (
                "$ref" in prop and schemas[prop["$ref"].rsplit("/", 1)[-1]].get("description")
            )
            if not described:
                found.append(f"schema {name}: field {field} has no description")
    return found


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_operation_field_and_parameter_is_documented(service: str) -> None:
    app: FastAPI = APPS[service]()
    spec = app.openapi()
    assert gaps(spec) == []
    # The scopes an operation needs are listed (any of them), e.g. filing a referral.
    if service == "intake":
        post = spec["paths"]["/v1/referrals"]["post"]
        assert post["security"] == [{"bearerAuth": ["referrals:write", "referrals:import"]}]
        assert "`referrals:write`" in post["description"]
        problem = spec["components"]["schemas"]["Problem"]
        assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
        assert problem["example"]["errors"][0]["pointer"] == "/identified_on"


def test_the_walk_finds_a_gap() -> None:
    """The check above can fail: an undocumented field, operation security or problem is reported."""
    spec = create_intake().openapi()
    broken = {**spec, "paths": {**spec["paths"]}, "components": {**spec["components"]}}
    post = dict(broken["paths"]["/v1/referrals"]["post"])
    del post["security"]
    post["responses"] = {k: v for k, v in post["responses"].items() if k != "422"}
    broken["paths"]["/v1/referrals"] = {"post": post}
    child = dict(spec["components"]["schemas"]["Child"])
    child["properties"] = {**child["properties"], "shoe_size": {"type": "integer"}}
    broken["components"]["schemas"] = {**spec["components"]["schemas"], "Child": child}
    assert gaps(broken) == [
        "POST /v1/referrals: no security requirement",
        "POST /v1/referrals: no documented 422",
        "schema Child: field shoe_size has no description",
    ]


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


@pytest.mark.parametrize("service", sorted(EVERY_APP))
def test_every_documented_error_can_happen_and_has_an_example_of_its_own(service: str) -> None:
    """Issue 26: every error response showed the same 422 example, and export endpoints listed "404 No
    such case" and "415 Body not JSON". Each error an operation documents has an example of its own
    status; a read without a body lists none of a body's refusals (400, 413, 415); an operation with no
    id in its path lists no 404."""
    spec = EVERY_APP[service]().openapi()
    wrong: list[str] = []
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        for status, response in responses.items():
            if status[0] not in "45":
                continue
            content = response.get("content", {})
            if path == "/readyz":
                if content.get("application/json", {}).get("example") != READINESS:
                    wrong.append(f"{where}: {status} without the readiness example")
                continue
            example = content.get("application/problem+json", {}).get("example") or {}
            if example.get("status") != int(status) or not example.get("title") or not example.get("detail"):
                wrong.append(f"{where}: {status} has no example of its own ({example.get('status')})")
            elif status == "422" and not example.get("errors", [{}])[0].get("pointer"):
                wrong.append(f"{where}: 422 example without a pointer")
        if "requestBody" not in op and method == "get":
            wrong += [f"{where}: lists {s} without a body" for s in ("400", "413", "415") if s in responses]
        if not any(p["in"] == "path" for p in op.get("parameters", [])) and "404" in responses:
            wrong.append(f"{where}: lists 404 ({responses['404'].get('description')}) without an id in its path")
    assert wrong == []


AUDIENCES = {"ictg": "the service's staff", "local_authority": "a council", "police": "a first responder"}


@pytest.mark.parametrize("service", sorted(EVERY_APP))
def test_the_scopes_documented_are_those_the_access_rule_admits(service: str) -> None:
    """Issue 26: /docs told a council that the case API's writes accept `la:read`/`la:write`, which answer
    403. For every operation, the scopes its security lists are exactly those with which some token (the
    staff's, a council's, a first responder's) holding that scope alone passes the rules its dependencies
    enforce (`Scopes.admits`, what the check itself calls)."""
    app = EVERY_APP[service]()
    spec = app.openapi()
    wrong: list[str] = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        _, rules = rules_of(route.dependant)
        admitted = {
            scope
            for scope in SCOPES
            for org_type in AUDIENCES
            if rules and all(r.admits(Actor(sub="t", scopes=frozenset({scope}), org_type=org_type)) for r in rules)
        }
        for method in route.methods or ():
            op = spec["paths"][route.path_format][method.lower()]
            documented = set(op["security"][0]["bearerAuth"]) if op["security"] else set()
            if documented != admitted:
                wrong.append(f"{method} {route.path_format}: documents {sorted(documented)}, admits {sorted(admitted)}")
    assert wrong == []
    if service == "cases":  # the council's view of the case API, as the issue met it
        paths = spec["paths"]
        contact = paths["/v1/cases/{case_id}/contacts"]["post"]
        assert contact["security"] == [{"bearerAuth": ["cases:write"]}]
        assert "Never a council's token" in contact["description"]
        assert paths["/v1/cases/{case_id}/pathway"]["post"]["security"] == [{"bearerAuth": ["cases:admin"]}]
        read = paths["/v1/cases/{case_id}"]["get"]
        assert read["security"] == [{"bearerAuth": ["cases:read", "cases:write", "la:read"]}]
        assert "a council's token (`org_type` `local_authority`): `la:read`" in read["description"]
        identifiers = paths["/v1/cases/{case_id}/local-identifiers"]["put"]
        assert identifiers["security"] == [{"bearerAuth": ["la:write"]}]


async def test_the_examples_of_a_refused_body_are_what_the_service_answers() -> None:
    """The 413 and 415 examples are the bodies the service sends (its guard answers before any handler)."""
    app = create_intake()
    documented = app.openapi()["paths"]["/v1/referrals"]["post"]["responses"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        answers = {
            "415": await client.post("/v1/referrals", content=b"a referral", headers={"content-type": "text/plain"}),
            "413": await client.post(
                "/v1/referrals", content=b" " * 70_000, headers={"content-type": "application/json"}
            ),
        }
    for status, answer in answers.items():
        assert str(answer.status_code) == status
        assert answer.json() == documented[status]["content"]["application/problem+json"]["example"]
