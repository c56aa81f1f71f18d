"""The pure parts of the Idempotency-Key mechanism: which keys are usable, what "the same request" is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ictg_common.idempotency import IdempotencyKeyInvalid, documented, fingerprint, valid_key

BODY = {"occurred_at": "2026-11-20T10:00:00+00:00", "outcome": "made", "topics": ["safety", "nrm"], "notes": None}
PATH = "/v1/cases/0190a1b2-0000-7000-8000-000000000001/contacts"


@pytest.mark.parametrize("key", ["k", "gmp-2026-000123", "8e03978e-40d5-43e8-bc93-6894a57f9324", "x" * 200, "a b"])
def test_usable_keys_are_taken_as_sent(key: str) -> None:
    assert valid_key(key) == key


def test_no_header_means_no_key() -> None:
    assert valid_key(None) is None


@pytest.mark.parametrize("key", ["", " ", "\t", "x" * 201, "a\nb", "a\x00b", "a\x7fb", "a\x85b"])
def test_unusable_keys_are_400_pointing_at_the_header(key: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid) as refused:
        valid_key(key)
    errors = refused.value.errors or []
    assert refused.value.status == 400 and [e["pointer"] for e in errors] == ["#header/Idempotency-Key"]


def _json(value: Any, **kw: Any) -> bytes:
    return json.dumps(value, **kw).encode()


@given(st.permutations(list(BODY)), st.sampled_from([None, 2]))
def test_the_same_json_written_differently_is_the_same_request(order: list[str], indent: int | None) -> None:
    reordered = {k: BODY[k] for k in order}
    assert fingerprint("POST", PATH, _json(reordered, indent=indent)) == fingerprint("POST", PATH, _json(BODY))


def test_method_path_and_body_each_make_another_request() -> None:
    same = fingerprint("POST", PATH, _json(BODY))
    assert fingerprint("post", PATH, _json(BODY)) == same
    assert fingerprint("PUT", PATH, _json(BODY)) != same
    assert fingerprint("POST", PATH.replace("0001", "0002"), _json(BODY)) != same
    assert fingerprint("POST", PATH + "?x=1", _json(BODY)) != same
    assert fingerprint("POST", PATH, _json({**BODY, "outcome": "attempted"})) != same
    assert fingerprint("POST", PATH, _json({**BODY, "topics": ["nrm", "safety"]})) != same  # lists keep order
    assert fingerprint("POST", PATH, b"not json") != fingerprint("POST", PATH, b"not  json")


def test_documented_adds_the_header_outcomes_to_an_endpoints_own() -> None:
    own: dict[int | str, dict[str, Any]] = {404: {"description": "No such case"}, 409: {"description": "Case closed"}}
    responses = documented(own)
    assert responses[404] == own[404] and own == {404: own[404], 409: {"description": "Case closed"}}
    assert responses[409]["description"].startswith("Case closed; or a request with the same Idempotency-Key")
    assert "Retry-After" in responses[409]["headers"]
    assert documented()[409]["description"].startswith("A request with the same Idempotency-Key")
    assert {400, 409, 422} <= set(responses)
