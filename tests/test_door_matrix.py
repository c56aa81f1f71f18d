"""One access policy, every door: each kind of token × every door of intake, the case API, metrics,
webhooks and the token service (identity) × the records and fields that reach it, against one table, `DOORS`.

Every route of the five apps is placed in the table (a new door fails until someone says who may use it),
and every answer is compared with its cell: a refusal's status and problem type, or exactly which fields
arrive (`a.b`; `a[].b` in lists; a timeline's entries by kind, `items[contact.recorded].record.notes`),
which seeded records (by seed name) and which fields are null. A field nobody placed fails. Besides its
cell, every answer is checked for what never varies: no 500, problem+json on every refusal, none of the
seeded names and notes its kind of token may not read (`MAY_READ`), no seeded secret (a client's, shown once
when it was registered), and for a refused record the very same answer as for an id that does not exist (but
a guardian outside their regions: that 403 names break-glass). The token endpoint is OAuth 2.0's, not the
API's: it refuses in RFC 6749's `application/json` (`error`, with RFC 9457's members beside it), and a bearer
token is no client authentication there (`OAuthRefused`).

The councils walk the reads twice: while case A is Manchester's (`manchester_before`, `salford_before`) and
after its move to Salford. Writes are walked last, a few representative ones; the others are placed in the
table as covered elsewhere. In a field list `x.*` places everything under `x` (the service's own staff see
the whole referral) and `x?` a field that arrives only sometimes.

What a door leaks today stands in the table as it is, marked `# LEAK:`, with a strict expected failure
below that says what it should do. The world (services, tokens, seed) is in `tests/support/door_matrix_world.py`."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ictg_cases.app import create_app as create_cases
from ictg_cases.settings import CasesSettings
from ictg_common import clock
from ictg_identity.app import create_app as create_identity
from ictg_identity.settings import IdentitySettings
from ictg_intake.app import create_app as create_intake
from ictg_intake.settings import IntakeSettings
from ictg_metrics.app import create_app as create_metrics
from ictg_metrics.settings import MetricsSettings
from ictg_webhooks.app import create_app as create_webhooks
from ictg_webhooks.settings import WebhooksSettings
from tests.support.door_matrix_world import (
    BEFORE,
    GMP,
    GUARDIAN_WORKER,
    IDENTITY_ISSUER,
    KENT,
    KENT_POLICE,
    KINDS,
    MANCHESTER,
    MAY_READ,
    OVER_SCOPED,
    REFERRAL_A,
    SALFORD,
    SEEDER,
    TEXTS,
    Seen,
    World,
    doors_of,
    file_referral,
    headers_of,
    is_staff,
    matches,
    not_before,
    platform,
    read,
    record,
    seed_after_the_move,
    seed_before_the_move,
    times,
)
from tests.support.factories import referral_body
from tests.support.platform import eventually

# --- outcomes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    status: int
    problem: str  # the problem type's last segment


@dataclass(frozen=True)
class Shows:
    """A JSON answer: exactly these fields; these seeded records, sorted (None: not a record read; `*`: some);
    these fields null or empty."""

    fields: frozenset[str]
    records: tuple[str, ...] | None = None
    status: int = 200
    nulls: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Text:
    """Not JSON (HTML, a static file, Prometheus' text, CSV); `rows`: the SSDA903 export's, by child."""

    media: str
    rows: frozenset[tuple[str, ...]] | None = None
    status: int = 200


@dataclass(frozen=True)
class OAuthRefused:
    """An OAuth 2.0 error (RFC 6749 §5.2): `application/json` with `error`, and RFC 9457's members beside it."""

    status: int
    error: str


Outcome = Refused | Shows | Text | OAuthRefused
UNAUTHENTICATED = Refused(401, "unauthorized")
FORBIDDEN = Refused(403, "forbidden")  # a scope or an organisation type short: the same for any id
CEILING = Refused(403, "scope-above-ceiling")
NOT_FOUND = Refused(404, "not-found")
OUTSIDE = Refused(403, "outside-region")  # staff only: it names break-glass, so it may say the case exists
NOT_FOR_COUNCILS = Refused(403, "council-refused")
NOT_YOUR_CHILD = Refused(403, "not-your-child")  # a council naming an authority it does not answer for
VALIDATION = Refused(422, "validation")

AFTER = list(KINDS)
ALL = [*AFTER, *BEFORE]


def jwt(others: Outcome = FORBIDDEN, **kinds: Outcome) -> dict[str, Outcome]:
    """A door behind a bearer token: no token and the scrape token 401, every over-scoped token 403 at its
    ceiling, `others` for each kind not named; the councils before the move as after unless named."""
    cells: dict[str, Outcome] = {k: others for k in AFTER}
    cells.update(anon=UNAUTHENTICATED, scraper=UNAUTHENTICATED, **dict.fromkeys(OVER_SCOPED, CEILING))
    cells.update({k: v for k, v in kinds.items() if k not in BEFORE})
    for before, after in BEFORE.items():
        cells[before] = kinds.get(before, cells[after])
    return cells


def public(outcome: Outcome) -> dict[str, Outcome]:
    """A door without a token (the probes, the API's documents): the same for everyone."""
    return dict.fromkeys(ALL, outcome)


def one(fields: Iterable[str], *records: str, status: int = 200, nulls: Iterable[str] = ()) -> Shows:
    return Shows(frozenset(fields), tuple(sorted(records)) if records else None, status, frozenset(nulls))


def page(
    item: Iterable[str], *records: str, extra: Iterable[str] = ("next_cursor",), nulls: Iterable[str] = ()
) -> Shows:
    """A list: each item with exactly `item`'s fields, exactly `records` among the items (none: empty)."""
    fields = {f"items[].{f}" for f in item} if records else {"items"}
    nulls = frozenset(f"items[].{n}" for n in nulls)
    return Shows(frozenset(fields | set(extra)), tuple(sorted(records)), nulls=nulls)


def timeline(record: Mapping[str, Iterable[str]], *entries: str, nulls: Iterable[str] = ()) -> Shows:
    """A timeline: exactly `entries` (`kind:record`), each kind's record with exactly `record[kind]`'s fields
    (`nulls`: `kind.field` null)."""
    kinds = {e.split(":")[0] for e in entries}
    fields = {f"items[{k}].{f}" for k in kinds for f in ("at", "kind", "id")}
    fields |= {f"items[{k}].record.{f}" for k in kinds for f in record[k]}
    nulls = frozenset(f"items[{n.rsplit('.', 1)[0]}].record.{n.rsplit('.', 1)[1]}" for n in nulls)
    return Shows(frozenset(fields | {"next_cursor"}), tuple(sorted(entries)), nulls=nulls)


@dataclass(frozen=True)
class Probe:
    """One way of calling a door. Path parameters and query values name seeded things (`World.values`); the
    body is JSON or made for the kind (`form`: a form instead); `key` names a list's records; `ghost`: each
    refusal must be the very answer for an id that does not exist (the last path parameter replaced by a
    random one)."""

    expect: Mapping[str, Outcome]
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    form: Mapping[str, str] | None = None
    key: str = "id"
    ghost: bool = True


@dataclass(frozen=True)
class Covered:
    """A write the matrix does not make: where its refusals and its effects are tested."""

    where: str


def probe(expect: Mapping[str, Outcome], **kw: Any) -> tuple[Probe, ...]:
    return (Probe(expect, **kw),)


# --- fields ----------------------------------------------------------------------------------------------

RECORD = ("id", "case_id", "recorded_at", "recorded_by")
CONTACT = (*RECORD, "occurred_at", "outcome", "method", "party", "topics", "notes")
ALLOCATION = (*RECORD, "worker_id", "role", "allocated_at", "ended_at", "over_capacity", "override_reason")
_EPISODE = ("started_at", "ended_at", "at_referral", "whereabouts_known", "reported_to_police",
            "missing_from_care_meeting", "professional_network_meeting", "return_interview_offered")  # fmt: skip
EPISODE = (*RECORD, *_EPISODE)
ASSESSMENT = (*RECORD, "assessed_at", "living_situation", "trafficker_contact", "education", "cjs_involvement")
NRM = (*RECORD, "stage", "outcome", "decided_at")
ADVOCACY = (*RECORD, "kind", "area", "occurred_at", "notes")
MOVE = (*RECORD, "moved_at", "from_local_authority_code", "local_authority_code", "region")
PATHWAY = (*RECORD, "from_pathway", "pathway", "changed_at")
EXIT = (*RECORD, "exited_at", "reason", "destination")
_INTERVIEW = ("episode_id", "ended_at", "due_by", "offered_at", "outcome", "completed_at", "conducted_by", "within_72h")
INTERVIEW = (*RECORD, *_INTERVIEW)
# What a council sees of each: never who recorded it, notes, a contact's outcome or topics, the guardian.
C_CONTACT = ("id", "case_id", "occurred_at", "method", "party")
C_ALLOCATION = ("id", "case_id", "role", "allocated_at", "ended_at", "region")
C_EPISODE = ("id", "case_id", *_EPISODE)
C_NRM = ("id", "case_id", "stage", "outcome", "decided_at")
C_MOVE = ("id", "case_id", "moved_at", "from_local_authority_code", "local_authority_code", "region")
C_PATHWAY = ("id", "case_id", "from_pathway", "pathway", "changed_at")
C_EXIT = ("id", "case_id", "exited_at", "reason", "destination")
C_INTERVIEW = ("id", "case_id", *_INTERVIEW)

CASE = (
    "id", "referral_id", "status", "received_at", "opened_at", "region", "pathway", "local_authority_code",
    "local_authority_name", "allocation_due_by", "first_contact_due_by", "worker_id", "allocated_at",
    "first_contact_at", "exited_at", "turns_18_on", "maximum_duration_on", "missing", "long_term_missing", "overdue",
    "attributes.*", "personal.*", "version", "changed_at", "referral_withdrawn_at", "referral_withdrawal_reason",
)  # fmt: skip
_CHILD = ("given_name", "family_name", "other_names", "date_of_birth", "estimated_age", "age_disputed", "gender",
          "nationality")  # fmt: skip
IDENTIFIERS = ("local_authority_code", "la_child_id", "upn", "nhs_number", "looked_after", "date_of_birth",
               "updated_at")  # fmt: skip
LIST_8_EMPTY = ("local_authority_code", "as_at", "period_start", "columns", "items")
LIST_8 = (*LIST_8_EMPTY[:-1], *(f"items[].{f}" for f in ("child_unique_id", "case_id", "missing_episodes",
          "absent_episodes", "return_interview_offered", "return_interview_accepted")))  # fmt: skip
# A council whose period has ended sees the case as it was: nothing of it now.
PAST = ("status", "pathway", "local_authority_code", "allocation", "missing")


def council_case(*, allocated: bool = False, identified: bool = True) -> tuple[str, ...]:
    """The council's view of a case (`allocated`: a current allocation it sees; `identified`: its own ids)."""
    return (
        "id", "referral_id", "received_at", *(f"child.{c}" for c in _CHILD), "responsible_now",
        *(f"periods[].{p}" for p in ("local_authority_code", "region", "starts_at", "ends_at")),
        "status", "pathway", "local_authority_code", "missing", "exited_at", "turns_18_on", "changed_at",
        *(("allocation.role", "allocation.region", "allocation.allocated_at") if allocated else ("allocation",)),
        *((f"local_identifiers[].{i}" for i in IDENTIFIERS) if identified else ("local_identifiers",)),
        "coded_facts.*",
    )  # fmt: skip


KINDS_OF_ENTRY = (
    "case.opened", "case.allocated", "contact.recorded", "missing.started", "missing.ended",
    "return_interview.recorded", "assessment.recorded", "advocacy.recorded", "nrm_decision.recorded", "case.moved", "case.pathway_changed", "case.exited",
)  # fmt: skip
STAFF_TIMELINE = dict.fromkeys(KINDS_OF_ENTRY, ("*",))
COUNCIL_TIMELINE = {
    kind: tuple(f for f in fields if f != "case_id")
    for kind, fields in {
        "case.opened": ("status",),
        "case.allocated": C_ALLOCATION,
        "contact.recorded": C_CONTACT,
        "missing.started": C_EPISODE,
        "missing.ended": C_EPISODE,
        "return_interview.recorded": C_INTERVIEW,
        "nrm_decision.recorded": C_NRM,
        "case.moved": C_MOVE,
        "case.pathway_changed": C_PATHWAY,
        "case.exited": C_EXIT,
    }.items()
}
A_STAFF = (
    "case.opened:case_a", "case.allocated:allocation", "contact.recorded:contact_1", "contact.recorded:contact_2",
    "contact.recorded:contact_late",
    "missing.started:episode", "missing.ended:episode", "return_interview.recorded:return_interview",
    "assessment.recorded:assessment",
    "advocacy.recorded:advocacy", "nrm_decision.recorded:nrm_decision", "case.moved:move",
)  # fmt: skip
A_MANCHESTER = ("case.opened:case_a", "case.allocated:allocation", "contact.recorded:contact_1",
                "missing.started:episode", "nrm_decision.recorded:nrm_decision")  # fmt: skip
# The return fell in Salford's period: Manchester sees the episode it went missing in, never how it ended.
RETURN = ("missing.started.ended_at", "missing.started.return_interview_offered")
A_SALFORD = ("case.moved:move", "contact.recorded:contact_2", "missing.started:episode", "missing.ended:episode",
             "return_interview.recorded:return_interview")  # fmt: skip
B_ALL = ("case.opened:case_b", "case.pathway_changed:pathway_change", "case.exited:exit")

REFERRAL = (
    "id", "received_at", "identified_on", "referrer.*", "local_authority_code", "local_authority_name", "region",
    "pathway", "child.*", "age_at_referral", "age_band", "nationality_group", "parental_responsibility_in_uk",
    "exploitation.*", "missing_at_referral", "nrm.*", "circumstances.*", "notes", "possible_duplicate_of",
    "timeliness.*", "status", "case_opened_at", "allocated_at", "exited_at", "version", "amended_at", "withdrawal",
)  # fmt: skip
AUDIT = page(("id", "time", "actor", "org", "action", "resource", "outcome", "request_id", "reason"), "*")
WORKER = ("id", "name", "role", "region", "capacity", "caseload", "created_at")
RECONCILIATION = ("consistent", "checked_at", "grace_seconds", "referrals_in_intake", "cases", "missing_count",
                  "overdue_count", "unexpected_count", "missing", "unexpected")  # fmt: skip
SUBSCRIPTION = (
    "id", "url", "event_types", "local_authority_codes", "description", "enabled", "disabled_reason", "disabled_at",
    "failing_since", "previous_secret_valid_until", "created_at", "updated_at",
)  # fmt: skip
DELIVERY = (
    "id", "event_id", "event_type", "status", "created_at", "delivered_at", "next_attempt_at",
    *(f"attempts[].{a}" for a in ("at", "status_code", "latency_ms", "error")),
)  # fmt: skip
MANCHESTERS_EVENTS = (
    "ictg.referral.received.v1", "ictg.case.opened.v1", "ictg.case.allocated.v1", "ictg.contact.recorded.v1",
    "ictg.missing.started.v1", "ictg.nrm_decision.recorded.v1",
)  # fmt: skip
DP_ANSWER = ("measure", "as_of", "filters", "group_by", "disclosure", "privacy.*", "note", "rows.*")
TRUE_ANSWER = ("measure", "as_of", "filters", "group_by", "disclosure.*", "rows.*")
# What each measure adds, under dp and in true counts (a noisy total under 10 is flagged small).
MEASURES = {
    "children": (("total", "total_small?"), ("total",)),
    "caseload": (("from", "to"),) * 2,
    "timeliness": ((), ()),
}
RELEASE = ("release", "as_at", "published_at", "url", "revised_values", "revisions", "revisions_against",
           "disclosure.*", "tables[].*", "workbook.*", "datapackage", "dashboard", "partial_periods.*",
           "revisions_by_period")  # fmt: skip
WORKBOOKS = (("ods", "application/vnd.oasis.opendocument.spreadsheet"),
             ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))  # fmt: skip
