"""Typed domain errors of the case API; the shared handler renders them as RFC 9457 problems."""

from __future__ import annotations

from ictg_common.errors import Conflict, Forbidden, PreconditionFailed, ValidationFailed


class CaseClosed(Conflict):
    title, slug = "Case closed", "case-closed"


class StaleETag(PreconditionFailed):
    title, slug = "Stale ETag", "stale-etag"


class OutsideRegion(Forbidden):
    title, slug = "Case outside your regions", "outside-region"


class NotYourChild(Forbidden):
    title, slug = "Not one of your children", "not-your-child"


class CouncilRefused(Forbidden):
    title, slug = "Not open to council tokens", "council-refused"


class EpisodeConflict(Conflict):
    title, slug = "Missing episode conflict", "missing-episode-conflict"


class AllocationConflict(Conflict):
    title, slug = "Allocation conflict", "allocation-conflict"


class PathwayConflict(Conflict):
    title, slug = "Pathway conflict", "pathway-conflict"


class RecordInvalid(ValidationFailed):
    """A body that is well-formed but breaks a rule of the case (times, roles, capacity)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} field(s) failed validation.", errors=errors)


class IdentifierTaken(Conflict):
    title, slug = "Identifier already filed for another child", "identifier-taken"
