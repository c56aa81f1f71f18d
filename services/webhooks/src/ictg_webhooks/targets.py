"""Webhook targets and SSRF protection: a subscription's URL must never reach the
platform's own network or a cloud metadata service.

Two layers:

- `url_problem`: a syntactic check of a subscription URL for the API (no DNS).
- `resolve_target`: resolves the host with the event loop's resolver and refuses the target if *any*
  address it resolves to may not be called. The sender connects to one of the checked addresses (never to a
  name resolved again), so a DNS answer that changes between the check and the connection (DNS rebinding)
  cannot redirect a delivery to an internal address.

Always refused: link-local (169.254.0.0/16, fe80::/10, which hold cloud metadata services), other cloud
metadata addresses (fd00:ec2::254, 100.100.100.200, 192.0.0.192), unspecified ("this network" 0.0.0.0/8, ::),
multicast, reserved and other special-purpose non-global addresses. Refused unless `allow_private`: loopback
(127.0.0.0/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared/CGNAT (100.64.0.0/10). IPv6 forms
carrying an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by the IPv4 address they carry.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass

import httpx

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Refused whatever allow_private says.
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_ALWAYS_REFUSED: tuple[tuple[str, tuple[_Network, ...]], ...] = (
    ("an unspecified address", _nets("0.0.0.0/8", "::/128")),
    ("a link-local address", _nets("169.254.0.0/16", "fe80::/10")),
    ("a multicast address", _nets("224.0.0.0/4", "ff00::/8")),
    ("a reserved address", _nets("240.0.0.0/4", "fec0::/10")),
)
# Refused unless allow_private.
_PRIVATE: tuple[tuple[str, tuple[_Network, ...]], ...] = (
    ("a loopback address", _nets("127.0.0.0/8", "::1/128")),
    ("a private address", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "64:ff9b:1::/48")),
    ("a shared (CGNAT) address", _nets("100.64.0.0/10")),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765's SIIT form, e.g. ::ffff:0:a9fe:a9fe

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class TargetRefused(Exception):
    """The URL may not be called (its message says why, fit for an API response or a delivery error)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    """A checked target: connect only to `addresses` (in order), sending `host_header` as Host."""

    scheme: str
    host: str  # ASCII (IDNA-encoded) name or IP literal, IPv6 without brackets
    port: int
    path_and_query: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The Host header value: host, plus the port when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS.get(self.scheme) == self.port else f"{host}:{self.port}"


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_TRANSLATED:
        return "IPv4-translated", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    return None


def _classify(ip: IPAddress, *, allow_private: bool) -> str | None:
    """What kind of refused address this is ("a loopback address …"), or None if it may be called."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            kind, v4 = embedded
            what = _classify(v4, allow_private=allow_private)
            return None if what is None else f"the {kind} form of {v4}, {what}"
    if ip in _METADATA:
        return "a cloud metadata address"
    for what, networks in _ALWAYS_REFUSED:
        if any(ip in net for net in networks):
            return what
    for what, networks in _PRIVATE:
        if any(ip in net for net in networks):
            return None if allow_private else f"{what} (private targets are not allowed)"
    if not ip.is_global:
        return "a special-purpose (non-global) address"
    return None


def address_problem(ip: str, *, allow_private: bool) -> str | None:
    """Why a delivery may not connect to this IP address, or None if it may."""
    parsed = _parse_ip(ip.strip().removeprefix("[").removesuffix("]"))
    if parsed is None:
        return f"{ip!r} is not an IP address"
    what = _classify(parsed, allow_private=allow_private)
    return None if what is None else f"{ip.strip()} is {what}"


def _host_problem(host: str) -> str | None:
    if _parse_ip(host) is not None:
        return None
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return f"{host!r} is not a valid host name"
    if _NUMERIC_LABEL.match(labels[-1]):  # "127.1", "2130706433", "0x7f.1": IPv4 shorthands, not names
        return f"{host!r} is not a valid host name (write IP addresses in full, dotted form)"
    return None


def url_problem(url: str, *, https_required: bool) -> str | None:
    """A syntactic check of a webhook URL (no DNS): a helpful message, or None if it is acceptable."""
    try:
        return _url_problem(url, https_required=https_required)
    except Exception as exc:  # noqa: BLE001 - any URL the parsers choke on (bad punycode…) is not valid
        return f"the URL is not valid: {type(exc).__name__}"


def _url_problem(url: str, *, https_required: bool) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "the URL may not contain spaces or control characters"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return f"the URL is not valid: {exc}"
    if parsed.scheme not in DEFAULT_PORTS:
        return "the URL must start with https:// (or http:// where plain http is allowed)"
    if not parsed.is_absolute_url or not parsed.host:
        return "the URL must be absolute and name a host"
    if parsed.userinfo:
        return "the URL may not contain a user name or password"
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return "the URL's port must be between 1 and 65535"
    problem = _host_problem(parsed.raw_host.decode("ascii"))
    if problem is None and https_required and parsed.scheme != "https":
        problem = "the URL must use https"
    return problem


def _split(url: str) -> tuple[str, str, int, str]:
    problem = url_problem(url, https_required=False)
    if problem is not None:
        raise TargetRefused(problem)
    parsed = httpx.URL(url)
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[parsed.scheme]
    return parsed.scheme, parsed.raw_host.decode("ascii"), port, parsed.raw_path.decode("ascii")


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host (without blocking the loop) and check every address; raise TargetRefused if any
    address may not be called or the name does not resolve."""
    try:
        scheme, host, port, path_and_query = _split(url)
    except TargetRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - an unparseable URL is refused, never an error
        raise TargetRefused(f"the URL is not valid: {type(exc).__name__}") from None
    literal = _parse_ip(host)
    if literal is not None:
        found: list[str] = [str(literal)]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"{host} does not resolve ({exc})") from None
        found = []
        for family, _type, _proto, _canon, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(sockaddr[0])
            if address not in found:
                found.append(address)
        if not found:
            raise TargetRefused(f"{host} does not resolve to any IP address")
    for address in found:
        what = _classify(ipaddress.ip_address(address), allow_private=allow_private)
        if what is not None:
            raise TargetRefused(
                f"{address} is {what}" if literal is not None else f"{host} resolves to {address}, {what}"
            )
    return Target(scheme=scheme, host=host, port=port, path_and_query=path_and_query, addresses=tuple(found))
