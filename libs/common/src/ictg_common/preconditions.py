"""Entity tags and `If-Match` (RFC 9110 §13.1.1), for a record whose version is a number bumped by every write.

The `ETag` of version 7 is `"7"`. `If-Match` holds one or more tags (a weak prefix is ignored) or `*`
(any current version). The case API lets a write without `If-Match` apply to the current version
(`matches(None, v)` is true); intake's referrer corrections require it (`require_match`: 428 without,
412 with a stale tag, the current `ETag` in the 412's headers so the client can re-read).
"""

from __future__ import annotations

from .errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    """The `ETag` of `version`."""
    return f'"{version}"'


def parse_if_match(header: str) -> list[str] | None:
    """Entity tags of an If-Match header (weak prefix ignored); None means `*`."""
    if header.strip() == "*":
        return None
    return [part.strip().removeprefix("W/").strip('"') for part in header.split(",")]


def matches(header: str | None, version: int) -> bool:
    """Without If-Match a write applies to the current version; with it, the version must match."""
    if header is None:
        return True
    tags = parse_if_match(header)
    return tags is None or str(version) in tags


def require_match(header: str | None, version: int, *, noun: str) -> None:
    """`If-Match` must be given (`PreconditionRequired`, 428) and name `version` (`PreconditionFailed`, 412,
    with the current `ETag`). `noun` names the record in the messages ("referral")."""
    if header is None or not header.strip():
        raise PreconditionRequired(
            f"Send If-Match with the {noun}'s ETag (from your last read of it), so that a correction never "
            "overwrites a change you have not seen.",
            headers={"ETag": etag(version)},
        )
    if not matches(header, version):
        raise PreconditionFailed(
            f"The {noun} has changed since you read it (its ETag is now {etag(version)}); read it again and retry.",
            headers={"ETag": etag(version)},
        )
