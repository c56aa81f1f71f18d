"""The event contract: the checked-in reference is what the models generate, and every event names
and satisfies its schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema_rs
import pydantic
import pytest
import yaml

from ictg_common import contracts
from ictg_common.contracts import REGISTRY, CasePathwayChanged, ContactRecorded, make_event, parse_data
from ictg_common.contracts.reference import files
from ictg_common.events import CloudEvent, new_id

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_checked_in_reference_is_what_the_models_generate() -> None:
    wanted = files()
    stale = [path for path, text in wanted.items() if not (DOCS / path).exists() or (DOCS / path).read_text() != text]
    extra = sorted(f"schemas/{p.name}" for p in (DOCS / "schemas").glob("*.json") if f"schemas/{p.name}" not in wanted)
    assert not stale and not extra, (
        f"stale {stale}, no longer generated {extra}: run `python -m ictg_common.contracts` and commit docs/"
    )


def test_asyncapi_has_a_channel_and_message_per_type() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {f"ictg.{m.SOURCE}.{m.name()}" for m in contracts.MODELS if m.ON_STREAM}
    assert "webhook_ping" not in doc["channels"] and "webhook_ping" in doc["components"]["messages"]
    for message in doc["components"]["messages"].values():
        ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"]
        assert (DOCS / ref).exists() and message["name"] in REGISTRY


def test_every_model_has_its_type_source_and_schema() -> None:
    assert len(REGISTRY) == len(contracts.MODELS) == 19
    for type_, model in REGISTRY.items():
        schema = json.loads((DOCS / "schemas" / f"{type_}.json").read_text())
        assert schema["$id"] == model.dataschema() and type_.startswith("ictg.") and type_.endswith(".v1")


def test_make_event_takes_type_source_and_dataschema_from_the_model() -> None:
    case, referral, now = new_id(), new_id(), datetime.now(UTC)
    data = ContactRecorded(
        case_id=case, referral_id=referral, contact_id=new_id(), occurred_at=now, outcome="made",
        method="phone", party="child", topics=["safety"],
    )  # fmt: skip
    event = CloudEvent.from_json(make_event(data=data, subject=case, time=now).to_json())
    assert (event.type, event.source, event.subject) == ("ictg.contact.recorded.v1", "/ictg/cases", str(case))
    assert event.dataschema == "https://ictg.example/schemas/ictg.contact.recorded.v1.json"
    assert event.nats_subject() == "ictg.cases.contact.recorded"
    validator = jsonschema_rs.validator_for(json.loads((DOCS / "schemas/ictg.contact.recorded.v1.json").read_text()))
    validator.validate(event.data)
    assert parse_data(event.type, event.data) == data


def test_consumers_read_old_events_and_refuse_broken_ones() -> None:
    now = datetime.now(UTC).isoformat()
    old = {"case_id": str(new_id()), "referral_id": str(new_id()), "pathway": "direct_worker", "changed_at": now}
    parsed = parse_data("ictg.case.pathway_changed.v1", old)  # stored before `unallocated` existed
    assert isinstance(parsed, CasePathwayChanged) and parsed.unallocated is False
    assert parse_data("ictg.case.pathway_changed.v2", old) is None  # a type this version does not know
    renamed = {**{k: v for k, v in old.items() if k != "changed_at"}, "changed_on": now}
    with pytest.raises(pydantic.ValidationError):  # a renamed field no longer turns silently into None
        parse_data("ictg.case.pathway_changed.v1", renamed)
