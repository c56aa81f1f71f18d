"""What a referrer sends to correct or withdraw its referral, and the withdrawal it reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from ictg_common.codes import WithdrawalReason
from ictg_common.inputs import STORABLE, StrictModel, text

Detail = Annotated[str, text(500), STORABLE]

CORRECTABLE = (
    "identified_on, referrer (contact_name, contact_email, contact_phone, reference), local_authority_code, child "
    "(any field), parental_responsibility_in_uk, exploitation, nrm, circumstances, notes"
)


class WithdrawalCreate(StrictModel):
    """Why the referral is withdrawn."""

    reason: WithdrawalReason = Field(
        description="`made_in_error` (the child should not have been referred), `duplicate` (referred already: "
        "name the other referral in `detail`), or `other` (say why in `detail`)."
    )
    detail: Detail | None = Field(
        default=None,
        description="Anything the service should know (up to 500 characters). Kept with the referral and shown to "
        "the service's staff, never published in an event.",
    )


class Withdrawal(BaseModel):
    """The referrer's withdrawal of its referral."""

    withdrawn_at: datetime = Field(description="When the referrer withdrew it (the service's clock).")
    reason: WithdrawalReason = Field(description="`made_in_error`, `duplicate` or `other`.")
    detail: str | None = Field(description="As sent; null if none.")


# What a correction never names (`corrections.FIXED` refuses them with a pointer).
_NOT_IN_A_CORRECTION = {
    (): ("received_at", "missing_at_referral"),
    ("referrer",): ("organisation_type", "organisation_name"),
}


def correction_schema(create: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a correction, for the API's documentation: the fields of `create` (a referral as
    filed, `schemas.ReferralCreate`, which imports this module) at every level, none required (a merge patch
    names only what it changes), without those a correction may not change."""
    full = create.model_json_schema()
    defs = full.pop("$defs", {})

    def loose(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [loose(v, path) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
        out = {k: loose(v, path) for k, v in node.items() if k not in ("required", "examples", "properties")}
        if "properties" in node:
            dropped = _NOT_IN_A_CORRECTION.get(path, ())
            out["properties"] = {
                name: loose(v, (*path, name)) for name, v in node["properties"].items() if name not in dropped
            }
        return out

    schema: dict[str, Any] = loose(full, ())
    return schema | {
        "title": "ReferralCorrection", "type": "object", "additionalProperties": False,
        "description": "What a correction may change: any of these, at any depth; the rest stays as it is.",
    }  # fmt: skip
