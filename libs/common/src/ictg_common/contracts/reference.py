"""The generated reference of the event contract: a JSON Schema per type, the AsyncAPI 3.0 document
of the stream and the catalogue, each as text keyed by its path under `docs/`. A webhook-only payload
(`EventData.ON_STREAM` false: the ping) has its schema and its message, but no subject, channel or
publish operation: it never goes on the bus.

Pure (no I/O): `python -m ictg_common.contracts` writes these files, and a test compares them with
the checked-in ones, so the reference cannot drift from the models.
"""

from __future__ import annotations

import json
from typing import Any

from ..events import SOURCES
from . import MODELS, SCHEMA_BASE, EventData

PUBLISHERS = {"intake": "Intake", "cases": "The case API", "webhooks": "The webhooks service"}

SUBJECT_PREFIX = "ictg"  # the default; each service's settings may change it (tests run on their own prefix)


def schema_path(model: type[EventData]) -> str:
    return f"schemas/{model.TYPE}.json"


def subject(model: type[EventData]) -> str:
    """The NATS subject of the model's events: `ictg.<source>.<event>` (a webhook-only type has none)."""
    return f"{SUBJECT_PREFIX}.{model.SOURCE}.{model.name()}"


WEBHOOK_ONLY = (
    "Webhook-only: sent straight to one subscription's URL when its owner asks for it, never published on the "
    "stream (no subject, no channel)."
)


def json_schema(model: type[EventData]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the model's `data`; `$id` is what the events' `dataschema` says."""
    body = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": model.dataschema(),
        **{k: v for k, v in body.items() if k not in ("title", "description")},
        "title": model.TYPE,
        "description": _doc(model),
    }


def _doc(model: type[EventData]) -> str:
    own = model.__dict__.get("__doc__") or ""
    return " ".join(own.split()) or f"The data of a `{model.TYPE}` event."


def _key(model: type[EventData]) -> str:
    return model.name().replace(".", "_")  # AsyncAPI ids: letters, digits, _ and -


ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0, structured JSON.",
    "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "format": "uuid", "description": "UUIDv7; also the NATS Msg-Id."},
        "source": {"type": "string", "enum": sorted(SOURCES.values())},
        "type": {"type": "string", "description": "ictg.<event>.v<version>"},
        "subject": {"type": "string", "description": "The case id; the referral id before a case exists."},
        "time": {"type": "string", "format": "date-time", "description": "When it happened in the world."},
        "datacontenttype": {"const": "application/json"},
        "dataschema": {"type": "string", "format": "uri", "description": "The JSON Schema of `data`."},
        "data": {"type": "object"},
        "traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "CloudEvents distributed-tracing extension: the W3C traceparent of the request or "
            "handler that caused the event. Present only when tracing is on.",
        },
    },
}


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: a message per event type whose `data` references the type's JSON Schema,
    and a channel (its NATS subject) and publish operation per type on the stream: a webhook-only type's
    message is under `components.messages` alone."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for m in MODELS:
        key = _key(m)
        messages[key] = {
            "name": m.TYPE,
            "title": m.name(),
            "summary": _doc(m),
            **({} if m.ON_STREAM else {"description": WEBHOOK_ONLY}),
            "contentType": "application/json",
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEvent"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": m.TYPE},
                            "source": {"const": SOURCES[m.SOURCE]},
                            "dataschema": {"const": m.dataschema()},
                            "data": {"$ref": f"./{schema_path(m)}"},
                        },
                    },
                ]
            },
        }
        if not m.ON_STREAM:
            continue
        channels[key] = {
            "address": subject(m),
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "summary": f"{PUBLISHERS[m.SOURCE]} publishes `{m.TYPE}` (via its outbox).",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ICTG event stream",
            "version": "1.0.0",
            "description": (
                "Events of the ICTG platform on NATS JetStream (stream `ICTG`, subjects `ictg.>`). Generated by "
                "`python -m ictg_common.contracts` from `ictg_common.contracts`; do not edit by hand. A message "
                "without a channel (`webhook_ping`) is a webhook-only payload: delivered to one subscriber's URL, "
                "never published on the stream."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {"host": "nats:4222", "protocol": "nats", "description": "JetStream, stream ICTG"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": {"CloudEvent": ENVELOPE}, "messages": messages},
    }


def _type_text(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " \\| ".join(_type_text(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return "{" + prop["$ref"].rsplit("/", 1)[-1] + "}"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("type") == "array":
        return f"[{_type_text(prop.get('items', {}))}]"
    return str(prop.get("format") or prop.get("type", "any"))


def catalogue() -> str:
    """`docs/events.md`: one table row per type, its subject, schema and fields."""
    lines = [
        "# Event catalogue",
        "",
        "Generated by `python -m ictg_common.contracts` from the models of `ictg_common.contracts`; do not edit",
        "by hand. The machine-readable reference is `docs/asyncapi.yaml` (AsyncAPI 3.0) and `docs/schemas/`",
        "(one JSON Schema per type). Each event names its schema in `dataschema`:",
        f"`{SCHEMA_BASE}<type>.json` is the checked-in `docs/schemas/<type>.json`.",
        "",
        "Envelope: CloudEvents 1.0 (structured JSON), built only with `ictg_common.contracts.make_event`. `subject`",
        "is the case id (the referral id for `referral.received`), `time` is when it happened in the world.",
        "`data` carries ids, codes, dates and derived attributes only: never names, contact details, date of",
        "birth or notes. Datetimes are RFC 3339, dates ISO. A field marked `?` may be absent (a default applies);",
        "a field that may be null says `null`. A breaking change is a new `…v2` type.",
        "",
        "| type | NATS subject | data |",
        "|---|---|---|",
    ]
    for m in MODELS:
        schema = m.model_json_schema()
        required = set(schema.get("required", []))
        fields = ", ".join(
            f"`{name}{'' if name in required else '?'}` {_type_text(prop)}"
            for name, prop in schema["properties"].items()
        )
        where = f"`{subject(m)}`" if m.ON_STREAM else "none: webhook only, never on the stream"
        lines.append(f"| [`{m.TYPE}`]({schema_path(m)}) | {where} | {fields} |")
    nested = {k: v for m in MODELS for k, v in m.model_json_schema().get("$defs", {}).items()}
    if nested:
        lines += ["", "Nested objects:", ""]
        for name, body in sorted(nested.items()):
            fields = ", ".join(f"`{f}` {_type_text(p)}" for f, p in body["properties"].items())
            lines.append(f"- `{name}`: {fields}")
    return "\n".join(lines) + "\n"


def files() -> dict[str, str]:
    """Every generated file, keyed by its path under `docs/`."""
    import yaml  # a development dependency: only the generator and its test need it

    out = {schema_path(m): json.dumps(json_schema(m), indent=2, ensure_ascii=False) + "\n" for m in MODELS}
    out["asyncapi.yaml"] = "# Generated by `python -m ictg_common.contracts`; do not edit.\n" + yaml.safe_dump(
        asyncapi(), sort_keys=False, allow_unicode=True, width=120
    )
    out["events.md"] = catalogue()
    return out
