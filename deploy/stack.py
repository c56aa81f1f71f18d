"""What the runner and the tests share: the five services, their migrations, their settings."""

from __future__ import annotations

from pathlib import Path

from ictg_common.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]

SERVICES = {
    # name: (ASGI factory, port env var, default port)
    "referral-intake": ("ictg_intake.app:create_app", "ICTG_INTAKE_PORT", 8001),
    "case-api": ("ictg_cases.app:create_app", "ICTG_CASES_PORT", 8002),
    "metrics": ("ictg_metrics.app:create_app", "ICTG_METRICS_PORT", 8003),
    "webhooks": ("ictg_webhooks.app:create_app", "ICTG_WEBHOOKS_PORT", 8004),
    "identity": ("ictg_identity.app:create_app", "ICTG_IDENTITY_PORT", 8005),
}
# Each service's own NATS user (ictg_common.natsauth); identity is not on the bus.
NATS_USERS = {"referral-intake": "intake", "case-api": "cases", "metrics": "metrics", "webhooks": "webhooks"}


def migration_dirs() -> list[Path]:
    from ictg_cases.app import MIGRATIONS as cases
    from ictg_identity.app import MIGRATIONS as identity
    from ictg_intake.app import MIGRATIONS as intake
    from ictg_metrics.app import MIGRATIONS as metrics
    from ictg_webhooks.app import MIGRATIONS as webhooks

    return [intake, cases, metrics, webhooks, identity]


def migrate_all(database_url: str) -> None:
    for location in migration_dirs():
        upgrade(location, database_url)
