"""One delivery attempt: POST the signed body to a checked address, never raising.

The target is resolved and checked at send time (`resolve_target`), and the TCP connection goes to one of the
checked IP addresses, never to a name resolved again, so DNS rebinding cannot aim it at an internal address (the
next checked address is tried only when connecting to one fails). The `Host` header carries the original host,
and for https TLS sends and verifies the real name (`server_hostname`) against the CA bundle httpx uses by
default; certificates are always verified. Redirects are never followed; at most 64 KiB of a response body is
read.

The transport is a small HTTP/1.1 client of our own (`h11` over asyncio streams), `Pool`: with many subscriptions
the worker is CPU-bound, and httpx, httpcore and anyio took most of that CPU (the pool's bookkeeping, a
readability check of every idle socket, URL parsing). A request's head and body go out in one write. `Pool` keeps
idle keep-alive connections per (scheme, checked IP, port, host), reuses the most recent one whose peer has not
closed it, expires them after 30 s idle, and holds at most `max_connections` open in all (the worker's
concurrency). A connection that had an error, an incomplete or oversized response, or `Connection: close` is
closed, never reused. Idle connections are swept every second, so one the receiver closed is closed here too
without waiting for the next delivery. A receiver may close an idle keep-alive connection just as a request is written to it: when
a request on a reused connection fails before any byte of the response arrived, it is sent once more on a fresh
connection. Deliveries are at-least-once and the receiver deduplicates by `webhook-id`, which is the same in both
sends, so this retry is safe.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import h11
import httpx

from ictg_webhooks.targets import Target, TargetRefused, resolve_target

MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 300
KEEPALIVE_EXPIRY = 30.0  # seconds an idle connection is kept
USER_AGENT = "ictg-webhooks"
_READ_SIZE = 65536

_Key = tuple[str, str, int, str]  # scheme, checked IP, port, host
_Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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


class ConnectFailed(Exception):
    """No checked address of the target could be connected to (TCP or TLS); the last failure is the cause."""


class _Stale(Exception):
    """The peer closed a reused connection before any byte of the response arrived."""


def ssl_context() -> ssl.SSLContext:
    """The TLS context of deliveries: httpx's default (certifi's CA bundle, hostname checked, TLS 1.2 or later),
    HTTP/1.1 offered by ALPN, no settings from the environment."""
    context = httpx.create_ssl_context(verify=True, trust_env=False)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def _open_connection(
    host: str, port: int, *, ssl: ssl.SSLContext | None, server_hostname: str | None
) -> _Streams:
    """`asyncio.open_connection` (a seam for tests)."""
    return await asyncio.open_connection(host, port, ssl=ssl, server_hostname=server_hostname, limit=_READ_SIZE)


class _Connection:
    __slots__ = ("h11", "idle_since", "key", "reader", "writer")

    def __init__(self, key: _Key, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def usable(self) -> bool:
        """Still open at both ends as far as the loop has seen (a peer's close is read as EOF while idle), and
        nothing received since its last answer: bytes a receiver sends on an idle connection (a `408` before it
        closes it) would be read as the next delivery's answer. asyncio reads an idle socket into the reader's
        buffer as data comes; `StreamReader` offers no public look at it, hence `_buffer`."""
        reader = self.reader
        buffered = reader._buffer  # type: ignore[attr-defined]
        return not self.writer.is_closing() and not reader.at_eof() and not reader.exception() and not buffered

    def close(self, *, abort: bool = False) -> None:
        """Close (after what is already written), or `abort`: at once, whatever is unsent (a peer that stopped
        reading must not keep the socket open)."""
        if abort:
            self.writer.transport.abort()
        else:
            self.writer.close()


class Pool:
    """Keep-alive HTTP/1.1 connections for deliveries, at most `max_connections` open (and as many requests in
    flight). Use `send`; `aclose` closes every connection."""

    def __init__(self, max_connections: int = 64, *, keepalive_expiry: float = KEEPALIVE_EXPIRY) -> None:
        self.max_connections = max(1, max_connections)
        self.keepalive_expiry = keepalive_expiry
        self.ssl = ssl_context()
        self.slots = asyncio.Semaphore(self.max_connections)
        self.idle: dict[_Key, list[_Connection]] = {}  # most recently used last
        self.open: set[_Connection] = set()  # idle and in use
        self.closed = False
        self._swept = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None  # the idle sweep, while connections are idle
        self.opened = 0  # connections opened so far (for tests and curiosity)

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for conn in list(self.open):
            conn.close()
        self.open.clear()
        self.idle.clear()

    def _discard(self, conn: _Connection, *, abort: bool = False) -> None:
        self.open.discard(conn)
        conn.close(abort=abort)

    def _sweep(self, now: float, *, timed: bool = False) -> None:
        """Close idle connections past their expiry or closed by the peer (at most once a second on the send
        path; each time from the idle timer)."""
        if now - self._swept < 1.0 and not timed:
            return
        self._swept = now
        for key, conns in list(self.idle.items()):
            keep = [c for c in conns if now - c.idle_since < self.keepalive_expiry and c.usable()]
            for conn in conns:
                if conn not in keep:
                    self._discard(conn)
            if keep:
                self.idle[key] = keep
            else:
                del self.idle[key]

    def _idle_sweep(self) -> None:
        """Every second while connections are idle, with no send to sweep them: close those the peer closed
        (left open, each would sit in CLOSE_WAIT until the next delivery to its pool) or past expiry."""
        self._timer = None
        self._sweep(time.monotonic(), timed=True)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and self.idle and not self.closed:
            self._timer = asyncio.get_running_loop().call_later(1.0, self._idle_sweep)

    def _take_idle(self, key: _Key, now: float) -> _Connection | None:
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            if not conns:
                del self.idle[key]
            if now - conn.idle_since < self.keepalive_expiry and conn.usable():
                return conn
            self._discard(conn)
        return None

    def _make_room(self) -> None:
        """Close the longest idle connection when the pool is full (a slot is held, so one is idle)."""
        if len(self.open) < self.max_connections:
            return
        oldest: _Connection | None = None
        for conns in self.idle.values():
            if conns and (oldest is None or conns[0].idle_since < oldest.idle_since):
                oldest = conns[0]
        if oldest is not None:
            conns = self.idle[oldest.key]
            conns.remove(oldest)
            if not conns:
                del self.idle[oldest.key]
            self._discard(oldest)

    def _release(self, conn: _Connection) -> None:
        """Back to the idle connections if the exchange ended cleanly and both sides keep the connection."""
        h = conn.h11
        clean = h.our_state is h11.DONE and h.their_state is h11.DONE and not h.trailing_data[0]  # nothing past it
        if not self.closed and clean and conn.usable():
            conn.h11.start_next_cycle()
            conn.idle_since = time.monotonic()
            self.idle.setdefault(conn.key, []).append(conn)
            self._arm()
        else:
            self._discard(conn)

    async def _connect(self, target: Target) -> _Connection:
        https = target.scheme == "https"
        last: BaseException | None = None
        for address in target.addresses:  # the next checked address only if this one could not be connected to
            try:
                reader, writer = await _open_connection(
                    address,
                    target.port,
                    ssl=self.ssl if https else None,
                    server_hostname=target.host if https else None,
                )
            except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
                last = exc
                continue
            conn = _Connection((target.scheme, address, target.port, target.host), reader, writer)
            self.open.add(conn)
            self.opened += 1
            return conn
        assert last is not None  # resolve_target never returns an empty address list
        raise ConnectFailed(_short(last)) from last

    async def _checkout(self, target: Target, *, fresh: bool) -> tuple[_Connection, bool]:
        if self.closed:
            raise RuntimeError("the delivery connection pool is closed")
        now = time.monotonic()
        self._sweep(now)
        if not fresh:
            for address in target.addresses:
                conn = self._take_idle((target.scheme, address, target.port, target.host), now)
                if conn is not None:
                    return conn, True
        self._make_room()
        return await self._connect(target), False

    async def post(self, target: Target, request: h11.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        """POST on a kept or new connection to one of the target's addresses: (status, response headers)."""
        async with self.slots:
            conn, reused = await self._checkout(target, fresh=False)
            try:
                return await self._exchange(conn, request, body, reused=reused)
            except _Stale:
                conn, _ = await self._checkout(target, fresh=True)  # once, on a fresh connection
                return await self._exchange(conn, request, body, reused=False)

    async def _exchange(
        self, conn: _Connection, request: h11.Request, body: bytes, *, reused: bool
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        responded = False  # a byte of the response arrived
        done = False
        try:
            try:
                data = conn.h11.send(request) or b""
                data += conn.h11.send(h11.Data(data=body)) or b""
                data += conn.h11.send(h11.EndOfMessage()) or b""
                conn.writer.write(data)
                await conn.writer.drain()
                while True:
                    event = conn.h11.next_event()
                    if event is h11.NEED_DATA:
                        chunk = await conn.reader.read(_READ_SIZE)
                        responded = responded or bool(chunk)
                        conn.h11.receive_data(chunk)
                        continue
                    if isinstance(event, h11.InformationalResponse):
                        continue
                    if isinstance(event, h11.Response):
                        response = event
                        break
                    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} before a response")
            except (OSError, h11.RemoteProtocolError) as exc:  # reset, broken pipe, EOF
                if reused and not responded:
                    raise _Stale from exc
                raise
            status = response.status_code
            received = 0
            while True:  # the body, read and discarded, at most MAX_RESPONSE_BYTES of it
                body_event = conn.h11.next_event()
                if body_event is h11.NEED_DATA:
                    conn.h11.receive_data(await conn.reader.read(_READ_SIZE))
                elif isinstance(body_event, h11.Data):
                    received += len(body_event.data)
                    if received >= MAX_RESPONSE_BYTES:
                        break  # not DONE: the connection is closed below
                else:  # EndOfMessage (or anything unexpected: then the connection is not DONE, and closed)
                    break
            done = True
            return status, list(response.headers)
        finally:
            if done:
                self._release(conn)
            else:  # an error, a timeout or cancellation part way
                self._discard(conn, abort=True)


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
    pool: Pool, *, url: str, body: bytes, headers: dict[str, str], allow_private: bool
) -> tuple[int, float | None, str | None]:
    target = await resolve_target(url, allow_private=allow_private)
    request_headers: list[tuple[str, str]] = [("Host", target.host_header)]
    request_headers += [(k, v) for k, v in headers.items() if k.lower() not in _OWN_HEADERS]
    request_headers += [("Content-Length", str(len(body)))]
    if not any(k.lower() == "user-agent" for k in headers):
        request_headers.append(("User-Agent", USER_AGENT))
    request = h11.Request(method="POST", target=target.path_and_query, headers=request_headers)
    status, response_headers = await pool.post(target, request, body)
    retry_after = next((v.decode("latin-1") for k, v in response_headers if k == b"retry-after"), None)
    error = f"HTTP {status}: redirects are not followed" if 300 <= status < 400 else None
    return status, parse_retry_after(retry_after), error


