"""One delivery attempt: POST the signed body to a checked address, never raising.

The target is resolved and checked at send time (`resolve_target`), and the request goes to one of the checked
IP addresses, never to a name resolved again, so DNS rebinding cannot aim it at an internal address. The URL
carries the IP, the `Host` header the original host, and for https the `sni_hostname` extension makes TLS send
and verify the real name. Redirects are never followed; at most 64 KiB of a response body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ictg_webhooks.targets import TargetRefused, resolve_target

MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. `status_code` is None when no HTTP response came (`error` says why)."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    retry_after: float | None = None  # seconds, from the response's Retry-After

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def make_client(max_connections: int = 64) -> httpx.AsyncClient:
    """The shared client of the delivery worker: no redirects, no proxies from the environment, a pool as
    large as the deliveries in flight (httpcore scans its whole pool on every request: a larger one only
    costs CPU). Per-request timeouts are given by `send`."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=30.0
        ),
        timeout=httpx.Timeout(15.0),
    )


class Clients:
    """The worker's `connections` split between small clients (`make_client`) of at most `per_client`
    connections each, each request sent by the client with the fewest in flight.

    httpcore walks its whole pool on every request and every response it hands back, and for each
    idle connection counts the pool again (quadratic in the pool's size), asking each socket whether it
    is readable on the way: one client of 64 connections took 255-267 plain POSTs a second to the
    benchmark's receiver, where 8 clients of 8 took 488-829 and one of 4 about 650 (same machine, same
    minute). The clients share nothing, so a request to a target may open a connection in a client that
    has none to it: at most one per client and target more than one pool would hold."""

    def __init__(self, connections: int, *, per_client: int = 8) -> None:
        n = max(1, math.ceil(connections / per_client))
        self.clients = [make_client(math.ceil(connections / n)) for _ in range(n)]
        self.in_flight = [0] * n

    @contextlib.contextmanager
    def take(self) -> Iterator[httpx.AsyncClient]:
        """The client to send one request with, counted in flight until the block ends."""
        i = min(range(len(self.clients)), key=self.in_flight.__getitem__)
        self.in_flight[i] += 1
        try:
            yield self.clients[i]
        finally:
            self.in_flight[i] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or an HTTP-date); None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"


async def _post(
    client: httpx.AsyncClient, *, url: str, body: bytes, headers: dict[str, str], allow_private: bool, timeout: float
) -> tuple[int, float | None, str | None]:
    target = await resolve_target(url, allow_private=allow_private)
    request_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    request_headers["Host"] = target.host_header
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else None
    last_error: httpx.ConnectError | None = None
    for address in target.addresses:  # the next checked address only if this one could not be connected to
        try:
            async with client.stream(
                "POST",
                target.url_for(address),
                content=body,
                headers=request_headers,
                extensions=extensions,
                follow_redirects=False,
                timeout=httpx.Timeout(timeout),
            ) as response:
                received = 0
                async for chunk in response.aiter_raw():  # raw: no decompression of what we discard anyway
                    received += len(chunk)
                    if received >= MAX_RESPONSE_BYTES:
                        break
                status = response.status_code
                error = f"HTTP {status}: redirects are not followed" if 300 <= status < 400 else None
                return status, parse_retry_after(response.headers.get("retry-after")), error
        except httpx.ConnectError as exc:
            last_error = exc
    assert last_error is not None  # resolve_target never returns an empty address list
    raise last_error


async def send(
    client: httpx.AsyncClient,
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow_private: bool,
    timeout: float,
) -> Outcome:
    """POST `body` with `headers` to `url` once, within `timeout` seconds in all (DNS, connect, send, read).

    Never raises (but for cancellation): a refused target, a DNS or connection failure, a timeout, anything from
    httpx becomes `Outcome(status_code=None, error=…)`. A 3xx is returned as it is (not followed, not ok)."""
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        async with asyncio.timeout(timeout):
            status, retry_after, error = await _post(
                client, url=url, body=body, headers=headers, allow_private=allow_private, timeout=timeout
            )
    except TargetRefused as exc:
        return Outcome(status_code=None, latency_ms=elapsed(), error=f"target refused: {exc.message}")
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(status_code=None, latency_ms=elapsed(), error=f"timed out after {timeout:g} s")
    except httpx.ConnectError as exc:
        return Outcome(status_code=None, latency_ms=elapsed(), error=f"could not connect: {_short(exc)}")
    except Exception as exc:  # noqa: BLE001 - an attempt's failure is an outcome, never an exception
        return Outcome(status_code=None, latency_ms=elapsed(), error=_short(exc))
    return Outcome(status_code=status, latency_ms=elapsed(), error=error, retry_after=retry_after)
