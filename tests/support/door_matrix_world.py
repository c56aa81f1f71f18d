"""The world `test_door_matrix.py` walks: the five services in process (intake, the case API, metrics,
webhooks and the token service), one token per kind of caller, two children with a record of every kind, a
registered client, and how a response is read (status, problem type, fields, records).

Case A: a Manchester child (north_west) referred by Greater Manchester Police, allocated, with a contact
(with notes), a missing episode, an assessment, advocacy and an NRM decision; it moves to Salford (same
region) and then gets a second contact, the child's return, and a contact written up late (dated before
the move). Case B: a Kent child (south_east) referred by Kent Police, switched to the practitioner pathway
and exited. Records are dated a few tenths of a
second apart after the referral's `received_at` (never in the future), so the move splits them cleanly. At
the token service, Kent Police's system is registered as a client by `ops` (the service's administrator,
`clients:admin`): its secret is shown once, there, and no answer anywhere may carry it again."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, routing
from starlette.routing import Mount

from ictg_common import clock
from ictg_common.settings import DEV_SCRAPE_TOKEN
from ictg_identity.app import create_app as create_identity
from ictg_identity.settings import IdentitySettings
from ictg_metrics.app import create_app as create_metrics
from ictg_metrics.releases.catalogue import CATALOGUE
from ictg_metrics.releases.service import last_complete
from ictg_metrics.settings import MetricsSettings
from ictg_webhooks.app import create_app as create_webhooks
from ictg_webhooks.settings import WebhooksSettings
from tests.support.factories import referral_body
from tests.support.platform import auth, eventually, serve, service_apps
from tests.support.receivers import Receiver, receiving

MANCHESTER, SALFORD, KENT = "E08000003", "E08000006", "E10000016"
GMP, KENT_POLICE = "Greater Manchester Police", "Kent Police"
GLASS_REASON = "Duty desk: checking a placement after an out-of-hours call"
IDENTITY_ISSUER = "http://127.0.0.1:8005"  # loopback: plain http is allowed there

# --- the kinds of token -----------------------------------------------------------------------------------


def _council(code: str, name: str, *extra: str, sub: str) -> dict[str, str]:
    return auth(
        "la:read", "la:write", "webhooks:manage", *extra, org_type="local_authority", org_name=name, regions=[],
        la_codes=[code], sub=sub,
    )  # fmt: skip


def _org(*scopes: str, org_type: str, org_name: str, sub: str) -> dict[str, str]:
    return auth(*scopes, org_type=org_type, org_name=org_name, regions=[], sub=sub)


def _staff(*scopes: str, regions: list[str], sub: str) -> dict[str, str]:
    return auth(*scopes, org_type="ictg", org_name="ICTG service", regions=regions, sub=sub)


# kind → (its request headers, whether it is the service's own staff). Each kind is its own principal.
KINDS: dict[str, tuple[dict[str, str], bool]] = {
    "anon": ({}, False),
    "scraper": ({"Authorization": f"Bearer {DEV_SCRAPE_TOKEN}"}, False),
    "guardian_nw": (_staff("cases:read", "cases:write", regions=["north_west"], sub="guardian-nw"), True),
    "guardian_london": (_staff("cases:read", "cases:write", regions=["london"], sub="guardian-london"), True),
    "break_glass": (
        {
            **_staff("cases:read", "cases:write", "cases:break_glass", regions=["london"], sub="guardian-glass"),
            "X-Break-Glass-Reason": GLASS_REASON,
        },
        True,
    ),
    "manchester": (_council(MANCHESTER, "Manchester City Council", sub="council-manchester"), False),
    "salford": (_council(SALFORD, "Salford City Council", sub="council-salford"), False),
    "kent": (_council(KENT, "Kent County Council", sub="council-kent"), False),
    "police_a": (_org("referrals:write", org_type="police", org_name=GMP, sub="gmp-officer"), False),
    "police_b": (_org("referrals:write", org_type="police", org_name=KENT_POLICE, sub="kent-officer"), False),
    "ngo": (
        _org("referrals:write", "webhooks:manage", org_type="ngo", org_name="Safe Harbour", sub="ngo-worker"),
        False,
    ),
    "partner": (_org("metrics:read", org_type="government", org_name="Home Office", sub="partner-analyst"), False),
    "analyst": (_staff("metrics:query", regions=[], sub="staff-analyst"), True),
    "accredited": (_staff("metrics:read:unsuppressed", "audit:read", regions=[], sub="accredited-analyst"), True),
    # The service's administrator: the admin scopes, and the client registry at the token service.
    "ops": (
        _staff("cases:admin", "referrals:read", "metrics:admin", "clients:admin", regions=[], sub="ops-engineer"),
        True,
    ),
    # Over-scoped: a scope above the organisation type's ceiling, whatever issued the token.
    "over_police": (_org("referrals:write", "referrals:read", org_type="police", org_name=GMP, sub="gmp-over"), False),
    "over_council": (_council(MANCHESTER, "Manchester City Council", "cases:read", sub="council-over"), False),
    "over_ngo": (
        _org("referrals:write", "metrics:query", org_type="ngo", org_name="Safe Harbour", sub="ngo-over"),
        False,
    ),
    "over_partner": (
        _org("metrics:read", "audit:read", org_type="government", org_name="Home Office", sub="partner-over"),
        False,
    ),
}
OVER_SCOPED = ("over_police", "over_council", "over_ngo", "over_partner")
# The councils again, before the child's move: they read the same doors while case A is Manchester's alone.
BEFORE = {"manchester_before": "manchester", "salford_before": "salford"}


def headers_of(kind: str) -> dict[str, str]:
    return KINDS[BEFORE.get(kind, kind)][0]


def is_staff(kind: str) -> bool:
    return KINDS[BEFORE.get(kind, kind)][1]


# What the seeded texts are, and who may ever read them, anywhere: a leak of a name or a note through a door
# the table forgot shows here too.
TEXTS = {
    "child_a": "Quillfeather", "child_b": "Brackenridge", "referrer_a": "Ivy Sentinel", "referrer_b": "Rowan Lookout",
    "referral_note_a": "REFNOTE-QUILL", "referral_note_b": "REFNOTE-BRACKEN", "contact_note": "CONTACTNOTE-QUILL",
    "advocacy_note": "ADVOCACYNOTE-QUILL", "guardian_name": "Wrenfield", "client_name": "Kent Police system",
}  # fmt: skip
_A = {"child_a", "referrer_a", "referral_note_a", "contact_note", "advocacy_note"}
_B = {"child_b", "referrer_b", "referral_note_b"}
MAY_READ: dict[str, set[str]] = {
    "guardian_nw": _A | {"guardian_name"},
    "guardian_london": {"guardian_name"},  # the workers list: staff, every region
    "break_glass": _A | _B | {"guardian_name"},
    "manchester": {"child_a"}, "manchester_before": {"child_a"}, "salford": {"child_a"}, "kent": {"child_b"},
    "police_a": {"child_a", "referrer_a", "referral_note_a"}, "police_b": {"child_b", "referrer_b", "referral_note_b"},
    "ops": {"child_a", "referrer_a", "referral_note_a", "child_b", "referrer_b", "referral_note_b", "guardian_name",
            "client_name"},
}  # fmt: skip


# --- the doors of an app ---------------------------------------------------------------------------------


def doors_of(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers, through included routers; a mount as GET of its files."""
    found: set[tuple[str, str]] = set()
    for route in routing.iter_route_contexts(app.routes):
        path = str(getattr(route, "path_format", None) or route.path)
        if isinstance(route.original_route, Mount):
            found.add(("GET", path))
            continue
        found |= {(m, path) for m in (route.methods or {"GET"}) - {"HEAD"}}
    return found