PACKAGE = ("profile", "name", "title", "version", "created", "description", "as_at", "disclosure.*", "markers.*",
           "revisions_against", "resources[].*")  # fmt: skip
TABLE = ("release", "id", "title", "description", "measure", "period", "period_of", "geography", "dimensions",
         "filters", "columns", "rows[].*", "total.*", "disclosure.*", "as_at", "partial_periods")  # fmt: skip

# --- bodies (a function of the world and the kind of token) -----------------------------------------------


def _now(w: World) -> str:
    return (clock.utcnow() - timedelta(milliseconds=50)).isoformat()


def referral_of(w: World, kind: str) -> dict[str, Any]:
    """A referral filed under the kind's own organisation (a first responder files only as itself)."""
    org = {"police_b": ("police", KENT_POLICE), "ngo": ("ngo", "Safe Harbour")}.get(kind, ("police", GMP))
    return referral_body(referrer__organisation_type=org[0], referrer__organisation_name=org[1])


def subscription_of(w: World, kind: str) -> dict[str, Any]:
    return {"url": f"{w.receiver.base}/ok/{kind}", "description": f"{kind}'s systems"}


def identifiers_of(w: World, kind: str) -> dict[str, Any]:
    return {"la_child_id": {"manchester": "MAN1", "salford": "SAL1"}.get(kind, "X1"), "looked_after": True}