_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


async def send(
    pool: Pool,
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow_private: bool,
    timeout: float,
) -> Outcome:
    """POST `body` with `headers` to `url` once (see the module's docstring for the one resend on a stale
    keep-alive connection), within `timeout` seconds in all (DNS, waiting for a connection, connect, TLS, send,
    read).

    Never raises (but for cancellation): a refused target, a DNS or connection failure, a timeout, a protocol
    error becomes `Outcome(status_code=None, error=…)`. A 3xx is returned as it is (not followed, not ok)."""
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        async with asyncio.timeout(timeout):
            status, retry_after, error = await _post(
                pool, url=url, body=body, headers=headers, allow_private=allow_private
            )
    except TargetRefused as exc:
        return Outcome(status_code=None, latency_ms=elapsed(), error=f"target refused: {exc.message}")
    except TimeoutError:
        return Outcome(status_code=None, latency_ms=elapsed(), error=f"timed out after {timeout:g} s")
    except ConnectFailed as exc:
        return Outcome(status_code=None, latency_ms=elapsed(), error=f"could not connect: {exc}")
    except Exception as exc:  # noqa: BLE001 - an attempt's failure is an outcome, never an exception
        return Outcome(status_code=None, latency_ms=elapsed(), error=_short(exc))
    return Outcome(status_code=status, latency_ms=elapsed(), error=error, retry_after=retry_after)