# --- the platform and its seed ---------------------------------------------------------------------------

SEEDER = _staff("cases:read", "cases:write", "cases:admin", regions=["north_west", "south_east"], sub="seeder")
OPS = KINDS["ops"][0]


@dataclass
class World:
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    receiver: Receiver
    ids: dict[str, str] = field(default_factory=dict)  # seed name → id
    at: dict[str, datetime] = field(default_factory=dict)  # seed name → when
    secrets: dict[str, str] = field(default_factory=dict)  # seed name → a secret no answer may carry again

    @property
    def names(self) -> dict[str, str]:
        return {v: k for k, v in self.ids.items()}

    def values(self) -> dict[str, str]:
        """What a probe's path and query may name: seeded ids, times, the release and a table of it."""
        return {**self.ids, **{k: v.isoformat() for k, v in self.at.items()},
                "release": last_complete(clock.utcnow()), "table": CATALOGUE[0].id}  # fmt: skip

    async def send(self, service: str, method: str, path: str, kind: str, **kwargs: Any) -> httpx.Response:
        return await self.clients[service].request(method, path, headers=headers_of(kind), **kwargs)

    async def must(
        self, service: str, method: str, path: str, headers: dict[str, str], body: Any = None, **params: Any
    ) -> dict[str, Any]:
        r = await self.clients[service].request(method, path, headers=headers, json=body, params=params or None)
        assert r.status_code in (200, 201, 202), (path, r.status_code, r.text)
        return r.json() if r.content else {}