def contact_now(w: World, kind: str) -> dict[str, Any]:
    return {"occurred_at": _now(w), "outcome": "made", "method": "video", "party": "child", "notes": "later"}


def episode_now(w: World, kind: str) -> dict[str, Any]:
    return {"started_at": _now(w), "reported_to_police": False, "missing_from_care_meeting": False,
            "professional_network_meeting": False}  # fmt: skip


def assessment_now(w: World, kind: str) -> dict[str, Any]:
    return {"assessed_at": _now(w), "living_situation": "family", "trafficker_contact": "none",
            "education": "attending"}  # fmt: skip


def advocacy_now(w: World, kind: str) -> dict[str, Any]:
    return {"kind": "meeting", "area": "education", "occurred_at": _now(w)}


def decision_now(w: World, kind: str) -> dict[str, Any]:
    return {"stage": "conclusive_grounds", "outcome": "positive", "decided_at": _now(w)}


# --- the table -------------------------------------------------------------------------------------------


def case_a(staff: Outcome, *, manchester: Outcome, salford: Outcome, **cells: Outcome) -> dict[str, Outcome]:
    """A door on case A: its guardians (and break-glass) `staff`, London's guardian 403 naming break-glass,
    Manchester (before and after the move) and Salford (after it) their views, anyone else's 404 or 403."""
    return jwt(
        **{
            "guardian_nw": staff,
            "guardian_london": OUTSIDE,
            "break_glass": staff,
            "manchester": manchester,
            "salford": salford,
            "salford_before": NOT_FOUND,
            "kent": NOT_FOUND,
            **cells,
        }
    )


def case_b(staff: Outcome, *, kent: Outcome) -> dict[str, Outcome]:
    """A door on case B (Kent, south_east): no guardian here has that region; break-glass and Kent see it."""
    return jwt(guardian_nw=OUTSIDE, guardian_london=OUTSIDE, break_glass=staff, manchester=NOT_FOUND,
               salford=NOT_FOUND, kent=kent)  # fmt: skip


def not_for_councils(staff: Outcome) -> dict[str, Outcome]:
    """A door on case A whose records a council never sees (403 for any case, its own or not)."""
    return case_a(staff, **dict.fromkeys(("manchester", "salford", "salford_before", "kent"), FORBIDDEN))


def staffs(**cells: Outcome) -> dict[str, Outcome]:
    """A door of the service's own (workers, audit, admin): a council's token refused as such."""
    return jwt(**dict.fromkeys(("manchester", "salford", "kent"), NOT_FOR_COUNCILS), **cells)


def records(
    path: str,
    staff: tuple[str, ...],
    council: tuple[str, ...] | None,
    *,
    manchester: tuple[str, ...] = (),
    salford: tuple[str, ...] = (),
    manchester_before: tuple[str, ...] | None = None,
    nulls: tuple[str, ...] = (),
) -> dict[tuple[str, str], Any]:
    """The two reads every kind of case record has (`…/<path>` and `…/<path>/{record_id}`) on case A: which
    of its records each council gets (`council`: the fields it sees; None: not shared with councils), and
    which of their fields are null for Manchester (`nulls`: what happened after its period)."""
    before = manchester if manchester_before is None else manchester_before
    seeded = staff_records(path)
    if council is None:
        lists = not_for_councils(page(staff, *seeded))
    else:
        lists = case_a(
            page(staff, *seeded),
            manchester=page(council, *manchester, nulls=nulls),
            manchester_before=page(council, *before, nulls=nulls),
            salford=page(council, *salford),
        )

    def single(name: str) -> Probe:
        def seen(names: tuple[str, ...], nulls: tuple[str, ...] = ()) -> Outcome:
            assert council is not None
            return one(council, name, nulls=nulls) if name in names else NOT_FOUND

        if council is None:
            cells = not_for_councils(one(staff, name))
        else:
            cells = case_a(
                one(staff, name),
                manchester=seen(manchester, nulls),
                manchester_before=seen(before, nulls),
                salford=seen(salford),
            )
        return Probe(cells, path={"case_id": "case_a", "record_id": name})

    return {
        ("GET", f"/v1/cases/{{case_id}}/{path}"): probe(lists, path={"case_id": "case_a"}),
        ("GET", f"/v1/cases/{{case_id}}/{path}/{{record_id}}"): tuple(single(n) for n in seeded),
    }


def staff_records(path: str) -> tuple[str, ...]:
    return {"allocations": ("allocation",), "contacts": ("contact_1", "contact_2", "contact_late"),
            "missing-episodes": ("episode",), "return-interviews": ("return_interview",),
            "assessments": ("assessment",), "advocacy": ("advocacy",), "nrm-decisions": ("nrm_decision",),
            "moves": ("move",)}[path]  # fmt: skip


HEALTH: dict[tuple[str, str], Any] = {
    ("GET", "/healthz"): probe(public(one({"status"}))),
    ("GET", "/readyz"): probe(public(one({"status", "checks.database", "checks.nats"}))),
    # Figures about children as they happen: the scrape token only, an API token however good is not one.
    ("GET", "/metrics"): probe({**public(UNAUTHENTICATED), "scraper": Text("text/plain")}),
    ("GET", "/openapi.json"): probe(public(Text("application/json"))),
    ("GET", "/docs"): probe(public(Text("text/html"))),
    ("GET", "/redoc"): probe(public(Text("text/html"))),
    ("GET", "/docs/assets/{path}"): probe(public(Text("image/png")), path={"path": "=favicon.png"}),
}
AUDIT_DOOR = {("GET", "/v1/audit"): probe(jwt(accredited=AUDIT))}


