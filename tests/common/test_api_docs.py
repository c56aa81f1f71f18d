"""Every service's OpenAPI document is complete enough to integrate from `/docs` alone (issue 14):
each operation states its security and documents its problems with the problem schema, and every
field and parameter says what it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from ictg_cases.app import create_app as create_cases
from ictg_intake.app import create_app as create_intake
from ictg_metrics.app import create_app as create_metrics
from ictg_webhooks.app import create_app as create_webhooks

APPS: dict[str, Callable[[], FastAPI]] = {
    "intake": create_intake,
    "cases": create_cases,
    "metrics": create_metrics,
    "webhooks": create_webhooks,
}
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