@contextlib.asynccontextmanager
async def platform(settings: dict[str, Any]) -> AsyncIterator[World]:
    intake_app, cases_app, _ = service_apps(settings, sla_check_seconds=0)
    # Metrics as service_apps makes it, with the monthly release left to the test (published by `ops`).
    metrics_app = create_metrics(
        MetricsSettings(**settings, cases_url="http://cases", release_check_seconds=0),
        cases_transport=httpx.ASGITransport(app=cases_app),
    )
    hooks_app = create_webhooks(
        WebhooksSettings(**settings, allow_private_targets=True, retry_schedule_seconds=[0.3], retry_jitter=0,
                         timeout_seconds=15.0, worker_poll_seconds=0.05)
    )  # fmt: skip
    identity_app = create_identity(IdentitySettings(**settings, issuer=IDENTITY_ISSUER))
    apps = {"intake": intake_app, "cases": cases_app, "metrics": metrics_app, "webhooks": hooks_app,
            "identity": identity_app}  # fmt: skip
    async with (
        receiving() as receiver,
        serve(intake_app) as intake,
        serve(cases_app) as cases,
        serve(metrics_app) as metrics,
        serve(hooks_app) as hooks,
        serve(identity_app) as identity,
    ):
        clients = {"intake": intake, "cases": cases, "metrics": metrics, "webhooks": hooks, "identity": identity}
        yield World(apps=apps, clients=clients, receiver=receiver)


def seeded_referral(code: str, police: str, family: str, given: str, referrer: str, note: str) -> dict[str, Any]:
    body = referral_body(local_authority_code=code, child__family_name=family, child__given_name=given, notes=note)
    body["referrer"].update(organisation_name=police, contact_name=referrer,
                            contact_email=f"{referrer.split()[-1].lower()}@example.police.uk")  # fmt: skip
    return body


GUARDIAN_WORKER = {"name": "Sam Wrenfield", "role": "direct_worker", "region": "north_west", "capacity": 10}
REFERRAL_A = seeded_referral(MANCHESTER, GMP, "Quillfeather", "Zofia", "DC Ivy Sentinel", "REFNOTE-QUILL")
REFERRAL_B = seeded_referral(KENT, KENT_POLICE, "Brackenridge", "Tomasz", "PC Rowan Lookout", "REFNOTE-BRACKEN")
KENT_CLIENT = {"name": "Kent Police system", "org_type": "police", "org_name": KENT_POLICE,
               "scopes": ["referrals:write"]}  # fmt: skip


