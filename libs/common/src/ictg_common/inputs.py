"""Building blocks of every request body: strict types, ISO dates, text Postgres can store.

Strict, because a mistyped field must be an error, not a guess: `"true"` is not a boolean, `"12"`
is not a number, and `1700000000` is not a date (lax parsing would take it as an epoch).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from .clock import LONDON

EARLIEST = date(1900, 1, 1)  # far enough back for any birth; keeps date arithmetic away from year 1


class StrictModel(BaseModel):
    """Unknown fields refused (a typo must not silently drop data), no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


def storable(v: str) -> str:
    """Postgres cannot store NUL, and a lone surrogate cannot be encoded: refuse both as input errors."""
    if "\x00" in v:
        raise ValueError("must not contain NUL characters")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return v


def _iso_text(v: Any) -> Any:
    if not isinstance(v, str):
        raise ValueError("must be an ISO 8601 string")
    return v


def _in_range(v: Any) -> Any:
    day = v.date() if isinstance(v, datetime) else v
    if day < EARLIEST or day.year > 9000:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and the year 9000")
    return v


STORABLE = AfterValidator(storable)
# Text in a query string or header, refused (422) unless Postgres can store it.
StorableText = Annotated[str, STORABLE]


def text(max_length: int, *, min_length: int = 0, pattern: str | None = None) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern)


IsoDate = Annotated[date, BeforeValidator(_iso_text), Field(strict=False), AfterValidator(_in_range)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), Field(strict=False), AfterValidator(_in_range)]
Uuid = Annotated[UUID, BeforeValidator(_iso_text), Field(strict=False)]


def _rfc3339(v: Any) -> Any:
    # A query value is always text, and lax parsing would take "0.5" for an epoch time.
    if not isinstance(v, str) or not re.match(r"\d{4}-\d{2}-\d{2}T", v):
        raise ValueError("must be an RFC 3339 date and time with an offset, e.g. 2026-11-20T09:30:00Z")
    return v


QueryTime = Annotated[IsoDateTime, BeforeValidator(_rfc3339)]  # a time in a query string


def _day_or_rfc3339(v: Any) -> Any:
    # A plain date is the start of that day in London: what "since 1 November" means to a person there.
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        try:
            day = date.fromisoformat(v)
        except ValueError:
            raise ValueError("must be a real date (YYYY-MM-DD) or an RFC 3339 date and time with an offset") from None
        return datetime.combine(day, time.min, tzinfo=LONDON).isoformat()
    if not isinstance(v, str) or not re.match(r"\d{4}-\d{2}-\d{2}T", v):
        raise ValueError("must be a date (YYYY-MM-DD, from midnight in London) or an RFC 3339 date and time with an "
                         "offset, e.g. 2026-11-20T09:30:00Z")  # fmt: skip
    return v


# A time in a query string, or a date meaning midnight Europe/London at its start (`2026-11-01`).
QuerySince = Annotated[IsoDateTime, BeforeValidator(_day_or_rfc3339)]


def query_time(value: datetime, name: str) -> datetime:
    """A time from a query string (`name`), as UTC: 422 unless RFC 3339 with an offset, years 1900 to
    9998 (beyond those, converting to UTC or to Postgres would overflow: never a 500)."""
    from .errors import ValidationFailed, field_error

    try:
        ok = value.tzinfo is not None and 1900 <= value.astimezone(UTC).year <= 9998
    except OverflowError:
        ok = False
    if not ok:
        raise ValidationFailed(
            f"{name} needs an RFC 3339 time with an offset (years 1900 to 9998), e.g. 2026-11-20T09:00:00Z.",
            errors=[field_error(f"#query/{name}", "give an RFC 3339 time with an offset")],
        )
    return value.astimezone(UTC)