def any_token(outcome: Outcome) -> dict[str, Outcome]:
    """A door for every valid token within its organisation's ceiling."""
    return jwt(outcome)


INTAKE: dict[tuple[str, str], Any] = {
    **HEALTH,
    **AUDIT_DOOR,
    # The NGO files the same child as Greater Manchester Police just did: it is not told of GMP's referral.
    ("POST", "/v1/referrals"): probe(
        jwt(
            **dict.fromkeys(
                ("police_a", "police_b", "ngo"), one(REFERRAL, status=201, nulls=("possible_duplicate_of",))
            )
        ),
        body=referral_of,
    ),
    ("GET", "/v1/referrals/{referral_id}"): (
        Probe(
            jwt(
                police_a=one(REFERRAL, "referral_a"), police_b=NOT_FOUND, ngo=NOT_FOUND, ops=one(REFERRAL, "referral_a")
            ),
            path={"referral_id": "referral_a"},
        ),
        Probe(
            jwt(
                police_a=NOT_FOUND, police_b=one(REFERRAL, "referral_b"), ngo=NOT_FOUND, ops=one(REFERRAL, "referral_b")
            ),
            path={"referral_id": "referral_b"},
        ),
    ),
    ("GET", "/v1/referrals"): probe(
        jwt(
            police_a=page(REFERRAL, "referral_a"),
            police_b=page(REFERRAL, "referral_b"),
            ngo=page(REFERRAL),
            ops=page(REFERRAL, "referral_a", "referral_b"),
        )
    ),
    # The filing organisation corrects and withdraws its own (If-Match); anyone else 404, as for a read.
    ("PATCH", "/v1/referrals/{referral_id}"): Covered("write: covered in tests/intake/test_corrections.py"),
    ("POST", "/v1/referrals/{referral_id}/withdraw"): Covered("write: covered in tests/intake/test_corrections.py"),
    ("GET", "/v1/reference/codes"): probe(
        any_token(page(("name", "description", "codes[].code", "codes[].label"), "*", extra=())), key="name"
    ),
    ("GET", "/v1/reference/local-authorities"): probe(
        any_token(page(("code", "name", "region", "region_name", "districts"), "*", extra=())), key="code"
    ),
    ("GET", "/v1/admin/referral-ids"): probe(jwt(ops=page(("id", "received_at"), "referral_a", "referral_b"))),
}