async def file_referral(w: World, name: str, police: str, body: dict[str, Any]) -> None:
    """`police` refers the child; waits for the case. Seeds `referral_<name>`, `case_<name>`, `received_<name>`."""
    kind = "police_a" if police == GMP else "police_b"
    referral = await w.must("intake", "POST", "/v1/referrals", headers_of(kind), body)
    w.ids[f"referral_{name}"] = referral["id"]

    async def opened() -> Any:
        found = await w.must("cases", "GET", "/v1/cases", SEEDER, referral_id=referral["id"])
        return found["items"]

    [case] = await eventually(opened)
    w.ids[f"case_{name}"] = case["id"]
    w.at[f"received_{name}"] = datetime.fromisoformat(case["received_at"])


async def record(w: World, name: str, path: str, body: dict[str, Any], *, headers: dict[str, str] = SEEDER) -> None:
    """POST a record (by the seeder, a guardian of both regions and a manager); seeds its id as `name`."""
    row = await w.must("cases", "POST", path, headers, body)
    w.ids[name] = row["id"]


async def not_before(at: datetime) -> None:
    """Records are dated by the client but never in the future: wait until `at` has passed."""
    wait = (at - clock.utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait + 0.01)


def times(w: World, case: str, **offsets: float) -> dict[str, str]:
    """Times `offsets` seconds after case `<case>`'s referral was received, seeded by name; as RFC 3339."""
    base = w.at[f"received_{case}"]
    for name, seconds in offsets.items():
        w.at[name] = base + timedelta(seconds=seconds)
    return {name: w.at[name].isoformat() for name in offsets}


