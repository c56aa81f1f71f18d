"""ASGI middleware every service runs: request ids, body size limit, JSON-only bodies."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import field_error, problem_response
from .logs import request_id

MAX_BODY = 64 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH"}
# A client's request id is kept only in this shape: it lands in logs, audit rows and headers.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class _Repeated(dict[str, Any]):
    """A JSON object in which the key `repeated` appeared more than once."""

    repeated = ""


def duplicate_key(body: bytes) -> tuple[str, str] | None:
    """The first repeated key of a JSON body and a JSON pointer to the object holding it.

    JSON parsers disagree on `{"a": 1, "a": 2}` (first wins, last wins, error), so a body that
    means different things to different readers is refused rather than guessed at. A body that is
    not JSON at all answers None: the app's own parsing reports that (400 malformed JSON).
    """
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        found, seen, marked = True, set(), _Repeated(obj)
        for key, _ in items:
            if key in seen:
                marked.repeated = key
                break
            seen.add(key)
        return marked

    try:
        value = json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    if not found:
        return None
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:  # iterative: a deeply nested body must not exhaust the stack
        path, node = stack.pop()
        if isinstance(node, _Repeated):
            return node.repeated, path
        if isinstance(node, dict):
            children: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        for key, child in reversed(children):
            stack.append((f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}", child))
    return None


class GuardMiddleware:
    """Assigns `X-Request-Id` (the client's own only if it matches `SAFE_REQUEST_ID`), refuses
    bodies over 64 KiB (413), non-JSON bodies (415) and JSON objects with a repeated key (400)
    before any handler runs, so a refused request can change nothing. `form_paths`: paths whose body
    is a form (`application/x-www-form-urlencoded`, the OAuth 2.0 token endpoint), not JSON."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY, form_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_body = max_body
        self.form_paths = frozenset(form_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")
        if not SAFE_REQUEST_ID.fullmatch(rid):
            rid = str(uuid.uuid4())
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            refusal = self._refuse(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
                return
            # Read the whole body up front (it is small by rule) so a lying Content-Length or a
            # chunked body over the limit is refused before the app sees any of it.
            body = b""
            if scope["method"] in _BODY_METHODS:
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
                    if len(body) > self.max_body:
                        await self._too_large(scope)(scope, receive, send_with_id)
                        return
            if body and (refusal := self._not_json(scope, headers)) is not None:
                await refusal(scope, receive, send_with_id)
                return
            if body and scope["path"] not in self.form_paths and (repeated := duplicate_key(body)) is not None:
                await self._repeated(scope, *repeated)(scope, receive, send_with_id)
                return
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay if scope["method"] in _BODY_METHODS else receive, send_with_id)
        finally:
            request_id.reset(token)

    def _too_large(self, scope: Scope) -> Any:
        return problem_response(
            status=413,
            title="Request body too large",
            slug="payload-too-large",
            detail=f"The body is over {self.max_body // 1024} KiB.",
            instance=scope["path"],
        )

    def _repeated(self, scope: Scope, key: str, where: str) -> Any:
        place = f"the object at {where}" if where else "the top-level object"
        return problem_response(
            status=400,
            title="Duplicate key in JSON",
            slug="duplicate-key",
            detail=f'The key "{key}" appears more than once in {place}; send it once.',
            instance=scope["path"],
            errors=[field_error(where, f'duplicate key "{key}"', "duplicate_key")],
        )

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> Any:
        if scope["method"] not in _BODY_METHODS:
            return None
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return problem_response(
                    status=400,
                    title="Bad request",
                    slug="bad-request",
                    detail="Content-Length is not a number.",
                    instance=scope["path"],
                )
            if int(length) > self.max_body:
                return self._too_large(scope)
        return None

    def _not_json(self, scope: Scope, headers: dict[str, str]) -> Any:
        """415 for a body that is not JSON, decided on the body read (an action POSTed with none at all, as
        `curl -X POST …/ping` sends it, is no body of the wrong type); None if it is JSON or a form path's."""
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if scope["path"] in self.form_paths:
            return None  # the handler reads the form and answers in its own protocol's terms
        if ctype != "application/json" and not (ctype.startswith("application/") and ctype.endswith("+json")):
            return problem_response(
                status=415,
                title="Unsupported media type",
                slug="unsupported-media-type",
                detail="Send the body as application/json.",
                instance=scope["path"],
            )
        return None
