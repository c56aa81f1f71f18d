"""RFC 9457 problem details: typed domain errors, and the handlers that render every error.

Services raise a `Problem` subclass (or one of the ready-made ones); FastAPI's own validation and
HTTP errors are rendered the same way, with `errors[]` carrying JSON pointers to the input.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .outages import is_infrastructure

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://ictg.example/problems/"


class FieldError(BaseModel):
    """What is wrong with one input."""

    pointer: str = Field(
        description="Where: a JSON pointer into the body (`/child/date_of_birth`, `/` for the whole body), "
        "or `#query/<name>`, `#header/<name>`, `#path/<name>` for other inputs."
    )
    detail: str = Field(description="What is wrong with it and what would be right, for a person to read.")
    code: str | None = Field(default=None, description="A machine-readable reason (e.g. `date_from_datetime_parsing`, "
                             "`missing`, `extra_forbidden`), when there is one.")  # fmt: skip


class ProblemDetails(BaseModel):
    """Every error answers RFC 9457 problem details, `application/problem+json`."""

    model_config = ConfigDict(
        title="Problem",
        json_schema_extra={
            "example": {
                "type": "https://ictg.example/problems/validation",
                "title": "Validation failed",
                "status": 422,
                "detail": "1 field(s) failed validation.",
                "instance": "/v1/referrals",
                "errors": [
                    {
                        "pointer": "/identified_on",
                        "detail": "must be a date as YYYY-MM-DD, e.g. 2026-11-20",
                        "code": "date_from_datetime_parsing",
                    }
                ],
            }
        },
    )

    type: str = Field(description="A URI naming the kind of problem; the same kind always has the same type.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, for a person to read.")
    instance: str = Field(description="The path of the request that failed.")
    errors: list[FieldError] | None = Field(
        default=None, description="For a validation failure: each input that is wrong. Absent otherwise."
    )


class Problem(Exception):
    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        """`extensions`: RFC 9457 extension members of the body (JSON values, e.g. `{"resets_at": …}`);
        they never replace a standard member."""
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers
        self.extensions = extensions


class Unauthorized(Problem):
    status, title, slug = 401, "Not authenticated", "unauthorized"


class Forbidden(Problem):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(Problem):
    status, title, slug = 412, "Precondition failed", "stale-etag"


class PreconditionRequired(Problem):
    """A write that must name the version it changes (`If-Match`) and did not (RFC 6585)."""

    status, title, slug = 428, "Precondition required", "precondition-required"


class ValidationFailed(Problem):
    status, title, slug = 422, "Validation failed", "validation"


def field_error(pointer: str, detail: str, code: str | None = None) -> dict[str, str]:
    """One entry of a problem's `errors[]`: where (a JSON pointer, `#query/…` or `#header/…` outside
    the body), what is wrong, and optionally a machine-readable code."""
    return {"pointer": pointer, "detail": detail} | ({"code": code} if code else {})


def invalid(pointer: str, detail: str) -> ValidationFailed:
    """A 422 about one input: `raise invalid("#query/limit", "must be at most 500")`."""
    return ValidationFailed(detail, errors=[field_error(pointer, detail)])


class TooManyRequests(Problem):
    status, title, slug = 429, "Too many requests", "rate-limited"


class ServiceUnavailable(Problem):
    status, title, slug = 503, "Service unavailable", "unavailable"


def pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    """Pydantic `loc` → JSON pointer into the request body (`("body", "child", "gender")` → `/child/gender`)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        source = parts.pop(0)
        if source != "body":
            return f"#{source}/" + "/".join(str(p) for p in parts)
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def problem_response(
    *,
    status: int,
    title: str,
    slug: str,
    detail: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


DATE = "must be a date as YYYY-MM-DD, e.g. 2026-11-20"
DATETIME = "must be a date and time in RFC 3339 with an offset, e.g. 2026-11-20T09:30:00Z"
# Pydantic's words where they do not help a person: by error type (the rest are clear as they are).
MESSAGES = {
    "date_parsing": DATE,
    "date_from_datetime_parsing": DATE,
    "date_from_datetime_inexact": DATE + " (a date, without a time)",
    "date_type": DATE,
    "datetime_parsing": DATETIME,
    "datetime_from_date_parsing": DATETIME,
    "datetime_type": DATETIME,
    "timezone_aware": DATETIME + " (the offset is missing)",
    "uuid_parsing": "must be an id as a UUID, e.g. 01a23b2b-7cc9-7d20-bcf7-69b611599e65",
    "uuid_type": "must be an id as a UUID, e.g. 01a23b2b-7cc9-7d20-bcf7-69b611599e65",
    "missing": "is required",
    "extra_forbidden": "is not a field of this request: check its spelling and place (unknown fields are refused)",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
}
PREFIXES = ("Value error, ", "Assertion failed, ")


def message(err: dict[str, Any]) -> str:
    """What a person reads about one pydantic error."""
    kind, msg = err.get("type", ""), str(err.get("msg", "invalid"))
    if kind in MESSAGES:
        got = err.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float) and len(str(got)) <= 40 else ""
        return MESSAGES[kind] + shown
    if kind == "string_pattern_mismatch":  # never a raw regular expression
        return "does not have the expected form: see this field's description in /docs"
    for prefix in PREFIXES:
        msg = msg.removeprefix(prefix)
    return msg