async def seed_before_the_move(w: World) -> None:
    """Subscriptions, Kent Police's client, both referrals, and case A's records up to the move (case B's
    records too); in each service's audit, a refused over-scoped token (so that no audit is empty when read)."""
    for service in ("intake", "cases", "metrics", "webhooks", "identity"):
        r = await w.send(service, "GET", "/v1/audit", "over_partner")
        assert r.status_code == 403, r.text
    client = await w.must("identity", "POST", "/v1/clients", OPS, KENT_CLIENT)
    w.ids["client_kent"] = client["client_id"]
    w.secrets["client_secret_kent"] = client["client_secret"]
    manchester = headers_of("manchester")
    sub = await w.must("webhooks", "POST", "/v1/webhooks/subscriptions", manchester,
                       {"url": w.receiver.base + "/ok/manchester", "description": "Children's services"})  # fmt: skip
    w.receiver.secrets["/ok/manchester"] = sub["secret"]
    w.ids["sub_manchester"] = sub["id"]
    spare = await w.must("webhooks", "POST", "/v1/webhooks/subscriptions", manchester,
                         {"url": w.receiver.base + "/ok/spare", "description": "To be deleted"})  # fmt: skip
    w.ids["sub_spare"] = spare["id"]
    w.receiver.secrets["/ok/spare"] = spare["secret"]
    await file_referral(w, "a", GMP, REFERRAL_A)
    await file_referral(w, "b", KENT_POLICE, REFERRAL_B)
    worker = await w.must("cases", "POST", "/v1/workers", SEEDER, GUARDIAN_WORKER)
    w.ids["worker"] = worker["id"]
    t = times(w, "a", allocated=0.1, contacted=0.2, went_missing=0.3, assessed=0.4, advocated=0.45, decided=0.5)
    tb = times(w, "b", switched=0.1, exited=0.2)
    await not_before(max(w.at["decided"], w.at["exited"]))
    a, b = f"/v1/cases/{w.ids['case_a']}", f"/v1/cases/{w.ids['case_b']}"
    await record(w, "allocation", f"{a}/allocations", {"worker_id": worker["id"], "allocated_at": t["allocated"]})
    await record(w, "contact_1", f"{a}/contacts",
                 {"occurred_at": t["contacted"], "outcome": "made", "method": "phone", "party": "child",
                  "topics": ["safety"], "notes": "CONTACTNOTE-QUILL before the move"})  # fmt: skip
    await record(w, "episode", f"{a}/missing-episodes",
                 {"started_at": t["went_missing"], "whereabouts_known": False, "reported_to_police": True,
                  "missing_from_care_meeting": False, "professional_network_meeting": True})  # fmt: skip
    await record(w, "assessment", f"{a}/assessments",
                 {"assessed_at": t["assessed"], "living_situation": "foster_care", "trafficker_contact": "known",
                  "education": "attending", "cjs_involvement": ["victim"]})  # fmt: skip
    await record(w, "advocacy", f"{a}/advocacy",
                 {"kind": "legal_advice", "area": "immigration", "occurred_at": t["advocated"],
                  "notes": "ADVOCACYNOTE-QUILL"})  # fmt: skip
    await record(w, "nrm_decision", f"{a}/nrm-decisions",
                 {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": t["decided"]})  # fmt: skip
    await record(w, "pathway_change", f"{b}/pathway",
                 {"pathway": "regional_practitioner", "changed_at": tb["switched"]})  # fmt: skip
    await record(w, "exit", f"{b}/exit",
                 {"exited_at": tb["exited"], "reason": "work_completed",
                  "destination": "la_children_services"})  # fmt: skip
    r = await w.send(
        "cases", "PUT", f"{a}/local-identifiers", "manchester", json={"la_child_id": "MAN1", "looked_after": True}
    )
    assert r.status_code == 200, r.text
    await _delivered(w, 6)  # referral.received, case.opened, allocated, contact, missing.started, nrm: Manchester's


async def seed_after_the_move(w: World) -> None:
    """The move to Salford, then a second contact, the child's return and its return interview (all Salford's);
    Salford's own id;
    last month's release; a delivery log that has settled."""
    t = times(w, "a", moved=0.7, contacted_again=0.8, returned=0.9, interviewed=0.95, contacted_late=0.25)
    await not_before(w.at["interviewed"])
    a = f"/v1/cases/{w.ids['case_a']}"
    await record(w, "move", f"{a}/moves", {"moved_at": t["moved"], "local_authority_code": SALFORD})
    # Recorded after the move, dated before it: Manchester's record, not Salford's.
    await record(w, "contact_late", f"{a}/contacts",
                 {"occurred_at": t["contacted_late"], "outcome": "made", "method": "message", "party": "parent",
                  "topics": [], "notes": "CONTACTNOTE-QUILL written up late"})  # fmt: skip
    await record(w, "contact_2", f"{a}/contacts",
                 {"occurred_at": t["contacted_again"], "outcome": "attempted", "method": "face_to_face",
                  "party": "foster_carer", "topics": [], "notes": "CONTACTNOTE-QUILL after the move"})  # fmt: skip
    await w.must("cases", "POST", f"{a}/missing-episodes/{w.ids['episode']}/return", SEEDER,
                 {"ended_at": t["returned"], "return_interview_offered": True})  # fmt: skip
    await record(w, "return_interview", f"{a}/missing-episodes/{w.ids['episode']}/return-interview",
                 {"offered_at": t["interviewed"], "outcome": "accepted", "conducted_by": "local_authority"})  # fmt: skip
    r = await w.send(
        "cases", "PUT", f"{a}/local-identifiers", "salford", json={"la_child_id": "SAL1", "looked_after": True}
    )
    assert r.status_code == 200, r.text
    await w.must("metrics", "POST", "/v1/admin/releases", OPS, release=last_complete(clock.utcnow()))
    await _delivered(w, 8)  # and case.moved (both councils'), the late contact (Manchester's)
    log = await w.must("webhooks", "GET", f"/v1/webhooks/subscriptions/{w.ids['sub_manchester']}/deliveries",
                       headers_of("manchester"))  # fmt: skip
    w.ids["delivery"] = log["items"][-1]["id"]


async def _delivered(w: World, n: int) -> None:
    """Until Manchester's subscription has had `n` deliveries (its events so far), and a moment for strays."""

    async def enough() -> bool:
        return len(w.receiver.at("/ok/manchester")) >= n

    with contextlib.suppress(AssertionError):  # the matrix says exactly which arrived
        await eventually(enough, timeout=30)
    await asyncio.sleep(0.3)


# --- reading a response ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """A response as the matrix compares it."""

    status: int
    problem: str | None  # the problem type's last segment (None: not problem+json)
    paths: frozenset[str]  # every field that arrived (`a.b`, lists of objects `a[].b`, a timeline `items[kind].b`)
    records: tuple[str, ...] | None  # the records that arrived (sorted), by seed name (`?<id>`: not seeded)
    rows: frozenset[tuple[str, ...]] | None  # CSV: (CHILD, MISSING, open|ended) for the SSDA903 export
    text: str
    media: str


def paths_of(value: Any, prefix: str = "") -> set[str]:
    """The field paths of a JSON value: leaves and empty containers; list elements merged (a timeline's by kind)."""
    if isinstance(value, dict) and value:
        found: set[str] = set()
        for k, v in value.items():
            found |= paths_of(v, f"{prefix}{k}.")
        return found
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        found = set()
        for v in value:
            tag = v["kind"] if isinstance(v, dict) and {"kind", "record"} <= set(v) else ""  # a timeline entry
            found |= paths_of(v, f"{prefix.rstrip('.')}[{tag}].")
        return found
    return {prefix.rstrip(".")}


def records_of(body: Any, names: dict[str, str], key: str) -> tuple[str, ...] | None:
    """The seeded records a body holds: a list's items (a timeline's as `kind:name`), or the one record."""

    def name(item: dict[str, Any]) -> str:
        raw = str(item.get(key))
        label = (names.get(raw) or f"?{raw}") if key == "id" else raw
        return f"{item['kind']}:{label}" if {"kind", "record"} <= set(item) and key == "id" else label

    if not isinstance(body, dict):
        return None
    if isinstance(body.get("items"), list):
        return tuple(sorted(name(i) for i in body["items"] if isinstance(i, dict) and key in i))
    return (name(body),) if key in body else None


def ssda903_rows(text: str) -> frozenset[tuple[str, ...]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and rows[0] == ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"], rows[:1]
    return frozenset((r[0], r[2], "ended" if r[4] else "open") for r in rows[1:])


def read(r: httpx.Response, names: dict[str, str], *, key: str = "id") -> Seen:
    media = r.headers.get("content-type", "").split(";")[0]
    problem, paths, records, rows = None, frozenset[str](), None, None
    if media == "application/problem+json":
        problem = str(r.json().get("type", "")).rsplit("/", 1)[-1]
    elif media == "application/json" and r.content:
        body = r.json()
        paths, records = frozenset(paths_of(body)), records_of(body, names, key)
    elif media == "text/csv" and r.request.url.path.startswith("/v1/exports/ssda903/missing"):
        rows = ssda903_rows(r.text)
    return Seen(r.status_code, problem, paths, records, rows, r.text, media)


def matches(paths: Iterable[str], spec: Iterable[str]) -> tuple[set[str], set[str]]:
    """(paths that arrived but the spec does not place, spec entries that did not arrive). `x.*` in the spec
    places anything under `x` (the service's own staff see every field of a referral's body); `x?` places a
    field that arrives only sometimes (a flag on a noisy answer)."""
    arrived, spec = set(paths), set(spec)
    optional = {s[:-1] for s in spec if s.endswith("?")}
    wild = {s[:-2] for s in spec if s.endswith(".*")}
    exact = spec - {f"{w}.*" for w in wild} - {f"{o}?" for o in optional}
    arrived -= optional

    def under(p: str, w: str) -> bool:
        return p == w or p.startswith((f"{w}.", f"{w}["))

    extra = {p for p in arrived if p not in exact and not any(under(p, w) for w in wild)}
    missing = (exact - arrived) | {f"{w}.*" for w in wild if not any(under(p, w) for p in arrived)}
    return extra, missing