CASE_LIST = {"extra": ("next_cursor", "poll_cursor")}
CASES: dict[tuple[str, str], Any] = {
    **HEALTH,
    **{k: probe(staffs(accredited=AUDIT)) for k in AUDIT_DOOR},
    ("GET", "/v1/cases"): (
        *(
            Probe(
                jwt(
                    guardian_nw=page(CASE, "case_a", **CASE_LIST),
                    guardian_london=page(CASE, **CASE_LIST),
                    break_glass=page(CASE, **CASE_LIST),  # break-glass opens one case, never a list
                    manchester=page(council_case(), "case_a", nulls=PAST, **CASE_LIST),
                    manchester_before=page(council_case(allocated=True), "case_a", **CASE_LIST),
                    # LEAK: as at GET /v1/cases/{case_id}, Salford's allocation.allocated_at (before its period).
                    salford=page(council_case(allocated=True), "case_a", **CASE_LIST),
                    salford_before=page((), **CASE_LIST),
                    kent=page(council_case(identified=False), "case_b", **CASE_LIST),
                ),
                query=query,
            )
            for query in ({}, {"changed_since": "{received_a}"})  # the list, and the change feed
        ),
        # A council finds a child by its own child id only (another council's finds nothing); staff have none.
        Probe(
            jwt(
                **dict.fromkeys(("guardian_nw", "guardian_london", "break_glass"), VALIDATION),
                manchester=page(council_case(), "case_a", nulls=PAST, **CASE_LIST),
                manchester_before=page(council_case(allocated=True), "case_a", **CASE_LIST),
                **dict.fromkeys(("salford", "kent"), page((), **CASE_LIST)),
            ),
            query={"la_child_id": "MAN1"},
        ),
        # A council names only its own authorities.
        Probe(
            jwt(
                guardian_nw=page(CASE, "case_a", **CASE_LIST),
                guardian_london=page(CASE, **CASE_LIST),
                break_glass=page(CASE, **CASE_LIST),
                manchester=NOT_YOUR_CHILD,
                kent=NOT_YOUR_CHILD,
                salford=page(council_case(allocated=True), "case_a", **CASE_LIST),
                salford_before=page((), **CASE_LIST),
            ),
            query={"local_authority_code": SALFORD},
        ),
    ),
    ("GET", "/v1/cases/{case_id}"): (
        Probe(
            case_a(
                one(CASE, "case_a"),
                manchester=one(council_case(), "case_a", nulls=PAST),
                manchester_before=one(council_case(allocated=True), "case_a"),
                # the allocation was made in Manchester's period: Salford sees who holds the case, not since when
                salford=one(council_case(allocated=True), "case_a", nulls=("allocation.allocated_at",)),
            ),
            path={"case_id": "case_a"},
        ),
        Probe(
            case_b(one(CASE, "case_b"), kent=one(council_case(identified=False), "case_b")), path={"case_id": "case_b"}
        ),
    ),
    ("GET", "/v1/cases/{case_id}/timeline"): (
        Probe(
            case_a(
                timeline(STAFF_TIMELINE, *A_STAFF),
                manchester=timeline(
                    COUNCIL_TIMELINE, *A_MANCHESTER, "case.moved:move", "contact.recorded:contact_late", nulls=RETURN
                ),
                manchester_before=timeline(COUNCIL_TIMELINE, *A_MANCHESTER, nulls=RETURN),
                salford=timeline(COUNCIL_TIMELINE, *A_SALFORD),
            ),
            path={"case_id": "case_a"},
        ),
        Probe(
            case_b(timeline(STAFF_TIMELINE, *B_ALL), kent=timeline(COUNCIL_TIMELINE, *B_ALL)),
            path={"case_id": "case_b"},
        ),
    ),
    **records("allocations", ALLOCATION, C_ALLOCATION, manchester=("allocation",), salford=()),
    # The late contact (written after the move, dated before it) is Manchester's.
    **records(
        "contacts",
        CONTACT,
        C_CONTACT,
        manchester=("contact_1", "contact_late"),
        salford=("contact_2",),
        manchester_before=("contact_1",),
    ),
    # Manchester sees the episode the child went missing in while its own, not the return after the move.
    **records(
        "missing-episodes",
        EPISODE,
        C_EPISODE,
        manchester=("episode",),
        salford=("episode",),
        nulls=("ended_at", "return_interview_offered"),
    ),
    # Offered after the child came back in Salford's period: Salford's alone.
    **records("return-interviews", INTERVIEW, C_INTERVIEW, manchester=(), salford=("return_interview",)),
    **records("assessments", ASSESSMENT, None, manchester=(), salford=()),
    **records("advocacy", ADVOCACY, None, manchester=(), salford=()),
    **records("nrm-decisions", NRM, C_NRM, manchester=("nrm_decision",), salford=()),
    # The move is shown to both: it ends one period and starts the other.
    **records("moves", MOVE, C_MOVE, manchester=("move",), salford=("move",), manchester_before=()),
    ("GET", "/v1/cases/{case_id}/pathway-changes"): probe(
        case_b(page(PATHWAY, "pathway_change"), kent=page(C_PATHWAY, "pathway_change")), path={"case_id": "case_b"}
    ),
    ("GET", "/v1/cases/{case_id}/pathway-changes/{record_id}"): probe(
        case_b(one(PATHWAY, "pathway_change"), kent=one(C_PATHWAY, "pathway_change")),
        path={"case_id": "case_b", "record_id": "pathway_change"},
    ),
    ("GET", "/v1/cases/{case_id}/exit"): (
        Probe(case_b(one(EXIT, "exit"), kent=one(C_EXIT, "exit")), path={"case_id": "case_b"}),
        # Not left: 404 to whoever may see the case (its ghost, a case that does not exist, words it otherwise).
        Probe(case_a(NOT_FOUND, manchester=NOT_FOUND, salford=NOT_FOUND), path={"case_id": "case_a"}, ghost=False),
    ),
    ("GET", "/v1/exports/ssda903/missing"): probe(
        jwt(
            manchester=Text("text/csv", frozenset({("MAN1", "M", "open")})),  # the return was Salford's to report
            salford=Text("text/csv", frozenset({("SAL1", "M", "ended")})),
            salford_before=Text("text/csv", frozenset()),
            kent=Text("text/csv", frozenset()),
        )
    ),
    # Annex A List 8 of each council's looked-after children: Manchester counts the episode the child went
    # missing in, but its return (and the interview offered) was Salford's to report.
    ("GET", "/v1/exports/annex-a/list-8"): probe(
        jwt(
            manchester=one(
                LIST_8, "MAN1", nulls=("items[].return_interview_offered", "items[].return_interview_accepted")
            ),
            salford=one(LIST_8, "SAL1"),  # the return and the interview (accepted) were Salford's
            salford_before=one(LIST_8_EMPTY),
            kent=one(LIST_8_EMPTY),
        ),
        key="child_unique_id",
    ),
    ("GET", "/v1/exports/ssda903/missing/unidentified"): probe(
        jwt(**dict.fromkeys(("manchester", "salford", "kent"), page(())))
    ),
    ("PUT", "/v1/cases/{case_id}/local-identifiers"): probe(
        jwt(manchester=one(IDENTIFIERS), salford=one(IDENTIFIERS), kent=NOT_FOUND),
        path={"case_id": "case_a"},
        body=identifiers_of,
    ),
    **{
        ("POST", f"/v1/cases/{{case_id}}/{path}"): probe(
            case_a(
                one(fields, status=201),
                break_glass=OUTSIDE,  # break-glass reads only
                **dict.fromkeys(("manchester", "salford", "kent"), NOT_FOR_COUNCILS),
            ),
            path={"case_id": "case_a"},
            body=body,
        )
        for path, fields, body in (
            ("contacts", CONTACT, contact_now),
            ("missing-episodes", EPISODE, episode_now),
            ("assessments", ASSESSMENT, assessment_now),
            ("advocacy", ADVOCACY, advocacy_now),
            ("nrm-decisions", NRM, decision_now),
        )
    },
    # A manager's switch (cases:admin): no kind here holds it with the region (ops has no region).
    ("POST", "/v1/cases/{case_id}/pathway"): probe(
        case_a(
            FORBIDDEN,
            guardian_london=FORBIDDEN,
            ops=OUTSIDE,
            **dict.fromkeys(("manchester", "salford", "kent"), NOT_FOR_COUNCILS),
        ),
        path={"case_id": "case_a"},
        body=lambda w, kind: {"pathway": "regional_practitioner"},
    ),
    ("POST", "/v1/cases/{case_id}/allocations"): Covered("write: covered in tests/cases/test_allocations.py"),
    ("POST", "/v1/cases/{case_id}/missing-episodes/{episode_id}/return"): Covered(
        "write: covered in tests/cases/test_missing_episodes.py"
    ),
    ("POST", "/v1/cases/{case_id}/missing-episodes/{episode_id}/return-interview"): Covered(
        "write: covered in tests/cases/test_return_interviews.py"
    ),
    # Made by the seed (the move to Salford, case B's exit) and covered there.
    ("POST", "/v1/cases/{case_id}/moves"): Covered("write: covered in tests/cases/test_records.py"),
    ("POST", "/v1/cases/{case_id}/exit"): Covered("write: covered in tests/cases/test_exits.py"),
    ("POST", "/v1/workers"): probe(
        staffs(ops=one(WORKER, status=201)),
        body=lambda w, kind: {"name": "Kim Tern", "role": "manager", "region": "london", "capacity": 3},
    ),
    ("GET", "/v1/workers"): probe(
        staffs(**dict.fromkeys(("guardian_nw", "guardian_london", "break_glass", "ops"), page(WORKER, "worker")))
    ),
    ("GET", "/v1/workers/{worker_id}"): probe(
        staffs(**dict.fromkeys(("guardian_nw", "guardian_london", "break_glass", "ops"), one(WORKER, "worker"))),
        path={"worker_id": "worker"},
    ),
    ("POST", "/v1/admin/replay-referrals"): probe(
        staffs(ops=one(("read", "opened", "already_present", "failed", "complete")))
    ),
    ("GET", "/v1/admin/reconcile"): probe(staffs(ops=one(RECONCILIATION))),
    ("GET", "/v1/admin/case-counts"): probe(
        staffs(
            **dict.fromkeys(
                ("guardian_nw", "guardian_london", "break_glass"), one(("awaiting_allocation", "allocated", "exited"))
            )
        ),
    ),
}

METRIC_READERS = ("partner", "analyst", "accredited")
METRICS: dict[tuple[str, str], Any] = {
    **HEALTH,
    **AUDIT_DOOR,
    # The data dictionary: for any reader of metrics, in any tier.
    ("GET", "/v1/metrics/dimensions"): probe(jwt(**dict.fromkeys(METRIC_READERS, one(("dimensions[].*",))))),
    **{
        ("GET", f"/v1/metrics/{measure}"): (
            # Free questions under differential privacy: metrics:query only.
            Probe(jwt(analyst=one((*DP_ANSWER, *dp)))),
            # True counts: metrics:read:unsuppressed only.
            Probe(jwt(accredited=one((*TRUE_ANSWER, *true))), query={"disclosure": "none"}),
        )
        for measure, (dp, true) in MEASURES.items()
    },
    # Published tables: metrics:read (a staff analyst's metrics:query alone does not reach them).
    ("GET", "/v1/releases"): probe(jwt(partner=one(("releases[].*",)))),
    ("GET", "/v1/releases/catalogue"): probe(jwt(partner=one(("tables[].*",)))),
    ("GET", "/v1/releases/{release}"): probe(jwt(partner=one(RELEASE)), path={"release": "release"}),
    ("GET", "/v1/releases/{release}/tables/{table}"): probe(
        jwt(partner=one(TABLE)), path={"release": "release", "table": "table"}
    ),
    # The same published values for people: CSV, metadata, a workbook, the dashboard.
    ("GET", "/v1/releases/{release}/tables/{table}.csv"): probe(
        jwt(partner=Text("text/csv")), path={"release": "release", "table": "table"}
    ),
    ("GET", "/v1/releases/{release}/datapackage.json"): probe(jwt(partner=one(PACKAGE)), path={"release": "release"}),
    ("GET", "/v1/releases/{release}/workbook.{fmt}"): tuple(
        Probe(jwt(partner=Text(media)), path={"release": "release", "fmt": f"={fmt}"}) for fmt, media in WORKBOOKS
    ),
    ("GET", "/dashboard"): probe(jwt(partner=Text("text/html")), query={"release": "{release}"}),
    ("POST", "/v1/admin/releases"): probe(jwt(ops=one(("release", "created", "url"))), query={"release": "{release}"}),
    ("POST", "/v1/admin/rebuild"): probe(jwt(ops=one(("status", "result.*"))), query={"wait": "true"}),
    ("GET", "/v1/admin/rebuild"): probe(jwt(ops=one(("status",)))),
    ("GET", "/v1/admin/reconcile"): probe(
        jwt(ops=one(("consistent", "differences", "cases.*", "cases_total", "metrics.*", "metrics_total")))
    ),
}