def _malformed_json(err: dict[str, Any], body: Any) -> str:
    """`detail` for a body that is not JSON: what the parser said, at which line and column."""
    reason = str((err.get("ctx") or {}).get("error", "not valid JSON"))
    loc = list(err.get("loc", ()))
    position = loc[-1] if loc and isinstance(loc[-1], int) else None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if position is None or not isinstance(body, str):
        return f"The request body is not valid JSON: {reason}."
    line = body.count("\n", 0, position) + 1
    column = position - (body.rfind("\n", 0, position) + 1) + 1
    return f"The request body is not valid JSON: {reason} at line {line}, column {column} (character {position + 1})."


def _validation_errors(exc: RequestValidationError) -> tuple[int, str, str, str, list[dict[str, Any]]]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # a position in the text, not a place in a document: no pointer
            detail = _malformed_json(err, getattr(exc, "body", None))
            return 400, "Malformed JSON", "malformed-json", detail, [field_error("/", detail, "json_invalid")]
        errors.append(field_error(pointer(err.get("loc", ())), message(err), err.get("type")))
    return 422, "Validation failed", "validation", f"{len(errors)} field(s) failed validation.", errors


def allowed_methods(request: Request) -> list[str]:
    """Every method any route offers at this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "\x00"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            status=exc.status,
            title=exc.title,
            slug=exc.slug,
            detail=exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        status, title, slug, detail, errors = _validation_errors(exc)
        return problem_response(
            status=status, title=title, slug=slug, detail=detail, instance=request.url.path, errors=errors
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        titles = {404: ("Not found", "not-found"), 405: ("Method not allowed", "method-not-allowed")}
        title, slug = titles.get(exc.status_code, ("Error", f"http-{exc.status_code}"))
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(allowed_methods(request))}
        return problem_response(
            status=exc.status_code,
            title=title,
            slug=slug,
            detail=str(exc.detail),
            instance=request.url.path,
            headers=headers,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_infrastructure(exc):  # an outage wrapped in something else: the client may retry
            return await on_dependency_down(request, exc)
        # A bug, never the client's fault: logged with its request id; the body says nothing internal.
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            status=500,
            title="Internal error",
            slug="internal",
            detail="An unexpected error occurred.",
            instance=request.url.path,
        )

    async def on_dependency_down(request: Request, exc: Exception) -> JSONResponse:
        # The database went away mid-request: the client may retry; nothing was committed.
        log.warning("dependency unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
        return problem_response(
            status=503,
            title="Service unavailable",
            slug="unavailable",
            detail="A dependency (database) is unavailable; retry shortly.",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )

    async def on_db_error(request: Request, exc: Exception) -> JSONResponse:
        # "The database system is starting up" and its kin arrive as a plain DBAPIError: an outage.
        assert isinstance(exc, sa_exc.DBAPIError)
        if is_infrastructure(exc):
            return await on_dependency_down(request, exc)
        return await on_unexpected(request, exc)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(sa_exc.DBAPIError, on_db_error)
    for exc_type in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, ConnectionError, OSError):
        app.add_exception_handler(exc_type, on_dependency_down)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
