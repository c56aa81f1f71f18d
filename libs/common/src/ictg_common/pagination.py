"""Keyset pagination for every list endpoint: `{"items": [...], "next_cursor": ...}`.

Repositories fetch `limit + 1` rows after the cursor's key; `split` cuts the extra one off and
says whether there is a next page. Cursors are opaque to clients and refused with 422 when forged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from .errors import ValidationFailed, field_error

T = TypeVar("T")

# The OpenAPI descriptions of every list's paging fields and parameters.
NEXT_CURSOR = "Pass it as `cursor` to fetch the next page; null when this is the last page."
CURSOR = "The `next_cursor` of the previous page; omit it for the first page."
LIMIT = "Largest number of items in the page, 1–500."


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed("Invalid cursor.", errors=[field_error("#query/cursor", "not a cursor")])


def split(rows: Sequence[T], limit: int, key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """The page (at most `limit` rows) and the cursor of the next one, from `limit + 1` fetched rows."""
    page = list(rows[:limit])
    return page, (key(page[-1]) if len(rows) > limit and page else None)


def uuid_key(cursor: str | None) -> UUID | None:
    """Cursor over a UUIDv7 key (time-ordered ids)."""
    if not cursor:
        return None
    try:
        return UUID(cursor)
    except ValueError:
        raise invalid_cursor() from None


def int_key(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isdigit() or len(cursor) > 18:  # a bigint key
        raise invalid_cursor()
    return int(cursor)


def encode_time_key(at: datetime, ident: UUID) -> str:
    """Cursor over (time, id), for lists ordered by a time that is not the id's own."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{ident}".encode()).decode()


def time_key(cursor: str | None) -> tuple[datetime, UUID] | None:
    if not cursor:
        return None
    try:
        raw, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        at = datetime.fromisoformat(raw)
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at.astimezone(UTC), UUID(ident)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise invalid_cursor() from None


def encode_position_key(position: int, ident: UUID) -> str:
    """Cursor over (position, id): a change feed's place (e.g. the writing transaction's id)."""
    return base64.urlsafe_b64encode(f"p{position}|{ident}".encode()).decode()


def position_key(cursor: str | None) -> tuple[int, UUID] | None:
    if not cursor:
        return None
    try:
        raw, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        if not raw.startswith("p") or not raw[1:].isascii() or not raw[1:].isdigit() or int(raw[1:]) >= 2**63:
            raise ValueError("not a position")  # a bigint
        return int(raw[1:]), UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
