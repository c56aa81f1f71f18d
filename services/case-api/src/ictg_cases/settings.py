from typing import ClassVar

from ictg_common.settings import ServiceSettings, service_config


class CasesSettings(ServiceSettings):
    model_config = service_config("ICTG_CASES_")
    PEER_TOKENS: ClassVar[tuple[str, ...]] = ("intake_token",)

    port: int = 8002
    intake_url: str = "http://127.0.0.1:8001"
    # Service token for the claim check; in development it is minted from ICTG_AUTH_SECRET.
    intake_token: str | None = None
    # The 18-month limit was removed in 2021: off (None) unless a commissioner sets it again.
    maximum_duration_months: int | None = None
    # How often the SLA watcher looks for missed deadlines; 0 disables the background task.
    sla_check_seconds: float = 30.0
    # How long a break-glass access to a case outside the actor's regions lasts.
    break_glass_minutes: int = 60
    # Client clocks drift: a record time this far ahead of the server clock is still "now".
    clock_skew_seconds: int = 300
    # Reconciliation with intake (every referral has one case): how often it runs (0: off), and how
    # long a referral may wait for its case before it is reported, logged at ERROR and replayed.
    reconcile_seconds: float = 300.0
    reconcile_grace_seconds: float = 120.0
