"""The event bus is authenticated: each service connects as its own NATS user and NATS itself refuses
what is not that service's to say. A forged `case.exited` published with intake's credentials (the
finding: one from anyone who could connect reached councils' receivers, metrics and intake) never
reaches the stream; a connection without credentials is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from ictg_cases.settings import CasesSettings
from ictg_common.contracts import CaseExited, make_event
from ictg_common.devinfra import Infra
from ictg_common.events import SOURCES
from ictg_common.natsauth import NatsCredentials
from ictg_common.runtime import runtime_of
from ictg_common.settings import ServiceSettings
from ictg_intake.settings import IntakeSettings
from ictg_metrics.settings import MetricsSettings
from ictg_webhooks.settings import WebhooksSettings
from tests.support.factories import referral_body
from tests.support.platform import as_tester, auth, eventually, nats_of, serve, service_apps

STAFF = {"org_type": "ictg", "org_name": "ICTG service", "sub": "ictg-ops"}
OWN_SOURCE: dict[type[ServiceSettings], str | None] = {
    IntakeSettings: "intake",
    CasesSettings: "cases",
    MetricsSettings: None,
    WebhooksSettings: "webhooks",
}


def credentials(settings: type[Any], shared: dict[str, Any]) -> NatsCredentials:
    """The credentials a service connects with (its settings, from the environment `infra` gives)."""
    found = settings(**shared).nats_credentials
    if found is None:
        pytest.skip("an external NATS without service credentials: its permissions are its operator's")
    return found


async def connect(url: str, creds: NatsCredentials, errors: list[str]) -> Client:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return await nats.connect(url, **creds.connect_options(), error_cb=on_error, max_reconnect_attempts=0)


async def reported(errors: list[str], text: str) -> None:
    """Wait for NATS to report `text` (a permissions violation) to the connection."""

    async def seen() -> bool:
        return any(text in e for e in errors)

    await eventually(seen)


async def messages_on(s: dict[str, Any], subject: str) -> int:
    nc = await nats.connect(as_tester(s["nats_url"]))
    try:
        info = await nc.jetstream().stream_info(s["nats_stream"], subjects_filter=subject)
        return (info.state.subjects or {}).get(subject, 0)
    finally:
        await nc.close()


async def test_a_connection_without_credentials_or_with_a_wrong_password_is_refused(
    infra: Infra, shared_settings: dict[str, Any]
) -> None:
    if infra.nats is None:
        pytest.skip("an external NATS: whether it authenticates is its operator's")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(infra.nats_url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
    wrong = NatsCredentials("cases", credentials(IntakeSettings, shared_settings).password)  # intake's password
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(infra.nats_url, **wrong.connect_options(), allow_reconnect=False, max_reconnect_attempts=0)


@pytest.mark.parametrize("settings", list(OWN_SOURCE), ids=lambda s: s.__name__)
async def test_each_service_publishes_its_own_subjects_only_and_subscribes_to_no_event(
    settings: type[ServiceSettings], shared_settings: dict[str, Any]
) -> None:
    s = shared_settings
    tester = await nats.connect(as_tester(s["nats_url"]))
    await tester.jetstream().add_stream(name=s["nats_stream"], subjects=[f"{s['subject_prefix']}.>"])
    await tester.close()
    errors: list[str] = []
    nc = await connect(s["nats_url"], credentials(settings, s), errors)
    try:
        js = nc.jetstream(timeout=1)
        for source in SOURCES:
            subject = f"{s['subject_prefix']}.{source}.probe"
            if source == OWN_SOURCE[settings]:
                assert (await js.publish(subject, b"{}", timeout=5)).stream == s["nats_stream"]
                continue
            await nc.publish(subject, b"{}")
            await reported(errors, f'permissions violation for publish to "{subject}"')
            assert await messages_on(s, subject) == 0
        await nc.subscribe(f"{s['subject_prefix']}.>")  # events reach a service through its durables only
        await reported(errors, f'permissions violation for subscription to "{s["subject_prefix"]}.>"')
        with pytest.raises(nats.errors.TimeoutError):  # nor may it touch the stream or another's consumer
            await js.delete_stream(s["nats_stream"])
        other = "cases-referrals" if settings is not CasesSettings else "metrics-all"
        with pytest.raises(nats.errors.TimeoutError):
            await js.consumer_info(s["nats_stream"], other)
    finally:
        await nc.close()


async def test_a_case_exit_forged_with_intakes_credentials_is_refused_and_nobody_sees_it(
    shared_settings: dict[str, Any],
) -> None:
    s = shared_settings
    intakes = credentials(IntakeSettings, s)
    intake_app, cases_app, metrics_app = service_apps(s, sla_check_seconds=0)
    async with serve(intake_app) as intake, serve(cases_app) as cases, serve(metrics_app) as metrics:
        links = [nats_of(app).credentials for app in (intake_app, cases_app, metrics_app)]
        assert [link.user if link else None for link in links] == ["intake", "cases", "metrics"]  # each its own
        r = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]

        async def case() -> Any:
            found = await cases.get(
                "/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read", **STAFF)
            )
            assert found.status_code == 200, found.text
            return found.json()["items"]

        [opened] = await eventually(case)
        forged = make_event(
            data=CaseExited(
                case_id=opened["id"], referral_id=referral_id, local_authority_code=opened["local_authority_code"],
                region=opened["region"], exited_at=datetime.now(UTC), reason="work_completed", destination="none",
            ),
            subject=opened["id"], time=datetime.now(UTC),
        )  # fmt: skip
        subject = forged.nats_subject(s["subject_prefix"])
        assert subject == f"{s['subject_prefix']}.cases.case.exited"  # well formed: a consumer would take it

        errors: list[str] = []
        nc = await connect(s["nats_url"], intakes, errors)
        try:
            with pytest.raises(nats.errors.TimeoutError):  # no stream ever acknowledges it
                await nc.jetstream().publish(subject, forged.to_json(), timeout=1)
            assert any(f'permissions violation for publish to "{subject}"' in e for e in errors), errors
        finally:
            await nc.close()
        assert await messages_on(s, subject) == 0

        async def drained() -> bool:  # every consumer has read all there is
            tester = await nats.connect(as_tester(s["nats_url"]))
            try:
                infos = await tester.jetstream().consumers_info(s["nats_stream"])
            finally:
                await tester.close()
            names = {i.name for i in infos}
            busy = [i for i in infos if i.num_pending or i.num_ack_pending]
            return {"intake-case-status", "cases-referrals", "metrics-all"} <= names and not busy

        await eventually(drained)
        await asyncio.sleep(0.2)
        [still] = await case()
        assert still["status"] == "awaiting_allocation"
        async with runtime_of(intake_app).engine.connect() as conn:
            exited_at = (await conn.execute(text("SELECT exited_at FROM intake.referral"))).scalar_one()
        assert exited_at is None  # intake does not report the referral's child as exited
        counted = await metrics.get(
            "/v1/metrics/children", params={"group_by": "status", "disclosure": "none"},
            headers=auth("metrics:read", "metrics:read:unsuppressed", **STAFF),
        )  # fmt: skip
        assert counted.status_code == 200, counted.text
        assert counted.json()["rows"] == [{"status": "awaiting_allocation", "children": 1}]


def test_a_nats_user_without_its_password_is_refused_at_start_and_a_password_never_shown() -> None:
    with pytest.raises(ValidationError, match="ICTG_INTAKE_NATS_USER and ICTG_INTAKE_NATS_PASSWORD"):
        IntakeSettings(nats_user="intake", nats_password=None)
    settings = CasesSettings(nats_user="cases", nats_password=SecretStr("s3cret-pw"))
    assert settings.nats_credentials == NatsCredentials("cases", "s3cret-pw")
    assert "s3cret-pw" not in repr(settings)
