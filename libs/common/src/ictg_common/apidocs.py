"""What an integrator reads: `/docs` served from this service (no CDN), and the OpenAPI document
completed with what FastAPI cannot know — the bearer token scheme and each operation's scopes, the
problem-details schema of every error, and the descriptions of parameters that recur everywhere.

Police and council networks often block public CDNs, and a `/docs` page that fetches Swagger UI
from one is blank there: the assets come from the `fastapi-offline` package and are served under
`/docs/assets/`, and Swagger UI's online validator (a request to a public host) is off.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from .auth import Actor, Scopes
from .errors import MESSAGES, PROBLEM_JSON, TYPE_BASE, ProblemDetails, field_error
from .http import _BODY_METHODS as BODY_METHODS
from .http import MAX_BODY, GuardMiddleware

SCHEME = "bearerAuth"
ASSETS = "/docs/assets"
PUBLIC_PATHS = {"/healthz", "/readyz"}  # probes: no token
READY_PATH = "/readyz"

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "An access token (a JWT) from the ICTG token service, sent as `Authorization: Bearer <token>`. Get one "
        "with the client id and secret the ICTG service registered for your system (OAuth 2.0 client credentials; "
        "a client registered for `private_key_jwt` sends a signed assertion instead), `$IDENTITY` being the token "
        "service's address:\n\n"
        '`curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$IDENTITY/oauth2/token"`\n\n'
        "Reuse its `access_token` until it expires (`expires_in`: 15 minutes) and get the next one a little before; "
        "add `-d scope=…` to ask for fewer scopes than your client holds. The token's `scope` claim grants the scopes "
        "an operation lists; `org_type` and `org_name` name your organisation, `regions` and `la_codes` bound what "
        "you see. Paste the token alone (without `Bearer`) into Authorize. `python -m ictg_common.auth` mints HS256 "
        "development tokens for tests and development stacks only: no service accepts them unless it runs with "
        "`ICTG_AUTH_DEVELOPMENT=true`."
    ),
}

# Parameters that recur across services, described once (an endpoint's own description wins).
COMMON_PARAMETERS = {
    "cursor": "Opaque cursor from the previous page's `next_cursor`; omit for the first page.",
    "limit": "Page size, 1 to 500.",
    "Idempotency-Key": (
        "Your unique key for this write (e.g. a UUID), so that a retry after a lost response is safe: the same "
        "key and body answer the first response again (with `Idempotency-Replayed: true`); the same key with "
        "another body is 422; while the first is still in progress, 409. Keys are kept at least 24 hours."
    ),
    "If-Match": "The case's `ETag` from your last read: the write is refused with 412 if the case changed since.",
}


def rules_of(dependant: Dependant) -> tuple[bool, list[Scopes]]:
    """Whether the operation needs a token, and the scope rules its dependencies enforce (`auth.Scopes`)."""
    authenticated, rules = False, []
    for dep in _walk(dependant):
        rule = getattr(dep.call, "ictg_rule", None)
        if isinstance(rule, Scopes) and rule not in rules:
            rules.append(rule)
        if getattr(dep.call, "ictg_authenticates", False):
            authenticated = True
    return authenticated or bool(rules), rules


def scopes_of(dependant: Dependant) -> tuple[bool, list[str]]:
    """Whether the operation needs a token, and the scopes of which it needs one (any of them)."""
    needs_token, rules = rules_of(dependant)
    return needs_token, list(dict.fromkeys(s for rule in rules for s in rule.listed))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def _any_of(scopes: tuple[str, ...]) -> str:
    return " or ".join(f"`{s}`" for s in scopes)


def scope_note(rule: Scopes) -> str:
    """What /docs says of `rule`, for each audience."""
    council = "a council's token (`org_type` `local_authority`)"
    if rule.council is None:
        return f"Scope: {_any_of(rule.others)}."
    if not rule.others:
        return f"For {council} with scope {_any_of(rule.council)}; any other token is refused (403)."
    if not rule.council:
        return f"Scope: {_any_of(rule.others)}. Never {council}, whatever its scopes (403)."
    return f"Scope: {_any_of(rule.others)}; {council}: {_any_of(rule.council)}."


# An example body for each error status, as the code that answers it words it (`errors`, `http`, `auth`).
# 404, 409, 412 and 428 take the operation's own description of that response as `detail`.
_TITLES: dict[int, tuple[str, str, str]] = {
    400: ("Malformed JSON", "malformed-json",
          "The request body is not valid JSON: Expecting ',' delimiter at line 3, column 5 (character 42)."),
    401: ("Not authenticated", "unauthorized", "A bearer token is required."),
    403: ("Forbidden", "forbidden", "This needs another scope."),
    404: ("Not found", "not-found", "Not found."),
    409: ("Conflict", "conflict", "Conflict."),
    412: ("Precondition failed", "stale-etag", "The version you sent in If-Match is no longer current."),
    413: ("Request body too large", "payload-too-large", f"The body is over {MAX_BODY // 1024} KiB."),
    415: ("Unsupported media type", "unsupported-media-type", "Send the body as application/json."),
    422: ("Validation failed", "validation", "1 field(s) failed validation."),
    428: ("Precondition required", "precondition-required", "Send If-Match with the version you change."),
    429: ("Too many requests", "rate-limited", "Too many requests from this client; slow down."),
    503: ("Service unavailable", "unavailable", "A dependency (database) is unavailable; retry shortly."),
}  # fmt: skip
_OWN_DETAIL = {404, 409, 412, 428}
# What only a request with a body can meet (`http.GuardMiddleware`, the JSON parser), and what only a caller
# with a token can (`auth.current_actor`, the scope check, the rate limit, the query check of every read).
_BODY_ONLY = {"400", "413", "415"}
_TOKEN_ONLY = {"401", "403", "429", "422"}
READINESS = {"status": "not_ready", "checks": {"database": "down", "nats": "ok"}}


def _schema(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _invalid(schema: dict[str, Any], op: dict[str, Any], method: str) -> dict[str, Any]:
    """A field error this operation really answers with 422."""
    body = op.get("requestBody", {}).get("content", {})
    media: dict[str, Any] = next(iter(body.values()), {}) if body else {}
    required = _schema(schema, media.get("schema", {})).get("required", []) if media else []
    if required:
        return field_error(f"/{required[0]}", "is required", "missing")
    params = op.get("parameters", [])
    if method in {"GET", "HEAD"}:  # every read refuses a query parameter it does not take (`queries`)
        taken = sorted(p["name"] for p in params if p["in"] == "query")
        accepted = f"it accepts {', '.join(taken)}" if taken else "it takes no query parameters"
        return field_error("#query/colour", f"unknown query parameter; {accepted}", "unknown_parameter")
    for p in params:
        if p["in"] == "path":
            return field_error(f"#path/{p['name']}", MESSAGES["uuid_parsing"] + " (got 'abc')", "uuid_parsing")
    for p in params:
        return field_error(f"#{p['in']}/{p['name']}", "is not valid: see its description", "invalid")
    return field_error("/", "must be a JSON object", "model_attributes_type")


def _example(
    schema: dict[str, Any], op: dict[str, Any], *, method: str, path: str, status: int, rules: list[Scopes]
) -> dict[str, Any]:
    title, slug, detail = _TITLES.get(status, ("Error", f"http-{status}", "Error."))
    if status in _OWN_DETAIL and (own := op["responses"][str(status)].get("description")):
        detail = own.rstrip(".") + "."
    if status == 403 and rules:  # what the scope check answers a token without the scope
        detail = rules[0].refusal(Actor(sub="example", scopes=frozenset()))
    example: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail,
                               "instance": path}  # fmt: skip
    if status == 422:
        example["errors"] = [_invalid(schema, op, method)]
    elif status == 400:
        example["errors"] = [field_error("/", detail, "json_invalid")]
    return example


def _form_paths(app: FastAPI) -> frozenset[str]:
    """The paths whose body `GuardMiddleware` leaves to the handler (a form: the OAuth 2.0 token endpoint)."""
    for middleware in app.user_middleware:
        if middleware.cls is GuardMiddleware:
            paths: tuple[str, ...] = middleware.kwargs.get("form_paths", ())  # type: ignore[assignment]
            return frozenset(paths)
    return frozenset()


def _complete(app: FastAPI, schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = BEARER
    schemas = components.setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    forms = _form_paths(app)
    for route in routing.iter_route_contexts(app.routes):  # through included routers (FastAPI ≥ 0.16x)
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        needs_token, rules = rules_of(route.dependant)
        for method in route.methods or ():
            op = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            if needs_token:
                # OpenAPI 3.1 lets a non-OAuth scheme list the roles it needs: here the scopes (any of them).
                op["security"] = [{SCHEME: list(dict.fromkeys(s for rule in rules for s in rule.listed))}]
                if rules:
                    note = " ".join(scope_note(rule) for rule in rules)
                    op["description"] = f"{op.get('description', '').rstrip()}\n\n{note}".strip()
            else:
                op["security"] = []  # no token: the probes
            responses = op.get("responses", {})
            # No response that cannot happen: a body's refusals where there is no body, a token's where none
            # is read; a probe answers its own 503 only.
            impossible = (_BODY_ONLY if method not in BODY_METHODS else set()) | (set() if needs_token else _TOKEN_ONLY)
            if route.path_format in forms:
                impossible |= {"415"}  # a form's body is the handler's to refuse, in its protocol's terms
            if route.path_format in PUBLIC_PATHS and route.path_format != READY_PATH:
                impossible |= {"503"}  # liveness reads nothing
            for status in [s for s in responses if s in impossible]:
                del responses[status]
            for status, response in responses.items():
                if status[:1] not in "45":
                    continue
                if route.path_format in PUBLIC_PATHS:  # readiness answers its checks, not a problem
                    response["content"] = {"application/json": {"example": READINESS}}
                    response["description"] = "Not ready: a dependency is down (which, in `checks`)"
                    continue
                example = _example(
                    schema, op, method=method, path=route.path_format or "", status=int(status), rules=rules
                )
                # Every error is problem details, whatever the route documented, with an example of its own.
                response["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"},
                                                      "example": example}}  # fmt: skip
            for param in op.get("parameters", []):
                if not param.get("description") and param["name"] in COMMON_PARAMETERS:
                    param["description"] = COMMON_PARAMETERS[param["name"]]


def install(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` from this service's own assets, and complete the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        _complete(app, schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    static = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — API documentation",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            # No online validator (a request to a public host); keep the token across reloads.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — API reference",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
