"""Unknown query parameters are refused, never ignored (every list of every service).

A misspelt or unsupported filter (`GET /v1/cases?local_authority_code=…` before the case list took
it) would otherwise answer as if it had not been asked: a council would read every case as its own.
`create_service_app` adds `refuse_unknown_query` to every route of the service's routers; it compares
the request's query parameters with those the route declares (FastAPI's dependant, dependencies and
parameter models included) and answers 422 problem+json, one `#query/<name>` error per unknown name,
saying which parameters the endpoint takes.

An endpoint that reads open-ended parameters itself (metrics' `<dimension>=<value>` filters) names
them with `@accepts_query(...)` under its route decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from .errors import ValidationFailed, field_error

_F = TypeVar("_F", bound=Callable[..., Any])
_EXTRA = "__ictg_accepts_query__"
_CHECKED_METHODS = frozenset({"GET", "HEAD"})
_DECLARED = "_ictg_declared_query"
_SINGLE = "_ictg_single_query"


def accepts_query(names: Iterable[str]) -> Callable[[_F], _F]:
    """Mark an endpoint as taking these query parameters beyond its declared ones (it validates them)."""
    extra = frozenset(names)

    def mark(endpoint: _F) -> _F:
        setattr(endpoint, _EXTRA, extra)
        return endpoint

    return mark


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameters `route` takes: declared (by alias) anywhere in its dependants, plus those
    named with `accepts_query`."""
    declared: frozenset[str] | None = getattr(route, _DECLARED, None)
    if declared is None:  # worked out once per route, on its first request
        names = frozenset(_query_names(route.dependant))
        declared = names | getattr(route.endpoint, _EXTRA, frozenset())
        setattr(route, _DECLARED, declared)
    return declared


def _query_names(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query parameter model
            names.update(f.alias or name for name, f in model.model_fields.items())
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def single_query(route: APIRoute) -> frozenset[str]:
    """The declared query parameters of `route` that take one value (not a list): given twice, FastAPI
    would silently keep the last."""
    single: frozenset[str] | None = getattr(route, _SINGLE, None)
    if single is None:
        single = frozenset(_single_names(route.dependant))
        setattr(route, _SINGLE, single)
    return single


def _single_names(dependant: Dependant) -> set[str]:
    names = {f.alias for f in dependant.query_params if not _is_many(f.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= _single_names(sub)
    return names


def _is_many(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True  # a parameter model's fields: left to its own validation
    return any(_is_many(a) for a in get_args(annotation))


async def refuse_unknown_query(request: Request) -> None:
    """Dependency: 422 for a read whose query names a parameter its route does not take."""
    route = request.scope.get("route")
    if request.method not in _CHECKED_METHODS or not isinstance(route, APIRoute):
        return
    allowed = declared_query(route)
    unknown = sorted({k[:100] for k in request.query_params if k not in allowed})[:20]
    if not unknown:
        twice = sorted(k for k in single_query(route) if len(request.query_params.getlist(k)) > 1)
        if twice:
            raise ValidationFailed(
                f"Give {', '.join(repr(k) for k in twice)} once: it takes one value.",
                errors=[field_error(f"#query/{_escape(k)}", "given more than once; it takes one value") for k in twice],
            )
        return
    accepted = f"it accepts {', '.join(sorted(allowed))}" if allowed else "it takes no query parameters"
    detail = f"This endpoint does not take {', '.join(repr(k) for k in unknown)}; {accepted}."
    raise ValidationFailed(
        detail,
        errors=[
            field_error(f"#query/{_escape(k)}", f"unknown query parameter; {accepted}", "unknown_parameter")
            for k in unknown
        ],
    )


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")  # a JSON pointer token (RFC 6901)
