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

from .errors import PROBLEM_JSON, ProblemDetails

SCHEME = "bearerAuth"
ASSETS = "/docs/assets"
PUBLIC_PATHS = {"/healthz", "/readyz"}  # probes: no token

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


def scopes_of(dependant: Dependant) -> tuple[bool, list[str]]:
    """Whether the operation needs a token, and the scopes of which it needs one (any of them)."""
    authenticated, scopes = False, []
    for dep in _walk(dependant):
        call = dep.call
        if getattr(call, "ictg_scopes", None) is not None:
            scopes += [s for s in call.ictg_scopes if s not in scopes]  # type: ignore[union-attr]
        if getattr(call, "ictg_authenticates", False):
            authenticated = True
    return authenticated or bool(scopes), scopes


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def _complete(app: FastAPI, schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = BEARER
    schemas = components.setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for route in routing.iter_route_contexts(app.routes):  # through included routers (FastAPI ≥ 0.16x)
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        needs_token, scopes = scopes_of(route.dependant)
        for method in route.methods or ():
            op = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            if needs_token:
                # OpenAPI 3.1 lets a non-OAuth scheme list the roles it needs: here the scopes (any of them).
                op["security"] = [{SCHEME: scopes}]
                if scopes:
                    note = f"Scope: {' or '.join(f'`{s}`' for s in scopes)}."
                    op["description"] = f"{op.get('description', '').rstrip()}\n\n{note}".strip()
            else:
                op["security"] = []  # no token: the probes
            for status, response in op.get("responses", {}).items():
                if status[:1] in "45":  # every error is problem details, whatever the route documented
                    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
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
