"""SSRF checks of a webhook's target (`ictg_webhooks.targets`): which URLs and addresses are refused, and
what a resolved target keeps."""

from __future__ import annotations

import pytest

from ictg_webhooks.targets import Target, TargetRefused, address_problem, resolve_target, url_problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/", "http://10.1.2.3/"])
async def test_loopback_and_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(TargetRefused, match="private targets are not allowed"):
        await resolve_target(url, allow_private=False)
    target = await resolve_target(url, allow_private=True)
    assert target.addresses


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "IPv4-mapped form of 169.254.169.254"),
        ("http://[::ffff:0:a9fe:a9fe]/", "IPv4-translated form of 169.254.169.254"),  # ::ffff:0:0:0/96
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "reserved"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_link_local_metadata_and_special_targets_are_always_refused(
    url: str, why: str, allow_private: bool
) -> None:
    with pytest.raises(TargetRefused, match=why):
        await resolve_target(url, allow_private=allow_private)


@pytest.mark.parametrize(
    ("ip", "refused", "refused_when_private_allowed"),
    [
        ("10.1.2.3", True, False),
        ("172.16.0.1", True, False),
        ("192.168.1.1", True, False),
        ("100.64.0.1", True, False),
        ("127.0.0.1", True, False),
        ("::1", True, False),
        ("fc00::1", True, False),
        ("::ffff:10.1.2.3", True, False),
        ("::ffff:127.0.0.1", True, False),
        ("169.254.169.254", True, True),
        ("fe80::1", True, True),
        ("fd00:ec2::254", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("64:ff9b::a9fe:a9fe", True, True),  # NAT64 form of the metadata address
        ("::ffff:0:a9fe:a9fe", True, True),  # IPv4-translated form of the metadata address
        ("::ffff:0:a01:203", True, False),  # IPv4-translated 10.1.2.3
        ("::ffff:0:808:808", False, False),  # IPv4-translated 8.8.8.8
        ("0.0.0.0", True, True),
        ("ff02::1", True, True),
        ("8.8.8.8", False, False),
        ("2606:4700:4700::1111", False, False),
        ("::ffff:8.8.8.8", False, False),
    ],
)
def test_address_problem(ip: str, refused: bool, refused_when_private_allowed: bool) -> None:
    assert (address_problem(ip, allow_private=False) is not None) is refused
    assert (address_problem(ip, allow_private=True) is not None) is refused_when_private_allowed


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        await resolve_target("https://no-such-host.invalid/hook", allow_private=True)


async def test_a_resolved_target_keeps_host_port_path_and_the_checked_addresses() -> None:
    target = await resolve_target("https://[::1]:8443/hook?a=1", allow_private=True)
    assert target == Target(scheme="https", host="::1", port=8443, path_and_query="/hook?a=1", addresses=("::1",))
    assert target.host_header == "[::1]:8443"
    plain = await resolve_target("http://localhost/", allow_private=True)
    assert plain.port == 80 and plain.host_header == "localhost"


@pytest.mark.parametrize(
    ("url", "https_required", "message"),
    [
        ("ftp://example.com/hook", False, "https://"),
        ("http://example.com/hook", True, "must use https"),
        ("https://user:pass@example.com/hook", False, "user name or password"),
        ("https:///hook", False, "name a host"),
        ("/hook", False, "https://"),
        ("https://example.com:0/hook", False, "port"),
        ("https://example.com:70000/hook", False, "port"),
        ("https://example.com/" + "a" * 2000, False, "longer than 2000"),
        ("https://exa mple.com/", False, "spaces"),
        ("https://2130706433/", False, "not a valid host name"),
    ],
)
def test_url_problem_explains(url: str, https_required: bool, message: str) -> None:
    problem = url_problem(url, https_required=https_required)
    assert problem is not None and message in problem


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "https://hooks.example.co.uk:8443/a?b=c", "http://10.0.0.1/x"]
)
def test_url_problem_accepts(url: str) -> None:
    assert url_problem(url, https_required=url.startswith("https")) is None