MANAGERS = ("salford", "kent", "ngo")  # webhooks:manage, another organisation's subscription: 404
SUB = {"sub_id": "sub_manchester"}


def owner(outcome: Outcome, **cells: Outcome) -> dict[str, Outcome]:
    """A door on Manchester's subscription: Manchester `outcome`, another manager 404, anyone else 403."""
    return jwt(manchester=outcome, **{**dict.fromkeys(MANAGERS, NOT_FOUND), **cells})


WEBHOOKS: dict[tuple[str, str], Any] = {
    **HEALTH,
    **AUDIT_DOOR,
    # Councils subscribe to their own children's events; no other organisation gets child-level events.
    ("POST", "/v1/webhooks/subscriptions"): probe(
        # councils (their own children) and first responders (their own referrals' status: the NGO)
        jwt(**dict.fromkeys(("manchester", "salford", "kent", "ngo"), one((*SUBSCRIPTION, "secret"), status=201))),
        body=subscription_of,
    ),
    ("GET", "/v1/webhooks/subscriptions"): probe(
        jwt(manchester=page(SUBSCRIPTION, "sub_manchester", "sub_spare"), **dict.fromkeys(MANAGERS, page(SUBSCRIPTION)))
    ),
    ("GET", "/v1/webhooks/subscriptions/{sub_id}"): probe(owner(one(SUBSCRIPTION, "sub_manchester")), path=SUB),
    ("PATCH", "/v1/webhooks/subscriptions/{sub_id}"): probe(
        owner(one(SUBSCRIPTION, "sub_manchester")), path=SUB, body=lambda w, kind: {"description": "Children's hub"}
    ),
    ("DELETE", "/v1/webhooks/subscriptions/{sub_id}"): probe(owner(one((), status=204)), path={"sub_id": "sub_spare"}),
    ("POST", "/v1/webhooks/subscriptions/{sub_id}/rotate-secret"): probe(
        owner(one(("secret", "previous_secret_valid_until"))), path=SUB
    ),
    ("POST", "/v1/webhooks/subscriptions/{sub_id}/ping"): probe(
        owner(one(("delivery_id", "ok", "status_code", "latency_ms", "error"))), path=SUB
    ),
    # The delivery log: which of the child's events went to Manchester (by type), never Salford's after the move.
    # What they carry is projected for Manchester (test_a_council_is_told_nothing_by_webhook_of_where_its_child…).
    ("GET", "/v1/webhooks/subscriptions/{sub_id}/deliveries"): probe(
        owner(
            page(DELIVERY, *MANCHESTERS_EVENTS, "ictg.case.moved.v1", "ictg.contact.recorded.v1"),
            manchester_before=page(DELIVERY, *MANCHESTERS_EVENTS),
        ),
        path=SUB,
        key="event_type",
    ),
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/retry"): probe(
        owner(one(("queued",), status=202)), path={"delivery_id": "delivery"}
    ),
    ("POST", "/v1/webhooks/subscriptions/{sub_id}/replay"): probe(
        owner(one(("queued",), status=202)), path=SUB, query={"since": "{received_a}"}
    ),
}

CLIENT = (
    "client_id", "name", "org_type", "org_name", "scopes", "regions", "la_codes", "auth_method", "jwks", "service",
    "created_at", "created_by", "disabled_at", "secrets[].created_at", "secrets[].expires_at",
)  # fmt: skip
# Kent Police's system as registered: no regions or codes (a police force's), no keys, no service, one secret.
KENT_SYSTEM = "Kent Police system"
KENT_AS_IS = ("regions", "la_codes", "jwks", "service")
KENT_NULLS = (*KENT_AS_IS, "disabled_at", "secrets[].expires_at")
KENT_ID = {"client_id": "client_kent"}
METADATA = (
    "issuer", "token_endpoint", "jwks_uri", "grant_types_supported", "response_types_supported",
    "token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported", "scopes_supported",
    "service_documentation",
)  # fmt: skip
PUBLIC_JWK = ("kty", "crv", "x", "y", "kid", "use", "alg")  # never a private part (`d`)


def registry(outcome: Outcome) -> dict[str, Outcome]:
    """A door of the client registry (`clients:admin`, the service's own staff): `ops`, its administrator,
    `outcome`; any other token 403 whatever its organisation (an over-scoped one at its ceiling)."""
    return jwt(ops=outcome)


def registration_of(w: World, kind: str) -> dict[str, Any]:
    return {"name": f"{kind}'s registration", "org_type": "ngo", "org_name": "Safe Harbour",
            "scopes": ["referrals:write"]}  # fmt: skip


IDENTITY: dict[tuple[str, str], Any] = {
    **HEALTH,
    # Off the bus: ready with its database alone.
    ("GET", "/readyz"): probe(public(one({"status", "checks.database"}))),
    **AUDIT_DOOR,
    # OAuth 2.0's own door: a client authenticates with its secret or a signed assertion. A bearer token (any
    # kind's, the scrape token) is no client authentication, nor is nothing: 401 invalid_client, in OAuth's JSON.
    # What a client gets here, and every other refusal: tests/identity/test_token_endpoint.py.
    ("POST", "/oauth2/token"): probe(
        public(OAuthRefused(401, "invalid_client")), form={"grant_type": "client_credentials"}
    ),
    # Public data, for anyone: where to get a token, and the keys that verify it.
    ("GET", "/.well-known/oauth-authorization-server"): probe(public(one(METADATA))),
    ("GET", "/.well-known/jwks.json"): probe(public(one(f"keys[].{k}" for k in PUBLIC_JWK))),
    # The registry: never a secret (shown once, at registration or rotation), only its dates.
    ("GET", "/v1/clients"): probe(registry(page(CLIENT, KENT_SYSTEM, extra=(), nulls=KENT_NULLS)), key="name"),
    ("GET", "/v1/clients/{client_id}"): (
        Probe(registry(one(CLIENT, KENT_SYSTEM, nulls=KENT_NULLS)), path=KENT_ID, key="name"),
        # No such client: 404 to the administrator; to anyone else the very refusal a registered one gets.
        Probe(registry(NOT_FOUND), path={"client_id": "=no-such-client"}),
    ),
    ("POST", "/v1/clients"): probe(
        registry(one((*CLIENT, "client_secret"), "ops's registration", status=201, nulls=KENT_NULLS)),
        body=registration_of,
        key="name",
    ),
    ("POST", "/v1/clients/{client_id}/rotate-secret"): probe(
        registry(one(("client_id", "client_secret", "previous_expires_at"))), path=KENT_ID
    ),
    # A secret client has no keys to replace: 409 to the administrator (who may know it exists: no ghost
    # comparison), the registry's refusal to anyone else.
    ("PUT", "/v1/clients/{client_id}/jwks"): probe(
        registry(Refused(409, "conflict")),
        path=KENT_ID,
        body={"jwks": {"keys": [{"kty": "EC", "kid": "k"}]}},
        ghost=False,
    ),
    # After the rotation: two secrets, the replaced one expiring.
    ("POST", "/v1/clients/{client_id}/disable"): probe(
        registry(one(CLIENT, KENT_SYSTEM, nulls=KENT_AS_IS)), path=KENT_ID, key="name"
    ),
}

SERVICES = {"intake": INTAKE, "cases": CASES, "metrics": METRICS, "webhooks": WEBHOOKS, "identity": IDENTITY}
# The table: (service, method, path template) → how each kind of token is answered there.
DOORS: dict[tuple[str, str, str], tuple[Probe, ...] | Covered] = {
    (service, method, path): cells for service, doors in SERVICES.items() for (method, path), cells in doors.items()
}


# --- the walk --------------------------------------------------------------------------------------------


def apps_for_listing() -> dict[str, Any]:
    """The five apps as they are built (not started): their routes are what the table must place."""
    s: dict[str, Any] = {"database_url": "postgresql://unused/none", "nats_url": "nats://unused:1",
                         "auth_secret": "x" * 40}  # fmt: skip
    intake = create_intake(IntakeSettings(**s))
    cases = create_cases(CasesSettings(**s, intake_url="http://intake"), intake_transport=httpx.ASGITransport(intake))
    metrics = create_metrics(MetricsSettings(**s, cases_url="http://cases"), cases_transport=httpx.ASGITransport(cases))
    return {"intake": intake, "cases": cases, "metrics": metrics, "webhooks": create_webhooks(WebhooksSettings(**s)),
            "identity": create_identity(IdentitySettings(**s, issuer=IDENTITY_ISSUER))}  # fmt: skip


def test_the_table_places_every_door_of_the_five_services_and_no_other() -> None:
    routes = {(service, *door) for service, app in apps_for_listing().items() for door in doors_of(app)}
    assert routes - set(DOORS) == set(), f"doors nobody placed in the table: {sorted(routes - set(DOORS))}"
    assert set(DOORS) - routes == set(), f"the table places doors that are gone: {sorted(set(DOORS) - routes)}"
    for door, probes in DOORS.items():
        if isinstance(probes, Covered):
            assert door[1] != "GET" and probes.where.startswith("write: covered in tests/"), door  # reads: all walked
            continue
        for p in probes:
            assert set(p.expect) == set(ALL), (door, set(ALL) ^ set(p.expect))  # a cell for every kind of token


def _call_path(w: World, template: str, p: Probe, *, ghost: bool) -> str | None:
    """The path with its parameters filled (`=x`: x itself), None if it names what is not seeded yet."""
    values, path = w.values(), template
    for i, (param, name) in enumerate(p.path.items()):
        if not name.startswith("=") and name not in values:
            return None
        value = name[1:] if name.startswith("=") else values[name]
        if ghost and i == len(p.path) - 1:
            value = str(uuid.uuid4())
        path = path.replace(f"{{{param}}}", value)
    return path


def _ghostly(w: World, p: Probe, expected: Outcome) -> bool:
    """Whether a refusal must read the same for an id that does not exist."""
    last = list(p.path.values())[-1:] or [""]
    return p.ghost and isinstance(expected, Refused) and expected != OUTSIDE and last[0] in w.ids


def _check(kind: str, expected: Outcome, r: httpx.Response, w: World, key: str) -> list[str]:
    """How an answer to `kind` differs from its cell, and from what holds of every answer."""
    seen = read(r, w.names, key=key)
    wrong: list[str] = []
    if r.status_code >= 500:
        wrong.append(f"a {r.status_code}: {r.text[:300]}")
    if r.status_code >= 400 and isinstance(expected, OAuthRefused):
        wrong += _oauth_refusal(r, seen)
    elif r.status_code >= 400:
        body = r.json() if seen.problem is not None else {}
        if seen.problem is None or not {"type", "title", "status", "detail", "instance"} <= set(body):
            wrong.append(f"a refusal that is not problem+json: {seen.media} {r.text[:200]}")
        elif body["status"] != r.status_code:
            wrong.append(f"problem status {body['status']} on a {r.status_code}")
    leaked = sorted(t for t, text in TEXTS.items() if t not in MAY_READ.get(kind, set()) and text in r.text)
    if leaked:
        wrong.append(f"texts it may not read: {leaked}")
    if told := sorted(name for name, secret in w.secrets.items() if secret in r.text):
        wrong.append(f"a secret shown once, shown again: {told}")
    # A referral's ETag is its own version, moved only by its filer's corrections: the filer's to see.
    path = r.request.url.path
    if not is_staff(kind) and "etag" in r.headers and path.startswith("/v1/") and not path.startswith("/v1/referrals"):
        wrong.append("an ETag (a case's version): only the service's staff may watch it move")
    if isinstance(expected, OAuthRefused):
        error = r.json().get("error") if seen.media == "application/json" else None
        if (r.status_code, error) != (expected.status, expected.error):
            wrong.append(f"expected {expected.status} {expected.error}, got {r.status_code} {error}: {r.text[:300]}")
        elif expected.error == "invalid_client" and not r.headers.get("www-authenticate", "").startswith("Basic"):
            wrong.append(f"invalid_client without WWW-Authenticate: Basic: {dict(r.headers)}")
        return wrong
    if isinstance(expected, Refused):
        if (r.status_code, seen.problem) != (expected.status, expected.problem):
            wrong.append(f"expected {expected.status} {expected.problem}, got {r.status_code} {seen.problem}: "
                         f"{r.text[:300]}")  # fmt: skip
        return wrong
    if r.status_code != expected.status:
        return [*wrong, f"expected {expected.status}, got {r.status_code}: {r.text[:300]}"]
    if isinstance(expected, Text):
        if seen.media != expected.media:
            wrong.append(f"expected {expected.media}, got {seen.media}")
        if named := sorted(n for n, i in w.ids.items() if i in r.text):
            wrong.append(f"names seeded records (ids of {named})")
        if expected.rows is not None and seen.rows != expected.rows:
            wrong.append(f"rows {sorted(seen.rows or ())}, expected {sorted(expected.rows)}")
        return wrong
    if expected.status != 204 and seen.media != "application/json":
        return [*wrong, f"expected JSON, got {seen.media}"]
    extra, missing = matches(seen.paths, expected.fields)
    if extra:
        wrong.append(f"fields nobody placed: {sorted(extra)}")
    if missing:
        wrong.append(f"fields missing: {sorted(missing)}")
    if expected.records is not None:
        got = seen.records or ()
        if "*" in expected.records:
            if not got:
                wrong.append("no records")
        elif got != expected.records:
            wrong.append(f"records {sorted(got)}, expected {sorted(expected.records)}")
    body = r.json() if r.content else {}
    for null in expected.nulls:
        values = _at(body, null)
        if not values or any(v not in (None, [], {}) for v in values):
            wrong.append(f"{null} should be null or empty: {values}")
    return wrong


def _oauth_refusal(r: httpx.Response, seen: Seen) -> list[str]:
    """RFC 6749 §5.2's error in `application/json`, with RFC 9457's members beside it (the token endpoint)."""
    body = r.json() if seen.media == "application/json" else {}
    if not isinstance(body, dict) or not {"error", "type", "title", "status", "detail", "instance"} <= set(body):
        return [f"an OAuth refusal without error and RFC 9457's members: {seen.media} {r.text[:200]}"]
    if body["status"] != r.status_code:
        return [f"problem status {body['status']} on a {r.status_code}"]
    return []


def _at(body: Any, path: str) -> list[Any]:
    """The values at a field path (`items[].ended_at`, a timeline's `items[missing.started].record.ended_at`)."""
    values = [body]
    for part in re.findall(r"[^.\[\]]+(?:\[[^\]]*\])?", path):
        name, _, tag = part.partition("[")
        values = [v.get(name) for v in values if isinstance(v, dict)]
        if tag:
            kind = tag.removesuffix("]")
            values = [x for v in values if isinstance(v, list) for x in v if not kind or x.get("kind") == kind]
    return values


async def _walk_cell(w: World, door: tuple[str, str, str], p: Probe, kind: str) -> list[str] | None:
    """The cell's differences from the table (None: not walked, what it names is not seeded yet)."""
    service, method, template = door
    path = _call_path(w, template, p, ghost=False)
    if path is None:
        return None
    body = p.body(w, kind) if callable(p.body) else p.body
    query = {k: v.format(**w.values()) for k, v in p.query.items()}
    sent: dict[str, Any] = {"data": dict(p.form)} if p.form is not None else {"json": body}
    r = await w.send(service, method, path, kind, params=query, **sent)
    where = f"{kind:>17} {service} {method} {path}{'?' + str(r.request.url.query, 'ascii') if query else ''}"
    wrong = [f"{where}: {x}" for x in _check(kind, p.expect[kind], r, w, p.key)]
    if _ghostly(w, p, p.expect[kind]):
        ghost_path = _call_path(w, template, p, ghost=True)
        assert ghost_path is not None
        g = await w.send(service, method, ghost_path, kind, params=query, **sent)
        if _answer(g) != _answer(r):
            wrong.append(f"{where}: refused otherwise than an id that does not exist: {_answer(r)} vs {_answer(g)}")
    return wrong


def _answer(r: httpx.Response) -> tuple[Any, ...]:
    body = r.json() if r.headers.get("content-type", "").startswith("application/problem+json") else {}
    return r.status_code, body.get("type"), body.get("detail")


async def walk(w: World, kinds: Iterable[str], *, writes: bool) -> tuple[list[str], int]:
    """Every probe of every door (the reads, or the writes) for each of `kinds`, in the table's order: a read
    for all kinds at once, a write for one kind after another. Returns the differences and the cells walked."""
    wrong: list[str] = []
    walked = 0
    for door, probes in DOORS.items():
        if isinstance(probes, Covered) or (door[1] != "GET") != writes:
            continue
        for p in probes:
            cells = [_walk_cell(w, door, p, k) for k in kinds]
            found = [await c for c in cells] if writes else await asyncio.gather(*cells)
            walked += sum(f is not None for f in found)
            wrong += [x for f in found if f for x in f]
    return wrong, walked


async def test_every_kind_of_token_at_every_door(shared_settings: dict[str, Any]) -> None:
    async with platform(shared_settings) as w:
        await seed_before_the_move(w)
        wrong, _ = await walk(w, BEFORE, writes=False)  # what is not seeded yet is left for after the move
        await seed_after_the_move(w)
        for writes in (False, True):
            found, walked = await walk(w, AFTER, writes=writes)
            wrong += found
            table = [p for d, probes in DOORS.items() if not isinstance(probes, Covered) for p in probes
                     if (d[1] != "GET") == writes]  # fmt: skip
            assert walked == len(table) * len(AFTER), "after the move, every cell of the table is walked"
    assert not wrong, f"{len(wrong)} cells differ from the table:\n" + "\n".join(wrong)


class Leak(AssertionError):
    """What a door would tell that the policy keeps back (each found by this matrix, then fixed)."""


async def test_a_council_is_told_nothing_by_webhook_of_where_its_child_went_after_it(
    shared_settings: dict[str, Any],
) -> None:
    """The push door under the same policy: a record dated inside Manchester's period is Manchester's, and
    its delivery may tell Manchester only what its API does. A contact written up after the child moved on
    twice (Manchester → Salford → Kent), dated while the child was Manchester's, must not tell Manchester
    where the child is now: its API shows the move that ended its period (to Salford), nothing after."""
    async with platform(shared_settings) as w:
        manchester = headers_of("manchester")
        sub = await w.must("webhooks", "POST", "/v1/webhooks/subscriptions", manchester,
                           {"url": w.receiver.base + "/ok/manchester"})  # fmt: skip
        w.receiver.secrets["/ok/manchester"] = sub["secret"]
        await file_referral(w, "a", GMP, REFERRAL_A)
        t = times(w, "a", contacted=0.1, moved=0.2, moved_again=0.3)
        await not_before(w.at["moved_again"])
        a = f"/v1/cases/{w.ids['case_a']}"
        await record(w, "move", f"{a}/moves", {"moved_at": t["moved"], "local_authority_code": SALFORD})
        await record(w, "move_again", f"{a}/moves", {"moved_at": t["moved_again"], "local_authority_code": KENT})
        await record(w, "contact", f"{a}/contacts",
                     {"occurred_at": t["contacted"], "outcome": "made", "method": "phone",
                      "party": "child"})  # fmt: skip

        async def delivered() -> list[dict[str, Any]]:
            return [d.event["data"] for d in w.receiver.at("/ok/manchester")
                    if d.event["type"] == "ictg.contact.recorded.v1"]  # fmt: skip

        [contact] = await eventually(delivered, timeout=15)
        assert contact["contact_id"] == w.ids["contact"]  # Manchester's record: delivered to Manchester
        # Replayed, it goes out again as it is projected now.
        await w.must("webhooks", "POST", f"/v1/webhooks/subscriptions/{sub['id']}/replay", manchester,
                     since=w.at["received_a"].isoformat())  # fmt: skip
        contacts = await eventually(lambda: _at_least(delivered, 2), timeout=15)

        # Everything Manchester's API says of where the child has been: its periods and the moves it sees.
        case = (await w.send("cases", "GET", a, "manchester")).json()
        moves = (await w.send("cases", "GET", f"{a}/moves", "manchester")).json()["items"]
        assert [m["id"] for m in moves] == [w.ids["move"]] and case["local_authority_code"] is None
        codes = {p["local_authority_code"] for p in case["periods"]} | {m["local_authority_code"] for m in moves}
        regions = {p["region"] for p in case["periods"]} | {m["region"] for m in moves}
        assert (codes, regions) == ({MANCHESTER, SALFORD}, {"north_west"})
        for sent in contacts:
            told = (sent.get("local_authority_code", MANCHESTER), sent.get("region", "north_west"))
            if told[0] not in codes or told[1] not in regions:
                raise Leak(f"Manchester's delivery of its own contact says where the child is now, {told}: {sent}")


async def _at_least(found: Any, n: int) -> list[Any]:
    got = await found()
    return got if len(got) >= n else []


async def test_a_council_is_shown_no_allocation_dated_before_its_period(shared_settings: dict[str, Any]) -> None:
    """One record, one answer at every door: the allocation made while the child was Manchester's is not
    Salford's to see (its allocations door: none; that allocation: 404), so its case door may say who holds
    the case now (role, region) but not when that allocation was made."""
    async with platform(shared_settings) as w:
        await file_referral(w, "a", GMP, REFERRAL_A)
        worker = await w.must("cases", "POST", "/v1/workers", SEEDER, GUARDIAN_WORKER)
        t = times(w, "a", allocated=0.1, moved=0.2)
        await not_before(w.at["moved"])
        a = f"/v1/cases/{w.ids['case_a']}"
        await record(w, "allocation", f"{a}/allocations", {"worker_id": worker["id"], "allocated_at": t["allocated"]})
        await record(w, "move", f"{a}/moves", {"moved_at": t["moved"], "local_authority_code": SALFORD})

        listed = await w.send("cases", "GET", f"{a}/allocations", "salford")
        one_ = await w.send("cases", "GET", f"{a}/allocations/{w.ids['allocation']}", "salford")
        assert (listed.status_code, listed.json()["items"], one_.status_code) == (200, [], 404)
        case = (await w.send("cases", "GET", a, "salford")).json()
        [period] = case["periods"]
        assert case["responsible_now"] and case["allocation"]["role"] == "direct_worker"
        shown = case["allocation"].get("allocated_at")
        if shown is not None and datetime.fromisoformat(shown) < datetime.fromisoformat(period["starts_at"]):
            raise Leak(f"Salford's case view dates the allocation {shown}, before its period ({period['starts_at']})")
